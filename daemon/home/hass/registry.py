"""Home Assistant's registries as dialogd devices: what Assist may touch, and nothing else.

Only entities exposed to Assist ("conversation" in `homeassistant/expose_entity/list`)
become devices, each with HA's own name (its friendly name), its aliases, and its area
(its own, else its device's), on that area's floor. The domain gives the device type;
supported features narrow it (a light takes colours only with a colour mode).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.config.home import Area, Device, Floor
from daemon.home.catalog import slug
from daemon.home.discovery import Discovered
from daemon.home.endpoint import Endpoint

_LOG = logging.getLogger(__name__)

# Home Assistant domain -> FORMAT.md type.
TYPES = {
    "light": "light",
    "switch": "switch",
    "input_boolean": "switch",
    "fan": "fan",
    "cover": "cover",
    "valve": "valve",
    "lock": "lock",
    "climate": "climate",
    "media_player": "media_player",
    "vacuum": "vacuum",
    "scene": "scene",
    "script": "scene",
    "todo": "list",
}
COLOR_MODES = {"hs", "xy", "rgb", "rgbw", "rgbww"}


@dataclass(frozen=True)
class HassHome:
    """Home Assistant's home, in the registry's own schema."""

    devices: tuple[Discovered, ...]
    areas: tuple[Area, ...]
    floors: tuple[Floor, ...]
    skipped: int  # exposed entities of a domain dialogd does not switch


def home_from(
    floors: Sequence[Mapping[str, Any]],
    areas: Sequence[Mapping[str, Any]],
    devices: Sequence[Mapping[str, Any]],
    entries: Mapping[str, Mapping[str, Any]],
    exposed: Mapping[str, Mapping[str, Any]],
    states: Sequence[Mapping[str, Any]],
) -> HassHome:
    """The exposed entities as devices. `entries`: entity id -> its full registry entry
    (`config/entity_registry/get_entries`); `states`: `get_states`."""
    floor_models = tuple(
        Floor(id=_id(f["floor_id"]), name=str(f["name"]), aliases=_aliases(f)) for f in floors
    )
    floor_ids = {f.id for f in floor_models}
    area_models = tuple(
        Area(
            id=_id(a["area_id"]),
            name=str(a["name"]),
            aliases=_aliases(a),
            floor=_id(a["floor_id"])
            if a.get("floor_id") and _id(a["floor_id"]) in floor_ids
            else None,
        )
        for a in areas
    )
    area_ids = {a.id for a in area_models}
    device_area = {str(d["id"]): d.get("area_id") for d in devices}
    by_entity = {str(s.get("entity_id")): s for s in states}
    found: list[Discovered] = []
    used: set[str] = set()
    skipped = 0
    for eid in sorted(exposed):
        if not exposed[eid].get("conversation"):
            continue
        domain, _, object_id = eid.partition(".")
        kind = TYPES.get(domain)
        if kind is None:
            skipped += 1
            continue
        entry = entries.get(eid, {})
        state = by_entity.get(eid, {})
        attrs = state.get("attributes") or {}
        name = str(attrs.get("friendly_name") or entry.get("name") or object_id.replace("_", " "))
        raw_area = entry.get("area_id") or device_area.get(str(entry.get("device_id")))
        area = _id(raw_area) if raw_area and _id(raw_area) in area_ids else None
        did = _unique(slug(object_id) or slug(eid), domain, used)
        modes = set(attrs.get("supported_color_modes") or ())
        device = Device(
            id=did,
            type=kind,
            name=name,
            aliases=[a for a in _aliases(entry) if a.strip() and a != name],
            area=area,
            color=kind == "light" and bool(modes & COLOR_MODES),
            speeds=_speeds(attrs) if kind == "fan" else 3,
        )
        options: dict[str, Any] = {"entity_id": eid}
        if attrs.get("device_class"):
            options["device_class"] = str(attrs["device_class"])
        if kind == "fan":
            options["speeds"] = device.speeds
        names = {a.id: a.name for a in area_models}
        found.append(
            Discovered(
                key=f"hass:{eid}",
                device=device,
                endpoint=Endpoint(integration="hass", options=options),
                origin="hass",
                # The catalog places it by name: the config may call the room its own way.
                area_hints=(names[area],) if area else (),
            )
        )
    return HassHome(tuple(found), area_models, floor_models, skipped)


def _id(raw: object) -> str:
    return slug(str(raw))


def _aliases(entry: Mapping[str, Any]) -> list[str]:
    raw = entry.get("aliases") or []
    return [str(a) for a in raw if isinstance(a, str)]


def _unique(base: str, domain: str, used: set[str]) -> str:
    """`bed_light`; when another domain has the name, `light_bed_light`, then numbered."""
    for candidate in (base, f"{slug(domain)}_{base}"):
        if candidate not in used:
            used.add(candidate)
            return candidate
    n = 2
    while f"{base}_{n}" in used:
        n += 1
    used.add(f"{base}_{n}")
    return f"{base}_{n}"


def _speeds(attrs: Mapping[str, Any]) -> int:
    """A fan's speed levels from its percentage step (33.33 -> 3), 3 when unknown."""
    step = attrs.get("percentage_step")
    if not isinstance(step, int | float) or step <= 0:
        return 3
    return max(1, min(10, round(100 / step)))
