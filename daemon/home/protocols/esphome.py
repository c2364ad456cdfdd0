"""ESPHome's MQTT component: `<prefix>/<component>/<object_id>/command` and `/state`.

Lights use the JSON schema ({"state": "ON", "brightness": 0-255, "color": {"r","g","b"}});
switches and fans take ON/OFF; covers and valves OPEN/CLOSE/STOP with the position on
`.../position/command` (0-100); locks LOCK/UNLOCK; climates their target temperature and
mode on sub-topics. Availability is `<prefix>/status` online/offline.
"""

from __future__ import annotations

from daemon.home.endpoint import Endpoint
from daemon.home.protocols.base import (
    Arg,
    DeviceState,
    Publish,
    Unsupported,
    color_rgb,
    dumps,
    fmt_number,
    json_object,
    need_number,
    number_text,
    opt_str,
    percent,
    percent_to_raw,
    rgb_from,
    temperature,
    text,
    word,
)

BRIGHTNESS_MAX = 255
# Per action: (sub-topic after the object's base, payload); "{value}" is the value.
PLAIN: dict[str, tuple[str, str]] = {
    "turn_on": ("command", "ON"),
    "turn_off": ("command", "OFF"),
    "open": ("command", "OPEN"),
    "close": ("command", "CLOSE"),
    "stop": ("command", "STOP"),
    "lock": ("command", "LOCK"),
    "unlock": ("command", "UNLOCK"),
    "activate": ("command", "PRESS"),  # a button stands for a scene
    "set_position": ("position/command", "{value}"),
    "set_speed": ("speed_level/command", "{value}"),
    "set_temperature": ("target_temperature/command", "{value}"),
}
# What a cover's, valve's and lock's state topic says (ESPHome writes them lowercase for
# covers and valves, uppercase for locks).
OPEN_STATES = {"open": True, "opening": True, "closed": False, "closing": False}
LOCK_STATES = {"LOCKED": True, "LOCKING": True, "UNLOCKED": False, "UNLOCKING": False}


def _base(ep: Endpoint) -> str | None:
    for topic, leaf in ((ep.command_topic, "/command"), (ep.state_topic, "/state")):
        if topic and topic.endswith(leaf):
            return topic.removesuffix(leaf)
    return None


def _light(action: str, value: Arg) -> bytes:
    if action in ("turn_on", "turn_off"):
        return dumps({"state": "ON" if action == "turn_on" else "OFF"})
    if action == "set_brightness":
        raw = percent_to_raw(int(need_number(action, value)), BRIGHTNESS_MAX)
        return dumps({"state": "ON", "brightness": raw})
    if action == "set_color":
        r, g, b = color_rgb(value)
        return dumps({"state": "ON", "color": {"r": r, "g": g, "b": b}})
    raise Unsupported(f"esphome cannot {action} a light")


def _climate(ep: Endpoint, action: str) -> tuple[str, str]:
    mode = opt_str(ep, "mode_on", "heat") if action == "turn_on" else "off"
    return "mode/command", mode


def messages(ep: Endpoint, action: str, value: Arg, device_type: str) -> list[Publish]:
    base = _base(ep)
    if base is None:
        raise Unsupported("esphome device has no <prefix>/<component>/<id>/command topic")
    if device_type == "light":
        return [Publish(f"{base}/command", _light(action, value))]
    if device_type == "climate" and action in ("turn_on", "turn_off"):
        leaf, payload = _climate(ep, action)
    elif action in PLAIN:
        leaf, payload = PLAIN[action]
    else:
        raise Unsupported(f"esphome cannot {action} a {device_type}")
    if "{value}" in payload:
        payload = payload.replace("{value}", fmt_number(need_number(action, value)))
    return [Publish(f"{base}/{leaf}", payload.encode())]


# ------------------------------------------------------------------------- state


def _state(payload: bytes, device_type: str) -> DeviceState | None:
    if device_type == "light":
        msg = json_object(payload)
        if msg is None:
            return None
        raw = msg.get("brightness")
        return DeviceState(
            power=word(msg.get("state"), "ON", "OFF"),
            brightness=percent(raw, BRIGHTNESS_MAX),
            color=rgb_from(msg.get("color")),
        )
    said = text(payload) or ""
    if device_type in ("cover", "valve"):
        return DeviceState(open=OPEN_STATES.get(said.lower()))
    if device_type == "lock":
        return DeviceState(locked=LOCK_STATES.get(said.upper()))
    return DeviceState(power=word(said, "ON", "OFF"))


def parse(ep: Endpoint, topic: str, payload: bytes, device_type: str) -> DeviceState | None:
    base = _base(ep)
    if base is None or not topic.startswith(base + "/"):
        return None
    leaf = topic.removeprefix(base + "/")
    if leaf == "state":
        return _state(payload, device_type)
    if leaf == "position/state":
        return DeviceState(position=percent(text(payload)))
    if leaf == "speed_level/state":
        level = number_text(text(payload))
        return DeviceState(speed=int(level) if level is not None and 0 < level <= 100 else None)
    if leaf == "target_temperature/state":
        return DeviceState(temperature=temperature(text(payload)))
    if leaf == "mode/state":
        mode = text(payload)
        return DeviceState(power=mode.lower() != "off") if mode else None
    return None


def topics(ep: Endpoint) -> list[str]:
    base = _base(ep)
    if base is None:
        return []
    leaves = ("state", "position/state", "speed_level/state")
    climate = ("target_temperature/state", "mode/state")
    component = base.rsplit("/", 2)[-2] if base.count("/") >= 2 else ""
    chosen = climate if component == "climate" else leaves
    return [f"{base}/{leaf}" for leaf in chosen]


def availability_topics(ep: Endpoint) -> list[str]:
    if ep.availability_topic:
        return [ep.availability_topic]
    base = _base(ep)
    if base is None or base.count("/") < 2:
        return []
    return [base.rsplit("/", 2)[0] + "/status"]
