"""Speech out, asyncio side: `TtsWorker` runs one `Speaker` (tts_engine.py) on one
dedicated thread behind a FIFO queue; `MuteGate` tells the voice input when to ignore the
microphone so the daemon does not answer itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from daemon.config.channels import TtsSettings
from daemon.outputs.speech.tts_engine import Speaker, TtsError, wav_duration_s
from daemon.pipeline.workers import ThreadWorker

log = logging.getLogger(__name__)

AudioSink = Callable[[bytes], Awaitable[None]]

__all__ = ["MuteGate", "Speaker", "TtsError", "TtsSettings", "TtsWorker", "wav_duration_s"]


class MuteGate:
    """Whether the microphone must be ignored: from the moment speech starts until
    `tail_s` (plus any extra hold) after it ends.

    Thread-safe; `begin`/`end` are called from the TTS thread, `is_muted` from anywhere.
    `on_speaking(True/False)` is called, on the TTS thread, when speech starts and ends (the
    tail still follows), for listeners that prefer edges to polling; it must not block.
    """

    def __init__(self, tail_s: float, on_speaking: Callable[[bool], None] | None = None) -> None:
        self._tail_s = tail_s
        self._on_speaking = on_speaking
        self._lock = threading.Lock()
        self._active = 0
        self._until = 0.0  # time.monotonic() deadline: wall-clock jumps must not unmute

    @property
    def tail_s(self) -> float:
        return self._tail_s

    def begin(self) -> None:
        with self._lock:
            self._active += 1
        self._notify(True)

    def end(self, hold_s: float = 0.0) -> None:
        """Speech ended; stay muted for the tail, plus `hold_s` for audio that is still to
        play elsewhere (a satellite playing the WAV just handed over)."""
        with self._lock:
            self._active = max(0, self._active - 1)
            self._until = max(self._until, time.monotonic() + hold_s + self._tail_s)
        self._notify(False)

    def is_muted(self) -> bool:
        with self._lock:
            return self._active > 0 or time.monotonic() < self._until

    def set_muted(self, until_monotonic: float) -> None:
        """Muted until then plus the tail, for sounds that dialogd plays by other means."""
        with self._lock:
            self._until = max(self._until, until_monotonic + self._tail_s)

    @contextlib.contextmanager
    def speaking(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        finally:
            self.end()

    def _notify(self, speaking: bool) -> None:
        if self._on_speaking is None:
            return
        try:
            self._on_speaking(speaking)
        except Exception:
            # A listener's bug must not stop the gate, nor the speech.
            log.exception("tts: on_speaking(%s) listener failed", speaking)


# -- asyncio side -----------------------------------------------------------------------


@dataclass
class _Request:
    kind: Literal["say", "render"]
    text: str
    lang: str | None
    hold_for_playback: bool
    future: concurrent.futures.Future[bytes | None]
    # False for audio that plays elsewhere (a Wyoming client's speaker): the local
    # microphone need not be muted while it is rendered.
    mute: bool = True


class TtsWorker:
    """Runs one `Speaker` on one dedicated thread; requests are served in arrival order.

    `speak()` follows `settings.output`: "speaker" plays locally, "mqtt" renders and awaits
    `on_audio(wav)` (the caller publishes it on dialogd/<site>/tts/audio), "off" drops the
    text. Failures to speak are logged, never raised. The gate is muted for every job, and in
    "mqtt" mode also for the WAV's duration after it is handed over, on the assumption that
    the satellite plays it at once.
    """

    def __init__(
        self,
        settings: TtsSettings,
        *,
        gate: MuteGate | None = None,
        on_audio: AudioSink | None = None,
        speaker_factory: Callable[[], Speaker] | None = None,
    ) -> None:
        self.settings = settings
        self.gate = gate if gate is not None else MuteGate(settings.mute_tail_s)
        self._on_audio = on_audio
        self._factory = speaker_factory or (lambda: Speaker(settings))
        self._queue: queue.SimpleQueue[_Request | None] | None = None
        # The speaker's loop, on its own worker thread (pipeline/workers.py).
        self._worker: ThreadWorker | None = None
        self._main_done: concurrent.futures.Future[None] | None = None
        self._warned_no_sink = False

    @property
    def running(self) -> bool:
        return self._main_done is not None and not self._main_done.done()

    def start(self) -> None:
        if not self.settings.enabled or self.running:
            return
        self._queue = queue.SimpleQueue()
        self._worker = ThreadWorker("tts")
        self._main_done = self._worker.submit(self._main, self._queue)

    async def stop(self, timeout_s: float = 20.0) -> None:
        """Drop what is still queued, let the current utterance end, stop the worker."""
        done, worker, q = self._main_done, self._worker, self._queue
        if done is None or worker is None or q is None:
            return
        self._main_done = self._worker = None
        while True:
            try:
                req = q.get_nowait()
            except queue.Empty:
                break
            if req is not None:
                req.future.cancel()
        q.put(None)
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(done)), timeout_s)
        except TimeoutError:
            log.error("tts: the speaker did not stop within %.0f s", timeout_s)
            return  # its thread is left to end with the process
        worker.close()

    async def run(self) -> None:
        """Long-lived task form: starts the worker, stops it when cancelled."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def speak(self, text: str, lang: str | None = None) -> None:
        """Queue a reply and wait until it has been spoken (or handed over, or dropped)."""
        if not self.settings.enabled or self.settings.output == "off" or not text.strip():
            return
        mqtt = self.settings.output == "mqtt"
        try:
            wav = await self._submit("render" if mqtt else "say", text, lang, hold=mqtt)
        except asyncio.CancelledError:
            raise
        except TtsError as e:
            log.warning("tts: could not speak %r: %s", _clip(text), e)
            return
        except Exception:
            log.exception("tts: could not speak %r", _clip(text))
            return
        if mqtt and wav is not None:
            if self._on_audio is None:
                if not self._warned_no_sink:
                    self._warned_no_sink = True
                    log.warning("tts: output is 'mqtt' but no audio sink is set; dropping")
                return
            await self._on_audio(wav)

    async def render(self, text: str, lang: str | None = None, *, mute: bool = True) -> bytes:
        """Render to WAV bytes, in turn with everything else queued. Raises TtsError.
        `mute`: keep the microphone muted while rendering (False for audio that another
        machine plays)."""
        if not self.settings.enabled:
            raise TtsError("tts is disabled")
        wav = await self._submit("render", text, lang, hold=False, mute=mute)
        if wav is None:
            raise TtsError("render produced no audio")
        return wav

    async def _submit(
        self,
        kind: Literal["say", "render"],
        text: str,
        lang: str | None,
        *,
        hold: bool,
        mute: bool = True,
    ) -> bytes | None:
        if not self.running or self._queue is None:
            raise TtsError("tts worker is not running")
        fut: concurrent.futures.Future[bytes | None] = concurrent.futures.Future()
        self._queue.put(_Request(kind, text, lang, hold, fut, mute))
        # A cancelled awaiter cancels the request too, unless it has already started.
        return await asyncio.wrap_future(fut)

    def _main(self, q: queue.SimpleQueue[_Request | None]) -> None:
        speaker: Speaker | None = None
        startup_error: Exception | None = None
        try:
            speaker = self._factory()
            speaker.start()
        except Exception as e:
            # Keep serving: requests then fail (and retry the engine) instead of hanging.
            startup_error = e
            log.error("tts: engine did not start: %s", e)
        try:
            while True:
                req = q.get()
                if req is None:
                    break
                if not req.future.set_running_or_notify_cancel():
                    continue
                try:
                    if speaker is None:
                        raise TtsError(f"no speaker: {startup_error}")
                    req.future.set_result(self._serve(speaker, req))
                except Exception as e:
                    req.future.set_exception(e)
        finally:
            if speaker is not None:
                speaker.close()

    def _serve(self, speaker: Speaker, req: _Request) -> bytes | None:
        if req.kind == "render" and not req.mute:
            return speaker.render_wav(req.text, req.lang)
        hold = 0.0
        self.gate.begin()
        try:
            if req.kind == "say":
                speaker.say(req.text, req.lang)
                return None
            wav = speaker.render_wav(req.text, req.lang)
            if req.hold_for_playback:
                hold = wav_duration_s(wav)
            return wav
        finally:
            self.gate.end(hold)


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
