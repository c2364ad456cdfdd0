"""The home on the broker, end to end: real Mosquitto, real `dialogd run` processes, and
devices that answer on their state topics as zigbee2mqtt, Tasmota and ESPHome do.

The retained messages are in the documented shapes: zigbee2mqtt's `bridge/devices`
(zigbee2mqtt.io, "MQTT topics and messages"), Home Assistant MQTT discovery configs
(home-assistant.io/integrations/mqtt, with abbreviations and the "~" base topic).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from daemon.outputs.hass import validate
from tests.conftest import DIALOGD, ROOT, Broker, DaemonProcess, Listener, until, write_config

HOME = """
[[floors]]
id = "ground"
name = "ground floor"

[[areas]]
id = "kitchen"
name = "kitchen"
floor = "ground"

[[areas]]
id = "hallway"
name = "hallway"
floor = "ground"

[[areas]]
id = "garage"
name = "garage"
floor = "ground"

# Known to the config, switched through Tasmota, and never answers in these tests.
[[devices]]
id = "garage_fan"
type = "switch"
name = "garage fan"
area = "garage"
integration = "tasmota"
topic = "garagefan"

# An ESPHome node's relay, through ESPHome's own MQTT topics.
[[devices]]
id = "fountain"
type = "switch"
name = "garden fountain"
integration = "esphome"
topic = "garden-node/switch/fountain"

# Also on zigbee2mqtt (friendly name "Front Door"): the config's words and area win.
[[devices]]
id = "front_door"
type = "lock"
name = "front door"
aliases = ["front door lock", "大门"]
area = "hallway"
sensitive = ["unlock"]
"""


def _feature(name: str, prop: str, **extra: Any) -> dict[str, Any]:
    return {"type": "binary", "name": name, "property": prop, "access": 7, **extra}


Z2M_DEVICES = [
    {
        "ieee_address": "0x0000000000000000",
        "type": "Coordinator",
        "friendly_name": "Coordinator",
        "supported": True,
        "disabled": False,
        "interview_completed": True,
        "definition": None,
    },
    {
        "ieee_address": "0x00158d0001a2b3c4",
        "type": "Router",
        "network_address": 29159,
        "supported": True,
        "disabled": False,
        "friendly_name": "Kitchen Ceiling",
        "description": "Kitchen",
        "interview_completed": True,
        "power_source": "Mains (single phase)",
        "definition": {
            "model": "9290022166",
            "vendor": "Philips",
            "description": "Hue white and color ambiance E26/E27",
            "exposes": [
                {
                    "type": "light",
                    "features": [
                        _feature("state", "state", value_on="ON", value_off="OFF",
                                 value_toggle="TOGGLE"),
                        {"type": "numeric", "name": "brightness", "property": "brightness",
                         "access": 7, "value_min": 0, "value_max": 254},
                        {"type": "composite", "name": "color_xy", "property": "color",
                         "access": 7, "features": [
                             {"type": "numeric", "name": "x", "property": "x", "access": 7},
                             {"type": "numeric", "name": "y", "property": "y", "access": 7}]},
                    ],
                },
                {"type": "numeric", "name": "linkquality", "property": "linkquality",
                 "access": 1, "unit": "lqi", "value_min": 0, "value_max": 255},
            ],
        },
    },
    {
        "ieee_address": "0x000d6ffffe1a2b3c",
        "type": "Router",
        "supported": True,
        "disabled": False,
        "friendly_name": "Coffee Plug",
        "description": "",
        "interview_completed": True,
        "definition": {
            "model": "E1603/E1702/E1708",
            "vendor": "IKEA",
            "description": "TRADFRI control outlet",
            "exposes": [
                {"type": "switch", "features": [
                    _feature("state", "state", value_on="ON", value_off="OFF",
                             value_toggle="TOGGLE")]},
            ],
        },
    },
    {
        "ieee_address": "0x00124b0022aabbcc",
        "type": "EndDevice",
        "supported": True,
        "disabled": False,
        "friendly_name": "Front Door",
        "interview_completed": True,
        "definition": {
            "model": "YRD426NRSC",
            "vendor": "Yale",
            "description": "Assure lock",
            "exposes": [
                {"type": "lock", "features": [
                    _feature("state", "state", value_on="LOCK", value_off="UNLOCK"),
                    {"type": "enum", "name": "lock_state", "property": "lock_state",
                     "access": 1, "values": ["not_fully_locked", "locked", "unlocked"]}]},
            ],
        },
    },
]  # fmt: skip

# An ESPHome node's light, announced through Home Assistant discovery (JSON schema,
# abbreviations, "~"), with a suggested area the config does not have yet.
PORCH_LAMP = {
    "~": "porch-node/light/porch_lamp",
    "name": "Lamp",  # Home Assistant names it "<device name> <entity name>"
    "uniq_id": "porch-node-light-porch_lamp",
    "schema": "json",
    "cmd_t": "~/command",
    "stat_t": "~/state",
    "avty_t": "porch-node/status",
    "brightness": True,
    "dev": {"ids": ["porch-node"], "name": "Porch", "sa": "Porch", "mf": "espressif"},
}

# Home Assistant's device-based discovery: one message for a device and its components.
HALL_NODE = {
    "dev": {"ids": "hall-node", "name": "Hall", "sa": "Hallway", "mf": "espressif"},
    "o": {"name": "esphome", "sw": "2025.1"},
    "~": "hall-node",
    "avty_t": "~/status",
    "cmps": {
        "hall_light": {
            "p": "light",
            "name": "Light",
            "uniq_id": "hall-node-light",
            "schema": "json",
            "cmd_t": "~/light/set",
            "stat_t": "~/light/state",
            "brightness": True,
        },
        "hall_temp": {"p": "sensor", "name": "Temperature", "uniq_id": "hall-node-t",
                      "stat_t": "~/temp"},
    },
}  # fmt: skip

# A device that a Home Assistant discovery message adds while dialogd runs.
ATTIC_FAN = {
    "name": "Attic Fan",
    "unique_id": "attic_fan_relay",
    "command_topic": "cmnd/atticfan/POWER",
    "state_topic": "stat/atticfan/POWER",
    "payload_on": "ON",
    "payload_off": "OFF",
    "device": {"identifiers": ["atticfan"], "name": "Attic Fan", "suggested_area": "Attic"},
}


class FakeDevices:
    """zigbee2mqtt, Tasmota and ESPHome as seen from the broker: each set/command message
    changes the device's state, which it then reports on its state topic."""

    def __init__(self, port: int, silent: tuple[str, ...] = ()) -> None:
        self.silent = silent
        self.commands: list[tuple[str, bytes]] = []
        self.state: dict[str, dict[str, Any]] = {
            "Kitchen Ceiling": {"state": "OFF", "brightness": 0},
            "Coffee Plug": {"state": "OFF"},
            "Front Door": {"state": "LOCK", "lock_state": "locked"},
        }
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        ready = threading.Event()

        def on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
            c.subscribe(
                [
                    ("zigbee2mqtt/+/set", 1),
                    ("cmnd/#", 1),
                    ("porch-node/#", 1),
                    ("garden-node/#", 1),
                    ("hall-node/+/set", 1),
                ]
            )
            ready.set()

        self.client.on_connect = on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10)
        for name, st in self.state.items():
            self._report(name, st, retain=True)
            self.client.publish(
                f"zigbee2mqtt/{name}/availability", '{"state": "online"}', qos=1, retain=True
            )
        self.client.publish("porch-node/status", "online", qos=1, retain=True)
        self.client.publish("garden-node/status", "online", qos=1, retain=True)
        self.client.publish("hall-node/status", "online", qos=1, retain=True)
        self.client.publish("garden-node/switch/fountain/state", "OFF", qos=1, retain=True)

    def _report(self, name: str, st: dict[str, Any], retain: bool = False) -> None:
        self.client.publish(f"zigbee2mqtt/{name}", json.dumps(st), qos=1, retain=retain)

    def _on_message(self, c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        payload = bytes(m.payload)
        if m.topic.endswith("/state") or m.topic.endswith("/status"):
            return
        self.commands.append((m.topic, payload))
        if any(s in m.topic for s in self.silent):
            return
        if m.topic.startswith("zigbee2mqtt/"):
            name = m.topic.split("/")[1]
            st = self.state.setdefault(name, {})
            body = json.loads(payload)
            if body.get("state") in ("LOCK", "UNLOCK"):
                body["lock_state"] = "locked" if body["state"] == "LOCK" else "unlocked"
            st.update(body)
            self._report(name, st)
        elif m.topic.startswith("cmnd/"):
            topic = m.topic.split("/")[1]
            c.publish(f"stat/{topic}/RESULT", json.dumps({"POWER": payload.decode()}), qos=1)
            c.publish(f"stat/{topic}/POWER", payload, qos=1)
        elif m.topic.startswith("hall-node/") and m.topic.endswith("/set"):
            c.publish(m.topic.removesuffix("/set") + "/state", payload, qos=1)
        elif m.topic.endswith("/command"):
            c.publish(m.topic.removesuffix("/command") + "/state", payload, qos=1)

    def sent(self, topic: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, p in list(self.commands):
                if t == topic:
                    try:
                        return json.loads(p)  # type: ignore[no-any-return]
                    except ValueError:
                        return {"raw": p.decode()}
            time.sleep(0.05)
        raise TimeoutError(f"nothing sent on {topic}: {self.commands}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def publish_discovery(bus: Listener) -> None:
    c = bus.client
    c.publish("zigbee2mqtt/bridge/devices", json.dumps(Z2M_DEVICES), qos=1, retain=True)
    c.publish("homeassistant/light/porch-node/porch_lamp/config", json.dumps(PORCH_LAMP),
              qos=1, retain=True).wait_for_publish(5)  # fmt: skip
    # Untrusted input: each is skipped with a warning, none stops the rest.
    c.publish("homeassistant/device/hall-node/config", json.dumps(HALL_NODE), qos=1, retain=True)
    c.publish("homeassistant/light/bad/config", "{not json", qos=1, retain=True)
    c.publish(
        "homeassistant/switch/evil/config",
        json.dumps({"name": "Everything", "command_topic": "zigbee2mqtt/#"}),
        qos=1,
        retain=True,
    )
    c.publish(
        "homeassistant/switch/mine/config",
        json.dumps({"name": "Sneaky", "command_topic": "dialogd/test/text"}),
        qos=1,
        retain=True,
    ).wait_for_publish(5)


def config(tmp_path: Path, port: int, extra: str = "") -> Path:
    cfg = write_config(tmp_path / "c.toml", port=port, devices=HOME)
    home = (
        '[home]\ndiscover = ["zigbee2mqtt", "homeassistant"]\n'
        "debounce_s = 0.3\nconfirm_timeout_s = 1.5\n"
    )
    cfg.write_text(f'state_dir = "{tmp_path / "state"}"\n' + cfg.read_text() + home + extra)
    return cfg


RULES_ONLY = {"DIALOGD_LLM__ENABLED": "false"}


@pytest.fixture
def home(broker: Broker, tmp_path: Path) -> Iterator[tuple[DaemonProcess, Listener, FakeDevices]]:
    bus = Listener(broker.port, topic="#")
    devices = FakeDevices(broker.port, silent=("garagefan",))
    publish_discovery(bus)
    d = DaemonProcess(config(tmp_path, broker.port), env=RULES_ONLY)
    bus.online(60)  # said once the discovered home is applied
    yield d, bus, devices
    d.stop()
    devices.close()
    bus.close()


def ask(bus: Listener, text: str, rid: str) -> dict[str, Any]:
    bus.publish("dialogd/test/text", json.dumps({"text": text, "id": rid}))
    return heard(bus, "dialogd/test/intent", 30, id=rid)


def heard(bus: Listener, topic: str, timeout: float, **match: object) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, payload in list(bus.history):
            if t == topic:
                try:
                    obj = json.loads(payload)
                except ValueError:
                    continue
                if all(obj.get(k) == v for k, v in match.items()):
                    return obj  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise TimeoutError(f"nothing like {match} on {topic} within {timeout}s")


# ----------------------------------------------------------------------------- tests


def test_the_registry_comes_from_the_broker(
    home: tuple[DaemonProcess, Listener, FakeDevices], tmp_path: Path
) -> None:
    d, _, _ = home
    out = subprocess.run(
        [*DIALOGD, "devices", "--config", str(tmp_path / "c.toml"), "--json", "--wait", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **RULES_ONLY},
    )
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert rows["kitchen_ceiling"]["origin"] == "zigbee2mqtt"
    assert rows["kitchen_ceiling"]["area"] == "kitchen"  # its description names the area
    assert rows["kitchen_ceiling"]["command_topic"] == "zigbee2mqtt/Kitchen Ceiling/set"
    assert rows["coffee_plug"]["type"] == "switch"
    assert rows["porch_lamp"]["origin"] == "homeassistant"
    assert rows["porch_lamp"]["area"] == "porch"  # a suggested area becomes an area
    assert rows["porch_lamp"]["command_topic"] == "porch-node/light/porch_lamp/command"
    assert rows["front_door"]["origin"] == "config + zigbee2mqtt"
    assert rows["front_door"]["name"] == "front door" and rows["front_door"]["area"] == "hallway"
    assert rows["garage_fan"]["origin"] == "config"
    # Device-based discovery: the light component, in the device's suggested area.
    assert rows["hall_light"]["command_topic"] == "hall-node/light/set"
    assert rows["hall_light"]["area"] == "hallway" and rows["hall_light"]["type"] == "light"
    assert "coordinator" not in rows and "everything" not in rows and "sneaky" not in rows
    log = d.output()
    for bad in ("homeassistant/light/bad/config", "homeassistant/switch/evil/config",
                "homeassistant/switch/mine/config"):  # fmt: skip
        assert bad in log, log
    assert "Traceback" not in log


def test_a_spoken_request_switches_a_zigbee_light_and_its_state_confirms_it(
    home: tuple[DaemonProcess, Listener, FakeDevices],
) -> None:
    _, bus, devices = home
    intent = ask(bus, "please switch on the kitchen ceiling", "z1")
    assert (intent["action"], intent["device"], intent["status"]) == (
        "turn_on",
        "kitchen_ceiling",
        "decided",
    )
    assert devices.sent("zigbee2mqtt/Kitchen Ceiling/set") == {"state": "ON"}
    result = heard(bus, "dialogd/test/result", 10, id="z1")
    assert result["result"] == "executed"
    assert result["devices"] == [
        {"device": "kitchen_ceiling", "action": "turn_on", "value": None,
         "result": "executed", "detail": ""}
    ]  # fmt: skip

    devices.commands.clear()
    ask(bus, "set the kitchen ceiling to 50 percent", "z2")
    sent = devices.sent("zigbee2mqtt/Kitchen Ceiling/set")
    assert sent["brightness"] == 127  # 50 % of zigbee2mqtt's 0-254
    assert heard(bus, "dialogd/test/result", 10, id="z2")["result"] == "executed"

    devices.commands.clear()
    ask(bus, "turn the kitchen ceiling red", "z3")
    assert "color" in devices.sent("zigbee2mqtt/Kitchen Ceiling/set")


def test_an_esphome_switch_and_a_discovered_esphome_light(
    home: tuple[DaemonProcess, Listener, FakeDevices],
) -> None:
    _, bus, devices = home
    assert ask(bus, "is the garden fountain on", "e0")["reply"] == "The garden fountain is off."
    ask(bus, "turn on the garden fountain", "e1")
    assert devices.sent("garden-node/switch/fountain/command") == {"raw": "ON"}
    assert heard(bus, "dialogd/test/result", 10, id="e1")["result"] == "executed"
    ask(bus, "turn on the hall light", "e3")
    assert devices.sent("hall-node/light/set")["state"] == "ON"
    assert heard(bus, "dialogd/test/result", 10, id="e3")["result"] == "executed"
    ask(bus, "set the porch lamp to 40 percent", "e2")
    sent = devices.sent("porch-node/light/porch_lamp/command")
    assert sent["state"] == "ON" and sent["brightness"] == 102  # 40 % of 0-255
    assert heard(bus, "dialogd/test/result", 10, id="e2")["result"] == "executed"


def test_a_device_that_never_answers_is_no_response_and_the_reply_says_so(
    home: tuple[DaemonProcess, Listener, FakeDevices],
) -> None:
    _, bus, devices = home
    ask(bus, "turn on the garage fan", "t1")
    assert devices.sent("cmnd/garagefan/POWER") == {"raw": "ON"}
    # While dialogd waits for the fan, the request path goes on.
    ask(bus, "turn on the coffee plug", "t2")
    assert heard(bus, "dialogd/test/result", 10, id="t2")["result"] == "executed"
    assert not [1 for t, p in bus.history if t == "dialogd/test/result" and b'"t1"' in p]
    result = heard(bus, "dialogd/test/result", 10, id="t1")
    assert result["result"] == "no_response"
    assert result["reply"] == "The garage fan didn't respond."


def test_queries_are_answered_from_state(
    home: tuple[DaemonProcess, Listener, FakeDevices],
) -> None:
    _, bus, _ = home
    assert ask(bus, "is the front door locked?", "q1")["reply"] == "The front door is locked."
    assert ask(bus, "大门锁了吗", "q2")["reply"] == "大门锁着呢。"
    reply = ask(bus, "turn off the coffee plug", "q3")["reply"]
    assert reply.lower() == "the coffee plug is already off."
    ask(bus, "turn on the coffee plug", "q4")
    heard(bus, "dialogd/test/result", 10, id="q4")
    reply = ask(bus, "are any switches on?", "q5")["reply"]
    assert "coffee plug" in reply.lower(), reply


def test_an_offline_device_says_so_instead_of_pretending(
    home: tuple[DaemonProcess, Listener, FakeDevices],
) -> None:
    _, bus, devices = home
    devices.client.publish(
        "zigbee2mqtt/Coffee Plug/availability", '{"state": "offline"}', qos=1, retain=True
    ).wait_for_publish(5)
    time.sleep(0.5)
    assert ask(bus, "is the coffee plug on", "o1")["reply"].lower() == "the coffee plug is offline."
    intent = ask(bus, "turn on the coffee plug", "o2")
    assert intent["reply"].lower() == "the coffee plug is offline."
    result = heard(bus, "dialogd/test/result", 10, id="o2")
    assert (
        result["result"] == "failed" and result["devices"][0]["detail"] == "the device is offline"
    )
    assert result["reply"].lower() == "the coffee plug is offline."
    assert not [t for t, _ in devices.commands if "Coffee Plug" in t]


def test_a_sensitive_action_waits_for_its_yes_before_anything_moves(
    home: tuple[DaemonProcess, Listener, FakeDevices],
) -> None:
    _, bus, devices = home
    bus.publish("dialogd/test/text", json.dumps({"text": "unlock the front door", "id": "s1"}))
    first = heard(bus, "dialogd/test/intent", 30, id="s1")
    assert first["status"] == "needs_confirmation"
    time.sleep(1.0)
    assert not [t for t, _ in devices.commands if "Front Door" in t]
    bus.publish("dialogd/test/text", json.dumps({"text": "yes", "id": "s2"}))
    heard(bus, "dialogd/test/intent", 30, status="confirmed")
    assert devices.sent("zigbee2mqtt/Front Door/set") == {"state": "UNLOCK"}
    heard(bus, "dialogd/test/result", 10, result="executed")


def test_a_device_added_live_is_understood(
    home: tuple[DaemonProcess, Listener, FakeDevices],
) -> None:
    _, bus, devices = home
    before = bus.detail(lambda s: s["state"] == "online")["devices"]
    bus.client.publish(
        "homeassistant/switch/atticfan/relay/config", json.dumps(ATTIC_FAN), qos=1, retain=True
    ).wait_for_publish(5)
    bus.detail(lambda s: s["devices"] == before + 1)
    intent = ask(bus, "turn on the attic fan", "l1")
    assert (intent["action"], intent["device"]) == ("turn_on", "attic_fan")
    assert devices.sent("cmnd/atticfan/POWER") == {"raw": "ON"}
    assert heard(bus, "dialogd/test/result", 10, id="l1")["result"] == "executed"
    # ... and removed live: an empty retained config.
    bus.client.publish("homeassistant/switch/atticfan/relay/config", b"", qos=1, retain=True)
    bus.detail(lambda s: s["devices"] == before)


def test_a_discovery_flood_is_bounded_and_the_daemon_keeps_answering(
    home: tuple[DaemonProcess, Listener, FakeDevices],
) -> None:
    d, bus, _ = home
    for i in range(700):
        cfg = {**ATTIC_FAN, "name": f"Flood Fan {i}", "unique_id": f"flood{i}"}
        cfg["command_topic"] = f"cmnd/flood{i}/POWER"
        cfg["device"] = {"identifiers": [f"flood{i}"], "name": f"Flood Fan {i}"}
        bus.client.publish(f"homeassistant/switch/flood{i}/relay/config", json.dumps(cfg),
                           qos=1, retain=True)  # fmt: skip
    bus.client.publish("homeassistant/light/junk/config", b"\xff" * 70_000, qos=1, retain=True)
    intent = ask(bus, "turn off the coffee plug", "f1")
    assert intent["action"] == "turn_off"
    # The home grows to the cap (a retained status detail), and no further.
    bus.detail(lambda s: s["devices"] >= 500, 60)
    assert d.output().count("home.max_devices = 500") == 1
    assert ask(bus, "turn on flood fan 3", "f2")["device"] == "flood_fan_3"


def test_dialogd_announces_itself_to_home_assistant(
    home: tuple[DaemonProcess, Listener, FakeDevices],
) -> None:
    _, bus, _ = home
    configs = _discovery_configs(bus, 10)
    kinds = {t.split("/")[1] for t in configs}
    assert {"sensor", "text", "device_automation"} <= kinds
    for topic, cfg in configs.items():
        assert validate(topic.split("/")[1], cfg) == [], topic
    text = next(c for t, c in configs.items() if t.split("/")[1] == "text")
    assert text["command_topic"] == "dialogd/test/text"
    # Home Assistant restarts: it says `online`, and dialogd announces itself again.
    n = len(bus.history)
    bus.publish("homeassistant/status", "online")
    until(
        lambda: any(t.endswith("/config") and "dialogd_test" in t for t, _ in bus.history[n:]),
        10,
        "no discovery after homeassistant/status online",
    )


def _discovery_configs(bus: Listener, timeout: float) -> dict[str, dict[str, Any]]:
    def found() -> dict[str, dict[str, Any]]:
        configs = {
            t: json.loads(p)
            for t, p in list(bus.history)
            if t.startswith("homeassistant/") and "dialogd_test" in t and p
        }
        return configs if len(configs) > 10 else {}

    return until(found, timeout, "no discovery configs for dialogd")


def test_an_mqtt5_response_topic_gets_the_intent_with_its_correlation_data(
    home: tuple[DaemonProcess, Listener, FakeDevices], broker: Broker
) -> None:
    got: list[tuple[str, bytes | None, bytes]] = []
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

    def on_message(cl: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        corr = getattr(m.properties, "CorrelationData", None)
        got.append((m.topic, corr, bytes(m.payload)))

    c.on_message = on_message
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    c.subscribe("nodered/replies/#", qos=1)
    time.sleep(0.3)
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = "nodered/replies/flow1"
    props.CorrelationData = b"\x00corr-42"
    c.publish("dialogd/test/text", "turn on the coffee plug", qos=1, properties=props)
    try:
        until(lambda: got, 20, "no answer on the response topic")
    finally:
        c.loop_stop()
        c.disconnect()
    topic, corr, payload = got[0]
    assert topic == "nodered/replies/flow1" and corr == b"\x00corr-42"
    assert json.loads(payload)["action"] == "turn_on"


def test_hermes_intents_and_queries(broker: Broker, tmp_path: Path) -> None:
    bus = Listener(broker.port, topic="#")
    d = DaemonProcess(config(tmp_path, broker.port, "[hermes]\nenabled = true\n"), env=RULES_ONLY)
    try:
        bus.online(60)
        bus.publish(
            "hermes/nlu/query",
            json.dumps({"input": "turn on the garage fan", "siteId": "satellite1",
                        "id": "h1", "sessionId": "sess-1"}),
        )  # fmt: skip
        msg = heard(bus, "hermes/intent/turn_on", 20)
        assert msg["input"] == "turn on the garage fan"
        assert msg["intent"]["intentName"] == "turn_on"
        assert 0 <= msg["intent"]["confidenceScore"] <= 1
        assert msg["siteId"] == "satellite1" and msg["sessionId"] == "sess-1"
        slot = next(s for s in msg["slots"] if s["slotName"] == "device")
        assert slot["value"]["value"] == "garage_fan" and "rawValue" in slot and slot["entity"]
        bus.publish("hermes/tts/say", json.dumps({"text": "hello", "id": "say1",
                                                  "siteId": "satellite1"}))  # fmt: skip
        assert heard(bus, "hermes/tts/sayFinished", 20)["id"] == "say1"
    finally:
        d.stop()
        bus.close()


def test_two_instances_on_a_shared_subscription_answer_each_request_once(
    broker: Broker, tmp_path: Path
) -> None:
    bus = Listener(broker.port, topic="dialogd/+/intent")
    procs = []
    for name in ("pi1", "pi2"):
        folder = tmp_path / name
        folder.mkdir()
        cfg = write_config(folder / "c.toml", port=broker.port, extra='share_group = "pool"')
        text = cfg.read_text().replace('site_id = "test"', f'site_id = "{name}"')
        # share_group belongs to [mqtt]: move it there.
        text = text.replace('share_group = "pool"\n', "").replace(
            "[mqtt]\n", '[mqtt]\nshare_group = "pool"\n', 1
        )
        cfg.write_text(f'state_dir = "{folder / "state"}"\n' + text)
        procs.append(DaemonProcess(cfg, env=RULES_ONLY))
    try:
        for p in procs:
            p.wait_ready(60)
        time.sleep(0.5)
        sites = [f"sat{i}" for i in range(4)]
        for i in range(200):
            site = sites[i % 4]
            bus.client.publish(
                f"dialogd/{site}/text",
                json.dumps({"text": "turn on the kitchen light", "id": f"r{i}"}),
                qos=1,
            )
        until(lambda: len(bus.history) >= 200, 120, "200 answers", every=0.1)
        time.sleep(1.0)  # anything answered twice would arrive by now
        answers = [(t, json.loads(p)) for t, p in bus.history]
        ids = [a["id"] for _, a in answers]
        assert sorted(ids) == sorted(f"r{i}" for i in range(200)), (len(ids), len(set(ids)))
        for topic, a in answers:
            n = int(a["id"][1:])
            assert topic == f"dialogd/{sites[n % 4]}/intent" and a["site"] == sites[n % 4]
        by = {a["instance"] for _, a in answers}
        assert by == {"pi1", "pi2"}, by
        # Two sites may use the same id: each request is still answered.
        for site in ("sat0", "sat1"):
            bus.client.publish(
                f"dialogd/{site}/text", json.dumps({"text": "turn off the tv", "id": "same"}), qos=1
            )
        until(lambda: len(bus.history) >= 202, 30, "both answers to the same id")
        same = sorted(t for t, p in bus.history if json.loads(p)["id"] == "same")
        assert same == ["dialogd/sat0/intent", "dialogd/sat1/intent"], same
    finally:
        for p in procs:
            p.stop()
        bus.close()
