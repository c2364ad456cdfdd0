"""dialogd itself in Home Assistant, by MQTT discovery.

Home Assistant's MQTT integration turns a retained JSON config published on
``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`` into an entity
(home-assistant.io/integrations/mqtt, "MQTT Discovery"; node_id and object_id are
``[a-zA-Z0-9_-]``; an empty retained payload removes the entity). dialogd shows up as one
device, ``dialogd <site>``, with:

- sensor ``status``: the retained ``online``/``offline`` of <prefix>/<site>/status
  (integrations/sensor.mqtt: ``state_topic`` required). It alone has no availability:
  with the status topic as its own availability it could only read ``unavailable``;
- sensors ``last request`` and ``last intent``, read from <prefix>/<site>/intent;
  ``last error`` from <prefix>/<site>/error and ``last result`` (what the devices dialogd
  switched did) from <prefix>/<site>/result, each with the message as its attributes;
- a text entity that sends a request to <prefix>/<site>/text
  (integrations/text.mqtt: ``command_topic`` required, ``max`` at most 255);
- one device trigger per action (integrations/device_trigger.mqtt: discovery only,
  ``automation_type: trigger``, ``topic``, ``type``, ``subtype`` and ``device`` required,
  one trigger per discovery topic, type+subtype unique on the device), and one per timer
  event (``timer``: started, cancelled, finished) on <prefix>/<site>/timer.

`validate` checks a config against those documented schemas, so that a typo is caught by
the tests rather than by a Home Assistant log nobody reads. It understands the documented
abbreviations (``stat_t``, ``dev``/``ids``, ``~``...) but flags any key it does not know.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from daemon.core.vocabulary import ACTUATING, CHAT, QUERY
from daemon.dialogue.manager import TimerEventKind
from daemon.mqtt.link import Topics

DEFAULT_DISCOVERY_PREFIX = "homeassistant"

# A device trigger per action an automation could want to follow. Sorted: the discovery
# messages are retained, so the same site must always give the same set.
TRIGGER_ACTIONS: tuple[str, ...] = (*sorted(ACTUATING), QUERY, CHAT)
TIMER_EVENTS: tuple[str, ...] = get_args(TimerEventKind)
_TIMER_TEMPLATE = "{{ value_json.event }}"

ONLINE, OFFLINE = "online", "offline"  # what daemon.mqtt.link publishes on the status topic

# HA keeps at most 255 characters of state; a longer one is refused and the sensor breaks.
_MAX_STATE = 255

# The trigger fires only for intents to act on (README, "The intent": act on `decided` and
# `confirmed` only). A `needs_confirmation` unlock must not run an automation before the yes.
_TRIGGER_TEMPLATE = (
    "{{ value_json.action if (value_json.status | default('decided')) "
    "in ['decided', 'confirmed'] else '' }}"
)


@dataclass(frozen=True)
class DiscoveryMessage:
    topic: str
    payload: bytes  # JSON; retained by the caller (empty: remove the entity)


@dataclass(frozen=True)
class _Component:
    """One discovery config before it becomes a message."""

    component: str
    object_id: str
    config: dict[str, Any]


def slug(site: str) -> str:
    """`site` in the character class HA allows for node and object ids."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", site)


def self_discovery(
    site: str,
    prefix: str,
    *,
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX,
    version: str,
) -> list[DiscoveryMessage]:
    """The retained configs that make dialogd of `site` a device in Home Assistant."""
    return [
        DiscoveryMessage(
            _config_topic(discovery_prefix, site, c),
            json.dumps(c.config, ensure_ascii=False).encode("utf-8"),
        )
        for c in _components(site, prefix, version)
    ]


def removal(site: str, discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX) -> list[DiscoveryMessage]:
    """Empty retained payloads for every topic of `self_discovery`: HA drops the entities
    (used when the site is renamed, so the old device does not linger)."""
    # The topics depend on the site alone, not on the MQTT prefix or the version.
    return [
        DiscoveryMessage(_config_topic(discovery_prefix, site, c), b"")
        for c in _components(site, "dialogd", "")
    ]


def _config_topic(discovery_prefix: str, site: str, c: _Component) -> str:
    return f"{discovery_prefix}/{c.component}/{_node(site)}/{c.object_id}/config"


def _node(site: str) -> str:
    return f"dialogd_{slug(site)}"


def _components(site: str, prefix: str, version: str) -> list[_Component]:
    topics = Topics(prefix, site)
    device = _device(site, version)
    common = {
        "device": device,
        "origin": {"name": "dialogd", "sw_version": version},
        "availability_topic": topics.status,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
    }
    entities = _entities(topics)
    for e in entities:
        e.config.update(common, unique_id=f"{_node(site)}_{e.object_id}")
        if e.config.get("state_topic") == topics.status:
            # Its own availability would turn `offline` into `unavailable`.
            for key in ("availability_topic", "payload_available", "payload_not_available"):
                del e.config[key]
    return (
        entities
        + [_trigger(device, "action", a, topics.intent, _TRIGGER_TEMPLATE) for a in TRIGGER_ACTIONS]
        + [_trigger(device, "timer", e, topics.timer, _TIMER_TEMPLATE) for e in TIMER_EVENTS]
    )


def _entities(topics: Topics) -> list[_Component]:
    """The entities' own keys; the device, availability and unique_id are added after."""
    return [
        _Component(
            "sensor",
            "status",
            {
                "name": "Status",
                "state_topic": topics.status,
                "entity_category": "diagnostic",
                "icon": "mdi:lan-connect",
            },
        ),
        _Component(
            "sensor",
            "last_request",
            {
                "name": "Last request",
                "state_topic": topics.intent,
                "value_template": "{{ value_json.text[:255] }}",  # _MAX_STATE
                "icon": "mdi:message-text",
            },
        ),
        _Component(
            "sensor",
            "last_intent",
            {
                "name": "Last intent",
                "state_topic": topics.intent,
                "value_template": "{{ value_json.action }}",
                "json_attributes_topic": topics.intent,
                "icon": "mdi:gesture-tap",
            },
        ),
        _Component(
            "sensor",
            "last_error",
            {
                "name": "Last error",
                "state_topic": topics.error,
                "value_template": "{{ value_json.error }}",
                "json_attributes_topic": topics.error,
                "icon": "mdi:alert-circle-outline",
            },
        ),
        _Component(
            "sensor",
            "last_result",
            {
                "name": "Last result",
                "state_topic": topics.result,
                "value_template": "{{ value_json.result }}",
                "json_attributes_topic": topics.result,
                "icon": "mdi:check-circle-outline",
            },
        ),
        _Component(
            "text",
            "request",
            {
                "name": "Request",
                "command_topic": topics.text,
                # A JSON object, so that a request that looks like JSON ("42", "[x]") is still
                # read as text by dialogd's request parser.
                "command_template": '{{ {"text": value} | tojson }}',
                "min": 1,
                "max": _MAX_STATE,
                "mode": "text",
                "qos": 1,  # dialogd subscribes with QoS 1 and acknowledges what it took on
                "retain": False,  # a retained request would be asked again at every start
                "icon": "mdi:keyboard",
            },
        ),
    ]


def _device(site: str, version: str) -> dict[str, Any]:
    return {
        "identifiers": [_node(site)],
        "name": f"dialogd {site}",
        "manufacturer": "dialogd",
        "model": "dialogd",
        "sw_version": version,
    }


def _trigger(
    device: dict[str, Any], kind: str, subtype: str, topic: str, template: str
) -> _Component:
    """One device trigger: `kind` ("action", "timer") fires with `subtype` when
    `template` renders it from a message on `topic`."""
    # Device triggers have no availability and no unique_id (device_trigger.mqtt).
    return _Component(
        "device_automation",
        f"{kind}_{slug(subtype)}",
        {
            "automation_type": "trigger",
            "topic": topic,
            "type": kind,
            "subtype": subtype,
            "payload": subtype,
            "value_template": template,
            "qos": 1,
            "device": device,
        },
    )


# --- validation ------------------------------------------------------------------------

Check = Callable[[Any], str | None]  # a problem with one value, or None


def validate(component: str, config: dict[str, Any]) -> list[str]:
    """Problems of `config` against HA's documented schema for `component`; [] = valid."""
    schema = _SCHEMAS.get(component)
    if schema is None:
        return [f"unsupported component {component!r}"]
    expanded, problems = _expand(config, _ABBREVIATIONS)
    problems += _check_keys(schema, expanded)
    problems += [f"{key} is required" for key in _REQUIRED[component] if key not in expanded]
    problems += _cross_checks(component, expanded)
    return problems


def _check_keys(schema: Mapping[str, Check], config: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for key, value in config.items():
        check = schema.get(key)
        if check is None:
            problems.append(f"unknown key {key!r}")
        elif (problem := check(value)) is not None:
            problems.append(f"{key}: {problem}")
    return problems


def _expand(
    config: Mapping[str, Any], abbreviations: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """`config` with full key names and the `~` base topic substituted."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in config.items():
        full = abbreviations.get(key, key)
        if full in out:
            problems.append(f"{full} given twice (abbreviated and not)")
        out[full] = value
    base = out.pop("~", None)
    if isinstance(base, str):
        for key, value in out.items():
            if key.endswith("_topic") and isinstance(value, str):
                out[key] = _substitute_base(value, base)
    elif base is not None:
        problems.append("~: must be a string")
    return out, problems


def _substitute_base(topic: str, base: str) -> str:
    if topic.startswith("~"):
        return base + topic[1:]
    if topic.endswith("~"):
        return topic[:-1] + base
    return topic


def _cross_checks(component: str, c: Mapping[str, Any]) -> list[str]:
    problems = _availability_checks(c) + _device_checks(component, c)
    if component == "sensor" and c.get("entity_category") == "config":
        problems.append("entity_category: a sensor cannot be a config entity")
    if component == "text":
        lo, hi = c.get("min", 0), c.get("max", _MAX_STATE)
        if _is_int(lo) and _is_int(hi) and lo > hi:
            problems.append("min is larger than max")
    return problems


def _availability_checks(c: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    has_topic, has_list = "availability_topic" in c, "availability" in c
    if has_topic and has_list:
        problems.append("availability and availability_topic must not be used together")
    for key in ("payload_available", "payload_not_available", "availability_template"):
        if key in c and not has_topic:
            problems.append(f"{key} without availability_topic")
    if "availability_mode" in c and not has_list:
        problems.append("availability_mode without availability")
    if c.get("payload_available", ONLINE) == c.get("payload_not_available", OFFLINE):
        problems.append("payload_available and payload_not_available are the same")
    return problems


def _device_checks(component: str, c: Mapping[str, Any]) -> list[str]:
    device = c.get("device")
    if not isinstance(device, Mapping):
        return []  # absent (required-ness is checked elsewhere) or already reported
    problems = []
    if component != "device_automation" and "unique_id" not in c:
        problems.append("device is only used with a unique_id")
    expanded, _ = _expand(device, _DEVICE_ABBREVIATIONS)
    if not expanded.get("identifiers") and not expanded.get("connections"):
        problems.append("device needs identifiers or connections")
    return problems


# Value checks ----------------------------------------------------------------------------


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _string(v: Any) -> str | None:
    return None if isinstance(v, str) else "must be a string"


def _nonempty(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "must be a non-empty string"


def _name(v: Any) -> str | None:
    # null is documented: the entity then takes the device's name.
    return None if v is None or isinstance(v, str) else "must be a string or null"


def _boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _integer(lo: int, hi: int | None = None) -> Check:
    def check(v: Any) -> str | None:
        if not _is_int(v) or v < lo or (hi is not None and v > hi):
            return f"must be an integer from {lo}" + ("" if hi is None else f" to {hi}")
        return None

    return check


def _one_of(*allowed: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _string_list(v: Any) -> str | None:
    ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
    return None if ok else "must be a list of strings"


def _regex(v: Any) -> str | None:
    if not isinstance(v, str):
        return "must be a string"
    try:
        re.compile(v)
    except re.error as exc:
        return f"not a regular expression ({exc})"
    return None


def _topic_problem(v: Any) -> str | None:
    if not isinstance(v, str) or not v:
        return "must be a non-empty topic"
    if "\0" in v or len(v.encode("utf-8", "replace")) > 65535:
        return "not a valid MQTT topic"
    return None


def subscribe_topic_problem(v: Any) -> str | None:
    """Why `v` cannot be subscribed to (`+` a whole level, `#` only the last), or None."""
    if (problem := _topic_problem(v)) is not None:
        return problem
    levels = v.split("/")
    for i, level in enumerate(levels):
        if "+" in level and level != "+":
            return "'+' must be a whole topic level"
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return "'#' must be the whole last topic level"
    return None


def publish_topic_problem(v: Any) -> str | None:
    """Why `v` cannot be published to (no wildcards at all), or None."""
    if (problem := _topic_problem(v)) is not None:
        return problem
    return "a command topic must not contain wildcards" if set("+#") & set(v) else None


def _availability_list(v: Any) -> str | None:
    if not isinstance(v, list) or not v:
        return "must be a non-empty list"
    for item in v:
        if not isinstance(item, Mapping):
            return "entries must be objects"
        expanded, problems = _expand(item, _ABBREVIATIONS)
        problems += _check_keys(_AVAILABILITY_ITEM, expanded)
        if "topic" not in expanded:
            problems.append("topic is required")
        if problems:
            return "; ".join(problems)
    return None


def _connections(v: Any) -> str | None:
    ok = isinstance(v, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        for pair in v
    )
    return None if ok else "must be a list of [type, id] pairs"


def _identifiers(v: Any) -> str | None:
    return None if isinstance(v, str) else _string_list(v)


def _device_info(v: Any) -> str | None:
    if not isinstance(v, Mapping):
        return "must be an object"
    expanded, problems = _expand(v, _DEVICE_ABBREVIATIONS)
    problems += _check_keys(_DEVICE, expanded)
    return "; ".join(problems) or None


def _origin(v: Any) -> str | None:
    if not isinstance(v, Mapping):
        return "must be an object"
    expanded, problems = _expand(v, _ORIGIN_ABBREVIATIONS)
    problems += _check_keys(_ORIGIN, expanded)
    if "name" not in expanded:
        problems.append("name is required")
    return "; ".join(problems) or None


# Schemas (the documented configuration variables) -----------------------------------------

_DEVICE: dict[str, Check] = {
    "identifiers": _identifiers,
    "connections": _connections,
    "name": _string,
    "manufacturer": _string,
    "model": _string,
    "model_id": _string,
    "sw_version": _string,
    "hw_version": _string,
    "serial_number": _string,
    "suggested_area": _string,
    "configuration_url": _string,
    "via_device": _string,
}
_DEVICE_ABBREVIATIONS = {
    "ids": "identifiers", "cns": "connections", "mf": "manufacturer", "mdl": "model",
    "mdl_id": "model_id", "sw": "sw_version", "hw": "hw_version", "sn": "serial_number",
    "sa": "suggested_area", "cu": "configuration_url",
}  # fmt: skip

_ORIGIN: dict[str, Check] = {"name": _nonempty, "sw_version": _string, "support_url": _string}
_ORIGIN_ABBREVIATIONS = {"sw": "sw_version", "url": "support_url"}

_AVAILABILITY_ITEM: dict[str, Check] = {
    "topic": subscribe_topic_problem,
    "payload_available": _string,
    "payload_not_available": _string,
    "value_template": _string,
}

_ABBREVIATIONS = {
    "avty": "availability", "avty_mode": "availability_mode",
    "avty_t": "availability_topic", "avty_tpl": "availability_template",
    "pl_avail": "payload_available", "pl_not_avail": "payload_not_available",
    "stat_t": "state_topic", "cmd_t": "command_topic", "cmd_tpl": "command_template",
    "val_tpl": "value_template", "uniq_id": "unique_id", "dev": "device", "o": "origin",
    "ent_cat": "entity_category", "json_attr_t": "json_attributes_topic",
    "json_attr_tpl": "json_attributes_template", "ic": "icon", "en": "enabled_by_default",
    "e": "encoding", "obj_id": "object_id", "ret": "retain", "unit_of_meas":
    "unit_of_measurement", "dev_cla": "device_class", "stat_cla": "state_class",
    "exp_aft": "expire_after", "frc_upd": "force_update", "sug_dsp_prc":
    "suggested_display_precision", "atype": "automation_type", "stype": "subtype",
    "pl": "payload", "t": "topic", "p": "platform",
}  # fmt: skip

_ENTITY: dict[str, Check] = {
    "name": _name,
    "unique_id": _nonempty,
    "object_id": _string,
    "default_entity_id": _string,
    "device": _device_info,
    "origin": _origin,
    "availability": _availability_list,
    "availability_mode": _one_of("all", "any", "latest"),
    "availability_topic": subscribe_topic_problem,
    "availability_template": _string,
    "payload_available": _string,
    "payload_not_available": _string,
    "entity_category": _one_of("config", "diagnostic"),
    "enabled_by_default": _boolean,
    "encoding": _string,
    "entity_picture": _string,
    "icon": _string,
    "json_attributes_topic": subscribe_topic_problem,
    "json_attributes_template": _string,
    "qos": _integer(0, 2),
}

_SCHEMAS: dict[str, dict[str, Check]] = {
    "sensor": {
        **_ENTITY,
        "state_topic": subscribe_topic_problem,
        "value_template": _string,
        "device_class": _string,
        "state_class": _one_of("measurement", "measurement_angle", "total", "total_increasing"),
        "unit_of_measurement": _string,
        "expire_after": _integer(0),
        "force_update": _boolean,
        "last_reset_value_template": _string,
        "options": _string_list,
        "suggested_display_precision": _integer(0),
    },
    "text": {
        **_ENTITY,
        "command_topic": publish_topic_problem,
        "command_template": _string,
        "state_topic": subscribe_topic_problem,
        "value_template": _string,
        "min": _integer(0, _MAX_STATE),
        "max": _integer(0, _MAX_STATE),
        "mode": _one_of("text", "password"),
        "pattern": _regex,
        "retain": _boolean,
    },
    "device_automation": {
        "automation_type": _one_of("trigger"),
        "platform": _one_of("device_automation"),
        "topic": subscribe_topic_problem,
        "type": _nonempty,
        "subtype": _nonempty,
        "payload": _string,
        "value_template": _string,
        "qos": _integer(0, 2),
        "encoding": _string,
        "device": _device_info,
        "origin": _origin,
    },
}

_REQUIRED: dict[str, tuple[str, ...]] = {
    "sensor": ("state_topic",),
    "text": ("command_topic",),
    "device_automation": ("automation_type", "topic", "type", "subtype", "device"),
}
