"""Speech in: the async adapter between audio (MQTT chunks or a local mic) and the daemon.

MQTT audio format, per site:

- `dialogd/<site>/audio`: raw PCM, signed 16-bit little-endian, mono, at
  `asr.sample_rate` Hz (16000 unless configured), in chunks of any size (20-250 ms
  is typical). No header, no WAV container. Chunks of one utterance are sent in order.
- End of an utterance: an empty payload on `dialogd/<site>/audio`, or any payload on
  `dialogd/<site>/audio/end`. The recognizer then gives its final text at once instead
  of waiting for trailing silence; a satellite that streams continuously can skip it.
- Partial texts go out on `dialogd/<site>/asr/partial` (published by the daemon).

Audio at another rate than 16 kHz is resampled here (numpy, linear interpolation
after a moving-average anti-alias) rather than by configuring Vosk at that rate, so
that one engine type, at one rate, serves MQTT and the mic alike.

Threads: Vosk decodes on ONE worker thread per channel, fed through a queue; the event
loop never runs Kaldi. A local mic is read on its own reader thread, which puts chunks
straight on that queue. Results come back to the loop and the callbacks are awaited in
order, one at a time, on a dispatcher task.

A channel serves one audio stream: a site's MQTT audio or one mic, not both at once
(interleaved chunks of two streams would be decoded as one). Make one channel each;
their engines share the loaded model.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from daemon.channels.speech.asr import SAMPLE_RATE, AsrEngine
from daemon.channels.speech.audio_sources import AudioSource, Muter, StreamResampler
from daemon.pipeline.workers import ThreadWorker

log = logging.getLogger(__name__)

_BYTES_PER_S = SAMPLE_RATE * 2


class MuteSignal(Protocol):
    """Whether audio must be ignored: the TTS side's gate (tts.MuteGate) or a Muter."""

    def is_muted(self) -> bool: ...

    def set_muted(self, until_monotonic: float) -> None: ...


class VoiceChannel:
    """Turns one audio stream into partial texts and utterance texts.

    Use as `async with VoiceChannel(...) as ch:`, or `await ch.start()` / `await ch.close()`.
    `engine_factory` runs on the worker thread (loading a model takes seconds).
    """

    def __init__(
        self,
        engine_factory: Callable[[], AsrEngine],
        on_partial: Callable[[str], Awaitable[None]],
        on_utterance: Callable[[str], Awaitable[None]],
        *,
        sample_rate: int = SAMPLE_RATE,
        muter: MuteSignal | None = None,
        max_backlog_s: float = 10.0,
        name: str = "voice",
    ) -> None:
        """`sample_rate` is the rate of `feed()` audio; mic sources always give 16 kHz.

        `max_backlog_s` bounds the audio waiting for the worker: past it, live audio
        is dropped (a Pi that falls behind catches up instead of answering ever later)
        and file audio waits.
        """
        self._factory = engine_factory
        self._on_partial = on_partial
        self._on_utterance = on_utterance
        self._sample_rate = sample_rate
        self.muter: MuteSignal = muter if muter is not None else Muter()
        self._max_backlog = int(max_backlog_s * _BYTES_PER_S)
        self.name = name

        self._jobs: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._backlog = 0
        self._backlog_cv = threading.Condition()
        self._dropped = 0
        self._last_drop_log = 0.0
        self._was_muted = False
        self._mute_lock = threading.Lock()

        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: asyncio.Queue[tuple[str, Any]] | None = None
        # The recognizer's loop, on its own worker thread (pipeline/workers.py).
        self._worker: ThreadWorker | None = None
        self._work_done: concurrent.futures.Future[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._closed = False
        self._readers: dict[threading.Event, AudioSource] = {}

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the worker and wait for the engine; raises what the factory raised."""
        if self._worker is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._events = asyncio.Queue()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._worker = ThreadWorker(f"dialogd-asr-{self.name}")
        self._work_done = self._worker.submit(self._work, ready)
        try:
            await ready
        except BaseException:
            self._closed = True
            # The loop ended with the engine's failure: its thread goes too.
            worker, self._worker, self._work_done = self._worker, None, None
            worker.close(wait=False)
            raise
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"asr-{self.name}-events")

    async def close(self) -> None:
        """Stop the worker (audio still queued is dropped) and the dispatcher."""
        if self._closed and self._worker is None:
            return
        self._closed = True
        for stop, source in list(self._readers.items()):
            stop.set()
            source.close()
        worker, self._worker = self._worker, None
        if worker is not None:
            self._jobs.put(("stop", None))
            with self._backlog_cv:
                self._backlog_cv.notify_all()
            done, self._work_done = self._work_done, None
            if done is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(done)), 10.0)
                    worker.close()
                except TimeoutError:
                    log.error("%s: the recognizer did not stop within 10 s", self.name)
            # Nobody will process what is still queued: release flush() waiters.
            while True:
                try:
                    kind, data = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if kind == "barrier":
                    _set_result(data, None)
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None

    async def __aenter__(self) -> VoiceChannel:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----------------------------------------------------------------- audio in

    def set_muted(self, until_monotonic: float) -> None:
        """Drop mic and MQTT audio until then (plus the muter's tail): the daemon speaks."""
        self.muter.set_muted(until_monotonic)

    async def feed(self, pcm: bytes) -> None:
        """One MQTT audio chunk at `sample_rate`; an empty chunk ends the utterance."""
        self._check_open()
        if not pcm:
            await self.end_of_utterance()
            return
        self._intake("net", pcm, live=True)

    def listen(self, seconds: float) -> None:
        """Take the next utterance without the wake phrase, within `seconds` of audio
        (a question was asked: its answer needs no wake phrase)."""
        if not self._closed:
            self._jobs.put(("listen", seconds))

    def set_phrases(self, phrases: list[str]) -> None:
        """New device names for the recognizer's grammar (applied on its thread)."""
        if not self._closed:
            self._jobs.put(("phrases", phrases))

    async def end_of_utterance(self) -> None:
        """The satellite's end mark: the final text now, without waiting for silence."""
        self._check_open()
        self._jobs.put(("end", None))

    async def flush(self) -> None:
        """Wait until everything fed so far is decoded and its callbacks have returned."""
        self._check_open()
        assert self._loop is not None
        done: asyncio.Future[None] = self._loop.create_future()
        self._jobs.put(("barrier", done))
        await done

    async def mic_task(
        self, source: AudioSource, *, retry_s: float = 2.0, max_retry_s: float = 60.0
    ) -> None:
        """Read `source` until cancelled, reopening it after errors.

        Retries back off from `retry_s` to `max_retry_s` (a mic missing for a week
        should not write a log line every two seconds) and start over once the source
        has worked for a minute. Returns when the source ends (a file without `loop`),
        after the final text of its last utterance, or when the channel is closed.
        Meant to run as a long-lived task; cancel it to stop.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        delay = retry_s
        while not self._closed:
            stop = threading.Event()
            done: asyncio.Future[BaseException | None] = loop.create_future()
            reader = ThreadWorker(f"dialogd-mic-{self.name}")
            self._readers[stop] = source
            started = time.monotonic()
            reader.submit(self._pump, source, stop, done)
            try:
                err = await done
            except asyncio.CancelledError:
                stop.set()
                source.close()  # unblocks a read() in progress
                with self._backlog_cv:
                    self._backlog_cv.notify_all()
                raise
            finally:
                self._readers.pop(stop, None)
                reader.close(wait=False)  # its thread ends with the read it is in
            if self._closed:
                return
            if err is None:
                log.info("%s: audio source ended", self.name)
                self._jobs.put(("end", None))
                await self.flush()
                return
            if time.monotonic() - started > 60.0:
                delay = retry_s
            log.error("%s: audio source failed, retrying in %.1f s: %s", self.name, delay, err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max(max_retry_s, retry_s))

    # ----------------------------------------------------------------- internals

    def _check_open(self) -> None:
        if self._worker is None or self._closed:
            raise RuntimeError(f"voice channel {self.name!r} is not running")

    def _intake(
        self, kind: str, pcm: bytes, *, live: bool, stop: threading.Event | None = None
    ) -> None:
        """Queue a chunk for the worker, unless muted or (live) the worker is behind.

        Runs on the loop (MQTT) or a reader thread (mic), so muting applies to audio by
        when it arrived, not by when the worker gets to it.
        """
        muted = self.muter.is_muted()
        with self._mute_lock:
            started, self._was_muted = muted and not self._was_muted, muted
        if muted:
            if started:
                # Speech cut by the mute would glue onto what follows it: drop it.
                self._jobs.put(("reset", None))
            return
        n = self._cost(kind, len(pcm))
        with self._backlog_cv:
            if live:
                if self._backlog + n > self._max_backlog:
                    self._note_drop(n)
                    return
            else:
                while self._backlog + n > self._max_backlog and not self._closed:
                    if stop is not None and stop.is_set():
                        return
                    self._backlog_cv.wait(0.2)
            self._backlog += n
        self._jobs.put((kind, pcm))

    def _cost(self, kind: str, nbytes: int) -> int:
        # Backlog is counted in bytes of 16 kHz audio, whatever the rate of net audio.
        return nbytes if kind == "mic" else nbytes * SAMPLE_RATE // self._sample_rate

    def _note_drop(self, n: int) -> None:
        self._dropped += n
        now = time.monotonic()
        if now - self._last_drop_log > 10.0:
            log.warning(
                "%s: recognizer behind by %.1f s of audio, dropped %.1f s",
                self.name,
                self._backlog / _BYTES_PER_S,
                self._dropped / _BYTES_PER_S,
            )
            self._last_drop_log = now
            self._dropped = 0

    def _pump(
        self,
        source: AudioSource,
        stop: threading.Event,
        done: asyncio.Future[BaseException | None],
    ) -> None:
        """Reader thread: source → queue. Reports None at the end of the stream."""
        err: BaseException | None = None
        try:
            source.open()
            while not stop.is_set():
                chunk = source.read()
                if not chunk:
                    break
                if not stop.is_set():
                    self._intake("mic", chunk, live=source.live, stop=stop)
        except Exception as e:
            err = e
        finally:
            source.close()
        self._post_threadsafe(_set_result, done, None if stop.is_set() else err)

    def _post_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            loop.call_soon_threadsafe(fn, *args)

    def _emit(self, kind: str, payload: Any) -> None:
        if self._events is not None:
            self._post_threadsafe(self._events.put_nowait, (kind, payload))

    def _work(self, ready: asyncio.Future[None]) -> None:
        """The worker thread: owns the engine, and is the only one to touch it."""
        try:
            engine = self._factory()
        except BaseException as e:
            log.exception("%s: cannot start the speech recognizer", self.name)
            self._post_threadsafe(_set_exception, ready, e)
            return
        self._post_threadsafe(_set_result, ready, None)
        resampler = StreamResampler(self._sample_rate) if self._sample_rate != SAMPLE_RATE else None
        odd = b""  # a net chunk may split a sample; its first byte waits here
        while True:
            kind, data = self._jobs.get()
            if kind == "stop":
                return
            try:
                if kind in ("mic", "net"):
                    with self._backlog_cv:
                        self._backlog -= self._cost(kind, len(data))
                        self._backlog_cv.notify_all()
                    if kind == "net":
                        data, odd = odd + data, b""
                        if len(data) % 2:
                            data, odd = data[:-1], data[-1:]
                        if resampler is not None:
                            data = resampler.process(data)
                    event = engine.accept(data)
                    if event is None:
                        continue
                    if event.kind == "partial":
                        self._emit("partial", event.text)
                    elif event.text:
                        self._emit("utterance", event.text)
                elif kind == "end":
                    odd = b""
                    if resampler is not None:
                        resampler.reset()
                    text = engine.finish()
                    if text:
                        self._emit("utterance", text)
                elif kind == "reset":
                    engine.reset()
                elif kind == "listen":
                    listen = getattr(engine, "listen", None)  # optional in AsrEngine
                    if listen is not None:
                        listen(float(data))
                elif kind == "phrases":
                    set_phrases = getattr(engine, "set_phrases", None)  # optional too
                    if set_phrases is not None:
                        set_phrases(data)
                elif kind == "barrier":
                    self._emit("barrier", data)
            except Exception:
                # One bad chunk must not end speech input for the months the daemon runs.
                log.exception("%s: speech recognizer failed on %s", self.name, kind)
                with contextlib.suppress(Exception):
                    engine.reset()

    async def _dispatch(self) -> None:
        assert self._events is not None
        while True:
            kind, payload = await self._events.get()
            if kind == "barrier":
                if not payload.done():
                    payload.set_result(None)
                continue
            callback = self._on_partial if kind == "partial" else self._on_utterance
            try:
                await callback(payload)
            except Exception:
                log.exception("%s: %s callback failed", self.name, kind)


def _set_result(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[None], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
