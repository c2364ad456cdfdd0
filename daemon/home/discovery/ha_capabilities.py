"""What a Home Assistant MQTT component lets dialogd do, read from its (expanded) config:
one reader per switchable component, in `HA_CAPS`."""

from __future__ import annotations

from collections.abc import Callable

from daemon.home.discovery.common import Obj, _Caps, _partial, _show, _Skip

HA_COLOR_TOPICS = (
    "hs_command_topic",
    "rgb_command_topic",
    "rgbw_command_topic",
    "rgbww_command_topic",
    "xy_command_topic",
)
HA_COLOR_MODES = frozenset({"hs", "xy", "rgb", "rgbw", "rgbww"})
# What an MQTT vacuum supports when its config does not say (HA's default).
HA_VACUUM_DEFAULT = ("start", "stop", "return_home", "status", "battery", "clean_spot")
HA_VACUUM_ACTIONS = {
    "start": "start",
    "stop": "stop",
    "pause": "pause",
    "return_home": "return_to_base",
}


def _need(cfg: Obj, key: str = "command_topic") -> str:
    v = cfg.get(key)
    if not isinstance(v, str):
        raise _Skip(f"no {key}")
    return v


def _offered(cfg: Obj, payload_key: str) -> bool:
    """HA turns a feature off by setting its payload to null."""
    return not (payload_key in cfg and cfg[payload_key] is None)


def _ha_light(cfg: Obj) -> _Caps | None:
    cmd = cfg.get("command_topic")
    if cmd is None:
        return None  # a light that only reports: nothing to switch
    schema = cfg.get("schema", "basic")
    if schema in ("basic", "default"):
        bri = isinstance(cfg.get("brightness_command_topic"), str)
        color = any(isinstance(cfg.get(k), str) for k in HA_COLOR_TOPICS)
    elif schema == "json":
        bri, color = _json_light(cfg)
    elif schema == "template":
        bri = isinstance(cfg.get("brightness_template"), str)
        color = all(isinstance(cfg.get(f"{c}_template"), str) for c in ("red", "green", "blue"))
    else:
        raise _Skip(f"unknown light schema {_show(schema)}")
    if bri:
        return _Caps(cmd, None, color)
    return _Caps(cmd, ("turn_on", "turn_off", *(("set_color",) if color else ())), color)


def _json_light(cfg: Obj) -> tuple[bool, bool]:
    """Brightness and colour of a json-schema light: from supported_color_modes, else
    from the older `brightness`/`rgb`/`hs`/`xy` flags."""
    modes = cfg.get("supported_color_modes")
    if isinstance(modes, list):
        names = {m for m in modes if isinstance(m, str)}
        return bool(names - {"onoff"}), bool(names & HA_COLOR_MODES)
    color = any(cfg.get(k) is True for k in ("rgb", "hs", "xy"))
    return cfg.get("brightness") is True or color, color


def _ha_switch(cfg: Obj) -> _Caps:
    return _Caps(_need(cfg))


def _ha_fan(cfg: Obj) -> _Caps:
    cmd = _need(cfg)
    if not isinstance(cfg.get("percentage_command_topic"), str):
        return _Caps(cmd, ("turn_on", "turn_off"))
    lo, hi = cfg.get("speed_range_min", 1), cfg.get("speed_range_max", 100)
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi))
    levels = hi - lo + 1 if ok else 0
    return _Caps(cmd, None, speeds=levels if 1 <= levels <= 10 else 3)


def _ha_cover(cfg: Obj) -> _Caps:
    cmd, pos = cfg.get("command_topic"), cfg.get("set_position_topic")
    if cmd is None and pos is None:
        raise _Skip("no command_topic or set_position_topic")
    acts = ["set_position"] if pos is not None else []
    if cmd is not None:
        acts += [a for a in ("open", "close", "stop") if _offered(cfg, f"payload_{a}")]
    return _Caps(cmd, _partial(acts, "cover"))


def _ha_valve(cfg: Obj) -> _Caps:
    cmd = _need(cfg)
    acts = [a for a in ("open", "close") if _offered(cfg, f"payload_{a}")]
    if cfg.get("reports_position") is True:
        acts.append("set_position")
    return _Caps(cmd, _partial(acts, "valve"))


def _ha_lock(cfg: Obj) -> _Caps:
    return _Caps(_need(cfg))


def _ha_climate(cfg: Obj) -> _Caps:
    power, mode = cfg.get("power_command_topic"), cfg.get("mode_command_topic")
    temp = cfg.get("temperature_command_topic")
    modes = cfg.get("modes")
    has_off = not isinstance(modes, list) or "off" in modes  # HA's default modes have it
    acts = ["turn_on", "turn_off"] if power or (mode and has_off) else []
    if temp:
        acts += ["set_temperature", "change_temperature"]
    if not acts:
        raise _Skip("no power_command_topic, mode_command_topic or temperature_command_topic")
    return _Caps(power or mode or temp, _partial(acts, "climate"))


def _ha_vacuum(cfg: Obj) -> _Caps:
    cmd = _need(cfg)
    features = cfg.get("supported_features", list(HA_VACUUM_DEFAULT))
    if not isinstance(features, list):
        raise _Skip("supported_features is not a list")
    acts = [HA_VACUUM_ACTIONS[f] for f in features if isinstance(f, str) and f in HA_VACUUM_ACTIONS]
    if not acts:
        raise _Skip("supports none of start, stop, pause, return_home")
    return _Caps(cmd, _partial(acts, "vacuum"))


def _ha_scene(cfg: Obj) -> _Caps:
    return _Caps(_need(cfg))


HA_CAPS: dict[str, Callable[[Obj], _Caps | None]] = {
    "light": _ha_light,
    "switch": _ha_switch,
    "fan": _ha_fan,
    "cover": _ha_cover,
    "valve": _ha_valve,
    "lock": _ha_lock,
    "climate": _ha_climate,
    "vacuum": _ha_vacuum,
    "scene": _ha_scene,
    "button": _ha_scene,
}
