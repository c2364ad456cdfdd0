"""Answers callers can trust, end to end (real Mosquitto, real `dialogd run`, real model):
reused ids, starting with the home complete, registry changes that block nothing, and
results that reach whoever asked.
"""

from __future__ import annotations

import json
import signal
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

from tests.conftest import Broker, DaemonProcess, Listener, need_model
from tests.test_home_daemon import RULES_ONLY, FakeDevices, config, publish_discovery
from tests.test_serial_daemon import Esp32

STATUS = "dialogd/test/status"


def answer(bus: Listener, rid: str, text: str, timeout: float = 60) -> dict[str, Any]:
    """The intent (or error) for request `rid` whose text is `text`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for topic, payload in list(bus.history):
            if topic in ("dialogd/test/intent", "dialogd/test/error"):
                obj = json.loads(payload)
                if obj.get("id") == rid and obj.get("text", text) == text:
                    return obj  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise TimeoutError(f"no answer to {rid} {text!r}")


def request(bus: Listener, text: str, rid: str) -> None:
    bus.publish("dialogd/test/text", json.dumps({"text": text, "id": rid}))


@pytest.fixture
def house(broker: Broker, tmp_path: Path) -> Iterator[tuple[Listener, FakeDevices]]:
    """Discovery already retained on the broker, as zigbee2mqtt and HA devices leave it."""
    bus = Listener(broker.port, topic="#")
    devices = FakeDevices(broker.port, silent=("garagefan",))
    publish_discovery(bus)
    yield bus, devices
    devices.close()
    bus.close()


def test_one_id_three_requests_three_answers(
    house: tuple[Listener, FakeDevices], broker: Broker, tmp_path: Path
) -> None:
    """A caller's fixed id ("kitchen-1" every evening) is not a redelivery: each request
    is answered, also after a restart."""
    need_model()
    bus, _ = house
    cfg = config(tmp_path, broker.port)
    d = DaemonProcess(cfg)
    try:
        bus.wait_for(STATUS, 120, lambda p: p == b"online")
        request(bus, "turn on the coffee plug", "kitchen-1")
        first = answer(bus, "kitchen-1", "turn on the coffee plug")
        request(bus, "turn off the coffee plug", "kitchen-1")
        second = answer(bus, "kitchen-1", "turn off the coffee plug")
    finally:
        assert d.stop() == 0
    bus.messages.queue.clear()
    d = DaemonProcess(cfg)
    try:
        bus.wait_for(STATUS, 120, lambda p: p == b"online")
        request(bus, "is the coffee plug on", "kitchen-1")
        third = answer(bus, "kitchen-1", "is the coffee plug on")
    finally:
        assert d.stop() == 0
    assert [(a["action"], a["device"]) for a in (first, second, third)] == [
        ("turn_on", "coffee_plug"),
        ("turn_off", "coffee_plug"),
        ("query", "coffee_plug"),
    ]


def test_requests_at_online_and_during_a_restart_know_the_discovered_home(
    house: tuple[Listener, FakeDevices], broker: Broker, tmp_path: Path
) -> None:
    """zigbee2mqtt's retained bridge/devices is on the broker before dialogd starts:
    requests sent the moment `online` appears, and those the broker kept while dialogd
    restarted, are decided with the discovered devices, not before them."""
    need_model()
    bus, _ = house
    cfg = config(tmp_path, broker.port)
    sent = threading.Event()
    caller = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        if m.payload == b"online" and not m.retain and not sent.is_set():
            sent.set()  # right away, from the network thread: no time for anything else
            for i, text in enumerate(("turn on the kitchen ceiling", "is the coffee plug on")):
                c.publish("dialogd/test/text", json.dumps({"text": text, "id": f"o{i}"}), qos=1)

    caller.on_message = on_message
    caller.connect("127.0.0.1", broker.port)
    caller.subscribe(STATUS, qos=1)
    caller.loop_start()
    d = DaemonProcess(cfg)
    try:
        assert sent.wait(120), d.output()
        at_online = [
            answer(bus, "o0", "turn on the kitchen ceiling"),
            answer(bus, "o1", "is the coffee plug on"),
        ]
    finally:
        caller.loop_stop()
        caller.disconnect()
        assert d.stop() == 0
    # dialogd is down; its session keeps what is sent meanwhile.
    queued = [("turn off the kitchen ceiling", "r0"), ("turn on the coffee plug", "r1")]
    for text, rid in queued:
        request(bus, text, rid)
    d = DaemonProcess(cfg)
    try:
        while_down = [answer(bus, rid, text, 120) for text, rid in queued]
    finally:
        assert d.stop() == 0
    got = [(a["action"], a["device"]) for a in at_online + while_down]
    assert got == [
        ("turn_on", "kitchen_ceiling"),
        ("query", "coffee_plug"),
        ("turn_off", "kitchen_ceiling"),
        ("turn_on", "coffee_plug"),
    ], got
    log = d.output()
    # The home was known before dialogd said it was ready.
    assert log.index("home: ") < log.index("ready in"), log


def test_a_fast_command_during_a_discovery_change_or_a_sighup_is_not_held_up(
    house: tuple[Listener, FakeDevices], broker: Broker, tmp_path: Path
) -> None:
    """A new device (or a reload) builds a new engine beside the deciding one: a command
    the templates decide is decided within a second meanwhile, and the new device is
    understood once it is in."""
    need_model()
    bus, _ = house
    d = DaemonProcess(config(tmp_path, broker.port))
    try:
        bus.wait_for(STATUS, 120, lambda p: p == b"online")
        shed = {
            "name": "Shed Lamp",
            "unique_id": "shed_lamp_1",
            "command_topic": "shed-node/light/set",
            "schema": "json",
        }
        bus.publish("homeassistant/light/shed-node/shed_lamp/config", json.dumps(shed))
        request(bus, "turn on the coffee plug", "f1")
        during_change = answer(bus, "f1", "turn on the coffee plug")
        d.signal(signal.SIGHUP)
        request(bus, "turn off the coffee plug", "f2")
        during_reload = answer(bus, "f2", "turn off the coffee plug")
        deadline = time.monotonic() + 60
        n = 0
        while True:  # the new device is understood once its engine is in
            n += 1
            request(bus, "turn on the shed lamp", f"s{n}")
            new = answer(bus, f"s{n}", "turn on the shed lamp")
            if new["device"] == "shed_lamp" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        bus.detail(lambda s: s["reloads"] == 1, 60)  # the reload ends well, not cut short
    finally:
        assert d.stop() == 0
    for a in (during_change, during_reload):
        assert a["engine"] == "rules" and a["latency_ms"] < 1000, a
    assert (new["action"], new["device"]) == ("turn_on", "shed_lamp")
    assert "engine swapped" in d.output()


def test_a_device_that_never_answers_tells_the_response_topic_and_the_serial_line(
    house: tuple[Listener, FakeDevices], broker: Broker, tmp_path: Path
) -> None:
    """The answer goes at once; what the devices did follows as a second message with
    the same correlation data (MQTT 5), and as a second line on the serial port."""
    bus, _ = house
    link = tmp_path / "ttyESP32"
    esp = Esp32(link)
    extra = f'[serial]\nenabled = true\nport = "{link}"\nreconnect_s = 0.2\n'
    d = DaemonProcess(config(tmp_path, broker.port, extra), env=RULES_ONLY)
    got: list[tuple[bytes | None, dict[str, Any]]] = []
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.on_message = lambda cl, u, m: got.append(
        (getattr(m.properties, "CorrelationData", None), json.loads(m.payload))
    )
    try:
        bus.wait_for(STATUS, 120, lambda p: p == b"online")
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        c.subscribe("nodered/replies/#", qos=1)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = "nodered/replies/fan"
        props.CorrelationData = b"corr-7"
        c.publish("dialogd/test/text", "turn on the garage fan", qos=1, properties=props)
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = []
        deadline = time.monotonic() + 30
        while not lines and time.monotonic() < deadline:
            # pyserial flushes its input when it opens the port: ask until it answers.
            esp.send(b'{"text": "turn off the garage fan", "id": "esp-9"}\n')
            try:
                lines.append(json.loads(esp.line(1.0)))
            except TimeoutError:
                continue
        lines.append(json.loads(esp.line(30)))
    finally:
        c.loop_stop()
        c.disconnect()
        assert d.stop() == 0
        esp.unplug()
    assert len(got) == 2, got
    (corr1, intent), (corr2, result) = got
    assert corr1 == corr2 == b"corr-7"
    assert intent["action"] == "turn_on" and intent["device"] == "garage_fan"
    assert result["id"] == intent["id"] and result["result"] == "no_response"
    assert result["reply"] == "The garage fan didn't respond."
    first, second = lines
    assert first["id"] == second["id"] == "esp-9" and first["action"] == "turn_off"
    assert second["result"] == "no_response" and "action" not in second
