"""Home Assistant's own entities, over its websocket API: service calls out, states in.

The entity is an Endpoint like any MQTT device (integration "hass", `options.entity_id`),
so that actuation, confirmation and state answers work unchanged. Its "topics" live under
`$hass/`, a prefix no MQTT client can publish to: `$hass/state/<entity_id>` carries
Home Assistant's state object (as `state_changed` and `get_states` give it), and a
command is a `$hass/call` message whose payload is one `call_service` body.
"""

from __future__ import annotations

import json
from typing import Any, TypeGuard

from daemon.home.endpoint import Endpoint
from daemon.home.protocols.base import (
    Arg,
    DeviceState,
    Publish,
    Unsupported,
    json_object,
    number,
    rgb_from,
    speed_levels,
)

CALL_TOPIC = "$hass/call"
STATE_PREFIX = "$hass/state/"
UNAVAILABLE = ("unavailable", "unknown")

# dialogd's absolute action -> (service, data key or None) per Home Assistant domain.
# Values are converted in `_data`. Relative actions were made absolute before this.
SERVICES: dict[str, dict[str, tuple[str, str | None]]] = {
    "light": {
        "turn_on": ("turn_on", None),
        "turn_off": ("turn_off", None),
        "set_brightness": ("turn_on", "brightness_pct"),
        "set_color": ("turn_on", "color_name"),
    },
    "switch": {"turn_on": ("turn_on", None), "turn_off": ("turn_off", None)},
    "input_boolean": {"turn_on": ("turn_on", None), "turn_off": ("turn_off", None)},
    "fan": {
        "turn_on": ("turn_on", None),
        "turn_off": ("turn_off", None),
        "set_speed": ("set_percentage", "percentage"),
    },
    "cover": {
        "open": ("open_cover", None),
        "close": ("close_cover", None),
        "stop": ("stop_cover", None),
        "set_position": ("set_cover_position", "position"),
    },
    "valve": {
        "open": ("open_valve", None),
        "close": ("close_valve", None),
        "set_position": ("set_valve_position", "position"),
    },
    "lock": {"lock": ("lock", None), "unlock": ("unlock", None)},
    "climate": {
        "turn_on": ("turn_on", None),
        "turn_off": ("turn_off", None),
        "set_temperature": ("set_temperature", "temperature"),
    },
    "media_player": {
        "turn_on": ("turn_on", None),
        "turn_off": ("turn_off", None),
        "pause": ("media_pause", None),
        "resume": ("media_play", None),
        "next_track": ("media_next_track", None),
        "previous_track": ("media_previous_track", None),
        "set_volume": ("volume_set", "volume_level"),
        "mute": ("volume_mute", "is_volume_muted"),
        "unmute": ("volume_mute", "is_volume_muted"),
    },
    "vacuum": {
        "start": ("start", None),
        "stop": ("stop", None),
        "pause": ("pause", None),
        "return_to_base": ("return_to_base", None),
    },
    "scene": {"activate": ("turn_on", None)},
    "script": {"activate": ("turn_on", None)},
    "todo": {"add_item": ("add_item", "item")},
}


def entity_id(ep: Endpoint) -> str:
    return str(ep.options.get("entity_id", ""))


def messages(ep: Endpoint, action: str, value: Arg, device_type: str) -> list[Publish]:
    """The `call_service` body that does `action`, as one `$hass/call` message."""
    eid = entity_id(ep)
    domain = eid.partition(".")[0]
    service = SERVICES.get(domain, {}).get(action)
    if service is None:
        raise Unsupported(f"{eid} cannot {action} through Home Assistant")
    name, key = service
    body: dict[str, Any] = {
        "type": "call_service",
        "domain": domain,
        "service": name,
        "target": {"entity_id": eid},
    }
    if key is not None:
        body["service_data"] = {key: _data(ep, action, value)}
    return [Publish(CALL_TOPIC, json.dumps(body).encode())]


def _data(ep: Endpoint, action: str, value: Arg) -> object:
    if action == "set_volume":
        return round(float(number(value) or 0) / 100, 2)
    if action in ("mute", "unmute"):
        return action == "mute"
    if action == "set_speed":
        return round(float(number(value) or 0) * 100 / speed_levels(ep))
    return value


def topics(ep: Endpoint) -> list[str]:
    return [STATE_PREFIX + entity_id(ep)]


def availability_topics(ep: Endpoint) -> list[str]:
    return []  # an unavailable entity says so in its state


def available(payload: bytes) -> bool | None:
    """Whether the entity is reachable, from its state object."""
    obj = json_object(payload)
    if obj is None or not isinstance(obj.get("state"), str):
        return None
    return obj["state"] not in UNAVAILABLE


def parse(ep: Endpoint, topic: str, payload: bytes, device_type: str) -> DeviceState | None:
    """A Home Assistant state object ({"state", "attributes"}) as dialogd's DeviceState."""
    obj = json_object(payload)
    if obj is None or not isinstance(obj.get("state"), str) or obj["state"] in UNAVAILABLE:
        return None
    state: str = obj["state"]
    attrs = obj.get("attributes")
    a: dict[str, Any] = attrs if isinstance(attrs, dict) else {}
    domain = entity_id(ep).partition(".")[0]
    out = DeviceState()
    if domain in ("light", "switch", "input_boolean", "fan", "media_player", "climate"):
        out = DeviceState(power=state not in ("off", "standby"))
    if domain == "light" and state == "on":
        raw = number(a.get("brightness"))
        bright = None if raw is None else round(raw * 100 / 255)
        rgb = a.get("rgb_color")
        color = rgb_from(dict(zip("rgb", rgb, strict=True))) if _triple(rgb) else None
        out = DeviceState(power=True, brightness=bright, color=color)
    elif domain in ("cover", "valve"):
        pos = number(a.get("current_position", a.get("current_valve_position")))
        out = DeviceState(
            open=state in ("open", "opening"),
            position=None if pos is None else round(pos),
        )
    elif domain == "lock":
        out = DeviceState(locked=state in ("locked", "locking"))
    elif domain == "climate":
        target = number(a.get("temperature"))
        out = DeviceState(power=state != "off", temperature=target)
    elif domain == "media_player":
        vol = number(a.get("volume_level"))
        out = DeviceState(
            power=state not in ("off", "standby"),
            volume=None if vol is None else round(vol * 100),
        )
    elif domain == "fan":
        pct = number(a.get("percentage"))
        levels = speed_levels(ep)
        speed = None if pct is None else round(pct * levels / 100)
        out = DeviceState(power=state == "on", speed=speed)
    return out


def _triple(v: object) -> TypeGuard[list[Any]]:
    return isinstance(v, list) and len(v) == 3
