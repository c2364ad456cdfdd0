"""TTS latency: time to first audio and real-time factor of rendering.

pyttsx3's espeak driver renders a whole utterance before handing anything over (no
streaming), so time to first audio is the time from the request to the complete WAV bytes.
Measured through `TtsWorker.render()`, the path the daemon uses: asyncio -> queue -> TTS
thread -> pyttsx3 -> espeak-ng -> WAV bytes back on the event loop. For comparison, the same
texts through the `espeak-ng -w` command (the fallback path).

    .venv/bin/python benchmarks/tts_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time

from daemon.outputs.speech.tts import Speaker, TtsSettings, TtsWorker, wav_duration_s

TEXTS = [
    ("en", "short", "Turning on the kitchen light."),
    (
        "en",
        "long",
        "Okay. I have turned on the kitchen light and set the living room heater to twenty "
        "one degrees. The front door is locked, and tomorrow will be sunny with a high of "
        "eighteen degrees.",
    ),
    ("zh", "short", "好的，已经打开厨房的灯。"),
    (
        "zh",
        "long",
        "好的，我已经打开了厨房的灯，把客厅的暖气调到二十一度，并且锁好了前门。"
        "明天天气晴朗，最高气温十八度。",
    ),
]


def row(label: str, times: list[float], audio_s: float) -> str:
    med = statistics.median(times)
    return (
        f"{label:<22} {med * 1000:8.1f} {min(times) * 1000:8.1f} {max(times) * 1000:8.1f} "
        f"{audio_s:8.2f} {med / audio_s:8.4f}"
    )


HEADER = (
    f"{'':<22} {'median':>8} {'min':>8} {'max':>8} {'audio':>8} {'RTF':>8}\n"
    f"{'':<22} {'ms':>8} {'ms':>8} {'ms':>8} {'s':>8} {'':>8}"
)


async def bench_worker(settings: TtsSettings, repeat: int) -> None:
    worker = TtsWorker(settings)
    t0 = time.perf_counter()
    worker.start()
    await worker.render("Ready.")
    cold = time.perf_counter() - t0
    print(f"cold start (thread + engine + warm-up + first render): {cold * 1000:.1f} ms")
    print()
    print("pyttsx3 via TtsWorker.render(): time to first audio (= complete WAV)")
    print(HEADER)
    try:
        for lang, size, text in TEXTS:
            times: list[float] = []
            audio_s = 0.0
            for _ in range(repeat):
                t = time.perf_counter()
                wav = await worker.render(text, lang)
                times.append(time.perf_counter() - t)
                audio_s = wav_duration_s(wav)
            print(row(f"{lang} {size} ({len(text)} chars)", times, audio_s))
    finally:
        await worker.stop()


def bench_cli(settings: TtsSettings, repeat: int) -> None:
    print()
    print("espeak-ng -w subprocess (fallback path), same texts")
    print(HEADER)
    with Speaker(settings) as sp:
        for lang, size, text in TEXTS:
            voice = settings.voices[lang]
            times: list[float] = []
            audio_s = 0.0
            for _ in range(repeat):
                t = time.perf_counter()
                wav = sp._render_cli(text, voice)
                times.append(time.perf_counter() - t)
                audio_s = wav_duration_s(wav)
            print(row(f"{lang} {size} ({len(text)} chars)", times, audio_s))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    settings = TtsSettings()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f"; rate {settings.rate} wpm; {args.repeat} runs each"
    )
    print("RTF = render time / audio duration (below 1 is faster than real time)")
    print()
    asyncio.run(bench_worker(settings, args.repeat))
    bench_cli(settings, max(1, args.repeat // 2))


if __name__ == "__main__":
    main()
