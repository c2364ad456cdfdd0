"""Tasmota: one command per topic leaf under `cmnd/<topic>` (POWER, Dimmer, Color...).

It answers on `stat/<topic>/RESULT` (JSON), `stat/<topic>/POWER` (plain ON/OFF), and
reports periodically on `tele/<topic>/STATE` and `tele/<topic>/SENSOR` (shutters);
availability is `tele/<topic>/LWT` Online/Offline. Options: `relay` (POWER<n> of a
multi-relay device), `shutter` (Shutter<n>).
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
    json_object,
    need_number,
    number,
    percent,
    rgb_from,
    rgb_hex,
    text,
    word,
)

# Per action: (command leaf, payload); "{n}" is the relay or shutter index ("" for one).
COMMANDS: dict[str, tuple[str, str]] = {
    "turn_on": ("POWER{n}", "ON"),
    "turn_off": ("POWER{n}", "OFF"),
    "set_brightness": ("Dimmer", "{value}"),
    "set_color": ("Color", "{value}"),
    "set_position": ("ShutterPosition{n}", "{value}"),
    "set_speed": ("FanSpeed", "{value}"),
    # Tasmota's shutter commands act on an empty payload.
    "open": ("ShutterOpen{n}", ""),
    "close": ("ShutterClose{n}", ""),
    "stop": ("ShutterStop{n}", ""),
}
# A valve on a relay opens and closes with its power.
VALVE_COMMANDS = {"open": ("POWER{n}", "ON"), "close": ("POWER{n}", "OFF")}


def _index(ep: Endpoint, key: str) -> str:
    n = number(ep.options.get(key))
    return str(int(n)) if n is not None and 1 <= n <= 32 else ""


def _name(ep: Endpoint) -> str | None:
    """The device's %topic%, from cmnd/<topic> or stat/<topic>/RESULT."""
    if ep.command_topic and ep.command_topic.startswith("cmnd/"):
        return ep.command_topic.removeprefix("cmnd/")
    if ep.state_topic and ep.state_topic.startswith("stat/"):
        return ep.state_topic.removeprefix("stat/").rsplit("/", 1)[0]
    return None


def _stat(ep: Endpoint) -> str | None:
    if ep.state_topic:
        return ep.state_topic.rsplit("/", 1)[0]
    name = _name(ep)
    return f"stat/{name}" if name else None


def _value(action: str, value: Arg) -> str:
    if action == "set_color":
        return rgb_hex(color_rgb(value))
    if action in ("set_brightness", "set_position", "set_speed"):
        return str(int(need_number(action, value)))
    return ""


def messages(ep: Endpoint, action: str, value: Arg, device_type: str) -> list[Publish]:
    table = {**COMMANDS, **VALVE_COMMANDS} if device_type == "valve" else COMMANDS
    if action not in table:
        raise Unsupported(f"tasmota cannot {action} a {device_type}")
    if not ep.command_topic:
        raise Unsupported("tasmota device has no command topic")
    leaf, template = table[action]
    n = _index(ep, "shutter" if leaf.startswith("Shutter") else "relay")
    payload = template.replace("{value}", _value(action, value))
    return [Publish(f"{ep.command_topic}/{leaf.replace('{n}', n)}", payload.encode())]


# ------------------------------------------------------------------------- state


def _power(ep: Endpoint, msg: dict[str, Any]) -> bool | None:
    n = _index(ep, "relay")
    # A one-relay device says POWER; asking for relay 1 accepts either spelling.
    keys = [f"POWER{n}"] + (["POWER"] if n == "1" else [])
    for key in keys:
        if key in msg:
            return word(msg[key], "ON", "OFF")
    return None


def _shutter(ep: Endpoint, msg: dict[str, Any]) -> DeviceState:
    shutter = msg.get(f"Shutter{_index(ep, 'shutter') or '1'}")
    if not isinstance(shutter, dict):
        return DeviceState()
    raw = number(shutter.get("Position"))
    position = percent(raw) if raw is not None else None
    direction = number(shutter.get("Direction"))  # 1 opening, -1 closing, 0 still
    moving = None if not direction else direction > 0
    return DeviceState(position=position, open=moving)


def _read(ep: Endpoint, msg: dict[str, Any], device_type: str) -> DeviceState:
    power = _power(ep, msg)
    dimmer = msg.get("Dimmer")
    speed = number(msg.get("FanSpeed"))
    st = DeviceState(
        open=power if device_type == "valve" else None,
        power=None if device_type == "valve" else power,
        brightness=percent(dimmer),
        color=rgb_from(msg.get("Color")) if device_type == "light" else None,
        speed=int(speed) if speed is not None and 0 < speed <= 10 else None,
    )
    return st.merged(_shutter(ep, msg))


def parse(ep: Endpoint, topic: str, payload: bytes, device_type: str) -> DeviceState | None:
    stat, name = _stat(ep), _name(ep)
    if stat and topic == f"{stat}/POWER{_index(ep, 'relay')}":
        power = word(text(payload), "ON", "OFF")
        st = DeviceState(open=power) if device_type == "valve" else DeviceState(power=power)
        return st if st.known() else None
    json_topics = {ep.state_topic, f"{stat}/RESULT" if stat else None}
    if name:
        json_topics |= {f"tele/{name}/STATE", f"tele/{name}/SENSOR"}
    if topic not in json_topics:
        return None
    msg = json_object(payload)
    return None if msg is None else _read(ep, msg, device_type)


def topics(ep: Endpoint) -> list[str]:
    stat, name = _stat(ep), _name(ep)
    out = [f"{stat}/RESULT", f"{stat}/POWER{_index(ep, 'relay')}"] if stat else []
    if ep.state_topic and ep.state_topic not in out:
        out.insert(0, ep.state_topic)
    if name:
        out += [f"tele/{name}/STATE", f"tele/{name}/SENSOR"]
    return out


def availability_topics(ep: Endpoint) -> list[str]:
    if ep.availability_topic:
        return [ep.availability_topic]
    name = _name(ep)
    return [f"tele/{name}/LWT"] if name else []
