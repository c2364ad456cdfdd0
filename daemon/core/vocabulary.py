"""The action vocabulary of FORMAT.md: device types, their actions, and value rules.

This is the contract with everything that judges dialogd's understanding and with the
appliances that consume its intents; it changes only with FORMAT.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TYPES: dict[str, tuple[str, ...]] = {
    "light": ("turn_on", "turn_off", "set_brightness", "change_brightness", "set_color"),
    "switch": ("turn_on", "turn_off"),
    "fan": ("turn_on", "turn_off", "set_speed", "change_speed"),
    "cover": ("open", "close", "stop", "set_position"),
    "valve": ("open", "close", "set_position"),
    "lock": ("lock", "unlock"),
    "climate": ("turn_on", "turn_off", "set_temperature", "change_temperature"),
    "media_player": (
        "turn_on", "turn_off", "pause", "resume", "next_track", "previous_track",
        "set_volume", "change_volume", "mute", "unmute",
    ),
    "vacuum": ("start", "stop", "pause", "return_to_base"),
    "appliance": ("start", "stop"),
    "scene": ("activate",),
    "list": ("add_item",),
}  # fmt: skip

# Lights accept set_color only when the registry says `color = true`.
COLOR_ACTION = "set_color"

COLORS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white")

QUERY = "query"
CHAT = "chat"
UNKNOWN = "unknown"
CANCEL = "cancel"
CLARIFY = "clarify"
START_TIMER = "start_timer"
CANCEL_TIMER = "cancel_timer"
TIMER_STATUS = "timer_status"
# Actions that name no device (clarify names candidates, but decides nothing).
DEVICELESS = (CHAT, UNKNOWN, CANCEL, START_TIMER, CANCEL_TIMER, TIMER_STATUS)
NON_COMMANDS = (QUERY, CLARIFY, *DEVICELESS)

# Actions that change something in the home: what the safety policy guards.
ACTUATING = frozenset(a for actions in TYPES.values() for a in actions)

# Actions that undo each other, both ways.
_UNDOES = {
    "turn_on": "turn_off",
    "open": "close",
    "lock": "unlock",
    "mute": "unmute",
    "pause": "resume",
    "start": "stop",
}
OPPOSITE = {**_UNDOES, **{b: a for a, b in _UNDOES.items()}}

ALL_ACTIONS = frozenset(ACTUATING | set(NON_COMMANDS))

LANGS = {"en", "zh"}

Value = int | str | None
# The languages dialogd understands and answers in.
Lang = Literal["en", "zh"]
# The channels a request can come from.
Source = Literal["mqtt", "serial", "voice", "cli", "wyoming"]


@dataclass(frozen=True)
class NumberRule:
    """An integer value: its range, whether 0 is allowed, the step when none is said."""

    unit: str
    lo: int
    hi: int
    zero_ok: bool = True
    default_step: int | None = None

    def accepts(self, v: int) -> bool:
        return self.lo <= v <= self.hi and (self.zero_ok or v != 0)


PERCENT = NumberRule("percent", 0, 100)
PERCENT_CHANGE = NumberRule("percent", -100, 100, zero_ok=False, default_step=10)
CELSIUS = NumberRule("degrees", 5, 35)
FAHRENHEIT = NumberRule("degrees", 40, 95)
DEGREE_CHANGE = NumberRule("degrees", -10, 10, zero_ok=False, default_step=1)
TIMER = NumberRule("seconds", 1, 24 * 3600)

# A relative change and the action that sets the same property outright.
RELATIVE_TO_ABSOLUTE = {
    "change_brightness": "set_brightness",
    "change_volume": "set_volume",
    "change_temperature": "set_temperature",
    "change_speed": "set_speed",
}
ABSOLUTE_TO_RELATIVE = {b: a for a, b in RELATIVE_TO_ABSOLUTE.items()}

# A property switched on or off is its own action, not the device's ("turn the tv's
# sound off" mutes it): the property by its absolute action, then (on, off).
SWITCHED_PROPERTY = {"set_volume": ("unmute", "mute")}

ValueKind = Literal["none", "number", "color", "item"]


def value_kind(action: str) -> ValueKind:
    if action == COLOR_ACTION:
        return "color"
    if action == "add_item":
        return "item"
    if action in _NUMBER_ACTIONS or action in ("set_speed", "change_speed", "set_temperature"):
        return "number"
    return "none"


_NUMBER_ACTIONS = {
    "set_brightness": PERCENT,
    "set_volume": PERCENT,
    "set_position": PERCENT,
    "change_brightness": PERCENT_CHANGE,
    "change_volume": PERCENT_CHANGE,
    "change_temperature": DEGREE_CHANGE,
    START_TIMER: TIMER,
}


def number_rule(action: str, *, speeds: int = 3, fahrenheit: bool = False) -> NumberRule | None:
    """The range of `action`'s number for a device with `speeds` levels in a home whose
    unit is Fahrenheit or not; None when the action takes no number."""
    if action == "set_temperature":
        return FAHRENHEIT if fahrenheit else CELSIUS
    if action == "set_speed":
        return NumberRule("level", 1, speeds)
    if action == "change_speed":
        return NumberRule("levels", -speeds, speeds, zero_ok=False, default_step=1)
    return _NUMBER_ACTIONS.get(action)
