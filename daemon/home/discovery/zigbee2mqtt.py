"""zigbee2mqtt's retained `<base>/bridge/devices` (devices, from their exposes) and
`<base>/bridge/groups` (area hints)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from daemon.home.discovery.common import (
    Discovered,
    Obj,
    Parsed,
    _build,
    _Caps,
    _clean,
    _Collector,
    _device_id,
    _load,
    _partial,
    _plain,
    _Rules,
    _show,
    _Skip,
    _where,
)

# Specific exposes dialogd switches, in the order that decides a device's type when one
# endpoint has several.
Z2M_KINDS = ("light", "fan", "cover", "lock", "climate", "switch")
# Fan modes that are not speed levels.
Z2M_FAN_NOT_SPEEDS = frozenset({"off", "on", "auto", "smart"})
Z2M_DEFAULT_BRIGHTNESS_MAX = 254
_IEEE = re.compile(r"0x[0-9a-fA-F]{16}")


def parse_zigbee2mqtt_devices(
    base: str,
    payload: bytes,
    *,
    allowed: Sequence[str] = (),
    forbidden: Sequence[str] = (),
    max_devices: int = 500,
) -> Parsed:
    """The devices in zigbee2mqtt's retained `<base>/bridge/devices` list."""
    out = _Collector(_where(f"{base}/bridge/devices"))
    rules = _Rules(tuple(allowed), tuple(forbidden))
    try:
        data = _load(payload)
        if not isinstance(data, list):
            raise _Skip("payload is not a JSON list")
    except _Skip as e:
        out.warn(str(e))
        return out.result()
    overflow = False
    for i, entry in enumerate(data):
        try:
            found = _z2m_entry(base, entry, rules)
        except _Skip as e:
            out.warn(f"device {_z2m_label(entry, i)}: {e}")
            continue
        for d in found:
            if len(out.devices) >= max_devices:
                overflow = True
                break
            out.add(d)
    if overflow:
        out.warn(f"more than {max_devices} devices: kept the first {max_devices}")
    return out.result()


def parse_zigbee2mqtt_groups(payload: bytes) -> dict[str, tuple[str, ...]]:
    """ieee_address -> the names of the groups it is in (zigbee2mqtt's `bridge/groups`),
    as area hints; {} for a malformed message. Entries that make no sense are left out."""
    try:
        data = _load(payload)
    except _Skip:
        return {}
    if not isinstance(data, list):
        return {}
    out: dict[str, list[str]] = {}
    for group in data:
        if not isinstance(group, dict) or not isinstance(group.get("friendly_name"), str):
            continue
        name = _clean(group["friendly_name"].split("/")[-1])
        members = group.get("members")
        if not name or not isinstance(members, list):
            continue
        for m in members:
            ieee = m.get("ieee_address") if isinstance(m, dict) else None
            if isinstance(ieee, str) and _IEEE.fullmatch(ieee):
                names = out.setdefault(ieee, [])
                if name not in names:
                    names.append(name)
    return {k: tuple(v) for k, v in out.items()}


def _z2m_label(entry: Any, i: int) -> str:
    if isinstance(entry, dict):
        for k in ("friendly_name", "ieee_address"):
            if isinstance(entry.get(k), str):
                return _show(entry[k])
    return f"#{i}"


def _z2m_entry(base: str, entry: Any, rules: _Rules) -> list[Discovered]:
    """The devices of one bridge/devices entry: one, or one per endpoint of a multi-gang
    switch; none for the coordinator, sensors, disabled and unsupported devices."""
    if not isinstance(entry, dict):
        raise _Skip("not an object")
    if entry.get("type") == "Coordinator" or entry.get("disabled") is True:
        return []
    definition = entry.get("definition")
    if entry.get("supported") is False or definition is None:
        return []
    ieee = entry.get("ieee_address")
    if not isinstance(ieee, str) or not _IEEE.fullmatch(ieee):
        raise _Skip("ieee_address is not an IEEE address")
    friendly = entry.get("friendly_name", ieee)
    if not isinstance(friendly, str):
        raise _Skip("friendly_name is not a string")
    if not isinstance(definition, dict):
        raise _Skip("definition is not an object")
    groups = _z2m_specific(_dicts(definition.get("exposes"), "definition.exposes"))
    desc = entry.get("description")
    hint = _clean(desc) if isinstance(desc, str) else ""
    found = []
    for endpoint, (kind, expose) in groups.items():
        split = len(groups) > 1 and endpoint is not None
        found.append(
            _z2m_device(
                base=base,
                ieee=ieee,
                friendly=friendly,
                endpoint=endpoint,
                split=split,
                kind=kind,
                expose=expose,
                hints=(hint,) if hint else (),
                rules=rules,
            )
        )
    return found


def _dicts(v: Any, what: str) -> list[Obj]:
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        raise _Skip(f"{what} is not a list of objects")
    return v


def _z2m_specific(exposes: list[Obj]) -> dict[str | None, tuple[str, Obj]]:
    """Per endpoint (None: the device's own), its specific expose that dialogd switches,
    the first of the highest-ranked kind."""
    out: dict[str | None, tuple[str, Obj]] = {}
    for e in exposes:
        kind = e.get("type")
        if kind not in Z2M_KINDS:
            continue
        ep = e.get("endpoint")
        if isinstance(ep, int) and not isinstance(ep, bool):
            ep = str(ep)
        if ep is not None and not isinstance(ep, str):
            raise _Skip("an expose's endpoint is not a string")
        have = out.get(ep)
        if have is None or Z2M_KINDS.index(kind) < Z2M_KINDS.index(have[0]):
            out[ep] = (kind, e)
    return out


def _z2m_device(
    *,
    base: str,
    ieee: str,
    friendly: str,
    endpoint: str | None,
    split: bool,
    kind: str,
    expose: Obj,
    hints: tuple[str, ...],
    rules: _Rules,
) -> Discovered:
    feats = _z2m_features(expose)
    caps, options = Z2M_CAPS[kind](feats)
    options = {"endpoint": endpoint, **_z2m_state(feats), **options}
    name = _clean(friendly.split("/")[-1]) or ieee
    if split:
        name = _clean(f"{name} {endpoint}")
    suffix = f":{endpoint}" if split else ""
    topic = f"{base}/{friendly}"
    return _build(
        key=f"zigbee2mqtt:{ieee}{suffix}",
        origin="zigbee2mqtt",
        device={
            "id": _device_id(name, ieee + (f"_{endpoint}" if split else ""), kind),
            "type": kind,
            "name": name,
            "actions": list(caps.actions) if caps.actions is not None else None,
            "color": caps.color,
            "speeds": caps.speeds,
        },
        endpoint={
            "command_topic": f"{topic}/set",
            "state_topic": topic,
            "availability_topic": f"{topic}/availability",
            "options": options,
        },
        rules=rules,
        hints=hints,
    )


def _z2m_features(expose: Obj) -> dict[str, Obj]:
    """An expose's features by name (the first of each), settable ones only."""
    out: dict[str, Obj] = {}
    for f in _dicts(expose.get("features", []), "an expose's features"):
        name, prop = f.get("name"), f.get("property")
        if not isinstance(name, str) or name in out:
            continue
        if prop is not None and not isinstance(prop, str):
            raise _Skip(f"feature {_show(name)} has a property that is not a string")
        access = f.get("access")
        if isinstance(access, int) and not access & 0b010:
            continue
        out[name] = f
    return out


def _z2m_state(feats: dict[str, Obj]) -> dict[str, Any]:
    """The on/off (open/close, lock/unlock) property and its values."""
    f = feats.get("state")
    values = f.get("values") if f else None
    return {
        "state_property": f.get("property") if f else None,
        "value_on": _scalar(f.get("value_on")) if f else None,
        "value_off": _scalar(f.get("value_off")) if f else None,
        "state_values": [v for v in values if isinstance(v, str)]
        if isinstance(values, list)
        else None,
    }


def _scalar(v: Any) -> str | int | float | bool | None:
    return v if isinstance(v, str | int | float | bool) and _plain(v) else None


def _need_state(feats: dict[str, Obj], kind: str) -> None:
    f = feats.get("state")
    if f is None or not isinstance(f.get("property"), str):
        raise _Skip(f"the {kind} has no settable state")


def _z2m_light(feats: dict[str, Obj]) -> tuple[_Caps, dict[str, Any]]:
    _need_state(feats, "light")
    bri = feats.get("brightness")
    vmax = bri.get("value_max") if bri else None
    color = next((n[-2:] for n in feats if n in ("color_xy", "color_hs")), None)
    acts = None if bri else ("turn_on", "turn_off", *(("set_color",) if color else ()))
    return _Caps(None, acts, color is not None), {
        "brightness_property": bri.get("property") if bri else None,
        "brightness_max": vmax
        if isinstance(vmax, int) and not isinstance(vmax, bool) and vmax > 0
        else Z2M_DEFAULT_BRIGHTNESS_MAX,
        "color": color,
        "color_temp": "color_temp" in feats,
    }


def _z2m_switch(feats: dict[str, Obj]) -> tuple[_Caps, dict[str, Any]]:
    _need_state(feats, "switch")
    return _Caps(None), {}


def _z2m_lock(feats: dict[str, Obj]) -> tuple[_Caps, dict[str, Any]]:
    _need_state(feats, "lock")
    return _Caps(None), {}


def _z2m_fan(feats: dict[str, Obj]) -> tuple[_Caps, dict[str, Any]]:
    _need_state(feats, "fan")
    mode = feats.get("mode")
    values = mode.get("values") if mode else None
    modes = [v for v in values if isinstance(v, str)] if isinstance(values, list) else []
    speeds = [m for m in modes if m not in Z2M_FAN_NOT_SPEEDS]
    caps = _Caps(None, None, speeds=len(speeds) if 1 <= len(speeds) <= 10 else 3)
    if not speeds:
        caps = _Caps(None, ("turn_on", "turn_off"))
    return caps, {
        "mode_property": mode.get("property") if mode else None,
        "fan_modes": speeds,
        "speeds": caps.speeds,
    }


def _z2m_cover(feats: dict[str, Obj]) -> tuple[_Caps, dict[str, Any]]:
    state, pos = feats.get("state"), feats.get("position")
    if state is None and pos is None:
        raise _Skip("the cover has no settable state or position")
    acts = ["set_position"] if pos else []
    if state is not None:
        values = state.get("values")
        stop = isinstance(values, list) and "STOP" in values
        acts += ["open", "close", *(["stop"] if stop else [])]
    return _Caps(None, _partial(acts, "cover")), {
        "position": pos is not None,
        "position_property": pos.get("property") if pos else None,
    }


def _z2m_climate(feats: dict[str, Obj]) -> tuple[_Caps, dict[str, Any]]:
    setpoint = feats.get("occupied_heating_setpoint") or feats.get("current_heating_setpoint")
    mode = feats.get("system_mode")
    values = mode.get("values") if mode else None
    modes = [v for v in values if isinstance(v, str)] if isinstance(values, list) else []
    acts = ["turn_on", "turn_off"] if "off" in modes and len(modes) > 1 else []
    if setpoint:
        acts += ["set_temperature", "change_temperature"]
    if not acts:
        raise _Skip("the climate device has no settable setpoint or system_mode")
    return _Caps(None, _partial(acts, "climate")), {
        "setpoint_property": setpoint.get("property") if setpoint else None,
        "setpoint_min": _scalar(setpoint.get("value_min")) if setpoint else None,
        "setpoint_max": _scalar(setpoint.get("value_max")) if setpoint else None,
        "mode_property": mode.get("property") if mode else None,
        "modes": modes,
    }


Z2M_CAPS: dict[str, Callable[[dict[str, Obj]], tuple[_Caps, dict[str, Any]]]] = {
    "light": _z2m_light,
    "switch": _z2m_switch,
    "lock": _z2m_lock,
    "fan": _z2m_fan,
    "cover": _z2m_cover,
    "climate": _z2m_climate,
}
