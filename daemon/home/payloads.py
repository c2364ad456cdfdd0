"""Actuation: the MQTT messages that make an Endpoint do a decided command.

`messages_for` validates the action against the device type, resolves relative actions
(change_brightness...) against the last known state, and hands the absolute action to
the endpoint's integration (daemon/home/protocols/). `config_endpoint` builds the
Endpoint of a hand-written `[[devices]]` entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from daemon.core.vocabulary import CELSIUS, FAHRENHEIT, TYPES, Value, number_rule
from daemon.home.endpoint import Endpoint
from daemon.home.protocols import custom, esphome, hass, homeassistant, tasmota, zigbee2mqtt
from daemon.home.protocols.base import (
    COLOR_RGB,
    Arg,
    DeviceState,
    Number,
    Publish,
    Unsupported,
    need_number,
    number,
    speed_levels,
)

if TYPE_CHECKING:
    from daemon.config.home import Device

__all__ = ["COLOR_RGB", "Publish", "Unsupported", "config_endpoint", "messages_for", "resolve"]

Sender = Callable[[Endpoint, str, Arg, str], list[Publish]]
SENDERS: dict[str, Sender] = {
    "zigbee2mqtt": zigbee2mqtt.messages,
    "tasmota": tasmota.messages,
    "esphome": esphome.messages,
    "homeassistant": homeassistant.messages,
    "custom": custom.messages,
    "hass": hass.messages,
}
# Relative action -> the absolute one it becomes.
RELATIVE = {
    "change_brightness": "set_brightness",
    "change_volume": "set_volume",
    "change_temperature": "set_temperature",
    "change_speed": "set_speed",
}
# Percent and level values are checked here so no integration sends one out of range.
CHECKED = ("set_brightness", "set_position", "set_volume", "set_speed")
# Characters no topic a command is published to may hold (MQTT wildcards, NUL).
BAD_TOPIC_CHARS = frozenset("+#\x00")


def messages_for(
    endpoint: Endpoint,
    action: str,
    value: Value,
    *,
    device_type: str,
    current: DeviceState | None = None,
) -> list[Publish]:
    """The messages, in order, that make `endpoint` do `action`; Unsupported when it
    cannot (or a relative action meets an unknown state)."""
    allowed = TYPES.get(device_type)
    if allowed is not None and action not in allowed:
        raise Unsupported(f"a {device_type} cannot {action}")
    absolute: str
    arg: Arg
    if endpoint.integration == "custom" and action in endpoint.payloads:
        # A hand-written device may take relative changes (and anything else) itself.
        absolute, arg = action, value
    else:
        absolute, arg = resolve(endpoint, action, value, current)
    _check_range(endpoint, absolute, arg)
    if absolute == "set_brightness" and arg == 0 and _has_off(endpoint):
        absolute, arg = "turn_off", None  # 0 % is off, however the device dims
    out = SENDERS[endpoint.integration](endpoint, absolute, arg, device_type)
    for publish in out:
        if not publish.topic or BAD_TOPIC_CHARS & set(publish.topic):
            raise Unsupported(f"cannot publish to topic {publish.topic!r}")
    return out


def _has_off(endpoint: Endpoint) -> bool:
    return endpoint.integration != "custom" or "turn_off" in endpoint.payloads


def _check_range(endpoint: Endpoint, action: str, value: Arg) -> None:
    if action not in CHECKED:
        return
    rule = number_rule(action, speeds=speed_levels(endpoint))
    n = need_number(action, value)
    if rule is not None and not rule.lo <= n <= rule.hi:
        raise Unsupported(f"{action} needs a value from {rule.lo} to {rule.hi}")


# ------------------------------------------------------------------------- relative


def resolve(
    endpoint: Endpoint, action: str, value: Value, current: DeviceState | None
) -> tuple[str, Arg]:
    """The absolute action a relative one comes to from `current`, clamped to the device's
    range ("change_brightness", -10 at 40 % -> "set_brightness", 30); others unchanged."""
    if action not in RELATIVE:
        return action, value
    delta = need_number(action, value)
    state = current or DeviceState()
    if action == "change_temperature":
        return "set_temperature", _temperature(endpoint, state.temperature, delta)
    if action == "change_volume":
        return "set_volume", _step(state.volume, delta, 0, 100, "volume")
    # An off light or fan starts from 0; going down from there leaves it off.
    known = 0 if state.power is False else None
    if action == "change_brightness":
        base = state.brightness if known is None else known
        if base == 0 and delta < 0:
            return "turn_off", None
        # Dimming a light that is on keeps it on, at the dimmest.
        return "set_brightness", _step(base, delta, 1 if base else 0, 100, "brightness")
    base = state.speed if known is None else known
    if base == 0 and delta < 0:
        return "turn_off", None
    return "set_speed", _step(base, delta, 1, speed_levels(endpoint), "speed")


def _step(base: int | None, delta: Number, lo: int, hi: int, what: str) -> int:
    if base is None:
        raise Unsupported(f"{what} state unknown")
    return max(lo, min(hi, round(base + delta)))


def _temperature(endpoint: Endpoint, base: float | None, delta: Number) -> Number:
    if base is None:
        raise Unsupported("temperature state unknown")
    # The device's own range when discovery says it; else FORMAT.md's range of the unit
    # the current setpoint is plainly in.
    unit = FAHRENHEIT if base > CELSIUS.hi + 5 else CELSIUS
    opts = endpoint.options
    lo = number(opts.get("min_temp", opts.get("setpoint_min")))
    hi = number(opts.get("max_temp", opts.get("setpoint_max")))
    target = base + delta
    target = max(unit.lo if lo is None else lo, min(unit.hi if hi is None else hi, target))
    half = round(target * 2) / 2  # setpoints go in half degrees
    return int(half) if half.is_integer() else half


# ------------------------------------------------------------------------- config


def config_endpoint(device: Device, zigbee2mqtt_base: str = "zigbee2mqtt") -> Endpoint | None:
    """The Endpoint of a hand-written device; None when it names no integration.
    ValueError when the integration's topic is missing or holds a wildcard."""
    kind = device.integration
    if kind is None:
        return None
    options: dict[str, Any] = {"speeds": device.speeds}
    if kind == "custom":
        return _checked(
            device.id,
            Endpoint(
                integration="custom",
                command_topic=device.command_topic,
                state_topic=device.state_topic,
                availability_topic=device.availability_topic,
                payloads=dict(device.payloads),
                options=options,
            ),
        )
    if not device.topic:
        raise ValueError(f"device {device.id}: integration {kind} needs `topic`")
    if kind == "zigbee2mqtt":
        base = f"{zigbee2mqtt_base.rstrip('/')}/{device.topic}"
        # value_on/value_off are left to the type's defaults (ON/OFF; LOCK/UNLOCK).
        options.update(state_property="state", brightness_max=254, color=None)
        endpoint = Endpoint(
            integration=kind,
            command_topic=f"{base}/set",
            state_topic=base,
            availability_topic=device.availability_topic or f"{base}/availability",
            options=options,
        )
    elif kind == "tasmota":
        endpoint = Endpoint(
            integration=kind,
            command_topic=f"cmnd/{device.topic}",
            state_topic=f"stat/{device.topic}/RESULT",
            availability_topic=device.availability_topic or f"tele/{device.topic}/LWT",
            payload_available="Online",
            payload_not_available="Offline",
            options=options,
        )
    else:
        if device.topic.count("/") < 2:
            raise ValueError(f"device {device.id}: esphome topic is <node>/<component>/<id>")
        prefix = device.topic.rsplit("/", 2)[0]
        endpoint = Endpoint(
            integration=kind,
            command_topic=f"{device.topic}/command",
            state_topic=f"{device.topic}/state",
            availability_topic=device.availability_topic or f"{prefix}/status",
            options=options,
        )
    return _checked(device.id, endpoint)


def _checked(device_id: str, endpoint: Endpoint) -> Endpoint:
    for topic in (endpoint.command_topic, endpoint.state_topic, endpoint.availability_topic):
        if topic is not None and (not topic or BAD_TOPIC_CHARS & set(topic)):
            raise ValueError(f"device {device_id}: topic {topic!r} is not a plain topic")
    return endpoint
