"""Home Assistant's own home inside dialogd, against a real Home Assistant 2025.4.4 with
its `demo` integration: entities read over the websocket API, switched with
call_service, confirmed and answered from HA's states; registry changes understood
without a restart; a wrong token and HA going away and coming back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import hass_core
from tests.conftest import Broker, DaemonProcess, Listener, free_port, write_config
from tests.hass_core import HassCore

pytestmark = pytest.mark.skipif(
    not hass_core.available(), reason=f"no Home Assistant venv at {hass_core.HASS_PYTHON}"
)
RULES_ONLY = {"DIALOGD_LLM__ENABLED": "false"}
# dialogd's own device beside HA's: it must keep working whatever HA does.
OWN = '[[devices]]\nid = "fountain"\ntype = "switch"\nname = "garden fountain"\n'


@pytest.fixture(scope="module")
def hass(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HassCore]:
    h = HassCore(tmp_path_factory.mktemp("hass"))
    h.start()
    h.onboard()
    yield h
    h.stop()


def _config(tmp_path: Path, port: int, url: str, token: str) -> Path:
    token_file = tmp_path / "ha.token"
    token_file.write_text(token + "\n")
    cfg = write_config(tmp_path / "c.toml", port=port, devices=OWN)
    cfg.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        + cfg.read_text()
        + f'[homeassistant]\nurl = "{url}"\ntoken_file = "{token_file}"\n'
        + "[home]\nconfirm_timeout_s = 5\n"
    )
    return cfg


def _answer(bus: Listener, text: str, rid: str, timeout: float = 30) -> dict[str, Any]:
    bus.publish("dialogd/test/text", json.dumps({"text": text, "id": rid}))
    return bus.wait_json("dialogd/test/intent", timeout, id=rid)


def _until(bus: Listener, text: str, device: str, timeout: float = 60) -> dict[str, Any]:
    """Ask until the request names `device` (the home is being read, or read again)."""
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        n += 1
        intent = _answer(bus, text, f"u{n}-{time.monotonic_ns()}")
        if intent["device"] == device or time.monotonic() > deadline:
            return intent
        time.sleep(0.5)


def test_an_mqtt_request_switches_a_demo_light_and_questions_read_its_state(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    bus = Listener(broker.port)
    d = DaemonProcess(_config(tmp_path, broker.port, hass.url, hass.token), env=RULES_ONLY)
    try:
        bus.online(120)
        before = hass.state("light.bed_light")["state"]
        want, action = ("off", "turn_off") if before == "on" else ("on", "turn_on")
        intent = _answer(bus, f"{action.replace('_', ' ')} the bed light", "h1")
        assert (intent["action"], intent["device"]) == (action, "bed_light"), intent
        result = bus.wait_json("dialogd/test/result", 30, id="h1")
        assert result["result"] == "executed", result
        assert hass.wait_state("light.bed_light", want)["state"] == want
        reply = _answer(bus, "is the bed light on", "h2")["reply"]
        assert reply.startswith(f"The Bed Light is {want}"), reply  # from HA's state
        # dialogd's own device is not HA's business, and still works.
        assert _answer(bus, "turn on the garden fountain", "h3")["device"] == "fountain"
    finally:
        bus.close()
        assert d.stop() == 0


def test_an_alias_given_in_home_assistant_is_understood_without_a_restart(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    bus = Listener(broker.port)
    d = DaemonProcess(_config(tmp_path, broker.port, hass.url, hass.token), env=RULES_ONLY)
    try:
        bus.online(120)
        assert _answer(bus, "turn on the cooking lamp", "a0")["action"] == "unknown"
        hass.ws(
            None,
            {
                "type": "config/entity_registry/update",
                "entity_id": "light.kitchen_lights",
                "aliases": ["cooking lamp"],
            },
        )
        intent = _until(bus, "turn on the cooking lamp", "kitchen_lights")
        assert (intent["action"], intent["device"]) == ("turn_on", "kitchen_lights")
        hass.wait_state("light.kitchen_lights", "on")
    finally:
        bus.close()
        assert d.stop() == 0


def test_a_wrong_token_is_one_clear_error_and_the_rest_keeps_working(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    bus = Listener(broker.port)
    d = DaemonProcess(_config(tmp_path, broker.port, hass.url, "not-a-token"), env=RULES_ONLY)
    try:
        bus.online(120)  # after home.startup_wait_s at most: HA is not waited for forever
        assert _answer(bus, "turn on the garden fountain", "w1")["device"] == "fountain"
        assert d.output().count("refused the access token") == 1
        assert "not-a-token" not in d.output()
    finally:
        bus.close()
        assert d.stop() == 0


def test_home_assistant_going_away_and_coming_back(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    bus = Listener(broker.port)
    d = DaemonProcess(_config(tmp_path, broker.port, hass.url, hass.token), env=RULES_ONLY)
    try:
        bus.online(120)
        hass.stop()
        intent = _answer(bus, "turn on the ceiling lights", "g1")
        assert intent["device"] == "ceiling_lights"
        assert bus.wait_json("dialogd/test/result", 30, id="g1")["result"] == "failed"
        hass.start()
        deadline = time.monotonic() + 120
        n = 0
        while True:  # dialogd connects again on its own (backoff up to 60 s)
            n += 1
            _answer(bus, "turn on the ceiling lights", f"g2-{n}")
            result = bus.wait_json("dialogd/test/result", 30, id=f"g2-{n}")
            if result["result"] == "executed" or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert result["result"] == "executed", result
    finally:
        bus.close()
        assert d.stop() == 0
        if hass.proc is None:
            hass.start()


def test_home_assistant_adds_dialogd_as_a_wyoming_conversation_agent(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    """HA's own wyoming config flow adds dialogd; `conversation/process` through dialogd's
    agent is decided and carried out by dialogd (a demo light over the websocket API)."""
    port = free_port()
    cfg = _config(tmp_path, broker.port, hass.url, hass.token)
    cfg.write_text(
        cfg.read_text() + f'[wyoming]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
    )
    bus = Listener(broker.port)
    d = DaemonProcess(cfg, env=RULES_ONLY)
    try:
        bus.online(120)
        flow = hass.rest("/api/config/config_entries/flow", {"handler": "wyoming"})
        done = hass.rest(
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"host": "127.0.0.1", "port": port},
        )
        assert done["type"] == "create_entry", done
        agents = _wait_entities(hass, "conversation.")
        agent = next(a for a in agents if a != "conversation.home_assistant")
        before = hass.state("light.office_rgbw_lights")["state"]
        want, verb = ("off", "turn off") if before == "on" else ("on", "turn on")
        answer = hass.rest(
            "/api/conversation/process",
            {"text": f"{verb} the office rgbw lights", "agent_id": agent, "language": "en"},
        )
        speech = answer["response"]["speech"]["plain"]["speech"]
        assert "Office RGBW Lights" in speech, answer
        hass.wait_state("light.office_rgbw_lights", want)
        intent = bus.wait_json("dialogd/test/intent", 30, source="wyoming")
        assert intent["device"] == "office_rgbw_lights", intent
    finally:
        bus.close()
        assert d.stop() == 0


def _wait_entities(hass: HassCore, prefix: str, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = [
            s["entity_id"] for s in hass.rest("/api/states") if s["entity_id"].startswith(prefix)
        ]
        if len(found) > 1 or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
