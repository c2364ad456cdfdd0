"""What a device says: its state and availability messages, and what they mean for a
command (did it take effect? would it change anything?).

Payloads are untrusted: every reader returns None on garbage rather than raising.
Subscribe to `state_topics(endpoint)` and hand every message on them to both
`parse_state` and `parse_availability`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from daemon.core.vocabulary import Value
from daemon.home.endpoint import Endpoint
from daemon.home.protocols import (
    custom,
    esphome,
    hass,
    homeassistant_state,
    tasmota,
    zigbee2mqtt,
)
from daemon.home.protocols.base import (
    MAX_PAYLOAD,
    DeviceState,
    json_object,
    json_value,
    nearest_color,
    number,
    text,
)
from daemon.home.protocols.templates import render

__all__ = [
    "DeviceState",
    "already",
    "parse_availability",
    "parse_state",
    "satisfies",
    "state_topics",
]

Parser = Callable[[Endpoint, str, bytes, str], DeviceState | None]
PARSERS: dict[str, Parser] = {
    "zigbee2mqtt": zigbee2mqtt.parse,
    "tasmota": tasmota.parse,
    "esphome": esphome.parse,
    "homeassistant": homeassistant_state.parse,
    "custom": custom.parse,
    "hass": hass.parse,
}
TOPICS: dict[str, Callable[[Endpoint], list[str]]] = {
    "zigbee2mqtt": zigbee2mqtt.topics,
    "tasmota": tasmota.topics,
    "esphome": esphome.topics,
    "homeassistant": homeassistant_state.topics,
    "custom": custom.topics,
    "hass": hass.topics,
}
AVAILABILITY: dict[str, Callable[[Endpoint], list[str]]] = {
    "zigbee2mqtt": zigbee2mqtt.availability_topics,
    "tasmota": tasmota.availability_topics,
    "esphome": esphome.availability_topics,
    "homeassistant": homeassistant_state.availability_topics,
    "custom": custom.availability_topics,
    "hass": hass.availability_topics,
}
# Readings this close to the commanded value count as it: devices round percentages
# through their own scales (0-254, 0-255) and setpoints to their step.
PERCENT_SLACK = 1
DEGREE_SLACK = 0.5


def state_topics(endpoint: Endpoint) -> list[str]:
    """Every topic to subscribe to for this endpoint's state and availability."""
    found = TOPICS[endpoint.integration](endpoint) + AVAILABILITY[endpoint.integration](endpoint)
    return list(dict.fromkeys(found))


def parse_state(
    endpoint: Endpoint, topic: str, payload: bytes, *, device_type: str
) -> DeviceState | None:
    """What the message says about the device; None when it is not one of this endpoint's
    state messages, cannot be read, or says nothing dialogd tracks."""
    if len(payload) > MAX_PAYLOAD:
        return None
    state = PARSERS[endpoint.integration](endpoint, topic, payload, device_type)
    return state if state is not None and state.known() else None


def parse_availability(endpoint: Endpoint, topic: str, payload: bytes) -> bool | None:
    """True online, False offline; None when it is no availability message of this
    endpoint (or says neither)."""
    if endpoint.integration == "hass":
        # Home Assistant's state says "unavailable" itself; any other state is a state.
        return False if hass.available(payload) is False else None
    if topic not in AVAILABILITY[endpoint.integration](endpoint):
        return None
    said = _availability_word(endpoint, payload)
    if said is None:
        return None
    for exact in (True, False):  # Tasmota says Online; be lenient only when nothing matches
        fold = (lambda s: s) if exact else str.casefold
        if fold(said) == fold(endpoint.payload_available):
            return True
        if fold(said) == fold(endpoint.payload_not_available):
            return False
    return None


def _availability_word(endpoint: Endpoint, payload: bytes) -> str | None:
    raw = text(payload)
    template = endpoint.options.get("availability_template")
    if raw is not None and isinstance(template, str):  # Home Assistant discovery
        parsed = json_value(payload)
        return render(template, value=raw, **({} if parsed is None else {"value_json": parsed}))
    msg = json_object(payload)  # zigbee2mqtt's {"state": "online"}; legacy: plain online
    said = msg.get("state") if msg is not None else raw
    return said if isinstance(said, str) else None


# ------------------------------------------------------------------------- meaning


def _near(reading: float | None, wanted: Value, slack: float) -> bool | None:
    n = number(wanted)
    if reading is None or n is None:
        return None
    return abs(reading - n) <= slack


def _is(flag: bool | None, wanted: bool) -> bool | None:
    return None if flag is None else flag == wanted


def _brightness(state: DeviceState, value: Value) -> bool | None:
    if value == 0:
        return _is(state.power, False)
    if state.power is False:
        return False
    return _near(state.brightness, value, PERCENT_SLACK)


def _color(state: DeviceState, value: Value) -> bool | None:
    if state.power is False:
        return False
    return None if state.color is None else nearest_color(state.color) == value


def _opened(state: DeviceState, wanted: bool) -> bool | None:
    if state.open is not None:
        return state.open == wanted
    if state.position is not None:
        return (state.position > 0) == wanted
    return None


def _position(state: DeviceState, value: Value) -> bool | None:
    if state.position is None:
        # Only the ends can be told from open/closed.
        return _opened(state, value != 0) if value in (0, 100) else None
    return _near(state.position, value, PERCENT_SLACK)


CHECKS: dict[str, Callable[[DeviceState, Value], bool | None]] = {
    "turn_on": lambda s, v: _is(s.power, True),
    "turn_off": lambda s, v: _is(s.power, False),
    "set_brightness": _brightness,
    "set_color": _color,
    "open": lambda s, v: _opened(s, True),
    "close": lambda s, v: _opened(s, False),
    "set_position": _position,
    "lock": lambda s, v: _is(s.locked, True),
    "unlock": lambda s, v: _is(s.locked, False),
    "set_temperature": lambda s, v: _near(s.temperature, v, DEGREE_SLACK),
    "set_volume": lambda s, v: _near(s.volume, v, PERCENT_SLACK),
    "set_speed": lambda s, v: False if s.power is False else _near(s.speed, v, 0),
}


def satisfies(state: DeviceState, action: str, value: Value, *, device_type: str) -> bool | None:
    """Does `state` show the command took effect? None: the state cannot tell (a stop,
    a pause, a relative change, or a field the device has not reported).

    Movement toward the target counts: an opening cover satisfies "open", a locking lock
    "lock". `device_type` is part of the contract for types whose readings differ."""
    check = CHECKS.get(action)
    return None if check is None else check(state, value)


def already(state: DeviceState, action: str, value: Value, *, device_type: str) -> bool:
    """Would the command change nothing? Only when the state shows it plainly: a light
    must be known on for its brightness or colour to count."""
    if satisfies(state, action, value, device_type=device_type) is not True:
        return False
    needs_on = action in ("set_color", "set_speed") or (action == "set_brightness" and value)
    return state.power is True if needs_on else True


@dataclass(frozen=True)
class Look:
    """What dialogd knows of a device now (the state book's answer to the replies)."""

    tracked: bool  # it has a state topic dialogd listens to
    state: DeviceState | None = None
    online: bool | None = None  # None: it never said


Lookup = Callable[[str], Look]
