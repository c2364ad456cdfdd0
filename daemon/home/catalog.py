"""The home as dialogd runs it: the config's devices merged with those found on the broker.

Discovery messages arrive one topic at a time (a Home Assistant config per entity, one
zigbee2mqtt list for all its devices); the catalog keeps what each topic last said and
merges on demand. The config wins: its names, aliases, areas and `sensitive` override a
discovered device with the same id, `home.exclude` drops one, and a discovered device
never brings its own sensitivity exemptions (it has none to bring).

Everything discovered is untrusted: a device that would break the registry (a name that is
another device's, an id used twice) is left out with one warning, and the number of
discovered devices is bounded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from daemon.config.home import Area, Device, Floor, registry_problems
from daemon.config.settings import HomeSettings
from daemon.home.discovery import Discovered
from daemon.home.endpoint import Endpoint
from daemon.home.payloads import config_endpoint

_LOG = logging.getLogger(__name__)
MAX_TOPICS = 5000  # discovery topics remembered: a flood of distinct topics is bounded
MAX_WARNED = 1000
CONTESTED = ""  # owner of a command topic that several discovered devices claim


@dataclass(frozen=True)
class Home:
    """A merged registry (config models, as `Registry.from_config` takes them) and how to
    reach its devices."""

    devices: tuple[Device, ...]
    areas: tuple[Area, ...]
    floors: tuple[Floor, ...]
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    # Where each device came from: "config", "zigbee2mqtt", "homeassistant", or the
    # config over a discovered one ("config + zigbee2mqtt").
    origins: dict[str, str] = field(default_factory=dict)


def _norm(phrase: str) -> str:
    return " ".join(phrase.lower().split())


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return s if s and s[0].isalpha() else f"area_{s}" if s else ""


# What needs a yes on a discovered device whatever its message says: only the config can
# exempt it (`sensitive = []`). Covers by Home Assistant's device_class.
GUARDED: dict[str, tuple[str, ...]] = {"lock": ("unlock",)}
_OPENING = ("open", "set_position")
GUARDED_COVERS: dict[str, tuple[str, ...]] = {
    "garage": _OPENING,
    "gate": _OPENING,
    "door": _OPENING,
}


def _command_topics(ep: Endpoint) -> list[str]:
    out = [ep.command_topic] if ep.command_topic else []
    out += [
        v
        for k, v in ep.options.items()
        if k.endswith("command_topic") and isinstance(v, str) and v not in out
    ]
    return out


def guarded_actions(found: Discovered) -> list[str]:
    dev = found.device
    actions = GUARDED.get(dev.type, ())
    if dev.type == "cover":
        actions = GUARDED_COVERS.get(str(found.endpoint.options.get("device_class", "")), ())
    offered = dev.actions
    return [a for a in actions if offered is None or a in offered]


class Catalog:
    def __init__(
        self,
        home: HomeSettings,
        devices: Sequence[Device],
        areas: Sequence[Area],
        floors: Sequence[Floor],
        zigbee2mqtt_groups: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.settings = home
        self.config_devices = tuple(devices)
        self.areas = tuple(areas)
        self.floors = tuple(floors)
        self._by_topic: dict[str, tuple[Discovered, ...]] = {}
        # Areas and floors a source knows (Home Assistant's registries), by source.
        self._places: dict[str, tuple[tuple[Area, ...], tuple[Floor, ...]]] = {}
        self.groups: dict[str, tuple[str, ...]] = dict(zigbee2mqtt_groups or {})
        self._warned: set[str] = set()

    def configure(
        self,
        home: HomeSettings,
        devices: Sequence[Device],
        areas: Sequence[Area],
        floors: Sequence[Floor],
    ) -> None:
        """A reloaded config: the discovered devices stay."""
        self.settings = home
        self.config_devices, self.areas, self.floors = tuple(devices), tuple(areas), tuple(floors)

    def put(self, topic: str, found: Sequence[Discovered]) -> bool:
        """What `topic` says now (empty: its devices are gone); True when that changed."""
        new = tuple(found)
        if self._by_topic.get(topic, ()) == new:
            return False
        if new and topic not in self._by_topic and len(self._by_topic) >= MAX_TOPICS:
            self._warn(f"more than {MAX_TOPICS} discovery topics; {topic} and later ones ignored")
            return False
        if new:
            self._by_topic[topic] = new
        else:
            self._by_topic.pop(topic, None)
        return True

    def put_places(self, source: str, areas: Sequence[Area], floors: Sequence[Floor]) -> bool:
        """The areas and floors `source` knows now; True when that changed. The config's
        win: a place with the id or name of one of its own is not added again."""
        new = (tuple(areas), tuple(floors))
        if self._places.get(source) == new:
            return False
        self._places[source] = new
        return True

    def topics(self) -> list[str]:
        return list(self._by_topic)

    @property
    def discovered(self) -> int:
        return sum(len(v) for v in self._by_topic.values())

    def merged(self) -> Home:
        config_ids = {d.id for d in self.config_devices}
        by_id = {d.id: d for d in self.config_devices}
        areas, floors = self._merged_places()
        endpoints: dict[str, Endpoint] = {}
        origins: dict[str, str] = {}
        for d in self.config_devices:
            origins[d.id] = "config"
            ep = config_endpoint(d, self.settings.zigbee2mqtt_base)
            if ep is not None:
                endpoints[d.id] = ep
        names = {_norm(p): d.id for d in self.config_devices for p in (d.name, *d.aliases)}
        # Whose each command topic is: a discovered device may not take another's (a
        # "night light" whose payload unlocks the front door).
        claimed = {t: did for did, ep in endpoints.items() for t in _command_topics(ep)}
        # Two discovered devices on one command topic: which is lying cannot be told, so
        # neither is switched.
        claims: dict[str, set[str]] = {}
        for found_list in self._by_topic.values():
            for f in found_list:
                for t in _command_topics(f.endpoint):
                    claims.setdefault(t, set()).add(f.device.id)
        for t, ids in claims.items():
            if len(ids) > 1 and t not in claimed:
                claimed[t] = CONTESTED
        devices = list(self.config_devices)
        excluded = set(self.settings.exclude)
        kept = 0
        for topic in sorted(self._by_topic):
            for found in self._by_topic[topic]:
                dev = found.device
                if dev.id in excluded:
                    continue
                if dev.id in config_ids:
                    # The config names it: its words, area and sensitivity win; the
                    # broker tells how to reach it (unless the config says that too).
                    own = by_id[dev.id]
                    if "sensitive" not in own.model_fields_set:
                        guarded = own.model_copy(update={"sensitive": guarded_actions(found)})
                        devices[devices.index(own)] = guarded
                        by_id[dev.id] = guarded
                    if dev.id not in endpoints and self._free(found, claimed):
                        endpoints[dev.id] = found.endpoint
                        claimed.update(dict.fromkeys(_command_topics(found.endpoint), dev.id))
                    if origins[dev.id] == "config":
                        origins[dev.id] = f"config + {found.origin}"
                    continue
                if dev.id in origins:
                    self._warn(f"{found.key}: device id {dev.id!r} is already taken; skipped")
                    continue
                if kept >= self.settings.max_devices:
                    self._warn(
                        f"more than home.max_devices = {self.settings.max_devices} devices "
                        "discovered; the rest are ignored"
                    )
                    break
                taken = next(
                    (names[_norm(p)] for p in (dev.name, *dev.aliases) if _norm(p) in names),
                    None,
                )
                if taken is not None:
                    self._warn(f"{found.key}: the name {dev.name!r} is already {taken}'s; skipped")
                    continue
                if not self._free(found, claimed):
                    continue
                claimed.update(dict.fromkeys(_command_topics(found.endpoint), dev.id))
                area = self._area(found, areas)
                dev = dev.model_copy(update={"area": area, "sensitive": guarded_actions(found)})
                devices.append(dev)
                by_id[dev.id] = dev
                names.update({_norm(p): dev.id for p in (dev.name, *dev.aliases)})
                endpoints[dev.id] = found.endpoint
                origins[dev.id] = found.origin
                kept += 1
        devices = self._valid(devices, areas, config_ids, origins, endpoints)
        return Home(tuple(devices), tuple(areas), tuple(floors), endpoints, origins)

    def _merged_places(self) -> tuple[list[Area], list[Floor]]:
        areas, floors = list(self.areas), list(self.floors)
        for source_areas, source_floors in self._places.values():
            known = {f.id for f in floors} | {_norm(f.name) for f in floors}
            floors += [f for f in source_floors if not {f.id, _norm(f.name)} & known]
            floor_ids = {f.id for f in floors}
            known = {a.id for a in areas} | {_norm(a.name) for a in areas}
            areas += [
                a
                if a.floor is None or a.floor in floor_ids
                else a.model_copy(update={"floor": None})
                for a in source_areas
                if not {a.id, _norm(a.name)} & known
            ]
        return areas, floors

    def _free(self, found: Discovered, claimed: dict[str, str]) -> bool:
        for topic in _command_topics(found.endpoint):
            owner = claimed.get(topic)
            if owner is not None and owner != found.device.id:
                whose = "claimed by several devices" if owner == CONTESTED else f"{owner}'s"
                self._warn(f"{found.key}: command topic {topic!r} is {whose}; skipped")
                return False
        return True

    def _area(self, found: Discovered, areas: list[Area]) -> str | None:
        """The area a discovered device names (its suggested area, its description, the
        zigbee2mqtt groups it is in), matched to the home's areas by name or alias."""
        hints = list(found.area_hints)
        ieee = found.key.split(":")[1] if found.origin == "zigbee2mqtt" else ""
        hints += list(self.groups.get(ieee, ()))
        by_name = {_norm(p): a.id for a in areas for p in (a.name, *a.aliases)}
        for hint in hints:
            if _norm(hint) in by_name:
                return by_name[_norm(hint)]
        if found.suggested and found.area_hints:
            # Home Assistant's suggested_area is a room's name by definition: a room the
            # config does not know yet becomes an area.
            name = found.area_hints[0].strip()[:64]
            aid = slug(name)
            if aid and aid not in {a.id for a in areas}:
                areas.append(Area(id=aid, name=name))
                return aid
        return None

    def _valid(
        self,
        devices: list[Device],
        areas: list[Area],
        config_ids: set[str],
        origins: dict[str, str],
        endpoints: dict[str, Endpoint],
    ) -> list[Device]:
        """Drop discovered devices the registry would refuse (the config's own problems
        were refused at load time)."""
        for _ in range(3):
            problems = registry_problems(devices, areas, self.floors)
            bad = {
                d.id
                for d in devices
                if d.id not in config_ids and any(f"({d.id})" in p for p in problems)
            }
            if not bad:
                break
            for p in problems:
                self._warn(f"discovered device skipped: {p.removeprefix('config: ')}")
            devices = [d for d in devices if d.id not in bad]
            for did in bad:
                origins.pop(did, None)
                endpoints.pop(did, None)
        return devices

    def _warn(self, line: str) -> None:
        # A retained message is seen again at every reconnect: one warning is enough.
        if len(self._warned) > MAX_WARNED:
            self._warned.clear()
        if line not in self._warned:
            self._warned.add(line)
            _LOG.warning("%s", line)
