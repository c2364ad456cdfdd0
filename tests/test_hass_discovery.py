"""dialogd's own Home Assistant discovery: every config valid against HA's documented
schema (integrations/mqtt, sensor.mqtt, text.mqtt, device_trigger.mqtt), and `validate`
really refusing the broken ones."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon import __version__
from daemon.core.vocabulary import ACTUATING
from daemon.mqtt.link import Topics
from daemon.outputs.hass import (
    TRIGGER_ACTIONS,
    DiscoveryMessage,
    publish_topic_problem,
    removal,
    self_discovery,
    slug,
    subscribe_topic_problem,
    validate,
)

SITES = ["kitchen", "Living Room", "büro.2", "a-b_c"]
CONFIG_TOPIC = re.compile(
    r"^(?P<prefix>[^#+]+)/(?P<component>sensor|text|device_automation)"
    r"/(?P<node>[a-zA-Z0-9_-]+)/(?P<object>[a-zA-Z0-9_-]+)/config$"
)


def discovery(site: str = "kitchen", **kw: Any) -> list[DiscoveryMessage]:
    return self_discovery(site, "dialogd", version=__version__, **kw)


def parsed(msg: DiscoveryMessage) -> tuple[str, dict[str, Any]]:
    m = CONFIG_TOPIC.match(msg.topic)
    assert m, msg.topic
    config = json.loads(msg.payload)
    assert isinstance(config, dict)
    return m["component"], config


def by_object(site: str = "kitchen") -> dict[str, dict[str, Any]]:
    return {msg.topic.split("/")[-2]: parsed(msg)[1] for msg in discovery(site)}


# --- every message ---------------------------------------------------------------------


@pytest.mark.parametrize("site", SITES)
def test_every_message_is_json_and_validates(site: str) -> None:
    for msg in discovery(site):
        component, config = parsed(msg)
        assert validate(component, config) == [], (msg.topic, validate(component, config))


@pytest.mark.parametrize("site", SITES)
def test_topics_are_well_formed_and_unique(site: str) -> None:
    msgs = discovery(site, discovery_prefix="ha/discovery")
    topics = [m.topic for m in msgs]
    assert len(set(topics)) == len(topics)
    for t in topics:
        m = CONFIG_TOPIC.match(t)
        assert m and m["prefix"] == "ha/discovery"
        assert m["node"] == f"dialogd_{slug(site)}"
        assert publish_topic_problem(t) is None


def test_entities_have_unique_ids_device_and_availability() -> None:
    topics = Topics("dialogd", "kitchen")
    unique_ids = []
    for msg in discovery():
        component, config = parsed(msg)
        assert "object_id" not in config  # the topic names the object, not the payload
        assert config["device"]["identifiers"] == ["dialogd_kitchen"]
        if component == "device_automation":
            assert not {"availability_topic", "availability", "unique_id"} & set(config)
            continue
        unique_ids.append(config["unique_id"])
        if config.get("state_topic") == topics.status:
            # The status sensor must be able to read `offline`: its own topic as its
            # availability would show `unavailable` instead.
            assert not {"availability_topic", "availability"} & set(config)
            continue
        assert config["availability_topic"] == topics.status
        assert (config["payload_available"], config["payload_not_available"]) == (
            "online",
            "offline",
        )
    assert len(set(unique_ids)) == len(unique_ids) == 6


def test_device_block() -> None:
    device = by_object("kitchen")["status"]["device"]
    assert device == {
        "identifiers": ["dialogd_kitchen"],
        "name": "dialogd kitchen",
        "manufacturer": "dialogd",
        "model": "dialogd",
        "sw_version": __version__,
    }


def test_entities_read_and_write_dialogd_topics() -> None:
    t = Topics("dialogd", "kitchen")
    e = by_object()
    assert e["status"]["state_topic"] == t.status
    assert e["last_request"]["state_topic"] == t.intent
    assert "value_json.text" in e["last_request"]["value_template"]
    assert e["last_intent"]["state_topic"] == e["last_intent"]["json_attributes_topic"] == t.intent
    assert e["last_intent"]["value_template"] == "{{ value_json.action }}"
    assert e["request"]["command_topic"] == t.text
    assert e["request"]["max"] == 255
    assert e["request"]["retain"] is False


def test_last_error_and_last_result_sensors() -> None:
    t = Topics("dialogd", "kitchen")
    e = by_object()
    assert e["last_error"]["state_topic"] == e["last_error"]["json_attributes_topic"] == t.error
    assert e["last_error"]["value_template"] == "{{ value_json.error }}"
    assert e["last_result"]["state_topic"] == t.result
    assert e["last_result"]["json_attributes_topic"] == t.result
    assert e["last_result"]["value_template"] == "{{ value_json.result }}"


def test_one_trigger_per_actuating_action_plus_query_and_chat() -> None:
    triggers = [
        c
        for comp, c in map(parsed, discovery())
        if comp == "device_automation" and c["type"] == "action"
    ]
    subtypes = [c["subtype"] for c in triggers]
    assert set(subtypes) == set(ACTUATING) | {"query", "chat"} == set(TRIGGER_ACTIONS)
    assert len(subtypes) == len(set(subtypes))  # type+subtype unique on the device
    for c in triggers:
        assert c["automation_type"] == "trigger"
        assert c["payload"] == c["subtype"]
        assert c["topic"] == Topics("dialogd", "kitchen").intent
        assert "value_json.action" in c["value_template"]
        assert "platform" not in c  # only in device-based discovery messages


def test_one_trigger_per_timer_event() -> None:
    triggers = [
        c
        for comp, c in map(parsed, discovery())
        if comp == "device_automation" and c["type"] == "timer"
    ]
    assert sorted(c["subtype"] for c in triggers) == ["cancelled", "finished", "started"]
    for c in triggers:
        assert c["topic"] == Topics("dialogd", "kitchen").timer
        assert c["payload"] == c["subtype"]
        assert c["value_template"] == "{{ value_json.event }}"


def test_triggers_only_fire_for_intents_to_act_on() -> None:
    template = by_object()["action_unlock"]["value_template"]
    assert "value_json.status" in template
    assert "'decided'" in template and "'confirmed'" in template
    assert "needs_confirmation" not in template


def test_discovery_is_stable() -> None:
    assert discovery() == discovery()


def test_removal_empties_every_topic() -> None:
    for prefix in ("homeassistant", "ha"):
        gone = removal("Living Room", prefix)
        assert [m.topic for m in gone] == [
            m.topic for m in discovery("Living Room", discovery_prefix=prefix)
        ]
        assert all(m.payload == b"" for m in gone)


@given(st.text(min_size=1, max_size=30).filter(lambda s: not set(s) & set("#+/\0")))
def test_any_site_gives_valid_configs(site: str) -> None:
    for msg in discovery(site):
        assert CONFIG_TOPIC.match(msg.topic), msg.topic
        component, config = parsed(msg)
        assert validate(component, config) == []


# --- validate refuses broken configs ----------------------------------------------------


def config_of(object_id: str) -> dict[str, Any]:
    return copy.deepcopy(by_object()[object_id])


def component_of(object_id: str) -> str:
    sensors = ("status", "last_request", "last_intent", "last_error", "last_result")
    if object_id in sensors:
        return "sensor"
    return "text" if object_id == "request" else "device_automation"


def without(config: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in keys}


BROKEN: list[tuple[str, str, Any, str]] = [
    # (object, key to change, new value or ... to delete, what the problem says)
    ("status", "state_topic", ..., "state_topic is required"),
    ("status", "state_topic", 5, "state_topic"),
    ("status", "state_topic", "a/#/b", "'#'"),
    ("status", "state_topic", "a/b+/c", "'+'"),
    ("status", "state_topic", "", "state_topic"),
    ("status", "entity_category", "config", "config entity"),
    ("last_error", "availability", [{"topic": "x"}], "must not be used together"),
    ("last_result", "availability_topic", ..., "payload_available without availability_topic"),
    ("status", "payload_not_available", "online", "the same"),
    ("status", "unique_id", ..., "only used with a unique_id"),
    ("status", "device", {"name": "x"}, "identifiers or connections"),
    ("status", "device", "dialogd", "device: must be an object"),
    ("status", "device", {"identifiers": ["x"], "colour": "red"}, "unknown key 'colour'"),
    ("status", "availabilty_topic", "x/y", "unknown key"),
    ("status", "qos", 3, "qos"),
    ("status", "qos", True, "qos"),
    ("status", "origin", {"sw_version": "1"}, "name is required"),
    ("last_intent", "json_attributes_topic", "a/#/c", "json_attributes_topic"),
    ("request", "command_topic", ..., "command_topic is required"),
    ("request", "command_topic", "dialogd/+/text", "wildcards"),
    ("request", "command_topic", "dialogd/#", "wildcards"),
    ("request", "max", 256, "max"),
    ("request", "min", 300, "min"),
    ("request", "mode", "multiline", "mode"),
    ("request", "retain", "no", "retain"),
    ("request", "pattern", "([", "regular expression"),
    ("action_turn_on", "automation_type", "action", "automation_type"),
    ("action_turn_on", "automation_type", ..., "automation_type is required"),
    ("action_turn_on", "topic", ..., "topic is required"),
    ("action_turn_on", "type", ..., "type is required"),
    ("action_turn_on", "subtype", ..., "subtype is required"),
    ("action_turn_on", "subtype", "", "subtype"),
    ("action_turn_on", "device", ..., "device is required"),
    ("action_turn_on", "device", {"name": "dialogd"}, "identifiers or connections"),
    ("action_turn_on", "device", {"connections": [["mac"]]}, "connections"),
    ("action_turn_on", "availability_topic", "dialogd/kitchen/status", "unknown key"),
    ("action_turn_on", "payload", 1, "payload"),
    ("action_turn_on", "platform", "mqtt", "platform"),
]


@pytest.mark.parametrize(("object_id", "key", "value", "expected"), BROKEN)
def test_validate_refuses_broken_configs(
    object_id: str, key: str, value: Any, expected: str
) -> None:
    config = config_of(object_id)
    config = without(config, key) if value is ... else {**config, key: value}
    problems = validate(component_of(object_id), config)
    assert problems, (object_id, key, value)
    assert any(expected in p for p in problems), problems


def test_validate_min_above_max() -> None:
    config = {**config_of("request"), "min": 200, "max": 100}
    assert any("min is larger than max" in p for p in validate("text", config))


def test_validate_unsupported_component() -> None:
    assert validate("light", {"command_topic": "x"}) == ["unsupported component 'light'"]


def test_validate_understands_abbreviations() -> None:
    config = {
        "~": "dialogd/kitchen",
        "name": "Status",
        "stat_t": "~/status",
        "uniq_id": "dialogd_kitchen_status",
        "dev": {"ids": "dialogd_kitchen", "mf": "dialogd"},
        "avty_t": "~/status",
        "pl_avail": "online",
        "pl_not_avail": "offline",
    }
    assert validate("sensor", config) == []
    assert validate("sensor", {**config, "stat_t": "~/+x"}) != []  # `~` expanded, then checked
    assert any("twice" in p for p in validate("sensor", {**config, "state_topic": "a"}))
    trigger = {
        "atype": "trigger",
        "t": "a/b",
        "type": "action",
        "stype": "x",
        "dev": {"ids": ["i"]},
    }
    assert validate("device_automation", trigger) == []


def test_topic_checks() -> None:
    assert subscribe_topic_problem("a/+/b/#") is None
    assert subscribe_topic_problem("#") is None
    assert subscribe_topic_problem("a/#/b") is not None
    assert subscribe_topic_problem("a/b#") is not None
    assert subscribe_topic_problem("a/\0") is not None
    assert publish_topic_problem("a/+/b") is not None
    assert publish_topic_problem("a/b") is None
    assert publish_topic_problem(None) is not None


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_validate_never_raises(config: dict[str, Any]) -> None:
    for component in ("sensor", "text", "device_automation"):
        assert isinstance(validate(component, config), list)
