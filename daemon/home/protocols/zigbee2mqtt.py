"""zigbee2mqtt: JSON on `<base>/<name>/set`, state JSON on `<base>/<name>`.

Options (from discovery's exposes or the config): `state_property` ("state", or
"state_l1" for one endpoint of a multi-endpoint device: its other properties take the
same suffix unless named), `value_on`/`value_off` (strings or JSON scalars),
`brightness_property`, `brightness_max` (254), `color` ("xy", "hs" or None: hex, which
zigbee2mqtt converts), `position_property`, `setpoint_property`, `mode_property`
(fan_mode / system_mode), `fan_modes`, `modes` (a climate's system modes).
"""

from __future__ import annotations

from typing import Any

from daemon.home.endpoint import Endpoint
from daemon.home.protocols.base import (
    Arg,
    DeviceState,
    Publish,
    Unsupported,
    color_rgb,
    dumps,
    json_object,
    need_number,
    opt_num,
    opt_str,
    percent,
    percent_to_raw,
    rgb_from,
    rgb_hex,
    rgb_hs,
    rgb_xy,
    temperature,
    word,
)

BRIGHTNESS_MAX = 254
SETPOINT = "current_heating_setpoint"
# zigbee2mqtt's fan_mode values for speed levels 1, 2, 3.
FAN_MODES = ("low", "medium", "high")
# What a cover's or lock's `state` property says; valves are on/off switches in zigbee.
COVER_STATES = {"OPEN": True, "OPENING": True, "CLOSE": False, "CLOSED": False, "CLOSING": False}
LOCK_STATES = {"LOCK": True, "LOCKED": True, "UNLOCK": False, "UNLOCKED": False}
COVER_COMMANDS = {"open": "OPEN", "close": "CLOSE", "stop": "STOP"}
# Types whose mode property ("off" or a mode) tells power.
MODED = ("climate", "fan")
Scalar = str | int | float | bool


def _base(ep: Endpoint) -> str | None:
    if ep.state_topic:
        return ep.state_topic
    if ep.command_topic and ep.command_topic.endswith("/set"):
        return ep.command_topic.removesuffix("/set")
    return None


def _prop(ep: Endpoint, name: str) -> str:
    """The property `name` of this endpoint: as discovery named it (`<name>_property`),
    else "brightness_l1" when the state property is "state_l1"."""
    state = opt_str(ep, "state_property", "state")
    default = name + state.removeprefix("state") if state.startswith("state") else name
    return opt_str(ep, f"{name}_property", default)


def _scalar(ep: Endpoint, key: str, default: str) -> Scalar:
    v = ep.options.get(key)
    return v if isinstance(v, str | int | float | bool) else default


def _on_off(ep: Endpoint, device_type: str) -> tuple[Scalar, Scalar]:
    # A lock's state property takes LOCK/UNLOCK (its exposes' value_on/value_off).
    on, off = ("LOCK", "UNLOCK") if device_type == "lock" else ("ON", "OFF")
    return _scalar(ep, "value_on", on), _scalar(ep, "value_off", off)


def _same(raw: object, value: Scalar) -> bool:
    if isinstance(raw, str) and isinstance(value, str):
        return raw.casefold() == value.casefold()
    return type(raw) is type(value) and raw == value


def _mode_property(ep: Endpoint, device_type: str) -> str:
    return opt_str(ep, "mode_property", "system_mode" if device_type == "climate" else "fan_mode")


def _on_mode(ep: Endpoint) -> str:
    modes = ep.options.get("modes")
    modes = [m for m in modes if isinstance(m, str)] if isinstance(modes, list) else []
    if not modes or "heat" in modes:
        return opt_str(ep, "mode_on", "heat")
    return next((m for m in modes if m != "off"), "heat")


def _fan_modes(ep: Endpoint) -> tuple[str, ...]:
    modes = ep.options.get("fan_modes")
    if isinstance(modes, list) and modes and all(isinstance(m, str) for m in modes):
        return tuple(modes)
    return FAN_MODES


def _color(ep: Endpoint, value: Arg) -> dict[str, Any]:
    rgb = color_rgb(value)
    mode = ep.options.get("color")
    if mode == "xy":
        x, y = rgb_xy(rgb)
        return {"x": x, "y": y}
    if mode == "hs":
        h, s = rgb_hs(rgb)
        return {"hue": h, "saturation": s}
    return {"hex": rgb_hex(rgb)}


def _body(ep: Endpoint, action: str, value: Arg, device_type: str) -> dict[str, Any]:
    state = opt_str(ep, "state_property", "state")
    on, off = _on_off(ep, device_type)
    if device_type == "climate" and action in ("turn_on", "turn_off"):
        mode = _on_mode(ep) if action == "turn_on" else "off"
        return {_mode_property(ep, device_type): mode}
    if action in ("turn_on", "turn_off"):
        return {state: on if action == "turn_on" else off}
    if action == "set_brightness":
        scale = int(opt_num(ep, "brightness_max", BRIGHTNESS_MAX))
        raw = percent_to_raw(int(need_number(action, value)), scale)
        return {state: on, _prop(ep, "brightness"): raw}
    if action == "set_color":
        return {state: on, _prop(ep, "color"): _color(ep, value)}
    if device_type == "valve" and action in ("open", "close"):
        return {state: on if action == "open" else off}
    if action in COVER_COMMANDS and device_type in ("cover", "valve"):
        return {state: COVER_COMMANDS[action]}
    if action == "set_position":
        return {_prop(ep, "position"): int(need_number(action, value))}
    if action in ("lock", "unlock"):
        return {state: on if action == "lock" else off}
    if action == "set_temperature":
        return {opt_str(ep, "setpoint_property", SETPOINT): need_number(action, value)}
    if action == "set_speed":
        modes, level = _fan_modes(ep), int(need_number(action, value))
        if not 1 <= level <= len(modes):
            raise Unsupported(f"zigbee2mqtt fan has no speed {level}")
        return {_mode_property(ep, device_type): modes[level - 1]}
    raise Unsupported(f"zigbee2mqtt cannot {action} a {device_type}")


def messages(ep: Endpoint, action: str, value: Arg, device_type: str) -> list[Publish]:
    if not ep.command_topic:
        raise Unsupported("zigbee2mqtt device has no command topic")
    return [Publish(ep.command_topic, dumps(_body(ep, action, value, device_type)))]


# ------------------------------------------------------------------------- state


def _state_word(ep: Endpoint, raw: object, device_type: str) -> DeviceState:
    if device_type == "cover":
        return DeviceState(open=COVER_STATES.get(raw.upper()) if isinstance(raw, str) else None)
    on, off = _on_off(ep, device_type)
    said = True if _same(raw, on) else False if _same(raw, off) else None
    if device_type == "lock":
        if said is None and isinstance(raw, str):
            said = LOCK_STATES.get(raw.upper())
        return DeviceState(locked=said)
    return DeviceState(open=said) if device_type == "valve" else DeviceState(power=said)


def _read(ep: Endpoint, msg: dict[str, Any], device_type: str) -> DeviceState:
    st = _state_word(ep, msg.get(opt_str(ep, "state_property", "state")), device_type)
    scale = opt_num(ep, "brightness_max", BRIGHTNESS_MAX)
    brightness = msg.get(_prop(ep, "brightness"))
    color = msg.get(_prop(ep, "color"))
    position = msg.get(_prop(ep, "position"))
    lock_state = msg.get("lock_state")  # "locked", "unlocked", "not_fully_locked"
    mode = msg.get(_mode_property(ep, device_type))
    modes = _fan_modes(ep)
    return st.merged(
        DeviceState(
            brightness=percent(brightness, scale),
            color=rgb_from(color),
            position=percent(position),
            locked=word(lock_state, "locked", "unlocked"),
            power=(mode != "off") if isinstance(mode, str) and device_type in MODED else None,
            temperature=temperature(msg.get(opt_str(ep, "setpoint_property", SETPOINT))),
            speed=modes.index(mode) + 1 if device_type == "fan" and mode in modes else None,
        )
    )


def parse(ep: Endpoint, topic: str, payload: bytes, device_type: str) -> DeviceState | None:
    if topic != _base(ep):
        return None
    msg = json_object(payload)
    return None if msg is None else _read(ep, msg, device_type)


def topics(ep: Endpoint) -> list[str]:
    base = _base(ep)
    return [base] if base else []


def availability_topics(ep: Endpoint) -> list[str]:
    if ep.availability_topic:
        return [ep.availability_topic]
    base = _base(ep)
    return [f"{base}/availability"] if base else []
