"""Devices from retained discovery messages: zigbee2mqtt's `bridge/devices` and Home
Assistant's MQTT discovery configs.

Pure parsers: bytes in, `Parsed` out; no client, no I/O, no logging. The caller subscribes,
feeds each message here, logs the warnings and merges the devices into the registry.

Retained messages can be written by anybody on the broker, so everything here is
untrusted: a message, component or device that makes no sense is skipped with exactly one
warning line, nothing raises, every topic a device may use is complete and free of
wildcards, and no discovered topic may point into dialogd's own tree (`forbidden`) or
outside the places the user allows (`allowed`).

Shapes follow the documentation: zigbee2mqtt.io guide/usage/mqtt_topics_and_messages and
guide/usage/exposes; home-assistant.io/integrations/mqtt (discovery topic, abbreviations,
"~" base topic, device-based discovery with `cmps`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from daemon.config import Device
from daemon.home.endpoint import Endpoint
from daemon.home.vocabulary import TYPES

MAX_PAYLOAD = 64 * 1024
MAX_NAME = 64
MAX_ID = 64
# A flood of broken entries must not become a flood of log lines.
MAX_WARNINGS = 100
# Option values nested deeper than this are not settings anybody needs.
MAX_DEPTH = 4

Obj = dict[str, Any]


@dataclass(frozen=True)
class Discovered:
    """One device found on the broker, ready for the registry."""

    key: str
    device: Device
    endpoint: Endpoint
    origin: Literal["zigbee2mqtt", "homeassistant"]
    area_hints: tuple[str, ...] = ()
    suggested: bool = False


@dataclass(frozen=True)
class Parsed:
    """What one message gave: its devices, and one line per thing skipped."""

    devices: tuple[Discovered, ...]
    warnings: tuple[str, ...]


class _Skip(Exception):
    """A message, component or device is unusable; the text says why (one warning)."""


# ----------------------------------------------------------------- Home Assistant tables

# Components dialogd switches, and the device type each becomes (a button is pressed, which
# is what activating a scene does).
HA_TYPES: dict[str, str] = {
    "light": "light",
    "switch": "switch",
    "fan": "fan",
    "cover": "cover",
    "valve": "valve",
    "lock": "lock",
    "climate": "climate",
    "vacuum": "vacuum",
    "scene": "scene",
    "button": "scene",
}

# Home Assistant MQTT components dialogd has nothing to switch on: normal, skipped silently.
HA_PASSIVE = frozenset(
    {
        "alarm_control_panel", "binary_sensor", "camera", "device_automation",
        "device_tracker", "event", "humidifier", "image", "lawn_mower", "notify", "number",
        "select", "sensor", "siren", "tag", "text", "update", "water_heater",
    }
)  # fmt: skip

HA_DEVICE = "device"  # <prefix>/device/<object_id>/config: several components in one

# The abbreviations of home-assistant.io/integrations/mqtt that matter to dialogd: the
# keys it reads and the topics and payloads actuation and state need.
HA_ABBREVIATIONS: dict[str, str] = {
    "act_t": "action_topic",
    "act_tpl": "action_template",
    "avty": "availability",
    "avty_mode": "availability_mode",
    "avty_t": "availability_topic",
    "avty_tpl": "availability_template",
    "bri_cmd_t": "brightness_command_topic",
    "bri_cmd_tpl": "brightness_command_template",
    "bri_scl": "brightness_scale",
    "bri_stat_t": "brightness_state_topic",
    "bri_tpl": "brightness_template",
    "bri_val_tpl": "brightness_value_template",
    "b_tpl": "blue_template",
    "clr_temp_cmd_t": "color_temp_command_topic",
    "clr_temp_cmd_tpl": "color_temp_command_template",
    "clr_temp_stat_t": "color_temp_state_topic",
    "clr_temp_tpl": "color_temp_template",
    "clr_temp_val_tpl": "color_temp_value_template",
    "clrm": "color_mode",
    "clrm_stat_t": "color_mode_state_topic",
    "clrm_val_tpl": "color_mode_value_template",
    "cmd_off_tpl": "command_off_template",
    "cmd_on_tpl": "command_on_template",
    "cmd_t": "command_topic",
    "cmd_tpl": "command_template",
    "cmps": "components",
    "curr_temp_t": "current_temperature_topic",
    "curr_temp_tpl": "current_temperature_template",
    "dev": "device",
    "dev_cla": "device_class",
    "e": "encoding",
    "en": "enabled_by_default",
    "ent_cat": "entity_category",
    "fan_mode_cmd_t": "fan_mode_command_topic",
    "fan_mode_stat_t": "fan_mode_state_topic",
    "fanspd_lst": "fan_speed_list",
    "fx_cmd_t": "effect_command_topic",
    "fx_list": "effect_list",
    "fx_stat_t": "effect_state_topic",
    "g_tpl": "green_template",
    "hs_cmd_t": "hs_command_topic",
    "hs_cmd_tpl": "hs_command_template",
    "hs_stat_t": "hs_state_topic",
    "hs_val_tpl": "hs_value_template",
    "ic": "icon",
    "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template",
    "max_temp": "max_temp",
    "min_temp": "min_temp",
    "mode_cmd_t": "mode_command_topic",
    "mode_cmd_tpl": "mode_command_template",
    "mode_stat_t": "mode_state_topic",
    "mode_stat_tpl": "mode_state_template",
    "modes": "modes",
    "o": "origin",
    "obj_id": "object_id",
    "on_cmd_type": "on_command_type",
    "opt": "optimistic",
    "p": "platform",
    "pct_cmd_t": "percentage_command_topic",
    "pct_cmd_tpl": "percentage_command_template",
    "pct_stat_t": "percentage_state_topic",
    "pct_val_tpl": "percentage_value_template",
    "pl_avail": "payload_available",
    "pl_cls": "payload_close",
    "pl_lock": "payload_lock",
    "pl_not_avail": "payload_not_available",
    "pl_off": "payload_off",
    "pl_on": "payload_on",
    "pl_open": "payload_open",
    "pl_paus": "payload_pause",
    "pl_prs": "payload_press",
    "pl_ret": "payload_return_to_base",
    "pl_stop": "payload_stop",
    "pl_strt": "payload_start",
    "pl_unlk": "payload_unlock",
    "pos": "reports_position",
    "pos_clsd": "position_closed",
    "pos_open": "position_open",
    "pos_t": "position_topic",
    "pos_tpl": "position_template",
    "pow_cmd_t": "power_command_topic",
    "pow_stat_t": "power_state_topic",
    "pr_mode_cmd_t": "preset_mode_command_topic",
    "pr_mode_stat_t": "preset_mode_state_topic",
    "pr_modes": "preset_modes",
    "qos": "qos",
    "r_tpl": "red_template",
    "ret": "retain",
    "rgb_cmd_t": "rgb_command_topic",
    "rgb_cmd_tpl": "rgb_command_template",
    "rgb_stat_t": "rgb_state_topic",
    "rgb_val_tpl": "rgb_value_template",
    "rgbw_cmd_t": "rgbw_command_topic",
    "rgbw_stat_t": "rgbw_state_topic",
    "rgbww_cmd_t": "rgbww_command_topic",
    "rgbww_stat_t": "rgbww_state_topic",
    "send_cmd_t": "send_command_topic",
    "set_pos_t": "set_position_topic",
    "set_pos_tpl": "set_position_template",
    "spd_rng_max": "speed_range_max",
    "spd_rng_min": "speed_range_min",
    "stat_clsd": "state_closed",
    "stat_closing": "state_closing",
    "stat_locked": "state_locked",
    "stat_off": "state_off",
    "stat_on": "state_on",
    "stat_open": "state_open",
    "stat_opening": "state_opening",
    "stat_stopped": "state_stopped",
    "stat_t": "state_topic",
    "stat_tpl": "state_template",
    "stat_unlocked": "state_unlocked",
    "stat_val_tpl": "state_value_template",
    "sup_clrm": "supported_color_modes",
    "sup_feat": "supported_features",
    "t": "topic",
    "temp_cmd_t": "temperature_command_topic",
    "temp_cmd_tpl": "temperature_command_template",
    "temp_stat_t": "temperature_state_topic",
    "temp_stat_tpl": "temperature_state_template",
    "temp_unit": "temperature_unit",
    "uniq_id": "unique_id",
    "val_tpl": "value_template",
    "whit_cmd_t": "white_command_topic",
    "xy_cmd_t": "xy_command_topic",
    "xy_cmd_tpl": "xy_command_template",
    "xy_stat_t": "xy_state_topic",
    "xy_val_tpl": "xy_value_template",
}

HA_DEVICE_ABBREVIATIONS: dict[str, str] = {
    "cns": "connections",
    "cu": "configuration_url",
    "hw": "hw_version",
    "ids": "identifiers",
    "mdl": "model",
    "mdl_id": "model_id",
    "mf": "manufacturer",
    "sa": "suggested_area",
    "sn": "serial_number",
    "sw": "sw_version",
    "via_dev": "via_device",
}

HA_ORIGIN_ABBREVIATIONS: dict[str, str] = {"sw": "sw_version", "url": "support_url"}

# Device-based discovery: options in the message body that every component inherits
# unless it sets its own.
HA_SHARED = (
    "~",
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "command_topic",
    "payload_available",
    "payload_not_available",
    "state_topic",
    "qos",
    "encoding",
    "device",
    "origin",
)

# Keys that are not actuation or state settings, or that the Endpoint holds in its own
# fields: everything else of a component config goes to Endpoint.options.
HA_NOT_OPTIONS = frozenset(
    {
        "~", "availability", "availability_mode", "availability_template",
        "availability_topic", "command_topic", "components", "default_entity_id", "device",
        "enabled_by_default", "entity_category", "entity_picture", "has_entity_name", "icon",
        "json_attributes_template", "json_attributes_topic", "name", "object_id", "origin",
        "payload_available", "payload_not_available", "platform", "state_topic", "unique_id",
    }
)  # fmt: skip

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

# <component>/[<node_id>/]<object_id>/config below the prefix (HA's own TOPIC_MATCHER).
_HA_TOPIC = re.compile(
    r"(?P<component>[A-Za-z0-9_]+)/(?:(?P<node_id>[A-Za-z0-9_-]+)/)?"
    r"(?P<object_id>[A-Za-z0-9_-]+)/config"
)

# ------------------------------------------------------------------ zigbee2mqtt tables

# Specific exposes dialogd switches, in the order that decides a device's type when one
# endpoint has several.
Z2M_KINDS = ("light", "fan", "cover", "lock", "climate", "switch")
# Fan modes that are not speed levels.
Z2M_FAN_NOT_SPEEDS = frozenset({"off", "on", "auto", "smart"})
Z2M_DEFAULT_BRIGHTNESS_MAX = 254
_IEEE = re.compile(r"0x[0-9a-fA-F]{16}")


# ============================================================================ public API


def ha_config_topics(prefix: str) -> list[str]:
    """The subscriptions that receive every Home Assistant discovery config."""
    return [f"{prefix}/+/+/config", f"{prefix}/+/+/+/config"]


def ha_source(topic: str, prefix: str = "homeassistant") -> str | None:
    """The key part that names `topic`'s config: every device parsed from it has this key,
    or this key followed by "#<component id>" (device-based discovery). None for a topic
    that is not a discovery config. Lets the caller drop what a changed or emptied config
    no longer lists."""
    try:
        component, node_id, object_id = _ha_topic(topic, prefix)
    except _Skip:
        return None
    return _ha_key(component, node_id, object_id)


def parse_ha_config(
    topic: str,
    payload: bytes,
    *,
    prefix: str = "homeassistant",
    allowed: Sequence[str] = (),
    forbidden: Sequence[str] = (),
) -> Parsed:
    """The devices in one Home Assistant discovery config; an empty payload is a removal."""
    if not payload:
        return Parsed((), ())
    out = _Collector(_where(topic))
    rules = _Rules(tuple(allowed), tuple(forbidden))
    try:
        component, node_id, object_id = _ha_topic(topic, prefix)
        if component in HA_PASSIVE:
            return Parsed((), ())
        if component not in HA_TYPES and component != HA_DEVICE:
            raise _Skip(f"{_show(component)} is not a Home Assistant MQTT component")
        data = _ha_object(_load(payload))
    except _Skip as e:
        out.warn(str(e))
        return out.result()
    source = _ha_key(component, node_id, object_id)
    if component == HA_DEVICE:
        _ha_device_message(data, source, rules, out)
    else:
        _ha_single(component, data, source, object_id, rules, out)
    return out.result()


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


# ====================================================================== shared helpers


@dataclass(frozen=True)
class _Rules:
    """Where discovered devices may point their topics."""

    allowed: tuple[str, ...]
    forbidden: tuple[str, ...]

    def check(self, topics: Iterable[str]) -> None:
        for t in topics:
            problem = _topic_problem(t) or self._placement(t)
            if problem:
                raise _Skip(problem)

    def _placement(self, t: str) -> str | None:
        for p in self.forbidden:
            if _under(t, p):
                return f"topic {_show(t)} is under {_show(p)}, which is dialogd's"
        if self.allowed and not any(_under(t, p) for p in self.allowed):
            return f"topic {_show(t)} is not under any of home.topic_prefixes"
        return None


def _under(topic: str, prefix: str) -> bool:
    return topic.startswith(prefix) or topic == prefix.rstrip("/")


def _topic_problem(t: str) -> str | None:
    """Why `t` cannot be published or subscribed to as one exact topic, if it cannot."""
    if any(c in t for c in "+#\x00"):
        return f"topic {_show(t)} has a wildcard or NUL"
    if "" in t.split("/"):
        return f"topic {_show(t)} has an empty level"
    try:
        size = len(t.encode("utf-8"))
    except UnicodeEncodeError:
        return f"topic {_show(t)} is not valid UTF-8"
    return f"topic {_show(t)[:80]} is too long" if size > 65535 else None


@dataclass
class _Collector:
    """Gathers one message's devices and warnings: first name wins, ids made unique."""

    where: str
    devices: list[Discovered] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    dropped: int = 0

    def warn(self, what: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(f"{self.where}: {what}")
        else:
            self.dropped += 1

    def add(self, d: Discovered) -> None:
        name = " ".join(d.device.name.casefold().split())
        if name in self.names:
            self.warn(f"{_show(d.key)}: name {_show(d.device.name)} is taken; skipped")
            return
        self.names.add(name)
        did, n = d.device.id, 2
        while did in self.ids:
            did, n = f"{d.device.id[: MAX_ID - 4]}_{n}", n + 1
        self.ids.add(did)
        if did != d.device.id:
            d = replace(d, device=d.device.model_copy(update={"id": did}))
        self.devices.append(d)

    def result(self) -> Parsed:
        extra = [f"{self.where}: {self.dropped} more problems"] if self.dropped else []
        return Parsed(tuple(self.devices), (*self.warnings, *extra))


def _load(payload: bytes) -> Any:
    """The JSON value of a payload; size, encoding and syntax checked first."""
    if len(payload) > MAX_PAYLOAD:
        raise _Skip(f"payload is over {MAX_PAYLOAD // 1024} KiB")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise _Skip("payload is not UTF-8") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise _Skip("payload is not valid JSON") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _show(v: object) -> str:
    """Untrusted text for a warning: quoted, escaped onto one line, cut short."""
    s = v if isinstance(v, str) else type(v).__name__
    return repr(s if len(s) <= MAX_NAME else s[:MAX_NAME] + "...")


def _where(topic: str) -> str:
    return topic if topic.isprintable() and len(topic) <= 200 else _show(topic)


def _clean(text: str) -> str:
    """A name as people will say it: no control characters, single spaces, 64 at most."""
    kept = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cs"))
    return " ".join(kept.split())[:MAX_NAME].strip()


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", folded.lower()).strip("_")


def _device_id(name: str, fallback: str, typ: str) -> str:
    """A stable id from the name; from the unique id when the name does not spell in
    ASCII (Chinese, say), so that two such names never fold onto the same id."""
    spelled = all(_slug(c) or not c.isalnum() for c in name)
    slug = _slug(name) if spelled else ""
    if not slug:
        slug = f"{typ}_{_slug(fallback)}".rstrip("_")
    elif not slug[0].isalpha():
        slug = f"{typ}_{slug}"
    return slug[:MAX_ID].rstrip("_")


def _plain(v: Any, depth: int = 0) -> bool:
    """Whether `v` is a JSON value an option may hold: shallow, finite, encodable."""
    if v is None or isinstance(v, bool | int):
        return True
    if isinstance(v, float):
        return v == v and v not in (float("inf"), float("-inf"))
    if isinstance(v, str):
        return not any(unicodedata.category(c) == "Cs" for c in v)
    if depth >= MAX_DEPTH:
        return False
    if isinstance(v, list):
        return all(_plain(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(_plain(k, depth + 1) and _plain(x, depth + 1) for k, x in v.items())
    return False


def _payload_text(v: Any, default: str, key: str) -> str:
    if v is None:
        return default
    if isinstance(v, str):
        return v
    if isinstance(v, bool | int | float):
        return json.dumps(v)
    raise _Skip(f"{key} is not a string")


def _build(
    *,
    key: str,
    origin: Literal["zigbee2mqtt", "homeassistant"],
    device: dict[str, Any],
    endpoint: dict[str, Any],
    rules: _Rules,
    hints: tuple[str, ...] = (),
    suggested: bool = False,
) -> Discovered:
    """The validated Discovered; a model that refuses the values is one more skip."""
    try:
        ep = Endpoint(integration=origin, **endpoint)
        dev = Device(area=None, sensitive=[], **device)
    except ValidationError as e:
        raise _Skip(f"not a valid device ({e.error_count()} problems)") from None
    if dev.type not in TYPES:
        raise _Skip(f"type {_show(dev.type)} is not a dialogd type")
    topics = [t for t in (ep.command_topic, ep.state_topic, ep.availability_topic) if t is not None]
    rules.check(topics + [v for k, v in ep.options.items() if k.endswith("topic")])
    return Discovered(key, dev, ep, origin, hints, suggested)


# ====================================================================== Home Assistant


def _ha_topic(topic: str, prefix: str) -> tuple[str, str | None, str]:
    if not topic.startswith(prefix + "/"):
        raise _Skip(f"not under the discovery prefix {_show(prefix)}")
    m = _HA_TOPIC.fullmatch(topic[len(prefix) + 1 :])
    if m is None:
        raise _Skip("not a discovery topic (<prefix>/<component>/[<node_id>/]<object_id>/config)")
    return m["component"], m["node_id"], m["object_id"]


def _ha_key(component: str, node_id: str | None, object_id: str) -> str:
    return f"homeassistant:{component}/" + (f"{node_id}/" if node_id else "") + object_id


def _ha_object(data: Any) -> Obj:
    if not isinstance(data, dict):
        raise _Skip("payload is not a JSON object")
    return data


def _rename(obj: Obj, table: dict[str, str]) -> Obj:
    """`obj` with abbreviated keys spelled out (an abbreviation wins, as in HA)."""
    out = {k: v for k, v in obj.items() if k not in table}
    out.update({table[k]: v for k, v in obj.items() if k in table})
    return out


def _expand(raw: Obj) -> Obj:
    """A config with every abbreviation spelled out, in `device`, `origin` and the
    availability entries too."""
    cfg = _rename(raw, HA_ABBREVIATIONS)
    if isinstance(cfg.get("device"), dict):
        cfg["device"] = _rename(cfg["device"], HA_DEVICE_ABBREVIATIONS)
    if isinstance(cfg.get("origin"), dict):
        cfg["origin"] = _rename(cfg["origin"], HA_ORIGIN_ABBREVIATIONS)
    avty = cfg.get("availability")
    if isinstance(avty, dict):
        avty = [avty]
    if isinstance(avty, list):
        cfg["availability"] = [
            _rename(a, HA_ABBREVIATIONS) if isinstance(a, dict) else a for a in avty
        ]
    return cfg


def _apply_base(cfg: Obj) -> Obj:
    """HA's "~" rule: a *topic value starting or ending with "~" has it replaced by the
    base; availability entries' `topic` too."""
    if "~" not in cfg:
        return cfg
    base = cfg["~"]
    if not isinstance(base, str):
        raise _Skip("'~' is not a string")

    def sub(v: Any) -> Any:
        if isinstance(v, str) and v.startswith("~"):
            v = base + v[1:]
        if isinstance(v, str) and v.endswith("~"):
            v = v[:-1] + base
        return v

    out = {k: sub(v) if k.endswith("topic") else v for k, v in cfg.items() if k != "~"}
    if isinstance(out.get("availability"), list):
        out["availability"] = [
            {**a, "topic": sub(a.get("topic"))} if isinstance(a, dict) and "topic" in a else a
            for a in out["availability"]
        ]
    return out


def _ha_single(
    component: str, data: Obj, source: str, object_id: str, rules: _Rules, out: _Collector
) -> None:
    try:
        cfg = _apply_base(_expand(data))
        found = _ha_component(component, cfg, source, object_id, rules)
    except _Skip as e:
        out.warn(str(e))
        return
    if found is not None:
        out.add(found)


def _ha_device_message(data: Obj, source: str, rules: _Rules, out: _Collector) -> None:
    """Device-based discovery: one Discovered per switchable component of `cmps`."""
    root = _expand(data)
    components = root.get("components")
    if not isinstance(components, dict):
        out.warn("components (cmps) is not an object")
        return
    shared = {k: root[k] for k in HA_SHARED if k in root and root[k] is not None}
    for cid, raw in components.items():
        key = f"{source}#{cid}"
        try:
            if not isinstance(raw, dict):
                raise _Skip("not an object")
            cfg = _apply_base({**shared, **_expand(raw)})
            platform = cfg.get("platform")
            if not isinstance(platform, str):
                raise _Skip("platform (p) is not a string")
            if platform in HA_PASSIVE:
                continue
            if platform not in HA_TYPES:
                raise _Skip(f"{_show(platform)} is not a Home Assistant MQTT component")
            found = _ha_component(platform, cfg, key, str(cid), rules)
        except _Skip as e:
            out.warn(f"component {_show(cid)}: {e}")
            continue
        if found is not None:
            out.add(found)


@dataclass(frozen=True)
class _Caps:
    """What a component lets dialogd do, read from its config."""

    command_topic: str | None
    actions: tuple[str, ...] | None = None
    color: bool = False
    speeds: int = 3


def _ha_component(
    component: str, cfg: Obj, key: str, fallback: str, rules: _Rules
) -> Discovered | None:
    """One switchable component as a device; None when it is normal that it is not one."""
    _check_types(cfg)
    caps = HA_CAPS[component](cfg)
    if caps is None:
        return None
    typ = HA_TYPES[component]
    device = cfg.get("device")
    if device is not None and not isinstance(device, dict):
        raise _Skip("device (dev) is not an object")
    device = device or {}
    name = _ha_name(cfg.get("name"), device.get("name"), fallback)
    uid = cfg.get("unique_id")
    avty_topic, up, down, avty_tpl = _ha_availability(cfg)
    options = {k: v for k, v in cfg.items() if k not in HA_NOT_OPTIONS and v is not None}
    options = {k: v for k, v in options.items() if _plain(v)}
    options["component"] = component
    if typ == "fan":
        options["speeds"] = caps.speeds
    if avty_tpl is not None:
        options["availability_template"] = avty_tpl
    hints, suggested = _ha_area(device)
    return _build(
        key=key,
        origin="homeassistant",
        device={
            "id": _device_id(name, uid if isinstance(uid, str) and uid else fallback, typ),
            "type": typ,
            "name": name,
            "actions": list(caps.actions) if caps.actions is not None else None,
            "color": caps.color,
            "speeds": caps.speeds,
        },
        endpoint={
            "command_topic": caps.command_topic,
            "state_topic": cfg.get("state_topic"),
            "availability_topic": avty_topic,
            "payload_available": up,
            "payload_not_available": down,
            "options": options,
        },
        rules=rules,
        hints=hints,
        suggested=suggested,
    )


def _check_types(cfg: Obj) -> None:
    """The keys dialogd reads must have the type HA documents for them."""
    for k, v in cfg.items():
        if (k.endswith("topic") or k in ("name", "unique_id", "schema")) and not (
            v is None or isinstance(v, str)
        ):
            raise _Skip(f"{k} is not a string")


def _ha_name(entity: Any, device: Any, fallback: str) -> str:
    """HA's naming: the entity's name within its device's, or either alone."""
    ent = _clean(entity) if isinstance(entity, str) else ""
    dev = _clean(device) if isinstance(device, str) else ""
    if device is not None and not isinstance(device, str):
        raise _Skip("device name is not a string")
    if ent and dev and ent.casefold() not in dev.casefold():
        return _clean(f"{dev} {ent}")
    return dev or ent or _clean(fallback.replace("_", " ")) or "device"


def _ha_area(device: Obj) -> tuple[tuple[str, ...], bool]:
    area = device.get("suggested_area")
    if area is None:
        return (), False
    if not isinstance(area, str):
        raise _Skip("suggested_area (sa) is not a string")
    name = _clean(area)
    return ((name,), True) if name else ((), False)


def _ha_availability(cfg: Obj) -> tuple[str | None, str, str, str | None]:
    """Topic, online and offline payloads, template: the first `availability` entry, else
    `availability_topic`."""
    avty = cfg.get("availability")
    if avty is not None:
        if not isinstance(avty, list):
            raise _Skip("availability is not a list")
        for a in avty:
            if not isinstance(a, dict) or not isinstance(a.get("topic"), str):
                raise _Skip("an availability entry has no topic")
        if avty:
            first = avty[0]
            tpl = first.get("value_template")
            return (
                first["topic"],
                _payload_text(first.get("payload_available"), "online", "payload_available"),
                _payload_text(
                    first.get("payload_not_available"), "offline", "payload_not_available"
                ),
                tpl if isinstance(tpl, str) else None,
            )
    tpl = cfg.get("availability_template")
    return (
        cfg.get("availability_topic"),
        _payload_text(cfg.get("payload_available"), "online", "payload_available"),
        _payload_text(cfg.get("payload_not_available"), "offline", "payload_not_available"),
        tpl if isinstance(tpl, str) else None,
    )


def _need(cfg: Obj, key: str = "command_topic") -> str:
    v = cfg.get(key)
    if not isinstance(v, str):
        raise _Skip(f"no {key}")
    return v


def _offered(cfg: Obj, payload_key: str) -> bool:
    """HA turns a feature off by setting its payload to null."""
    return not (payload_key in cfg and cfg[payload_key] is None)


def _partial(actions: Sequence[str], typ: str) -> tuple[str, ...] | None:
    """None (all of the type's) when `actions` are all of them, else them, in type order."""
    wanted = [a for a in TYPES[typ] if a in actions]
    return None if len(wanted) == len(TYPES[typ]) else tuple(wanted)


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


# ========================================================================= zigbee2mqtt


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
