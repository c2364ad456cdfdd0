"""State: reading what devices say (documented state and availability messages), and
what a state means for a command (satisfies, already). Payloads are untrusted: no
reader raises, whatever the bytes."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from daemon.home.endpoint import Endpoint
from daemon.home.state import (
    DeviceState,
    already,
    parse_availability,
    parse_state,
    satisfies,
    state_topics,
)

Z2M = Endpoint(
    integration="zigbee2mqtt",
    command_topic="zigbee2mqtt/lamp/set",
    state_topic="zigbee2mqtt/lamp",
    availability_topic="zigbee2mqtt/lamp/availability",
    options={"state_property": "state", "value_on": "ON", "value_off": "OFF"},
)
TASMOTA = Endpoint(
    integration="tasmota",
    command_topic="cmnd/bulb",
    state_topic="stat/bulb/RESULT",
    availability_topic="tele/bulb/LWT",
    payload_available="Online",
    payload_not_available="Offline",
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
        availability_topic="home/dev/avail",
        options=options,
    )


def parse(ep: Endpoint, topic: str, payload: str, device_type: str = "light") -> Any:
    return parse_state(ep, topic, payload.encode(), device_type=device_type)


# ----------------------------------------------------------------- state messages


def test_zigbee2mqtt_state() -> None:
    msg = '{"state":"ON","brightness":127,"color":{"x":0.6401,"y":0.33},"linkquality":80}'
    assert parse(Z2M, "zigbee2mqtt/lamp", msg) == DeviceState(
        power=True, brightness=50, color=(255, 0, 0)
    )
    assert parse(Z2M, "zigbee2mqtt/lamp", '{"state":"OFF"}') == DeviceState(power=False)
    assert parse(Z2M, "zigbee2mqtt/lamp", '{"linkquality":80}') is None  # says nothing
    assert parse(Z2M, "zigbee2mqtt/other", '{"state":"ON"}') is None
    cover = '{"position":40,"state":"OPEN"}'
    assert parse(Z2M, "zigbee2mqtt/lamp", cover, "cover") == DeviceState(position=40, open=True)
    lock = '{"state":"LOCK","lock_state":"locked"}'
    assert parse(Z2M, "zigbee2mqtt/lamp", lock, "lock") == DeviceState(locked=True)
    unlocked = '{"state":"UNLOCK","lock_state":"unlocked"}'
    assert parse(Z2M, "zigbee2mqtt/lamp", unlocked, "lock") == DeviceState(locked=False)
    climate = '{"current_heating_setpoint":21.5,"system_mode":"heat"}'
    assert parse(Z2M, "zigbee2mqtt/lamp", climate, "climate") == DeviceState(
        power=True, temperature=21.5
    )


def test_tasmota_state() -> None:
    result = '{"POWER":"ON","Dimmer":40,"Color":"FF0000"}'
    assert parse(TASMOTA, "stat/bulb/RESULT", result) == DeviceState(
        power=True, brightness=40, color=(255, 0, 0)
    )
    assert parse(TASMOTA, "stat/bulb/POWER", "OFF", "switch") == DeviceState(power=False)
    tele = '{"Time":"2024-01-01T00:00:00","POWER":"ON","Dimmer":100,"Wifi":{"RSSI":80}}'
    assert parse(TASMOTA, "tele/bulb/STATE", tele) == DeviceState(power=True, brightness=100)
    shutter = '{"Shutter1":{"Position":30,"Direction":1,"Target":60}}'
    assert parse(TASMOTA, "stat/bulb/RESULT", shutter, "cover") == DeviceState(
        position=30, open=True
    )
    assert parse(TASMOTA, "stat/other/RESULT", result) is None


def test_esphome_state() -> None:
    light = esphome("light")
    msg = '{"state":"ON","brightness":128,"color_mode":"rgb","color":{"r":0,"g":0,"b":255}}'
    assert parse(light, "node/light/thing/state", msg) == DeviceState(
        power=True, brightness=50, color=(0, 0, 255)
    )
    switch = esphome("switch")
    assert parse(switch, "node/switch/thing/state", "ON", "switch") == DeviceState(power=True)
    assert parse(switch, "node/switch/thing/state", "OFF", "switch") == DeviceState(power=False)
    cover = esphome("cover")
    assert parse(cover, "node/cover/thing/state", "open", "cover") == DeviceState(open=True)
    assert parse(cover, "node/cover/thing/state", "closed", "cover") == DeviceState(open=False)
    assert parse(cover, "node/cover/thing/position/state", "75", "cover") == DeviceState(
        position=75
    )
    lock = esphome("lock")
    assert parse(lock, "node/lock/thing/state", "LOCKED", "lock") == DeviceState(locked=True)
    assert parse(lock, "node/lock/thing/state", "UNLOCKED", "lock") == DeviceState(locked=False)


def test_homeassistant_default_schema() -> None:
    ep = ha(brightness_state_topic="home/dev/bri", rgb_state_topic="home/dev/rgb")
    assert parse(ep, "home/dev/state", "ON") == DeviceState(power=True)
    assert parse(ep, "home/dev/state", "OFF") == DeviceState(power=False)
    assert parse(ep, "home/dev/bri", "128") == DeviceState(brightness=50)
    assert parse(ep, "home/dev/rgb", "255,0,0") == DeviceState(color=(255, 0, 0))
    templated = ha(state_value_template="{{ value_json.power }}")
    assert parse(templated, "home/dev/state", '{"power":"ON"}') == DeviceState(power=True)
    broken = ha(state_value_template="{{ value_json.power | nosuchfilter }}")
    assert parse(broken, "home/dev/state", '{"power":"ON"}') is None


def test_homeassistant_json_schema() -> None:
    ep = ha(schema="json")
    msg = '{"state":"ON","brightness":255,"color":{"r":0,"g":255,"b":0}}'
    assert parse(ep, "home/dev/state", msg) == DeviceState(
        power=True, brightness=100, color=(0, 255, 0)
    )


def test_homeassistant_cover_lock_fan_climate() -> None:
    cover = ha(position_topic="home/dev/pos")
    assert parse(cover, "home/dev/state", "open", "cover") == DeviceState(open=True)
    assert parse(cover, "home/dev/state", "closing", "cover") == DeviceState(open=False)
    assert parse(cover, "home/dev/pos", "60", "cover") == DeviceState(position=60)
    assert parse(ha(), "home/dev/state", "LOCKED", "lock") == DeviceState(locked=True)
    assert parse(ha(), "home/dev/state", "UNLOCKED", "lock") == DeviceState(locked=False)
    valve = ha(reports_position=True)
    assert parse(valve, "home/dev/state", '{"state":"opening","position":10}', "valve") == (
        DeviceState(open=True, position=10)
    )
    fan = ha(percentage_state_topic="home/dev/pct")
    assert parse(fan, "home/dev/pct", "66", "fan") == DeviceState(power=True, speed=2)
    climate = ha(temperature_state_topic="home/dev/temp", mode_state_topic="home/dev/mode")
    assert parse(climate, "home/dev/temp", "21.5", "climate") == DeviceState(temperature=21.5)
    assert parse(climate, "home/dev/mode", "off", "climate") == DeviceState(power=False)


def test_custom_state() -> None:
    ep = Endpoint(
        integration="custom",
        command_topic="shed/set",
        state_topic="shed/state",
        payloads={"turn_on": "1", "turn_off": "0"},
    )
    assert parse(ep, "shed/state", "1", "switch") == DeviceState(power=True)
    assert parse(ep, "shed/state", "off", "switch") == DeviceState(power=False)
    assert parse(ep, "shed/state", '{"state":"ON","brightness":30}') == DeviceState(
        power=True, brightness=30
    )


# ----------------------------------------------------------------- availability


def test_availability_shapes() -> None:
    avail = "zigbee2mqtt/lamp/availability"
    assert parse_availability(Z2M, avail, b'{"state":"online"}') is True
    assert parse_availability(Z2M, avail, b'{"state":"offline"}') is False
    assert parse_availability(Z2M, avail, b"online") is True  # legacy plain payload
    assert parse_availability(Z2M, "zigbee2mqtt/lamp", b"online") is None
    assert parse_availability(TASMOTA, "tele/bulb/LWT", b"Online") is True
    assert parse_availability(TASMOTA, "tele/bulb/LWT", b"Offline") is False
    light = esphome("light")
    assert parse_availability(light, "node/status", b"online") is True
    assert parse_availability(light, "node/status", b"offline") is False
    assert parse_availability(ha(), "home/dev/avail", b"online") is True
    assert parse_availability(ha(), "home/dev/avail", b"maybe") is None
    templated = ha(availability_template="{{ value_json.status }}")
    assert parse_availability(templated, "home/dev/avail", b'{"status":"offline"}') is False


def test_state_topics() -> None:
    assert state_topics(Z2M) == ["zigbee2mqtt/lamp", "zigbee2mqtt/lamp/availability"]
    assert state_topics(TASMOTA) == [
        "stat/bulb/RESULT",
        "stat/bulb/POWER",
        "tele/bulb/STATE",
        "tele/bulb/SENSOR",
        "tele/bulb/LWT",
    ]
    assert state_topics(esphome("cover")) == [
        "node/cover/thing/state",
        "node/cover/thing/position/state",
        "node/cover/thing/speed_level/state",
        "node/status",
    ]
    ep = ha(brightness_state_topic="home/dev/bri", position_topic="home/dev/pos")
    assert state_topics(ep) == ["home/dev/state", "home/dev/bri", "home/dev/pos", "home/dev/avail"]


# ----------------------------------------------------------------- meaning


def test_satisfies() -> None:
    on = DeviceState(power=True, brightness=50, color=(255, 0, 0))
    assert satisfies(on, "turn_on", None, device_type="light") is True
    assert satisfies(on, "turn_off", None, device_type="light") is False
    assert satisfies(on, "set_brightness", 50, device_type="light") is True
    assert satisfies(on, "set_brightness", 80, device_type="light") is False
    assert satisfies(on, "set_color", "red", device_type="light") is True
    assert satisfies(on, "set_color", "blue", device_type="light") is False
    assert satisfies(DeviceState(), "turn_on", None, device_type="light") is None
    assert satisfies(DeviceState(power=False), "set_brightness", 0, device_type="light") is True
    assert satisfies(DeviceState(open=True), "open", None, device_type="cover") is True
    assert satisfies(DeviceState(position=0), "close", None, device_type="cover") is True
    assert satisfies(DeviceState(position=49), "set_position", 50, device_type="cover") is True
    assert satisfies(DeviceState(locked=True), "lock", None, device_type="lock") is True
    assert satisfies(DeviceState(temperature=21.0), "set_temperature", 21, device_type="climate")
    assert satisfies(on, "pause", None, device_type="media_player") is None
    assert satisfies(on, "stop", None, device_type="cover") is None
    assert satisfies(on, "change_brightness", 10, device_type="light") is None


def test_already() -> None:
    assert already(DeviceState(power=True), "turn_on", None, device_type="light")
    assert not already(DeviceState(power=False), "turn_on", None, device_type="light")
    assert not already(DeviceState(), "turn_on", None, device_type="light")
    assert already(DeviceState(locked=True), "lock", None, device_type="lock")
    assert not already(DeviceState(locked=False), "lock", None, device_type="lock")
    # A remembered brightness is not a lit light.
    assert not already(DeviceState(brightness=50), "set_brightness", 50, device_type="light")
    assert already(
        DeviceState(power=True, brightness=50), "set_brightness", 50, device_type="light"
    )
    assert not already(DeviceState(power=True), "stop", None, device_type="cover")


def test_merged() -> None:
    a = DeviceState(power=True, brightness=40)
    assert a.merged(DeviceState(brightness=60)) == DeviceState(power=True, brightness=60)
    assert a.merged(DeviceState()) == a


# ----------------------------------------------------------------- properties

ENDPOINTS = [
    Z2M,
    TASMOTA,
    esphome("light"),
    esphome("cover"),
    ha(brightness_state_topic="home/dev/bri", rgb_state_topic="home/dev/rgb"),
    ha(schema="json"),
    ha(value_template="{{ value_json.a.b }}", position_topic="home/dev/pos", reports_position=True),
    ha(percentage_state_topic="home/dev/pct", speed_range_max=0),
    Endpoint(integration="custom", state_topic="c/state", payloads={"turn_on": "{value}"}),
]
TYPES = ["light", "switch", "cover", "valve", "lock", "climate", "fan", "scene", "vacuum"]
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["ON", "OFF", "open", "LOCKED", "online", "NaN"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(["state", "brightness", "color", "x", "y", "r", "position", "POWER",
                         "Dimmer", "Color", "Shutter1", "Position", "hue", "fan_mode"]),
        inner,
        max_size=5,
    ),
)  # fmt: skip


def payloads() -> st.SearchStrategy[bytes]:
    import json

    return st.binary(max_size=64) | JSONISH.map(lambda v: json.dumps(v).encode())


@given(st.sampled_from(ENDPOINTS), st.sampled_from(TYPES), payloads())
def test_parsers_never_raise(ep: Endpoint, device_type: str, payload: bytes) -> None:
    for topic in [*state_topics(ep), "unrelated/topic"]:
        st_ = parse_state(ep, topic, payload, device_type=device_type)
        assert st_ is None or isinstance(st_, DeviceState)
        if st_ is not None and st_.brightness is not None:
            assert 0 <= st_.brightness <= 100
        assert parse_availability(ep, topic, payload) in (True, False, None)


@given(st.binary(max_size=256), st.text(max_size=30))
def test_any_bytes_on_any_topic(payload: bytes, topic: str) -> None:
    for ep in ENDPOINTS:
        parse_state(ep, topic, payload, device_type="light")
        parse_availability(ep, topic, payload)
