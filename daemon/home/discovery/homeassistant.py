"""Home Assistant MQTT discovery configs: `<prefix>/<component>/[<node_id>/]<object_id>/config`,
one component per message or several (device-based discovery, `cmps`); abbreviations and
the "~" base topic spelled out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from daemon.home.discovery.common import (
    Discovered,
    Obj,
    Parsed,
    _build,
    _clean,
    _Collector,
    _device_id,
    _load,
    _payload_text,
    _plain,
    _Rules,
    _show,
    _Skip,
    _where,
)
from daemon.home.discovery.ha_abbreviations import (
    HA_ABBREVIATIONS,
    HA_DEVICE_ABBREVIATIONS,
    HA_ORIGIN_ABBREVIATIONS,
)
from daemon.home.discovery.ha_capabilities import HA_CAPS

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

# <component>/[<node_id>/]<object_id>/config below the prefix (HA's own TOPIC_MATCHER).
_HA_TOPIC = re.compile(
    r"(?P<component>[A-Za-z0-9_]+)/(?:(?P<node_id>[A-Za-z0-9_-]+)/)?"
    r"(?P<object_id>[A-Za-z0-9_-]+)/config"
)


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
