"""Speech out through the daemon: replies rendered by pyttsx3 and published for satellites."""

from __future__ import annotations

import io
import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import Broker, DaemonProcess, Listener, need_model, write_config


def _wav_stats(data: bytes) -> tuple[float, float]:
    with wave.open(io.BytesIO(data)) as w:
        frames = w.readframes(w.getnframes())
        rate = w.getframerate()
    pcm = np.frombuffer(frames, dtype=np.int16).astype(np.float64)
    return len(pcm) / rate, float(np.sqrt(np.mean(pcm**2)))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_replies_and_say_topic_become_wav_on_mqtt(broker: Broker, tmp_path: Path) -> None:
    need_model()
    extra = '[tts]\noutput = "mqtt"\nspeak_sources = ["mqtt"]\n'
    bus = Listener(broker.port)
    d = DaemonProcess(write_config(tmp_path / "config.toml", port=broker.port, extra=extra))
    try:
        bus.wait_for("dialogd/test/status", 90, lambda p: p == b"online")
        bus.publish("dialogd/test/text", json.dumps({"text": "open the garage", "id": "t1"}))
        bus.wait_json("dialogd/test/intent", id="t1")
        seconds, rms = _wav_stats(bus.wait_for("dialogd/test/tts/audio", 30))
        assert rms > 300, "the reply is audible"
        assert 0.6 < seconds < 6, seconds  # "Opening the garage door." at 170 wpm

        bus.publish("dialogd/test/say", "晚饭已经准备好了，请大家来吃饭。")
        seconds_zh, rms_zh = _wav_stats(bus.wait_for("dialogd/test/tts/audio", 30))
        assert rms_zh > 300 and seconds_zh > 1.5
    finally:
        bus.close()
        assert d.stop() == 0
