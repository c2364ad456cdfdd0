"""Actuation: the exact messages each integration documents for each action.

zigbee2mqtt: JSON on <base>/<name>/set; Tasmota: cmnd/<topic>/<Command>; ESPHome:
<node>/<component>/<id>/command (lights JSON); Home Assistant discovery: the config's
topics, payloads and templates, with HA's defaults.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.config.home import Device
from daemon.core.vocabulary import COLORS, TYPES
from daemon.home.endpoint import Endpoint
from daemon.home.payloads import Publish, Unsupported, config_endpoint, messages_for, resolve
from daemon.home.state import DeviceState

Z2M = Endpoint(
    integration="zigbee2mqtt",
    command_topic="zigbee2mqtt/lamp/set",
    state_topic="zigbee2mqtt/lamp",
    options={"state_property": "state", "value_on": "ON", "value_off": "OFF"},
)
TASMOTA = Endpoint(integration="tasmota", command_topic="cmnd/bulb", state_topic="stat/bulb/RESULT")
ESPHOME_LIGHT = Endpoint(
    integration="esphome",
    command_topic="porch/light/lamp/command",
    state_topic="porch/light/lamp/state",
)


def esphome(component: str) -> Endpoint:
    base = f"node/{component}/thing"
    return Endpoint(
        integration="esphome", command_topic=f"{base}/command", state_topic=f"{base}/state"
    )


def ha(**options: Any) -> Endpoint:
    return Endpoint(
        integration="homeassistant",
        command_topic="home/dev/set",
        state_topic="home/dev/state",
        options=options,
    )


def sent(
    ep: Endpoint, action: str, value: Any = None, device_type: str = "light", **kw: Any
) -> list[tuple[str, str]]:
    return [
        (p.topic, p.payload.decode())
        for p in messages_for(ep, action, value, device_type=device_type, **kw)
    ]


def body(ep: Endpoint, action: str, value: Any = None, device_type: str = "light") -> Any:
    (publish,) = messages_for(ep, action, value, device_type=device_type)
    return json.loads(publish.payload)


# ----------------------------------------------------------------- zigbee2mqtt


def test_zigbee2mqtt_light() -> None:
    assert sent(Z2M, "turn_on") == [("zigbee2mqtt/lamp/set", '{"state":"ON"}')]
    assert body(Z2M, "turn_off") == {"state": "OFF"}
    assert body(Z2M, "set_brightness", 50) == {"state": "ON", "brightness": 127}
    assert body(Z2M, "set_brightness", 100) == {"state": "ON", "brightness": 254}
    assert body(Z2M, "set_brightness", 0) == {"state": "OFF"}  # 0 % is off
    assert body(Z2M, "set_color", "red") == {"state": "ON", "color": {"hex": "#FF0000"}}


def test_zigbee2mqtt_color_modes_and_multi_endpoint() -> None:
    xy = Z2M.model_copy(update={"options": {"color": "xy"}})
    assert body(xy, "set_color", "red")["color"] == {"x": 0.6401, "y": 0.33}
    hs = Z2M.model_copy(update={"options": {"color": "hs"}})
    assert body(hs, "set_color", "blue")["color"] == {"hue": 240, "saturation": 100}
    l1 = Z2M.model_copy(update={"options": {"state_property": "state_l1"}})
    assert body(l1, "turn_on", device_type="switch") == {"state_l1": "ON"}
    assert body(l1, "set_brightness", 50) == {"state_l1": "ON", "brightness_l1": 127}


def test_zigbee2mqtt_cover_lock_climate() -> None:
    assert body(Z2M, "open", device_type="cover") == {"state": "OPEN"}
    assert body(Z2M, "close", device_type="cover") == {"state": "CLOSE"}
    assert body(Z2M, "stop", device_type="cover") == {"state": "STOP"}
    assert body(Z2M, "set_position", 40, device_type="cover") == {"position": 40}
    lock = Z2M.model_copy(update={"options": {"state_property": "state"}})
    assert body(lock, "lock", device_type="lock") == {"state": "LOCK"}
    assert body(lock, "unlock", device_type="lock") == {"state": "UNLOCK"}
    assert body(Z2M, "set_temperature", 21, device_type="climate") == {
        "current_heating_setpoint": 21
    }
    assert body(Z2M, "turn_off", device_type="climate") == {"system_mode": "off"}
    fan = Z2M.model_copy(update={"options": {"fan_modes": ["low", "high"], "speeds": 2}})
    assert body(fan, "set_speed", 2, device_type="fan") == {"fan_mode": "high"}


# ----------------------------------------------------------------- tasmota


def test_tasmota() -> None:
    assert sent(TASMOTA, "turn_on") == [("cmnd/bulb/POWER", "ON")]
    assert sent(TASMOTA, "turn_off") == [("cmnd/bulb/POWER", "OFF")]
    assert sent(TASMOTA, "set_brightness", 50) == [("cmnd/bulb/Dimmer", "50")]
    assert sent(TASMOTA, "set_color", "red") == [("cmnd/bulb/Color", "#FF0000")]
    assert sent(TASMOTA, "open", device_type="cover") == [("cmnd/bulb/ShutterOpen", "")]
    assert sent(TASMOTA, "close", device_type="cover") == [("cmnd/bulb/ShutterClose", "")]
    assert sent(TASMOTA, "set_position", 30, device_type="cover") == [
        ("cmnd/bulb/ShutterPosition", "30")
    ]
    relay2 = TASMOTA.model_copy(update={"options": {"relay": 2}})
    assert sent(relay2, "turn_on", device_type="switch") == [("cmnd/bulb/POWER2", "ON")]
    with pytest.raises(Unsupported):
        messages_for(TASMOTA, "lock", None, device_type="lock")
    with pytest.raises(Unsupported):
        messages_for(TASMOTA, "set_temperature", 21, device_type="climate")


# ----------------------------------------------------------------- esphome


def test_esphome() -> None:
    assert sent(ESPHOME_LIGHT, "turn_on") == [("porch/light/lamp/command", '{"state":"ON"}')]
    assert body(ESPHOME_LIGHT, "turn_off") == {"state": "OFF"}
    assert body(ESPHOME_LIGHT, "set_brightness", 50) == {"state": "ON", "brightness": 128}
    assert body(ESPHOME_LIGHT, "set_color", "red") == {
        "state": "ON",
        "color": {"r": 255, "g": 0, "b": 0},
    }
    assert sent(esphome("switch"), "turn_on", device_type="switch") == [
        ("node/switch/thing/command", "ON")
    ]
    cover = esphome("cover")
    assert sent(cover, "open", device_type="cover") == [("node/cover/thing/command", "OPEN")]
    assert sent(cover, "close", device_type="cover") == [("node/cover/thing/command", "CLOSE")]
    assert sent(cover, "set_position", 25, device_type="cover") == [
        ("node/cover/thing/position/command", "25")
    ]
    lock = esphome("lock")
    assert sent(lock, "lock", device_type="lock") == [("node/lock/thing/command", "LOCK")]
    assert sent(lock, "unlock", device_type="lock") == [("node/lock/thing/command", "UNLOCK")]
    climate = esphome("climate")
    assert sent(climate, "set_temperature", 21, device_type="climate") == [
        ("node/climate/thing/target_temperature/command", "21")
    ]
    assert sent(climate, "turn_off", device_type="climate") == [
        ("node/climate/thing/mode/command", "off")
    ]


# ----------------------------------------------------------------- home assistant


def test_homeassistant_light_default_schema() -> None:
    ep = ha(brightness_command_topic="home/dev/bri/set", rgb_command_topic="home/dev/rgb/set")
    assert sent(ep, "turn_on") == [("home/dev/set", "ON")]
    assert sent(ep, "turn_off") == [("home/dev/set", "OFF")]
    # on_command_type "last" (the default): the brightness first, then the on payload.
    assert sent(ep, "set_brightness", 50) == [("home/dev/bri/set", "128"), ("home/dev/set", "ON")]
    assert sent(ep, "set_color", "red") == [("home/dev/rgb/set", "255,0,0"), ("home/dev/set", "ON")]
    scaled = ha(brightness_command_topic="b", brightness_scale=100, on_command_type="brightness")
    assert sent(scaled, "set_brightness", 50) == [("b", "50")]
    custom = ha(payload_on="1", payload_off="0")
    assert sent(custom, "turn_on") == [("home/dev/set", "1")]
    with pytest.raises(Unsupported):
        messages_for(ha(), "set_brightness", 50, device_type="light")


def test_homeassistant_light_json_schema() -> None:
    ep = ha(schema="json")
    assert body(ep, "turn_on") == {"state": "ON"}
    assert body(ep, "turn_off") == {"state": "OFF"}
    assert body(ep, "set_brightness", 50) == {"state": "ON", "brightness": 128}
    assert body(ep, "set_color", "red") == {"state": "ON", "color": {"r": 255, "g": 0, "b": 0}}
    assert body(ha(schema="json", brightness_scale=100), "set_brightness", 50)["brightness"] == 50


def test_homeassistant_other_platforms() -> None:
    assert sent(ha(), "turn_on", device_type="switch") == [("home/dev/set", "ON")]
    templated = ha(command_template='{"on": {{ (value == "ON") | lower }}}')
    assert sent(templated, "turn_on", device_type="switch") == [("home/dev/set", '{"on": true}')]
    assert sent(ha(), "open", device_type="cover") == [("home/dev/set", "OPEN")]
    assert sent(ha(payload_close="DOWN"), "close", device_type="cover") == [
        ("home/dev/set", "DOWN")
    ]
    cover = ha(set_position_topic="home/dev/pos")
    assert sent(cover, "set_position", 40, device_type="cover") == [("home/dev/pos", "40")]
    assert sent(ha(), "lock", device_type="lock") == [("home/dev/set", "LOCK")]
    assert sent(ha(), "unlock", device_type="lock") == [("home/dev/set", "UNLOCK")]
    climate = ha(temperature_command_topic="home/dev/temp", mode_command_topic="home/dev/mode")
    assert sent(climate, "set_temperature", 21, device_type="climate") == [("home/dev/temp", "21")]
    assert sent(climate, "turn_on", device_type="climate") == [("home/dev/mode", "heat")]
    assert sent(climate, "turn_off", device_type="climate") == [("home/dev/mode", "off")]
    valve = ha(reports_position=True)
    assert sent(valve, "open", device_type="valve") == [("home/dev/set", "100")]
    assert sent(valve, "set_position", 30, device_type="valve") == [("home/dev/set", "30")]
    assert sent(ha(), "open", device_type="valve") == [("home/dev/set", "OPEN")]
    assert sent(ha(), "start", device_type="vacuum") == [("home/dev/set", "start")]
    assert sent(ha(), "activate", device_type="scene") == [("home/dev/set", "ON")]
    button = ha(component="button")
    assert sent(button, "activate", device_type="scene") == [("home/dev/set", "PRESS")]


def test_homeassistant_fan_speed() -> None:
    fan = ha(percentage_command_topic="home/dev/pct", speed_range_min=1, speed_range_max=3)
    assert [sent(fan, "set_speed", n, device_type="fan") for n in (1, 2, 3)] == [
        [("home/dev/pct", "1")],
        [("home/dev/pct", "2")],
        [("home/dev/pct", "3")],
    ]
    percent = ha(percentage_command_topic="p")
    assert sent(percent, "set_speed", 3, device_type="fan") == [("p", "100")]


def test_broken_command_template_is_unsupported() -> None:
    with pytest.raises(Unsupported):
        messages_for(
            ha(command_template="{{ value | nosuchfilter }}"), "turn_on", None, device_type="switch"
        )


# ----------------------------------------------------------------- custom, relative, config


def test_custom_payloads() -> None:
    ep = Endpoint(
        integration="custom",
        command_topic="shed/heater",
        payloads={"turn_on": "1", "turn_off": "0", "set_temperature": "T={value}"},
    )
    assert sent(ep, "turn_on", device_type="climate") == [("shed/heater", "1")]
    assert sent(ep, "set_temperature", 21, device_type="climate") == [("shed/heater", "T=21")]
    with pytest.raises(Unsupported):
        messages_for(ep, "change_temperature", 1, device_type="climate")  # state unknown


def test_relative_actions_need_and_clamp_the_state() -> None:
    with pytest.raises(Unsupported, match="state unknown"):
        messages_for(Z2M, "change_brightness", 10, device_type="light")
    at = DeviceState(power=True, brightness=95)
    assert body_of(Z2M, "change_brightness", 10, at) == {"state": "ON", "brightness": 254}
    dim = DeviceState(power=True, brightness=5)
    assert resolve(Z2M, "change_brightness", -20, dim) == ("set_brightness", 1)
    assert resolve(Z2M, "change_brightness", -20, DeviceState(power=False)) == ("turn_off", None)
    assert resolve(Z2M, "change_temperature", 2, DeviceState(temperature=34.5)) == (
        "set_temperature",
        35,
    )
    assert resolve(Z2M, "change_speed", 5, DeviceState(power=True, speed=2)) == ("set_speed", 3)
    assert resolve(Z2M, "change_volume", -30, DeviceState(volume=20)) == ("set_volume", 0)


def body_of(ep: Endpoint, action: str, value: Any, current: DeviceState) -> Any:
    (publish,) = messages_for(ep, action, value, device_type="light", current=current)
    return json.loads(publish.payload)


def test_actions_outside_the_type_and_range_are_unsupported() -> None:
    with pytest.raises(Unsupported):
        messages_for(Z2M, "set_color", "red", device_type="switch")
    with pytest.raises(Unsupported):
        messages_for(Z2M, "set_brightness", 150, device_type="light")
    with pytest.raises(Unsupported):
        messages_for(Z2M, "set_color", "mauve", device_type="light")


def device(**kw: Any) -> Device:
    return Device.model_validate({"id": "lamp", "type": "light", "name": "lamp", **kw})


def test_config_endpoint() -> None:
    assert config_endpoint(device()) is None
    z = config_endpoint(device(integration="zigbee2mqtt", topic="Lamp 1"), "z2m")
    assert z is not None
    assert (z.command_topic, z.state_topic, z.availability_topic) == (
        "z2m/Lamp 1/set",
        "z2m/Lamp 1",
        "z2m/Lamp 1/availability",
    )
    t = config_endpoint(device(integration="tasmota", topic="bulb"))
    assert t is not None
    assert (t.command_topic, t.state_topic, t.availability_topic) == (
        "cmnd/bulb",
        "stat/bulb/RESULT",
        "tele/bulb/LWT",
    )
    assert (t.payload_available, t.payload_not_available) == ("Online", "Offline")
    e = config_endpoint(device(integration="esphome", topic="porch/light/lamp"))
    assert e is not None
    assert (e.command_topic, e.state_topic, e.availability_topic) == (
        "porch/light/lamp/command",
        "porch/light/lamp/state",
        "porch/status",
    )
    c = config_endpoint(
        device(integration="custom", command_topic="x/set", payloads={"turn_on": "on"})
    )
    assert c is not None and c.payloads == {"turn_on": "on"}
    with pytest.raises(ValueError):
        config_endpoint(device(integration="tasmota"))
    with pytest.raises(ValueError):
        config_endpoint(device(integration="zigbee2mqtt", topic="lamp/#"))


# ----------------------------------------------------------------- properties

ENDPOINTS = [
    Z2M,
    TASMOTA,
    ESPHOME_LIGHT,
    ha(brightness_command_topic="b/set", rgb_command_topic="rgb/set", set_position_topic="p"),
    ha(schema="json", brightness_scale=1000),
    Endpoint(integration="custom", command_topic="c/set", payloads={"set_brightness": "{value}"}),
]
ACTIONS = sorted({a for actions in TYPES.values() for a in actions})
VALUES = st.one_of(
    st.none(), st.integers(-1000, 1000), st.sampled_from(COLORS), st.text(max_size=8)
)
STATES = st.builds(
    DeviceState,
    power=st.none() | st.booleans(),
    brightness=st.none() | st.integers(0, 100),
    temperature=st.none() | st.floats(5, 95),
    speed=st.none() | st.integers(0, 3),
    volume=st.none() | st.integers(0, 100),
)


@given(
    st.sampled_from(ENDPOINTS),
    st.sampled_from(sorted(TYPES)),
    st.sampled_from(ACTIONS),
    VALUES,
    st.none() | STATES,
)
def test_messages_never_hold_wildcards(
    ep: Endpoint, device_type: str, action: str, value: Any, current: DeviceState | None
) -> None:
    try:
        out = messages_for(ep, action, value, device_type=device_type, current=current)
    except Unsupported:
        return
    for publish in out:
        assert isinstance(publish, Publish)
        assert publish.topic and not set("+#") & set(publish.topic)


@given(st.integers(-1000, 1000), st.sampled_from(ENDPOINTS[:5]))
def test_brightness_payloads_stay_in_range(value: int, ep: Endpoint) -> None:
    try:
        out = messages_for(ep, "set_brightness", value, device_type="light")
    except Unsupported:
        assert not 0 <= value <= 100
        return
    scale = {"zigbee2mqtt": 254, "tasmota": 100, "esphome": 255}.get(ep.integration, 255)
    scale = int(ep.options.get("brightness_scale", scale))
    for publish in out:
        text = publish.payload.decode()
        raw = json.loads(text).get("brightness") if text.startswith("{") else None
        if raw is None and text.isdigit():
            raw = int(text)
        if raw is not None:
            assert 0 < raw <= scale if value else raw == 0
