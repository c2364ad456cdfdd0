"""The home: floors, areas and devices, what they are called and what they accept.

Built from the config's `[[floors]]`, `[[areas]]` and `[[devices]]` (FORMAT.md). It is
the single authority on validity: a command that `Registry.check` accepts names real
devices, an action each of them takes and a value in range.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from daemon.config.home import Area, Device, Floor
from daemon.core.data import load
from daemon.core.script import simplified
from daemon.core.vocabulary import (
    CLARIFY,
    COLOR_ACTION,
    COLORS,
    DEVICELESS,
    QUERY,
    START_TIMER,
    TYPES,
    NumberRule,
    Value,
    number_rule,
    value_kind,
)


@dataclass(frozen=True)
class Place:
    """A floor or an area."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    floor: str | None = None  # areas only

    @property
    def phrases(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class DeviceInfo:
    id: str
    type: str
    name: str
    aliases: tuple[str, ...] = ()
    area: str | None = None
    actions: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    speeds: int = 3

    @property
    def phrases(self) -> tuple[str, ...]:
        """Every way to name it."""
        return (self.name, *self.aliases)

    def accepts(self, action: str) -> bool:
        return action == QUERY or action in self.actions


@dataclass(frozen=True)
class Command:
    """One thing to do: an action on devices (a set; empty for deviceless actions)."""

    action: str
    devices: tuple[str, ...] = ()
    value: Value = None
    # Not part of what is decided (equality ignores them): the command a `clarify` asks
    # about (its action and value), and a timer's name ("pasta").
    asked: Command | None = field(default=None, compare=False)
    label: str | None = field(default=None, compare=False)

    @property
    def device(self) -> str | list[str] | None:
        """FORMAT.md's `device`: null, one id, or a list of ids."""
        if not self.devices:
            return None
        return self.devices[0] if len(self.devices) == 1 else list(self.devices)


@dataclass(frozen=True)
class RangeProblem:
    """A number the request said that the device cannot take; the reply names the range."""

    action: str
    device: str | None
    value: int
    lo: int
    hi: int
    unit: str


@dataclass(frozen=True)
class Decision:
    """What the engine decided for one request: one or more commands.

    `problem` is set when a request was refused for a reason the reply must name (a value
    out of range); the commands are then a single `unknown`.
    """

    commands: tuple[Command, ...]
    problem: RangeProblem | None = None

    @staticmethod
    def one(action: str, devices: Iterable[str] = (), value: Value = None) -> Decision:
        return Decision((Command(action, tuple(devices), value),))

    @property
    def first(self) -> Command:
        return self.commands[0]

    def triples(self) -> set[tuple[str, str | None, Value]]:
        """(action, device, value) with device lists expanded, as FORMAT.md compares."""
        out: set[tuple[str, str | None, Value]] = set()
        for c in self.commands:
            if c.action == CLARIFY:
                out.add((CLARIFY, None, None))
            elif not c.devices:
                out.add((c.action, None, c.value))
            else:
                out.update((c.action, d, c.value) for d in c.devices)
        return out


@dataclass(frozen=True)
class Hint:
    """What the words of a request pin down, for the model's decoder to respect.

    None leaves a dimension open; `values` are the numbers the request says.
    """

    devices: frozenset[str] | None = None
    values: frozenset[int] | None = None
    colors: frozenset[str] | None = None
    # The request names a device by its own name: "unknown" is not an answer then.
    named_directly: bool = False
    # The number is where to go ("to 10%", "set to 26 degrees"), not how far to move.
    absolute: bool = False
    # The number is how far to move ("up by two"): a set_* action would go there.
    relative: bool = False
    # The actions the request's verbs ask for (understanding/verbs.py); None: any.
    actions: frozenset[str] | None = None
    # Which way a relative change goes by the request's words (+1 "louder", -1
    # "quieter"); None: not said, or both.
    sign: int | None = None


@dataclass
class Registry:
    floors: tuple[Place, ...] = ()
    areas: tuple[Place, ...] = ()
    devices: tuple[DeviceInfo, ...] = ()
    fahrenheit: bool = False
    by_id: dict[str, DeviceInfo] = field(init=False)
    area_by_id: dict[str, Place] = field(init=False)
    floor_by_id: dict[str, Place] = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {d.id: d for d in self.devices}
        self.area_by_id = {a.id: a for a in self.areas}
        self.floor_by_id = {f.id: f for f in self.floors}

    @classmethod
    def from_config(
        cls,
        devices: Sequence[Device],
        areas: Sequence[Area] = (),
        floors: Sequence[Floor] = (),
        temperature_unit: str = "celsius",
    ) -> Registry:
        """The registry of a home as the config (or discovery) describes it."""

        def also_simplified(name: str, aliases: Sequence[str]) -> tuple[str, ...]:
            # Requests are read in simplified characters (daemon/core/script.py): a
            # name written in traditional ones is also known in simplified ones.
            out = list(aliases)
            for phrase in (name, *aliases):
                other = simplified(phrase)
                if other != phrase and other not in out and other != name:
                    out.append(other)
            return tuple(out)

        def place(p: Area | Floor) -> Place:
            return Place(
                id=p.id,
                name=p.name,
                aliases=also_simplified(p.name, p.aliases),
                floor=p.floor if isinstance(p, Area) else None,
            )

        def device(d: Device) -> DeviceInfo:
            listed = tuple(d.actions or ())
            actions = listed or tuple(
                a for a in TYPES.get(d.type, ()) if a != COLOR_ACTION or d.color
            )
            return DeviceInfo(
                id=d.id,
                type=d.type,
                name=d.name,
                aliases=also_simplified(d.name, d.aliases),
                area=d.area,
                actions=actions,
                sensitive=tuple(d.sensitive),
                speeds=d.speeds,
            )

        return cls(
            floors=tuple(place(f) for f in floors),
            areas=tuple(place(a) for a in areas),
            devices=tuple(device(d) for d in devices),
            fahrenheit=temperature_unit == "fahrenheit",
        )

    # ----------------------------------------------------------------- lookups

    def floor_of(self, dev: DeviceInfo) -> str | None:
        area = self.area_by_id.get(dev.area or "")
        return area.floor if area else None

    def in_area(self, area: str) -> list[DeviceInfo]:
        return [d for d in self.devices if d.area == area]

    def on_floor(self, floor: str) -> list[DeviceInfo]:
        return [d for d in self.devices if self.floor_of(d) == floor]

    def rule(self, action: str, device: str | None) -> NumberRule | None:
        dev = self.by_id.get(device or "")
        return number_rule(action, speeds=dev.speeds if dev else 3, fahrenheit=self.fahrenheit)

    def is_sensitive(self, c: Command) -> bool:
        return any(c.action in self.by_id[d].sensitive for d in c.devices if d in self.by_id)

    # -------------------------------------------------------------- validity

    def check(self, c: Command) -> str | None:
        """Why `c` is not a valid command for this home, or None when it is."""
        if c.action in DEVICELESS:
            if c.devices:
                return f"{c.action} takes no device"
            if c.action == START_TIMER:
                return self.value_problem(c)
            return None if c.value is None else f"{c.action} takes no value"
        if not c.devices:
            return f"{c.action} needs a device"
        for d in c.devices:
            dev = self.by_id.get(d)
            if dev is None:
                return f"no device {d!r}"
            if c.action == CLARIFY:
                continue
            if not dev.accepts(c.action):
                return f"{dev.id} does not accept {c.action}"
        if c.action in (QUERY, CLARIFY):
            return None if c.value is None else f"{c.action} takes no value"
        return self.value_problem(c)

    def value_problem(self, c: Command) -> str | None:
        kind = value_kind(c.action)
        v = c.value
        if kind == "none":
            return None if v is None else f"{c.action} takes no value"
        if kind == "color":
            return None if v in COLORS else f"{c.action} needs one of {', '.join(COLORS)}"
        if kind == "item":
            return None if isinstance(v, str) and v.strip() else "add_item needs an item"
        for d in c.devices or (None,):
            rule = self.rule(c.action, d)
            assert rule is not None
            if not isinstance(v, int) or isinstance(v, bool) or not rule.accepts(v):
                return f"{c.action} needs a value from {rule.lo} to {rule.hi}"
        return None

    def check_decision(self, d: Decision) -> str | None:
        for c in d.commands:
            problem = self.check(c)
            if problem:
                return problem
        return None


@cache
def spoken_words() -> tuple[str, ...]:
    """Words people use around device names, for the speech recognizer's command grammar:
    `spoken_words` of each language in daemon/data/lang."""
    return tuple(w for lang in ("en", "zh") for w in load(f"lang/{lang}.toml")["spoken_words"])


def spoken_phrases(registry: Registry) -> list[str]:
    """Device, area and floor names plus the words around them (spoken_words)."""
    places = [p for place in (*registry.areas, *registry.floors) for p in place.phrases]
    return [p for d in registry.devices for p in d.phrases] + places + list(spoken_words())
