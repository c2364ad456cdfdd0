"""Discovery parsers: documented zigbee2mqtt and Home Assistant messages, bad input, and a
property that arbitrary input never raises nor yields an invalid device."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config.home import Device
from daemon.core.vocabulary import TYPES
from daemon.home.discovery import (
    MAX_PAYLOAD,
    Discovered,
    Parsed,
    ha_config_topics,
    ha_source,
    parse_ha_config,
    parse_zigbee2mqtt_devices,
    parse_zigbee2mqtt_groups,
)

# ------------------------------------------------------------------ zigbee2mqtt shapes

# The documented shapes (zigbee2mqtt.io "MQTT topics and messages", guide/usage/exposes):
# a Philips Hue white and colour bulb, an IKEA plug, a two-gang TuYa wall switch (one
# switch expose per endpoint), the documented coordinator, an unsupported device and a
# Xiaomi sensor; in tests/data/discovery/zigbee2mqtt_devices.json.
_Z2M = json.loads((Path(__file__).parent / "data/discovery/zigbee2mqtt_devices.json").read_text())
STATE, LINKQUALITY = _Z2M["state"], _Z2M["linkquality"]
HUE_BULB, IKEA_PLUG, TWO_GANG = _Z2M["hue_bulb"], _Z2M["ikea_plug"], _Z2M["two_gang"]
COORDINATOR, UNSUPPORTED, SENSOR = _Z2M["coordinator"], _Z2M["unsupported"], _Z2M["sensor"]


def z2m(*entries: Any, **kw: Any) -> Parsed:
    return parse_zigbee2mqtt_devices("zigbee2mqtt", json.dumps(list(entries)).encode(), **kw)


def by_key(p: Parsed) -> dict[str, Discovered]:
    return {d.key: d for d in p.devices}


def test_zigbee2mqtt_documented_devices() -> None:
    p = z2m(COORDINATOR, HUE_BULB, IKEA_PLUG, UNSUPPORTED, SENSOR, TWO_GANG)
    assert p.warnings == ()
    found = by_key(p)
    assert set(found) == {
        "zigbee2mqtt:0x0017880104e45517",
        "zigbee2mqtt:0x000d6ffffea2c3e4",
        "zigbee2mqtt:0xa4c138d2b1e8f001:left",
        "zigbee2mqtt:0xa4c138d2b1e8f001:right",
    }

    bulb = found["zigbee2mqtt:0x0017880104e45517"]
    assert bulb.origin == "zigbee2mqtt"
    assert bulb.device.id == "living_room_lamp"
    assert bulb.device.name == "Living Room Lamp"
    assert bulb.device.type == "light"
    assert bulb.device.color is True
    assert bulb.device.actions is None
    assert bulb.device.area is None and bulb.device.sensitive == []
    assert bulb.area_hints == ("Living room",) and bulb.suggested is False
    ep = bulb.endpoint
    assert ep.integration == "zigbee2mqtt"
    assert ep.command_topic == "zigbee2mqtt/living room/Living Room Lamp/set"
    assert ep.state_topic == "zigbee2mqtt/living room/Living Room Lamp"
    assert ep.availability_topic == "zigbee2mqtt/living room/Living Room Lamp/availability"
    assert ep.options["state_property"] == "state"
    assert (ep.options["value_on"], ep.options["value_off"]) == ("ON", "OFF")
    assert ep.options["brightness_max"] == 254
    assert ep.options["color"] == "xy"  # the first colour feature listed
    assert ep.options["color_temp"] is True
    assert ep.options["endpoint"] is None

    plug = found["zigbee2mqtt:0x000d6ffffea2c3e4"]
    assert (plug.device.id, plug.device.type, plug.device.name) == (
        "kettle_plug",
        "switch",
        "Kettle Plug",
    )
    assert plug.endpoint.command_topic == "zigbee2mqtt/Kettle Plug/set"

    left = found["zigbee2mqtt:0xa4c138d2b1e8f001:left"]
    assert left.device.name == "Hall Switch left"
    assert left.device.id == "hall_switch_left"
    assert left.endpoint.options["state_property"] == "state_left"
    assert left.endpoint.options["endpoint"] == "left"
    assert left.endpoint.command_topic == "zigbee2mqtt/Hall Switch/set"


def test_zigbee2mqtt_light_without_brightness_or_colour() -> None:
    onoff = {**HUE_BULB, "definition": {"exposes": [{"type": "light", "features": [STATE]}]}}
    (d,) = z2m(onoff).devices
    assert d.device.actions == ["turn_on", "turn_off"]
    assert d.device.color is False


def test_zigbee2mqtt_hs_first_cover_fan_lock_climate() -> None:
    feats = HUE_BULB["definition"]["exposes"][0]["features"]  # type: ignore[index]
    hs_first = {"type": "light", "features": [feats[0], feats[1], feats[4], feats[3]]}
    bulb = {**HUE_BULB, "definition": {"exposes": [hs_first]}}
    cover = {
        "ieee_address": "0x0000000000000002",
        "friendly_name": "Blind",
        "definition": {
            "exposes": [
                {
                    "type": "cover",
                    "features": [
                        {
                            "type": "enum",
                            "name": "state",
                            "property": "state",
                            "values": ["OPEN", "CLOSE", "STOP"],
                            "access": 3,
                        },
                        {
                            "type": "numeric",
                            "name": "position",
                            "property": "position",
                            "value_min": 0,
                            "value_max": 100,
                            "access": 7,
                        },
                    ],
                }
            ]
        },
    }
    fan = {
        "ieee_address": "0x0000000000000003",
        "friendly_name": "Ceiling Fan",
        "definition": {
            "exposes": [
                {
                    "type": "fan",
                    "features": [
                        {**STATE, "property": "fan_state"},
                        {
                            "type": "enum",
                            "name": "mode",
                            "property": "fan_mode",
                            "values": ["off", "low", "medium", "high", "on", "auto", "smart"],
                            "access": 7,
                        },
                    ],
                }
            ]
        },
    }
    lock = {
        "ieee_address": "0x0000000000000004",
        "friendly_name": "Front Door",
        "definition": {
            "exposes": [
                {
                    "type": "lock",
                    "features": [
                        {
                            "type": "binary",
                            "name": "state",
                            "property": "state",
                            "value_on": "LOCK",
                            "value_off": "UNLOCK",
                            "access": 7,
                        }
                    ],
                }
            ]
        },
    }
    trv = {
        "ieee_address": "0x0000000000000005",
        "friendly_name": "Radiator",
        "definition": {
            "exposes": [
                {
                    "type": "climate",
                    "features": [
                        {
                            "type": "numeric",
                            "name": "occupied_heating_setpoint",
                            "property": "occupied_heating_setpoint",
                            "value_min": 7,
                            "value_max": 30,
                            "access": 7,
                        },
                        {
                            "type": "numeric",
                            "name": "local_temperature",
                            "property": "local_temperature",
                            "access": 5,
                        },
                    ],
                }
            ]
        },
    }
    p = z2m(bulb, cover, fan, lock, trv)
    assert p.warnings == ()
    found = {d.device.name: d for d in p.devices}
    assert found["Living Room Lamp"].endpoint.options["color"] == "hs"
    assert found["Blind"].device.type == "cover"
    assert found["Blind"].device.actions is None
    assert found["Blind"].endpoint.options["position"] is True
    assert found["Ceiling Fan"].device.speeds == 3
    assert found["Ceiling Fan"].endpoint.options["fan_modes"] == ["low", "medium", "high"]
    assert found["Ceiling Fan"].endpoint.options["state_property"] == "fan_state"
    assert found["Front Door"].device.type == "lock"
    assert found["Front Door"].endpoint.options["value_on"] == "LOCK"
    radiator = found["Radiator"]
    assert radiator.device.actions == ["set_temperature", "change_temperature"]
    assert radiator.endpoint.options["setpoint_property"] == "occupied_heating_setpoint"


def test_zigbee2mqtt_cover_without_position() -> None:
    cover = {
        "ieee_address": "0x0000000000000002",
        "friendly_name": "Curtain",
        "definition": {
            "exposes": [
                {
                    "type": "cover",
                    "features": [
                        {
                            "type": "enum",
                            "name": "state",
                            "property": "state",
                            "values": ["OPEN", "CLOSE", "STOP"],
                            "access": 3,
                        }
                    ],
                }
            ]
        },
    }
    (d,) = z2m(cover).devices
    assert d.device.actions == ["open", "close", "stop"]


def test_zigbee2mqtt_disabled_and_silent_skips() -> None:
    disabled = {**IKEA_PLUG, "disabled": True}
    interviewing = {**IKEA_PLUG, "definition": None}
    assert z2m(disabled, interviewing, COORDINATOR, SENSOR, UNSUPPORTED) == Parsed((), ())


def test_zigbee2mqtt_names_and_ids() -> None:
    chinese = {**IKEA_PLUG, "friendly_name": "客厅/台灯"}
    long_name = {**HUE_BULB, "friendly_name": "Lamp\x07 " + "x" * 100}
    (a,) = z2m(chinese).devices
    assert a.device.name == "台灯"
    assert a.device.id == "switch_0x000d6ffffea2c3e4"
    assert a.endpoint.command_topic == "zigbee2mqtt/客厅/台灯/set"
    (b,) = z2m(long_name).devices
    assert len(b.device.name) <= 64 and "\x07" not in b.device.name
    assert b.device.name.startswith("Lamp x")


def test_zigbee2mqtt_bad_entries_one_warning_each() -> None:
    wildcard = {**IKEA_PLUG, "ieee_address": "0x0000000000000010", "friendly_name": "a/+/b"}
    empty_level = {**IKEA_PLUG, "ieee_address": "0x0000000000000011", "friendly_name": "a//b"}
    nul = {**IKEA_PLUG, "ieee_address": "0x0000000000000012", "friendly_name": "a\x00b"}
    bad_ieee = {**IKEA_PLUG, "ieee_address": 12}
    bad_name = {**IKEA_PLUG, "ieee_address": "0x0000000000000013", "friendly_name": ["x"]}
    bad_exposes = {**IKEA_PLUG, "ieee_address": "0x0000000000000014", "definition": {"exposes": 3}}
    no_state = {
        **IKEA_PLUG,
        "ieee_address": "0x0000000000000015",
        "friendly_name": "Stateless",
        "definition": {"exposes": [{"type": "switch", "features": []}]},
    }
    p = z2m(IKEA_PLUG, 7, wildcard, empty_level, nul, bad_ieee, bad_name, bad_exposes, no_state)
    assert [d.device.name for d in p.devices] == ["Kettle Plug"]
    assert len(p.warnings) == 8
    assert all(w.startswith("zigbee2mqtt/bridge/devices: ") for w in p.warnings)
    assert all("\n" not in w for w in p.warnings)


def test_zigbee2mqtt_duplicate_names_keep_the_first() -> None:
    twin = {**IKEA_PLUG, "ieee_address": "0x0000000000000020", "friendly_name": "kettle plug"}
    p = z2m(IKEA_PLUG, twin)
    assert [d.key for d in p.devices] == ["zigbee2mqtt:0x000d6ffffea2c3e4"]
    assert len(p.warnings) == 1 and "kettle plug" in p.warnings[0]


def test_zigbee2mqtt_same_id_different_names_get_unique_ids() -> None:
    other = {**IKEA_PLUG, "ieee_address": "0x0000000000000021", "friendly_name": "Kettle-Plug"}
    p = z2m(IKEA_PLUG, other)
    assert [d.device.id for d in p.devices] == ["kettle_plug", "kettle_plug_2"]


def test_zigbee2mqtt_max_devices() -> None:
    plugs = [
        {**IKEA_PLUG, "ieee_address": f"0x{i:016x}", "friendly_name": f"Plug {i}"} for i in range(5)
    ]
    p = z2m(*plugs, max_devices=3)
    assert [d.device.name for d in p.devices] == ["Plug 0", "Plug 1", "Plug 2"]
    assert len(p.warnings) == 1 and "3" in p.warnings[0]


def test_zigbee2mqtt_topic_rules() -> None:
    p = z2m(IKEA_PLUG, allowed=["zigbee2mqtt/"], forbidden=["dialogd/"])
    assert len(p.devices) == 1
    p = z2m(IKEA_PLUG, allowed=["cmnd/"])
    assert p.devices == () and len(p.warnings) == 1
    p = parse_zigbee2mqtt_devices(
        "dialogd", json.dumps([IKEA_PLUG]).encode(), forbidden=["dialogd/"]
    )
    assert p.devices == () and len(p.warnings) == 1


def test_zigbee2mqtt_bad_payloads() -> None:
    for payload in (
        b"\xff\xfe",
        b"{not json",
        b'{"devices": []}',
        b"NaN",
        b"[" * 100_000,
        b"[" * 60_000,  # deep nesting under the size limit
        b" " * (MAX_PAYLOAD + 1),
    ):
        p = parse_zigbee2mqtt_devices("zigbee2mqtt", payload)
        assert p.devices == () and len(p.warnings) == 1, payload[:20]


def test_zigbee2mqtt_groups() -> None:
    groups = [
        {
            "id": 1,
            "friendly_name": "Living Room",
            "scenes": [{"id": 1, "name": "Scene 1"}],
            "members": [{"ieee_address": "0x0017880104e45517", "endpoint": 11}],
        },
        {
            "id": 2,
            "friendly_name": "upstairs/All Lights",
            "members": [
                {"ieee_address": "0x0017880104e45517", "endpoint": 11},
                {"ieee_address": "0x000d6ffffea2c3e4", "endpoint": 1},
            ],
        },
        {"id": 3, "friendly_name": 5, "members": []},
        "junk",
    ]
    assert parse_zigbee2mqtt_groups(json.dumps(groups).encode()) == {
        "0x0017880104e45517": ("Living Room", "All Lights"),
        "0x000d6ffffea2c3e4": ("All Lights",),
    }
    assert parse_zigbee2mqtt_groups(b"{}") == {}
    assert parse_zigbee2mqtt_groups(b"\xff") == {}


# -------------------------------------------------------------- Home Assistant shapes


def ha(topic: str, config: Any, **kw: Any) -> Parsed:
    return parse_ha_config(topic, json.dumps(config).encode(), **kw)


def only(p: Parsed) -> Discovered:
    assert p.warnings == ()
    (d,) = p.devices
    return d


def test_ha_subscriptions() -> None:
    assert ha_config_topics("homeassistant") == [
        "homeassistant/+/+/config",
        "homeassistant/+/+/+/config",
    ]


def test_ha_default_schema_light() -> None:
    d = only(
        ha(
            "homeassistant/light/kitchen/config",
            {
                "name": "Kitchen Light",
                "unique_id": "kitchen_light_01",
                "command_topic": "home/kitchen/light/set",
                "state_topic": "home/kitchen/light/state",
                "brightness_command_topic": "home/kitchen/light/brightness/set",
                "brightness_state_topic": "home/kitchen/light/brightness",
                "brightness_scale": 100,
                "rgb_command_topic": "home/kitchen/light/rgb/set",
                "payload_on": "ON",
                "payload_off": "OFF",
            },
        )
    )
    assert d.key == "homeassistant:light/kitchen"
    assert d.origin == "homeassistant"
    assert (d.device.id, d.device.type, d.device.name) == (
        "kitchen_light",
        "light",
        "Kitchen Light",
    )
    assert d.device.color is True and d.device.actions is None
    ep = d.endpoint
    assert ep.integration == "homeassistant"
    assert ep.command_topic == "home/kitchen/light/set"
    assert ep.state_topic == "home/kitchen/light/state"
    assert ep.availability_topic is None
    assert ep.options["brightness_scale"] == 100
    assert ep.options["brightness_command_topic"] == "home/kitchen/light/brightness/set"
    assert ep.options["component"] == "light"
    assert "name" not in ep.options and "command_topic" not in ep.options
    assert "home/kitchen/light/brightness" in ep.topics()


def test_ha_onoff_light_and_light_without_command_topic() -> None:
    d = only(ha("homeassistant/light/porch/config", {"name": "Porch", "cmd_t": "porch/set"}))
    assert d.device.actions == ["turn_on", "turn_off"] and d.device.color is False
    assert ha("homeassistant/light/x/config", {"name": "X", "stat_t": "x/state"}) == Parsed((), ())


def test_ha_json_schema_light_with_abbreviations_and_base() -> None:
    # home-assistant.io/integrations/mqtt, "Using abbreviations and base topic".
    d = only(
        ha(
            "homeassistant/light/kitchen/config",
            {
                "~": "homeassistant/light/kitchen",
                "name": "Kitchen",
                "uniq_id": "kitchen_light",
                "cmd_t": "~/set",
                "stat_t": "~/state",
                "schema": "json",
                "brightness": True,
            },
        )
    )
    assert d.endpoint.command_topic == "homeassistant/light/kitchen/set"
    assert d.endpoint.state_topic == "homeassistant/light/kitchen/state"
    assert d.endpoint.options["schema"] == "json"
    assert d.device.actions is None and d.device.color is False
    modes = ha(
        "homeassistant/light/bed/config",
        {"name": "Bed", "cmd_t": "bed/set", "schema": "json", "sup_clrm": ["xy", "color_temp"]},
    )
    assert only(modes).device.color is True


def test_ha_switch_cover_lock() -> None:
    switch = only(
        ha(
            "homeassistant/switch/irrigation/config",
            {
                "name": "garden",
                "command_topic": "homeassistant/switch/irrigation/set",
                "state_topic": "homeassistant/switch/irrigation/state",
            },
        )
    )
    assert (switch.device.type, switch.device.id, switch.device.actions) == (
        "switch",
        "garden",
        None,
    )
    cover = only(
        ha(
            "homeassistant/cover/garage/door/config",
            {
                "name": "Garage door",
                "device_class": "garage",
                "command_topic": "garage/door/set",
                "state_topic": "garage/door/state",
                "position_topic": "garage/door/position",
                "set_position_topic": "garage/door/set_position",
                "payload_open": "OPEN",
                "payload_close": "CLOSE",
                "payload_stop": "STOP",
                "position_open": 100,
                "position_closed": 0,
            },
        )
    )
    assert cover.key == "homeassistant:cover/garage/door"
    assert cover.device.type == "cover" and cover.device.actions is None
    assert cover.endpoint.options["device_class"] == "garage"
    assert cover.endpoint.options["set_position_topic"] == "garage/door/set_position"
    no_stop = only(
        ha(
            "homeassistant/cover/shed/config",
            {"name": "Shed door", "cmd_t": "shed/set", "pl_stop": None},
        )
    )
    assert no_stop.device.actions == ["open", "close"]
    lock = only(
        ha(
            "homeassistant/lock/frontdoor/config",
            {
                "name": "Front door",
                "command_topic": "frontdoor/lock/set",
                "state_topic": "frontdoor/lock/state",
                "payload_lock": "LOCK",
                "payload_unlock": "UNLOCK",
                "availability": [
                    {"topic": "frontdoor/status", "payload_available": "up"},
                    {"topic": "bridge/status"},
                ],
            },
        )
    )
    assert lock.device.type == "lock" and lock.device.sensitive == []
    assert lock.endpoint.availability_topic == "frontdoor/status"
    assert lock.endpoint.payload_available == "up"
    assert lock.endpoint.payload_not_available == "offline"


def test_ha_other_types() -> None:
    fan = only(
        ha(
            "homeassistant/fan/bedroom/config",
            {
                "name": "Bedroom fan",
                "cmd_t": "fan/set",
                "pct_cmd_t": "fan/speed/set",
                "spd_rng_min": 1,
                "spd_rng_max": 4,
            },
        )
    )
    assert (fan.device.type, fan.device.speeds) == ("fan", 4)
    assert fan.endpoint.options["speeds"] == 4
    button = only(ha("homeassistant/button/doorbell/config", {"name": "Chime", "cmd_t": "d/b"}))
    assert button.device.type == "scene"
    assert button.endpoint.options["component"] == "button"
    climate = only(
        ha(
            "homeassistant/climate/hvac/config",
            {"name": "Study", "mode_cmd_t": "hvac/mode/set", "temp_cmd_t": "hvac/temp/set"},
        )
    )
    assert climate.device.actions is None
    assert climate.endpoint.command_topic == "hvac/mode/set"
    vacuum = only(ha("homeassistant/vacuum/robo/config", {"name": "Robo", "cmd_t": "robo/cmd"}))
    assert vacuum.device.actions == ["start", "stop", "return_to_base"]
    valve = only(
        ha(
            "homeassistant/valve/water/config",
            {"name": "Main water", "cmd_t": "water/set", "reports_position": True},
        )
    )
    assert valve.device.type == "valve" and valve.device.actions is None


def test_ha_names() -> None:
    dev = {"identifiers": ["ea334450945afc"], "name": "Kitchen", "suggested_area": "Kitchen"}
    d = only(ha("homeassistant/switch/k1/config", {"name": "Kettle", "cmd_t": "k/s", "dev": dev}))
    assert d.device.name == "Kitchen Kettle"
    assert d.area_hints == ("Kitchen",) and d.suggested is True
    d = only(ha("homeassistant/switch/k2/config", {"name": None, "cmd_t": "k/s", "dev": dev}))
    assert d.device.name == "Kitchen"
    d = only(ha("homeassistant/switch/k3/config", {"name": "kitchen", "cmd_t": "k/s", "dev": dev}))
    assert d.device.name == "Kitchen"
    d = only(ha("homeassistant/switch/k4/config", {"cmd_t": "k/s"}))
    assert d.device.name == "k4"
    d = only(
        ha("homeassistant/switch/k5/config", {"name": "客厅灯", "uniq_id": "AB-12", "cmd_t": "k/s"})
    )
    assert (d.device.name, d.device.id) == ("客厅灯", "switch_ab_12")


def test_ha_device_based_discovery() -> None:
    # home-assistant.io/integrations/mqtt "Device discovery payload", with a light and a
    # switch added beside its two sensors, abbreviations and a base topic.
    config = {
        "dev": {
            "ids": "ea334450945afc",
            "name": "Kitchen",
            "mf": "Bla electronics",
            "mdl": "xya",
            "sw": "1.0",
            "sn": "ea334450945afc",
            "hw": "1.0rev2",
            "sa": "Kitchen",
        },
        "o": {"name": "bla2mqtt", "sw": "2.1", "url": "https://bla2mqtt.example.com/support"},
        "~": "bla/kitchen",
        "avty_t": "~/availability",
        "cmps": {
            "some_unique_component_id1": {
                "p": "sensor",
                "device_class": "temperature",
                "unit_of_measurement": "°C",
                "value_template": "{{ value_json.temperature}}",
                "unique_id": "temp01ae_t",
            },
            "some_unique_id2": {
                "p": "sensor",
                "device_class": "humidity",
                "unit_of_measurement": "%",
                "value_template": "{{ value_json.humidity}}",
                "unique_id": "temp01ae_h",
            },
            "ceiling": {
                "p": "light",
                "name": "Ceiling",
                "uniq_id": "kitchen_ceiling",
                "cmd_t": "~/ceiling/set",
                "stat_t": "~/ceiling/state",
                "bri_cmd_t": "~/ceiling/brightness/set",
            },
            "kettle": {"p": "switch", "name": "Kettle", "cmd_t": "~/kettle/set"},
            "bad": {"p": "toaster", "cmd_t": "x"},
        },
        "stat_t": "~/state",
        "qos": 2,
    }
    p = ha("homeassistant/device/ea334450945afc/config", config)
    assert len(p.warnings) == 1 and "toaster" in p.warnings[0]
    found = by_key(p)
    assert set(found) == {
        "homeassistant:device/ea334450945afc#ceiling",
        "homeassistant:device/ea334450945afc#kettle",
    }
    light = found["homeassistant:device/ea334450945afc#ceiling"]
    assert (light.device.name, light.device.id) == ("Kitchen Ceiling", "kitchen_ceiling")
    assert light.endpoint.command_topic == "bla/kitchen/ceiling/set"
    assert light.endpoint.state_topic == "bla/kitchen/ceiling/state"
    assert light.endpoint.availability_topic == "bla/kitchen/availability"
    assert (
        light.endpoint.options["brightness_command_topic"] == "bla/kitchen/ceiling/brightness/set"
    )
    assert light.endpoint.options["qos"] == 2
    assert light.area_hints == ("Kitchen",) and light.suggested
    kettle = found["homeassistant:device/ea334450945afc#kettle"]
    assert kettle.endpoint.state_topic == "bla/kitchen/state"  # the shared one
    assert ha_source("homeassistant/device/ea334450945afc/config") == (
        "homeassistant:device/ea334450945afc"
    )


def test_ha_removal_and_silent_components() -> None:
    assert parse_ha_config("homeassistant/light/kitchen/config", b"") == Parsed((), ())
    sensor = {"name": "T", "stat_t": "t", "unit_of_meas": "°C"}
    assert ha("homeassistant/sensor/t/config", sensor) == Parsed((), ())
    assert parse_ha_config("homeassistant/binary_sensor/t/config", b"\xff") == Parsed((), ())
    unknown = ha("homeassistant/toaster/t/config", {"cmd_t": "x"})
    assert unknown.devices == () and len(unknown.warnings) == 1


def test_ha_bad_input_one_warning_each() -> None:
    topic = "homeassistant/switch/s/config"
    cases: list[tuple[str, bytes]] = [
        (topic, b"x" * (MAX_PAYLOAD + 1)),
        (topic, b"\xc3\x28"),
        (topic, b'{"name": '),
        (topic, b'["a list"]'),
        (topic, json.dumps({"name": "S"}).encode()),  # no command topic
        (topic, json.dumps({"name": "S", "cmd_t": 5}).encode()),
        (topic, json.dumps({"name": ["S"], "cmd_t": "s/set"}).encode()),
        (topic, json.dumps({"name": "S", "cmd_t": "s/+/set"}).encode()),
        (topic, json.dumps({"name": "S", "cmd_t": "s/#"}).encode()),
        (topic, json.dumps({"name": "S", "cmd_t": "s//set"}).encode()),
        (topic, json.dumps({"name": "S", "cmd_t": "s/set\x00"}).encode()),
        (topic, json.dumps({"name": "S", "cmd_t": "/s/set"}).encode()),
        (topic, json.dumps({"name": "S", "cmd_t": "s/set", "stat_t": "a/+"}).encode()),
        (topic, json.dumps({"name": "S", "cmd_t": "s/set", "avty": "nope"}).encode()),
        (topic, json.dumps({"name": "S", "cmd_t": "s", "dev": {"sa": 3}}).encode()),
        (topic, json.dumps({"name": "S", "cmd_t": "dialogd/x/set"}).encode()),
        ("homeassistant/switch/a b/config", json.dumps({"cmd_t": "s"}).encode()),
        ("elsewhere/switch/s/config", json.dumps({"cmd_t": "s"}).encode()),
        ("homeassistant/device/d/config", json.dumps({"cmps": []}).encode()),
    ]
    for t, payload in cases:
        p = parse_ha_config(t, payload, forbidden=["dialogd/"])
        assert p.devices == () and len(p.warnings) == 1, (t, payload[:60], p.warnings)
        assert "\n" not in p.warnings[0]


def test_ha_allowed_prefixes() -> None:
    config = {"name": "S", "cmd_t": "cmnd/s/POWER", "stat_t": "stat/s/RESULT"}
    assert len(ha("homeassistant/switch/s/config", config, allowed=["cmnd/", "stat/"]).devices)
    p = ha("homeassistant/switch/s/config", config, allowed=["cmnd/"])
    assert p.devices == () and len(p.warnings) == 1


def test_ha_duplicate_names_in_one_device_message() -> None:
    config = {
        "dev": {"ids": "x", "name": "Desk"},
        "cmps": {
            "a": {"p": "switch", "cmd_t": "desk/a/set"},
            "b": {"p": "switch", "cmd_t": "desk/b/set"},
        },
    }
    p = ha("homeassistant/device/desk/config", config)
    assert [d.key for d in p.devices] == ["homeassistant:device/desk#a"]
    assert len(p.warnings) == 1


# ------------------------------------------------------------------------- properties

FORBIDDEN = ("dialogd/",)

HA_KEYS = [
    "name", "cmd_t", "stat_t", "avty_t", "avty", "~", "dev", "o", "p", "cmps", "schema",
    "bri_cmd_t", "set_pos_t", "pct_cmd_t", "mode_cmd_t", "temp_cmd_t", "pow_cmd_t",
    "uniq_id", "pl_on", "pl_avail", "supported_features", "sup_clrm", "spd_rng_max",
    "brightness", "reports_position", "topic", "sa", "ids", "modes",
]  # fmt: skip
Z2M_KEYS = [
    "ieee_address", "friendly_name", "type", "supported", "disabled", "definition",
    "exposes", "features", "name", "property", "value_on", "value_off", "values",
    "endpoint", "access", "value_max", "description",
]  # fmt: skip

topicish = st.text(alphabet="ab~/+#\x00 é客", max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=False), topicish
)


def json_like(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from(keys) | st.text(max_size=4), inner, max_size=6),
        ),
        max_leaves=30,
    )


def payloads(keys: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=64),
        json_like(keys).map(lambda v: json.dumps(v).encode()),
    )


ha_topics = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda c, n, o: "/".join(["homeassistant", c, *n, o, "config"]),
        st.sampled_from([*TYPES, "device", "button", "sensor", "toaster", "a+b"]),
        st.lists(st.sampled_from(["node", "x-1", ""]), max_size=1),
        st.sampled_from(["obj", "o_2", "", "#"]),
    ),
)


def assert_sound(p: Parsed) -> None:
    assert isinstance(p, Parsed)
    assert all(isinstance(w, str) and "\n" not in w for w in p.warnings)
    names = [d.device.name.casefold() for d in p.devices]
    assert len(set(names)) == len(names)
    for d in p.devices:
        Device.model_validate(d.device.model_dump())
        assert d.device.type in TYPES
        assert d.device.area is None and d.device.sensitive == []
        ep = d.endpoint
        topics = [ep.command_topic, *ep.topics()]
        topics += [v for k, v in ep.options.items() if k.endswith("topic")]
        for t in topics:
            if t is None:
                continue
            assert isinstance(t, str)
            assert not any(c in t for c in "+#\x00"), t
            assert "" not in t.split("/"), t
            assert not t.startswith(FORBIDDEN)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=ha_topics, payload=payloads(HA_KEYS))
def test_ha_never_raises(topic: str, payload: bytes) -> None:
    assert_sound(parse_ha_config(topic, payload, forbidden=FORBIDDEN))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(["zigbee2mqtt", "z/b", "a+b", "dialogd"]), payload=payloads(Z2M_KEYS))
def test_zigbee2mqtt_never_raises(base: str, payload: bytes) -> None:
    assert_sound(parse_zigbee2mqtt_devices(base, payload, forbidden=FORBIDDEN, max_devices=3))
    assert isinstance(parse_zigbee2mqtt_groups(payload), dict)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.one_of(st.none(), st.text(max_size=80)),
    cmd=topicish,
    extra=st.dictionaries(st.sampled_from(HA_KEYS), json_like(HA_KEYS), max_size=4),
    component=st.sampled_from(["light", "switch", "cover", "fan", "lock", "climate", "vacuum"]),
)
def test_ha_mutated_documented_configs(
    name: str | None, cmd: str, extra: dict[str, Any], component: str
) -> None:
    config = {"name": name, "cmd_t": cmd, "stat_t": "a/state", **extra}
    assert_sound(ha(f"homeassistant/{component}/obj/config", config, forbidden=FORBIDDEN))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(max_size=80),
    mutate=st.dictionaries(st.sampled_from(Z2M_KEYS), json_like(Z2M_KEYS), max_size=3),
)
def test_zigbee2mqtt_mutated_documented_devices(name: str, mutate: dict[str, Any]) -> None:
    entries = [{**HUE_BULB, "friendly_name": name, **mutate}, IKEA_PLUG, TWO_GANG]
    assert_sound(z2m(*entries, forbidden=FORBIDDEN))
