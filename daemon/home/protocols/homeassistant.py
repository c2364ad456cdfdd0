"""Home Assistant MQTT discovery: what a discovered entity's config says to send and read.

Options are the discovery config's keys, expanded; a missing key takes Home Assistant's
documented default (DEFAULTS). Templates render in a sandbox (templates.py). Which
platform the entity is follows from the device type; a `component` option ("button",
"scene", "switch") tells a button from a scene where both activate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from daemon.home.endpoint import Endpoint
from daemon.home.protocols.base import (
    Arg,
    Publish,
    Unsupported,
    clamp,
    color_rgb,
    dumps,
    fmt_number,
    need_number,
    opt_num,
    opt_str,
    opt_topic,
    percent_to_raw,
    rgb_hs,
    rgb_xy,
    speed_levels,
)
from daemon.home.protocols.templates import render

# Home Assistant's defaults for the keys dialogd reads.
DEFAULTS: dict[str, str] = {
    "payload_on": "ON",
    "payload_off": "OFF",
    "payload_open": "OPEN",
    "payload_close": "CLOSE",
    "payload_stop": "STOP",
    "payload_lock": "LOCK",
    "payload_unlock": "UNLOCK",
    "payload_press": "PRESS",
    "payload_start": "start",
    "payload_pause": "pause",
    "payload_return_to_base": "return_to_base",
    "state_open": "open",
    "state_opening": "opening",
    "state_closed": "closed",
    "state_closing": "closing",
    "state_locked": "LOCKED",
    "state_locking": "LOCKING",
    "state_unlocked": "UNLOCKED",
    "state_unlocking": "UNLOCKING",
    "on_command_type": "last",
}
BRIGHTNESS_SCALE = 255
MODES = ("auto", "off", "cool", "heat", "dry", "fan_only")
# Per cover/valve state key: what the state says about open (opening counts as open).
OPEN_KEYS = {"state_open": True, "state_opening": True, "state_closed": False}
LOCK_KEYS = {"state_locked": True, "state_locking": True, "state_unlocked": False}
# Vacuum actions and the payload key each sends on command_topic.
VACUUM_KEYS = {
    "start": "payload_start",
    "stop": "payload_stop",
    "pause": "payload_pause",
    "return_to_base": "payload_return_to_base",
}


def option(ep: Endpoint, key: str) -> str:
    return opt_str(ep, key, DEFAULTS.get(key, ""))


def _send(
    ep: Endpoint, topic: str | None, payload: str, template_key: str = "", **extra: Any
) -> Publish:
    """`payload` for `topic`, through the config's command template when it has one."""
    if not topic:
        raise Unsupported("the entity has no topic for this command")
    template = opt_topic(ep, template_key) if template_key else None
    if template is not None:
        rendered = render(template, value=extra.pop("value", payload), **extra)
        if rendered is None:
            raise Unsupported(f"{template_key} does not render")
        payload = rendered
    return Publish(topic, payload.encode(), retain=ep.options.get("retain") is True)


def brightness_scale(ep: Endpoint) -> int:
    return int(clamp(round(opt_num(ep, "brightness_scale", BRIGHTNESS_SCALE)), 1, 10_000))


# ------------------------------------------------------------------------- lights


def _light_default(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    cmd = ep.command_topic
    order = option(ep, "on_command_type")
    if action == "turn_off":
        return [_send(ep, cmd, option(ep, "payload_off"))]
    if action == "turn_on" and order == "brightness":
        return _light_default(ep, "set_brightness", 100)
    if action == "turn_on":
        return [_send(ep, cmd, option(ep, "payload_on"))]
    if action == "set_brightness":
        raw = percent_to_raw(int(need_number(action, value)), brightness_scale(ep))
        topic = opt_topic(ep, "brightness_command_topic")
        style = _send(ep, topic, str(raw), "brightness_command_template", value=raw)
    elif action == "set_color":
        style = _light_color(ep, value)
    else:
        raise Unsupported(f"a Home Assistant light cannot {action}")
    on = _send(ep, cmd, option(ep, "payload_on"))
    # on_command_type: "last" sends the style first, "first" the on payload first,
    # "brightness" no on payload at all.
    return {"first": [on, style], "brightness": [style]}.get(order, [style, on])


def _light_color(ep: Endpoint, value: Arg) -> Publish:
    rgb = color_rgb(value)
    if topic := opt_topic(ep, "rgb_command_topic"):
        r, g, b = rgb
        return _send(ep, topic, f"{r},{g},{b}", "rgb_command_template", red=r, green=g, blue=b)
    if topic := opt_topic(ep, "hs_command_topic"):
        h, s = rgb_hs(rgb)
        return _send(ep, topic, f"{h},{s}", "hs_command_template", hue=h, sat=s)
    if topic := opt_topic(ep, "xy_command_topic"):
        x, y = rgb_xy(rgb)
        return _send(ep, topic, f"{x},{y}", "xy_command_template", x=x, y=y)
    raise Unsupported("the light has no colour command topic")


def _json_color(ep: Endpoint, value: Arg) -> dict[str, Any]:
    rgb = color_rgb(value)
    modes = ep.options.get("supported_color_modes")
    modes = modes if isinstance(modes, list) else []
    if "hs" in modes and not {"rgb", "rgbw", "rgbww"} & set(map(str, modes)):
        h, s = rgb_hs(rgb)
        return {"h": h, "s": s}
    if "xy" in modes and not {"rgb", "rgbw", "rgbww"} & set(map(str, modes)):
        x, y = rgb_xy(rgb)
        return {"x": x, "y": y}
    return dict(zip("rgb", rgb, strict=True))


def _light_json(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    body: dict[str, Any] = {"state": "OFF" if action == "turn_off" else "ON"}
    if action == "set_brightness":
        body["brightness"] = percent_to_raw(int(need_number(action, value)), brightness_scale(ep))
    elif action == "set_color":
        body["color"] = _json_color(ep, value)
    elif action not in ("turn_on", "turn_off"):
        raise Unsupported(f"a Home Assistant light cannot {action}")
    return [_send(ep, ep.command_topic, dumps(body).decode())]


def _light_template(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    key = "command_off_template" if action == "turn_off" else "command_on_template"
    variables: dict[str, Any] = {"state": "off" if action == "turn_off" else "on"}
    if action == "set_brightness":
        variables["brightness"] = percent_to_raw(int(need_number(action, value)), 255)
    elif action == "set_color":
        variables.update(zip(("red", "green", "blue"), color_rgb(value), strict=True))
    elif action not in ("turn_on", "turn_off"):
        raise Unsupported(f"a Home Assistant light cannot {action}")
    return [_send(ep, ep.command_topic, "", key, **variables)]


def _light(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    schema = option(ep, "schema")
    if schema == "json":
        return _light_json(ep, action, value)
    if schema == "template":
        return _light_template(ep, action, value)
    return _light_default(ep, action, value)


# ------------------------------------------------------------------------- others


def _switch(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    key = {"turn_on": "payload_on", "start": "payload_on", "activate": "payload_on"}.get(
        action, "payload_off"
    )
    if action not in ("turn_on", "turn_off", "start", "stop", "activate"):
        raise Unsupported(f"a Home Assistant switch cannot {action}")
    return [_send(ep, ep.command_topic, option(ep, key), "command_template")]


def _fan(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    if action != "set_speed":
        return _switch(ep, action, value)
    lo, hi = opt_num(ep, "speed_range_min", 1), opt_num(ep, "speed_range_max", 100)
    # Home Assistant's own conversions: level -> percent rounds down, percent -> the
    # device's range rounds up, so each level lands on its own speed.
    pct = int(need_number(action, value)) * 100 // speed_levels(ep)
    ranged = math.ceil((hi - lo + 1) * pct / 100) + lo - 1
    topic = opt_topic(ep, "percentage_command_topic")
    return [_send(ep, topic, fmt_number(ranged), "percentage_command_template", value=ranged)]


def _position(ep: Endpoint, pct: int) -> int:
    closed, open_ = opt_num(ep, "position_closed", 0), opt_num(ep, "position_open", 100)
    return round(closed + (open_ - closed) * pct / 100)


def _cover(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    if action == "set_position":
        pos = _position(ep, int(need_number(action, value)))
        topic = opt_topic(ep, "set_position_topic")
        return [_send(ep, topic, str(pos), "set_position_template", value=pos, position=pos)]
    key = {"open": "payload_open", "close": "payload_close", "stop": "payload_stop"}.get(action)
    if key is None:
        raise Unsupported(f"a Home Assistant cover cannot {action}")
    return [_send(ep, ep.command_topic, option(ep, key), "command_template")]


def _valve(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    if ep.options.get("reports_position") is not True:
        if action == "set_position":
            raise Unsupported("the valve does not report a position")
        return _cover(ep, action, value)
    # A positioned valve takes the wanted position on command_topic (HA's valve docs).
    targets = {"open": 100, "close": 0, "set_position": value}
    if action not in targets:
        return _cover(ep, action, value)
    pos = _position(ep, int(need_number(action, targets[action])))
    return [_send(ep, ep.command_topic, str(pos), "command_template", value=pos)]


def _lock(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    if action not in ("lock", "unlock"):
        raise Unsupported(f"a Home Assistant lock cannot {action}")
    return [_send(ep, ep.command_topic, option(ep, f"payload_{action}"), "command_template")]


def _climate(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    if action == "set_temperature":
        t = need_number(action, value)
        topic = opt_topic(ep, "temperature_command_topic")
        return [_send(ep, topic, fmt_number(t), "temperature_command_template", value=t)]
    if action not in ("turn_on", "turn_off"):
        raise Unsupported(f"a Home Assistant climate cannot {action}")
    if power := opt_topic(ep, "power_command_topic"):
        key = "payload_on" if action == "turn_on" else "payload_off"
        return [_send(ep, power, option(ep, key), "power_command_template")]
    modes = ep.options.get("modes")
    modes = [m for m in modes if isinstance(m, str)] if isinstance(modes, list) else list(MODES)
    on = "heat" if "heat" in modes else next((m for m in modes if m != "off"), "heat")
    mode = on if action == "turn_on" else "off"
    return [_send(ep, opt_topic(ep, "mode_command_topic"), mode, "mode_command_template")]


def _vacuum(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    if action not in VACUUM_KEYS:
        raise Unsupported(f"a Home Assistant vacuum cannot {action}")
    return [_send(ep, ep.command_topic, option(ep, VACUUM_KEYS[action]))]


def _scene(ep: Endpoint, action: str, value: Arg) -> list[Publish]:
    if action != "activate":
        raise Unsupported(f"a Home Assistant scene cannot {action}")
    if ep.options.get("component") == "button" or "payload_press" in ep.options:
        return [_send(ep, ep.command_topic, option(ep, "payload_press"), "command_template")]
    return _switch(ep, action, value)


SENDERS: dict[str, Callable[[Endpoint, str, Arg], list[Publish]]] = {
    "light": _light,
    "switch": _switch,
    "appliance": _switch,
    "fan": _fan,
    "cover": _cover,
    "valve": _valve,
    "lock": _lock,
    "climate": _climate,
    "vacuum": _vacuum,
    "scene": _scene,
}


def messages(ep: Endpoint, action: str, value: Arg, device_type: str) -> list[Publish]:
    sender = SENDERS.get(device_type)
    if sender is None:
        raise Unsupported(f"Home Assistant MQTT has no {device_type} dialogd can drive")
    return sender(ep, action, value)
