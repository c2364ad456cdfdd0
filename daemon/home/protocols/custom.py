"""Hand-written devices: a payload template per action on one command topic.

`payloads` maps an action to its payload, "{value}" replaced by the command's value (a
percent, a level, degrees, or a colour name). The state topic is read by matching the
configured payloads of on/off/open/close/lock/unlock, then by common words (ON, open,
LOCKED) and a JSON object's common keys ("state", "brightness" in percent, "position").
"""

from __future__ import annotations

from typing import Any

from daemon.home.endpoint import Endpoint
from daemon.home.protocols.base import (
    Arg,
    DeviceState,
    Publish,
    Unsupported,
    fmt_number,
    json_object,
    number,
    percent,
    temperature,
    text,
)

# Per action whose payload, when a device echoes it, tells a state: (field, meaning).
ECHOES: dict[str, tuple[str, bool]] = {
    "turn_on": ("power", True),
    "turn_off": ("power", False),
    "open": ("open", True),
    "close": ("open", False),
    "lock": ("locked", True),
    "unlock": ("locked", False),
}
# Words devices commonly report, casefolded: (field, meaning).
WORDS: dict[str, tuple[str, bool]] = {
    "on": ("power", True),
    "off": ("power", False),
    "open": ("open", True),
    "opening": ("open", True),
    "closed": ("open", False),
    "closing": ("open", False),
    "locked": ("locked", True),
    "locking": ("locked", True),
    "unlocked": ("locked", False),
    "unlocking": ("locked", False),
}


def _format(value: Arg) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else fmt_number(value)


def messages(ep: Endpoint, action: str, value: Arg, device_type: str) -> list[Publish]:
    template = ep.payloads.get(action)
    if template is None:
        raise Unsupported(f"no payload for {action} in the device's payloads")
    if not ep.command_topic:
        raise Unsupported("the device has no command_topic")
    return [Publish(ep.command_topic, template.replace("{value}", _format(value)).encode())]


def _said(field: str, meaning: bool) -> DeviceState:
    return DeviceState(
        power=meaning if field == "power" else None,
        open=meaning if field == "open" else None,
        locked=meaning if field == "locked" else None,
    )


def _word(ep: Endpoint, said: str) -> DeviceState | None:
    for action, (field, meaning) in ECHOES.items():
        template = ep.payloads.get(action)
        if template is not None and "{value}" not in template and said == template.strip():
            return _said(field, meaning)
    known = WORDS.get(said.casefold())
    return _said(*known) if known else None


def _json(ep: Endpoint, msg: dict[str, Any]) -> DeviceState:
    state = msg.get("state")
    st = _word(ep, state) if isinstance(state, str) else None
    values = {k: msg.get(k) for k in ("brightness", "position", "volume", "speed")}
    speed = number(values["speed"])
    return (st or DeviceState()).merged(
        DeviceState(
            brightness=percent(values["brightness"]),
            position=percent(values["position"]),
            volume=percent(values["volume"]),
            speed=int(speed) if speed is not None and 0 < speed <= 100 else None,
            temperature=temperature(msg.get("temperature")),
        )
    )


def parse(ep: Endpoint, topic: str, payload: bytes, device_type: str) -> DeviceState | None:
    if not ep.state_topic or topic != ep.state_topic:
        return None
    msg = json_object(payload)
    if msg is not None:
        return _json(ep, msg)
    said = text(payload)
    return _word(ep, said) if said else None


def topics(ep: Endpoint) -> list[str]:
    return [ep.state_topic] if ep.state_topic else []


def availability_topics(ep: Endpoint) -> list[str]:
    return [ep.availability_topic] if ep.availability_topic else []
