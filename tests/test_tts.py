"""Speech out: real pyttsx3 + espeak-ng rendering, the mute gate, the worker's queue.

There is no sound card here, so audio is measured from rendered WAVs. One test puts a
stand-in `aplay` on PATH (it records the WAV and takes as long as playback would) to drive
pyttsx3's real say() path; nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import ctypes.util
import io
import logging
import os
import shutil
import stat
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pydantic
import pytest

from daemon.outputs.speech.tts import (
    MuteGate,
    Speaker,
    TtsError,
    TtsSettings,
    TtsWorker,
    wav_duration_s,
)

HAVE_ESPEAK = bool(ctypes.util.find_library("espeak-ng")) and shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(
    not HAVE_ESPEAK, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)

EN_SHORT = "Turning on the kitchen light."
EN_LONG = (
    "Okay. I have turned on the kitchen light and set the living room heater to "
    "twenty one degrees, and the front door is locked."
)
ZH_SHORT = "好的，已经打开厨房的灯。"
ZH_LONG = "好的，我已经打开了厨房的灯，把客厅的暖气调到二十一度，并且锁好了前门。"


def samples(wav: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(wav), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


def rms(wav: bytes) -> float:
    a, _ = samples(wav)
    return float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))


def words(text: str) -> int:
    return len(text.split())


def hanzi(text: str) -> int:
    return sum(1 for c in text if "\u4e00" <= c <= "\u9fff")


# -- settings and gate (no espeak needed) ------------------------------------------------


def test_settings_defaults_and_validation() -> None:
    s = TtsSettings()
    assert (s.enabled, s.output, s.rate, s.volume, s.mute_tail_s) == (
        True,
        "speaker",
        170,
        1.0,
        0.4,
    )
    assert s.voices == {"en": "en", "zh": "cmn"}
    assert TtsSettings(voices={"ZH_cn": " cmn "}).voices == {"zh-cn": "cmn"}
    with pytest.raises(pydantic.ValidationError):
        TtsSettings(volume=1.5)
    with pytest.raises(pydantic.ValidationError):
        TtsSettings(output="bluetooth")
    with pytest.raises(pydantic.ValidationError):
        TtsSettings(speed=1)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        s.rate = 200  # type: ignore[misc]


def test_mute_gate_covers_speech_and_tail() -> None:
    edges: list[bool] = []
    gate = MuteGate(0.15, on_speaking=edges.append)
    assert not gate.is_muted()
    gate.begin()
    time.sleep(0.2)
    assert gate.is_muted(), "muted for as long as speech lasts, however long"
    gate.end()
    assert gate.is_muted(), "and for the tail after it"
    time.sleep(0.2)
    assert not gate.is_muted()
    gate.begin()
    gate.end(hold_s=0.2)  # audio handed over to play elsewhere
    time.sleep(0.25)
    assert gate.is_muted()
    time.sleep(0.15)
    assert not gate.is_muted()
    assert edges == [True, False, True, False]


# -- rendering through pyttsx3 --------------------------------------------------------------


@needs_espeak
def test_pyttsx3_renders_english_and_chinese_with_fitting_durations() -> None:
    with Speaker(TtsSettings()) as sp:
        sp.start()
        assert sp.voice_for("zh").rsplit("/", 1)[-1] == "cmn"  # type: ignore[union-attr]
        assert sp.voice_for("zh-CN") == sp.voice_for("zh")
        assert sp.voice_for("en") != sp.voice_for("zh")
        out = {}
        for key, text, lang in [
            ("en_short", EN_SHORT, "en"),
            ("en_long", EN_LONG, "en"),
            ("zh_short", ZH_SHORT, "zh"),
            ("zh_long", ZH_LONG, "zh"),
        ]:
            wav = sp.render_wav(text, lang)
            assert sp.last_backend == "pyttsx3", "rendered by pyttsx3, not the fallback"
            _, rate = samples(wav)
            assert rate == 22050
            assert rms(wav) > 500, f"{key} is (nearly) silent: rms {rms(wav):.0f}"
            out[key] = wav_duration_s(wav)

    # 170 wpm is 0.35 s a word nominally; espeak lands at 0.3 to 0.35.
    for key, n in [("en_short", words(EN_SHORT)), ("en_long", words(EN_LONG))]:
        assert 0.2 < out[key] / n < 0.6, (key, out[key], n)
    # Mandarin: one syllable per character, ~0.4-0.45 s each at this rate.
    for key, n in [("zh_short", hanzi(ZH_SHORT)), ("zh_long", hanzi(ZH_LONG))]:
        assert 0.25 < out[key] / n < 0.7, (key, out[key], n)
    # Longer replies take proportionally longer (pauses make it a little less than linear).
    for lang, long, short, count in [
        ("en", EN_LONG, EN_SHORT, words),
        ("zh", ZH_LONG, ZH_SHORT, hanzi),
    ]:
        ratio = out[f"{lang}_long"] / out[f"{lang}_short"]
        expected = count(long) / count(short)
        assert 0.6 * expected < ratio < 1.4 * expected, (lang, ratio, expected)


@needs_espeak
def test_rate_applies_and_voice_switching_is_stable() -> None:
    # Back-to-back replies switching voices must come out the same each time: pyttsx3's
    # runAndWait() cancels whatever espeak still has queued (see
    # daemon/outputs/speech/tts_engine.py), which without care drops rate changes and
    # cuts utterances to nothing.
    durations: dict[str, list[float]] = {"en": [], "zh": []}
    with Speaker(TtsSettings(rate=250)) as sp:
        for _ in range(6):
            for lang, text in (("en", EN_SHORT), ("zh", ZH_SHORT)):
                durations[lang].append(wav_duration_s(sp.render_wav(text, lang)))
        fast = wav_duration_s(sp.render_wav(EN_LONG, "en"))
    for lang, ds in durations.items():
        assert min(ds) > 0.3 and max(ds) - min(ds) < 0.1, (lang, ds)
    with Speaker(TtsSettings(rate=120)) as sp:
        slow = wav_duration_s(sp.render_wav(EN_LONG, "en"))
    assert 1.6 < slow / fast < 2.8, (slow, fast)  # 250/120 = 2.1


@needs_espeak
def test_missing_voice_warns_once_and_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="daemon.outputs.speech.tts")
    with Speaker(TtsSettings(voices={"en": "en", "xx": "no-such-voice"})) as sp:
        sp.start()
        a = sp.render_wav("Hello.", "xx")
        b = sp.render_wav("Hello.", "xx")
        assert sp.voice_for("xx") == sp.voice_for(None)
        assert abs(wav_duration_s(a) - wav_duration_s(b)) < 0.05 and rms(a) > 500
    warned = [r for r in caplog.records if "no-such-voice" in r.getMessage()]
    assert len(warned) == 1


@needs_espeak
# The driver's callback raising on espeak's thread is the failure being provoked.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_failed_render_resets_engine_and_next_one_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="daemon.outputs.speech.tts")
    with Speaker(TtsSettings(), timeout_s=1.0) as sp:
        sp.start()
        starts = sp.engine_starts
        tmp = Path(sp._dir)
        # With its directory gone the driver's callback fails to write the WAV, and
        # runAndWait() would spin for ever without the watchdog; the CLI fallback cannot
        # write either.
        shutil.rmtree(tmp)
        t0 = time.monotonic()
        with pytest.raises(TtsError):
            sp.render_wav("This will not be written.", "en")
        assert time.monotonic() - t0 < 8
        tmp.mkdir()
        wav = sp.render_wav(EN_SHORT, "en")
        assert sp.last_backend == "pyttsx3" and rms(wav) > 500
        assert sp.engine_starts > starts, "the engine was recreated"
        assert sp._render_cli("Hello.", "cmn")[:4] == b"RIFF"  # the fallback path itself
    assert any("recreating" in r.getMessage() for r in caplog.records)


# -- the worker: queue, muting, failures -------------------------------------------------


@needs_espeak
def test_worker_mutes_mic_while_rendering_and_handing_over(tmp_path: Path) -> None:
    async def main() -> None:
        edges: list[tuple[bool, bool, str]] = []
        gate = MuteGate(
            0.3,
            on_speaking=lambda s: edges.append(
                (s, gate.is_muted(), threading.current_thread().name)
            ),
        )
        handed: list[tuple[int, bool]] = []

        async def publish(wav: bytes) -> None:
            handed.append((len(wav), gate.is_muted()))

        worker = TtsWorker(TtsSettings(output="mqtt", mute_tail_s=0.3), gate=gate, on_audio=publish)
        worker.start()
        try:
            await worker.render("Warm up.")
            await asyncio.sleep(0.45)
            assert not gate.is_muted()

            # render(): muted during the job and for the tail.
            edges.clear()
            wav = await worker.render("Okay.", "en")
            assert gate.is_muted()
            assert edges == [(True, True, "tts"), (False, True, "tts")]
            await asyncio.sleep(0.45)
            assert not gate.is_muted()

            # speak() in mqtt mode: muted while rendering, then while the satellite plays
            # the WAV it was handed, then the tail.
            await worker.speak("Okay.", "en")
            t_end = time.monotonic()
            assert handed and handed[0][1], "muted when the audio is handed over"
            dur = wav_duration_s(wav)
            await asyncio.sleep(max(0.0, t_end + dur - time.monotonic() - 0.1))
            assert gate.is_muted(), "still muted while the satellite plays it"
            await asyncio.sleep(max(0.0, t_end + dur + 0.3 + 0.15 - time.monotonic()))
            assert not gate.is_muted()
        finally:
            await worker.stop()

    asyncio.run(main())


@needs_espeak
def test_requests_queue_up_in_order_on_one_thread() -> None:
    async def main() -> None:
        edges: list[tuple[bool, str]] = []
        gate = MuteGate(
            0.1, on_speaking=lambda s: edges.append((s, threading.current_thread().name))
        )
        published: list[float] = []

        async def publish(wav: bytes) -> None:
            published.append(wav_duration_s(wav))

        worker = TtsWorker(TtsSettings(output="mqtt"), gate=gate, on_audio=publish)
        worker.start()
        done: list[str] = []

        async def job(name: str, coro: object) -> object:
            result = await coro  # type: ignore[misc]
            done.append(name)
            return result

        try:
            results = await asyncio.gather(
                job("a", worker.render("One.", "en")),
                job("b", worker.speak(EN_SHORT, "en")),
                job("c", worker.render(EN_LONG, "en")),
                job("d", worker.render(ZH_SHORT, "zh")),
                job("e", worker.render("One two three.", "en")),
            )
        finally:
            await worker.stop()
        assert not worker.running
        assert done == ["a", "b", "c", "d", "e"]
        assert results[1] is None  # speak() hands its audio to the sink instead
        one, long_en, zh, three = (wav_duration_s(r) for r in results if isinstance(r, bytes))
        assert one < three < long_en, "each caller got its own text's audio"
        assert zh > 2.0
        assert len(published) == 1 and 1.0 < published[0] < 2.5
        # One job at a time, all on the one TTS thread.
        assert [s for s, _ in edges] == [True, False] * 5
        assert {t for _, t in edges} == {"tts"}
        with pytest.raises(TtsError):
            await worker.render("After stop.")

    asyncio.run(main())


@needs_espeak
def test_say_failure_is_logged_and_worker_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="daemon.outputs.speech.tts")
    monkeypatch.setenv("PATH", str(tmp_path))  # no aplay, whatever this machine has

    async def main() -> None:
        edges: list[bool] = []
        worker = TtsWorker(
            TtsSettings(output="speaker"), gate=MuteGate(0.1, on_speaking=edges.append)
        )
        worker.start()
        try:
            await worker.speak(EN_SHORT, "en")  # must not raise
            await worker.speak("Second try.", "en")
            wav = await worker.render(EN_SHORT, "en")
            assert rms(wav) > 500
            assert worker.running
        finally:
            await worker.stop()
        assert edges == [True, False] * 3

    asyncio.run(main())
    failed = [r for r in caplog.records if "could not speak" in r.getMessage()]
    assert len(failed) == 2 and "aplay" in failed[0].getMessage()


@needs_espeak
@pytest.mark.skipif(shutil.which("soxi") is None, reason="needs soxi (apt-get install sox)")
def test_say_plays_through_aplay_and_mutes_while_playing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pyttsx3's say() on Linux writes a WAV and runs `aplay <file> -q`. Stand in for the
    # sound card: keep what would be played and take as long as playing it.
    played = tmp_path / "played"
    played.mkdir()
    aplay = tmp_path / "bin" / "aplay"
    aplay.parent.mkdir()
    aplay.write_text(f'#!/bin/sh\ncp "$1" "{played}/$(date +%s%N).wav"\nsleep "$(soxi -D "$1")"\n')
    aplay.chmod(aplay.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{aplay.parent}{os.pathsep}{os.environ['PATH']}")

    async def main() -> None:
        gate = MuteGate(0.3)
        worker = TtsWorker(TtsSettings(output="speaker", mute_tail_s=0.3), gate=gate)
        worker.start()
        try:
            # A render first: pyttsx3 would otherwise write the next say() into that file.
            await worker.render("Warm up.")
            samples_: list[bool] = []
            t0 = time.monotonic()
            task = asyncio.create_task(worker.speak(EN_SHORT, "en"))
            while not task.done():
                samples_.append(gate.is_muted())
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - t0
            assert gate.is_muted(), "muted for the tail after playback"
            await asyncio.sleep(0.45)
            assert not gate.is_muted()
        finally:
            await worker.stop()
        files = sorted(played.iterdir())
        assert len(files) == 1, "say() played once, and render() did not play"
        dur = wav_duration_s(files[0].read_bytes())
        assert 1.2 < dur < 2.2 and rms(files[0].read_bytes()) > 500
        assert elapsed >= dur - 0.05, "say() returns when playback has ended"
        assert len(samples_) >= 10 and all(samples_[1:]), "muted throughout playback"

    asyncio.run(main())


@needs_espeak
def test_run_task_and_disabled_worker() -> None:
    async def main() -> None:
        worker = TtsWorker(TtsSettings(output="off"))
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0)
        assert worker.running
        await worker.speak("Nothing should happen.")  # output off: dropped
        assert rms(await worker.render("Still renders on request.")) > 500
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not worker.running

        off = TtsWorker(TtsSettings(enabled=False))
        off.start()
        assert not off.running
        await off.speak("Nothing.")
        with pytest.raises(TtsError):
            await off.render("Nothing.")

    asyncio.run(main())
