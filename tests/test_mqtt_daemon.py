"""The real `dialogd run` against a real Mosquitto: requests in, intents and errors out."""

from __future__ import annotations

import json
import os
import queue
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.core.messages import ErrorReply, Intent
from tests.conftest import (
    Broker,
    DaemonProcess,
    Listener,
    free_port,
    need_model,
    private_broker_login,
    write_config,
)

TEXT, INTENT, ERROR, STATUS = (f"dialogd/test/{t}" for t in ("text", "intent", "error", "status"))


@pytest.fixture
def daemon(broker: Broker, tmp_path: Path) -> Iterator[tuple[DaemonProcess, Listener]]:
    need_model()
    listener = Listener(broker.port)
    d = DaemonProcess(write_config(tmp_path / "config.toml", port=broker.port))
    listener.wait_for(STATUS, 90, lambda p: p == b"online")
    yield d, listener
    listener.close()
    d.stop()


def test_text_request_yields_valid_intent_with_callers_id(
    daemon: tuple[DaemonProcess, Listener],
) -> None:
    _, bus = daemon
    bus.publish(TEXT, json.dumps({"text": "set the bedroom light to 30 percent", "id": "req-1"}))
    intent = Intent.model_validate(bus.wait_json(INTENT, id="req-1"))
    assert (intent.action, intent.device, intent.value) == ("set_brightness", "bedroom_light", 30)
    assert intent.source == "mqtt" and intent.site == "test" and intent.lang == "en"
    assert intent.reply and intent.ts.endswith("Z")

    bus.publish(TEXT, "打开厨房灯")  # plain UTF-8 text, no id: dialogd makes one up
    intent = Intent.model_validate(bus.wait_json(INTENT, text="打开厨房灯"))
    assert (intent.action, intent.device, intent.lang) == ("turn_on", "kitchen_light", "zh")
    assert intent.id


def test_bad_payloads_get_errors_and_daemon_keeps_serving(
    daemon: tuple[DaemonProcess, Listener],
) -> None:
    _, bus = daemon
    cases = [
        (b"", "empty"),
        (b"   ", "empty"),
        ("x" * 5000, "too_long"),
        (b"\xff\xfe\x00\x01", "not_utf8"),
        (b'{"text": "turn on the tv", "id": ', "bad_json"),
        (b'{"id": "no-text"}', "bad_json"),
        (b"null", "bad_json"),
        (b"[]", "bad_json"),
        (b'{"text": "turn on the \\ud800 tv"}', "not_utf8"),
        (b'{"text": "x", "id": ' + b"9" * 5000 + b"}", "bad_json"),
        (b"[" * 1000 + b"]" * 1000, "bad_json"),
        (b"turn on the \x07 tv", "control_chars"),
    ]
    for payload, kind in cases:
        bus.publish(TEXT, payload)
        err = ErrorReply.model_validate(json.loads(bus.wait_for(ERROR, 10)))
        assert err.error == kind, (payload, err)
    bus.publish("dialogd/test/say", "x" * 5000)  # speech out has the same limit
    err = ErrorReply.model_validate(json.loads(bus.wait_for(ERROR, 10)))
    assert err.error == "too_long" and "say" in err.detail
    bus.publish(TEXT, json.dumps({"text": "turn on the tv", "id": "after-errors"}))
    intent = Intent.model_validate(bus.wait_json(INTENT, id="after-errors"))
    assert intent.action == "turn_on" and intent.device == "tv"


def test_model_answers_small_talk_over_mqtt(daemon: tuple[DaemonProcess, Listener]) -> None:
    _, bus = daemon
    bus.publish(TEXT, json.dumps({"text": "good morning!", "id": "chat-1"}))
    intent = Intent.model_validate(bus.wait_json(INTENT, id="chat-1"))
    assert intent.action == "chat" and intent.device is None and intent.engine == "model"
    assert intent.reply.strip()


def test_broker_outage_reconnects_and_resubscribes(
    broker: Broker, daemon: tuple[DaemonProcess, Listener]
) -> None:
    d, bus = daemon
    bus.close()
    broker.stop()
    d.wait_status("MQTT broker", timeout=15)  # systemd's status: lost; reconnecting
    time.sleep(1.5)
    broker.start()
    bus2 = Listener(broker.port)
    try:
        # The daemon republishes `online` on every connect (the broker lost it: no persistence).
        bus2.wait_for(STATUS, 30, lambda p: p == b"online")
        bus2.publish(TEXT, json.dumps({"text": "close the blinds", "id": "after-outage"}))
        intent = Intent.model_validate(bus2.wait_json(INTENT, id="after-outage"))
        assert (intent.action, intent.device) == ("close", "curtains")
    finally:
        bus2.close()
    assert d.output().count("lost") == 1, "an outage is logged once, not per retry"


def test_sigterm_publishes_offline_and_exits_0(daemon: tuple[DaemonProcess, Listener]) -> None:
    d, bus = daemon
    assert d.stop() == 0
    bus.wait_for(STATUS, 10, lambda p: p == b"offline")


def test_private_broker_when_none_configured(tmp_path: Path) -> None:
    need_model()
    port = free_port()
    d = DaemonProcess(write_config(tmp_path / "config.toml", port=None, private_port=port))
    try:
        d.wait_ready(90)
        with pytest.raises((TimeoutError, queue.Empty, ConnectionError, OSError)):
            Listener(port).close()  # anonymous: refused
        login = private_broker_login(tmp_path / ".state")
        bus = Listener(port, credentials=login)
        try:
            bus.publish(TEXT, json.dumps({"text": "start the washing machine", "id": "priv"}))
            intent = Intent.model_validate(bus.wait_json(INTENT, id="priv"))
            assert (intent.action, intent.device) == ("start", "washing_machine")
        finally:
            bus.close()
        assert "private MQTT broker" in d.output()

        # The private broker dies: dialogd restarts it and its MQTT link reconnects.
        children = Path(f"/proc/{d.proc.pid}/task/{d.proc.pid}/children").read_text().split()
        mosquitto = [
            int(c) for c in children if b"mosquitto" in Path(f"/proc/{c}/cmdline").read_bytes()
        ]
        assert len(mosquitto) == 1
        os.kill(mosquitto[0], signal.SIGKILL)
        lost = d.wait_status("lost; reconnecting", 10)
        d.wait_status("serving on", 15, after=lost)
        deadline = time.monotonic() + 20
        while True:
            try:
                bus = Listener(port, credentials=login)
                break
            except (OSError, queue.Empty):  # the restarted broker is not up yet
                assert time.monotonic() < deadline
                time.sleep(0.2)
        try:
            bus.wait_for(STATUS, 20, lambda p: p == b"online")
            bus.publish(TEXT, json.dumps({"text": "stop the washing machine", "id": "again"}))
            intent = Intent.model_validate(bus.wait_json(INTENT, id="again"))
            assert intent.action == "stop"
        finally:
            bus.close()
    finally:
        assert d.stop() == 0


def test_no_host_but_a_broker_already_on_the_port(broker: Broker, tmp_path: Path) -> None:
    """Debian starts its own mosquitto on 1883 when the package is installed: use it."""
    need_model()
    bus = Listener(broker.port)
    d = DaemonProcess(write_config(tmp_path / "config.toml", port=None, private_port=broker.port))
    try:
        bus.wait_for(STATUS, 90, lambda p: p == b"online")
        bus.publish(TEXT, json.dumps({"text": "turn off the tv", "id": "shared"}))
        assert Intent.model_validate(bus.wait_json(INTENT, id="shared")).action == "turn_off"
        assert "already listens" in d.output() and "private MQTT broker" not in d.output()
    finally:
        bus.close()
        assert d.stop() == 0


# Every FORMAT.md capability, end to end: payload in over Mosquitto, intent out.
CAPABILITIES = [
    # (payload, expected (action, device, value) triples, device lists expanded)
    ({"text": "turn off the lights in the living room"}, {("turn_off", "living_room_light", None)}),
    (
        {"text": "switch off the lights upstairs"},
        {
            ("turn_off", "bedroom_light", None),
            ("turn_off", "desk_lamp", None),
            ("turn_off", "study_ceiling_light", None),
        },
    ),
    (
        {"text": "turn the coffee maker on and open the curtains"},
        {("turn_on", "coffee_maker", None), ("open", "curtains", None)},
    ),
    ({"text": "make the desk lamp dimmer"}, {("change_brightness", "desk_lamp", -10)}),
    ({"text": "turn the bedroom light purple"}, {("set_color", "bedroom_light", "purple")}),
    ({"text": "add oat milk to the shopping list"}, {("add_item", "shopping_list", "oat milk")}),
    ({"text": "把牛奶加到购物清单"}, {("add_item", "shopping_list", "牛奶")}),
    (
        {"text": "turn on the light", "area": "study"},
        {("turn_on", "desk_lamp", None), ("turn_on", "study_ceiling_light", None)},
    ),
]


def test_every_capability_end_to_end(daemon: tuple[DaemonProcess, Listener]) -> None:
    _, bus = daemon
    for n, (payload, want) in enumerate(CAPABILITIES):
        bus.publish(TEXT, json.dumps({**payload, "id": f"cap-{n}"}))
        intent = Intent.model_validate(bus.wait_json(INTENT, 60, id=f"cap-{n}"))
        got = {(s.action, s.device, s.value) for s in intent.steps}
        assert got == want, (payload, intent.commands)
        assert intent.area == payload.get("area")
        assert intent.reply
    # The flat fields repeat the first command, for appliances that want only those.
    first = intent.commands[0]
    assert (intent.action, intent.device, intent.value) == (first.action, first.device, None)


def test_sensitive_actions_are_marked(daemon: tuple[DaemonProcess, Listener]) -> None:
    _, bus = daemon
    bus.publish(TEXT, json.dumps({"text": "unlock the front door", "id": "s1"}))
    intent = Intent.model_validate(bus.wait_json(INTENT, 60, id="s1"))
    assert intent.sensitive and intent.commands[0].sensitive and intent.steps[0].sensitive
    bus.publish(TEXT, json.dumps({"text": "lock the front door", "id": "s2"}))
    assert not Intent.model_validate(bus.wait_json(INTENT, 60, id="s2")).sensitive


def test_site_area_and_unknown_area(broker: Broker, tmp_path: Path) -> None:
    """A site with `area` set resolves "turn on the light" there; a payload naming an
    area the home lacks gets an error."""
    need_model()
    bus = Listener(broker.port)
    cfg = write_config(tmp_path / "c.toml", port=broker.port, extra="")
    cfg.write_text('area = "bedroom"\n' + cfg.read_text())
    d = DaemonProcess(cfg)
    try:
        bus.wait_for(STATUS, 90, lambda p: p == b"online")
        bus.publish(TEXT, json.dumps({"text": "turn off the light", "id": "a1"}))
        intent = Intent.model_validate(bus.wait_json(INTENT, 60, id="a1"))
        assert (intent.action, intent.device, intent.area) == (
            "turn_off",
            "bedroom_light",
            "bedroom",
        )
        bus.publish(TEXT, json.dumps({"text": "turn off the light", "id": "a2", "area": "moon"}))
        err = ErrorReply.model_validate(json.loads(bus.wait_for(ERROR, 10)))
        assert (err.error, err.id) == ("bad_json", "a2") and "moon" in err.detail
    finally:
        bus.close()
        d.stop()
