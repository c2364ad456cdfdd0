"""Home Assistant MQTT discovery: reading an entity's state topics.

Each device type reads a few topics (state_topic, brightness_state_topic, position_topic
...), each through its value template when the config has one; state words compare
exactly, as Home Assistant compares them.
"""

from __future__ import annotations

from collections.abc import Callable

from daemon.home.endpoint import Endpoint
from daemon.home.protocols.base import (
    DeviceState,
    json_object,
    json_value,
    number_text,
    opt_num,
    opt_topic,
    percent,
    rgb_from,
    speed_levels,
    temperature,
    text,
)
from daemon.home.protocols.homeassistant import (
    BRIGHTNESS_SCALE,
    LOCK_KEYS,
    OPEN_KEYS,
    brightness_scale,
    option,
)
from daemon.home.protocols.templates import render

Reader = Callable[[Endpoint, bytes], DeviceState | None]


def _reading(ep: Endpoint, payload: bytes, template_key: str) -> str | None:
    """The payload as text, through the config's value template when it has one."""
    said = text(payload)
    template = opt_topic(ep, template_key)
    if said is None or template is None:
        return said
    parsed = json_value(payload)
    extra = {} if parsed is None else {"value_json": parsed}
    return render(template, value=said, **extra)


def _on_off(ep: Endpoint, said: object, on_key: str, off_key: str) -> bool | None:
    # A switch's state_on/state_off default to its payload_on/payload_off.
    on = option(ep, on_key) or option(ep, "payload_on")
    off = option(ep, off_key) or option(ep, "payload_off")
    return True if said == on else False if said == off else None


def _power(template_key: str, on_key: str = "payload_on", off_key: str = "payload_off") -> Reader:
    def read(ep: Endpoint, payload: bytes) -> DeviceState:
        said = _reading(ep, payload, template_key)
        return DeviceState(power=_on_off(ep, said, on_key, off_key))

    return read


def _brightness(ep: Endpoint, payload: bytes) -> DeviceState:
    return DeviceState(
        brightness=percent(_reading(ep, payload, "brightness_value_template"), brightness_scale(ep))
    )


def _color(key: str) -> Reader:
    def read(ep: Endpoint, payload: bytes) -> DeviceState:
        said = _reading(ep, payload, f"{key}_value_template")
        if said is None or key == "rgb":
            return DeviceState(color=rgb_from(said))
        parts = said.split(",")
        names = ("hue", "saturation") if key == "hs" else ("x", "y")
        if len(parts) != 2:
            return DeviceState()
        return DeviceState(color=rgb_from(dict(zip(names, map(number_text, parts), strict=True))))

    return read


def _light_json(ep: Endpoint, payload: bytes) -> DeviceState | None:
    msg = json_object(payload)
    if msg is None:
        return None
    raw = msg.get("brightness")
    return DeviceState(
        power=_on_off(ep, msg.get("state"), "payload_on", "payload_off"),
        brightness=percent(raw, brightness_scale(ep)),
        color=rgb_from(msg.get("color")),
    )


def _light_template(ep: Endpoint, payload: bytes) -> DeviceState:
    state = _reading(ep, payload, "state_template")
    has_brightness = "brightness_template" in ep.options
    raw = _reading(ep, payload, "brightness_template") if has_brightness else None
    channels = [_reading(ep, payload, f"{c}_template") for c in ("red", "green", "blue")]
    rgb = rgb_from(",".join(c or "" for c in channels)) if all(channels) else None
    return DeviceState(
        power=True if state == "on" else False if state == "off" else None,
        brightness=percent(raw, BRIGHTNESS_SCALE),
        color=rgb,
    )


def _words(ep: Endpoint, said: str | None, keys: dict[str, bool]) -> bool | None:
    for key, meaning in keys.items():
        if said == option(ep, key):
            return meaning
    # Closing counts as closed: the command to close took effect.
    return False if "state_open" in keys and said == option(ep, "state_closing") else None


def _position_percent(ep: Endpoint, raw: object) -> int | None:
    n = number_text(raw)
    closed, open_ = opt_num(ep, "position_closed", 0), opt_num(ep, "position_open", 100)
    if n is None or open_ == closed:
        return None
    return percent((n - closed) * 100 / (open_ - closed))


def _cover_state(ep: Endpoint, payload: bytes) -> DeviceState:
    return DeviceState(open=_words(ep, _reading(ep, payload, "value_template"), OPEN_KEYS))


def _cover_position(ep: Endpoint, payload: bytes) -> DeviceState:
    return DeviceState(position=_position_percent(ep, _reading(ep, payload, "position_template")))


def _valve_state(ep: Endpoint, payload: bytes) -> DeviceState | None:
    said = _reading(ep, payload, "value_template")
    if ep.options.get("reports_position") is not True or said is None:
        return _cover_state(ep, payload)
    msg = json_object(said.encode())
    if msg is not None:  # {"state": "opening", "position": 10}
        state = msg.get("state")
        return DeviceState(
            open=_words(ep, state if isinstance(state, str) else None, OPEN_KEYS),
            position=_position_percent(ep, msg.get("position")),
        )
    position = _position_percent(ep, said)
    if position is not None:
        return DeviceState(position=position, open=position > 0)
    return DeviceState(open=_words(ep, said, OPEN_KEYS))


def _lock_state(ep: Endpoint, payload: bytes) -> DeviceState:
    said = _reading(ep, payload, "value_template")
    return DeviceState(locked=_words(ep, said, LOCK_KEYS))


def _fan_speed(ep: Endpoint, payload: bytes) -> DeviceState:
    ranged = number_text(_reading(ep, payload, "percentage_value_template"))
    lo, hi = opt_num(ep, "speed_range_min", 1), opt_num(ep, "speed_range_max", 100)
    if ranged is None or hi < lo:
        return DeviceState()
    if ranged < lo:  # below the range: the fan is off
        return DeviceState(power=False)
    pct = min(100.0, (ranged - lo + 1) * 100 / (hi - lo + 1))
    return DeviceState(speed=max(1, round(pct * speed_levels(ep) / 100)), power=True)


def _climate_mode(ep: Endpoint, payload: bytes) -> DeviceState:
    mode = _reading(ep, payload, "mode_state_template")
    return DeviceState(power=mode != "off") if mode else DeviceState()


def _climate_target(ep: Endpoint, payload: bytes) -> DeviceState:
    return DeviceState(temperature=temperature(_reading(ep, payload, "temperature_state_template")))


_SWITCH: list[tuple[str, Reader]] = [
    ("state_topic", _power("value_template", "state_on", "state_off"))
]
# Per device type: which topic (an option key, or the endpoint's state_topic) says what.
READERS: dict[str, list[tuple[str, Reader]]] = {
    "switch": _SWITCH,
    "appliance": _SWITCH,
    "scene": [],
    "vacuum": [],
    "fan": [
        ("state_topic", _power("state_value_template")),
        ("percentage_state_topic", _fan_speed),
    ],
    "cover": [("state_topic", _cover_state), ("position_topic", _cover_position)],
    "valve": [("state_topic", _valve_state)],
    "lock": [("state_topic", _lock_state)],
    "climate": [
        ("mode_state_topic", _climate_mode),
        ("temperature_state_topic", _climate_target),
    ],
}
LIGHT_READERS: dict[str, list[tuple[str, Reader]]] = {
    "json": [("state_topic", _light_json)],
    "template": [("state_topic", _light_template)],
    "default": [
        ("state_topic", _power("state_value_template")),
        ("brightness_state_topic", _brightness),
        ("rgb_state_topic", _color("rgb")),
        ("hs_state_topic", _color("hs")),
        ("xy_state_topic", _color("xy")),
    ],
}


def _readers(ep: Endpoint, device_type: str) -> list[tuple[str, Reader]]:
    if device_type == "light":
        schema = option(ep, "schema")
        return LIGHT_READERS.get(schema, LIGHT_READERS["default"])
    return READERS.get(device_type, [])


def _topic(ep: Endpoint, key: str) -> str | None:
    return ep.state_topic if key == "state_topic" else opt_topic(ep, key)


def parse(ep: Endpoint, topic: str, payload: bytes, device_type: str) -> DeviceState | None:
    """Every reader whose topic this is has its say (one topic may carry several)."""
    out: DeviceState | None = None
    for key, reader in _readers(ep, device_type):
        if _topic(ep, key) == topic:
            st = reader(ep, payload)
            if st is not None:
                out = st if out is None else out.merged(st)
    return out


def topics(ep: Endpoint) -> list[str]:
    """The state topics: the state_topic, every *_state_topic, and a cover's position_topic
    (a superset of what one device type reads: the type is not the endpoint's)."""
    found = [t for t in ep.topics() if t != ep.availability_topic]
    position = opt_topic(ep, "position_topic")
    return [*found, position] if position and position not in found else found


def availability_topics(ep: Endpoint) -> list[str]:
    return [ep.availability_topic] if ep.availability_topic else []
