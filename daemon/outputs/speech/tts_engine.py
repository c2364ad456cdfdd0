"""The speech engine: `Speaker`, plain blocking code that owns the pyttsx3 engine.

It is used from one thread only; `daemon.outputs.speech.tts.TtsWorker` is its asyncio adapter.

pyttsx3 2.99's espeak driver needs handling to be dependable (all seen on espeak-ng 1.51):

* espeak-ng runs in its asynchronous mode: synthesis, and also rate and volume changes, are
  queued in espeak's own command FIFO and run on its thread. The synth callback, the WAV
  writing and the "finished-utterance" notification all happen on that thread.
* `runAndWait()` calls the driver's `stop()` before it starts, and `stop()` cancels whatever
  is still in espeak's FIFO. Rate/volume changes made just before are then lost, and the
  cancellation can also cut the utterance short (0-frame WAVs). Measured: 12 of 40
  back-to-back renders. So espeak must be idle before `runAndWait()`.
* The first `runAndWait()` of an engine returns before synthesis has finished (the file does
  not exist yet); later calls block until it has. Completion is therefore taken from the
  "finished-utterance" notification, never from `runAndWait()` returning.
* If the synth callback raises (e.g. the WAV cannot be written) the exception is swallowed
  by ctypes, the loop is never ended and `runAndWait()` spins forever. A watchdog ends it.
* The driver never forgets `save_to_file`'s path: a later `say()` writes that file again
  instead of playing. It is cleared before every `say()`.
* `say()` on Linux renders a temporary WAV and plays it with `os.system("aplay ...")`,
  ignoring the exit status: with no aplay or no sound card speech fails silently, so that
  is checked up front.
* espeak-ng can be initialised only once per process and its synth callback is global: the
  most recently created engine receives every callback. Hence one `Speaker` per process.
* The WAV header always says 22050 Hz, right for espeak-ng's own voices (not MBROLA ones).
* The driver print()s "Audio saved to <path>" for every file it writes; that goes to the log.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import wave
import weakref
from pathlib import Path
from typing import Any, Literal

from daemon.config.channels import TtsSettings, norm_lang

log = logging.getLogger(__name__)

Backend = Literal["pyttsx3", "espeak-ng"]


class TtsError(RuntimeError):
    """Speech could not be produced; the engine has been reset if it was to blame."""


def wav_duration_s(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav), "rb") as w:
        return w.getnframes() / float(w.getframerate())


class _Job:
    """What the engine's notifications said about the current utterance."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.completed = False
        self.error: BaseException | None = None


class _Events:
    # The engine's callbacks close over this, not over the Speaker: no reference cycle, so
    # dropping the engine frees it at once.
    def __init__(self) -> None:
        self.job = _Job()

    def on_finished(self, name: object = None, completed: bool = True, **_: object) -> None:
        job = self.job
        if not job.done.is_set():
            job.completed = bool(completed)
            job.done.set()

    def on_error(
        self, name: object = None, exception: BaseException | None = None, **_: object
    ) -> None:
        # Errors from queued commands (e.g. an unknown voice) are swallowed by pyttsx3 and
        # only reported here.
        self.job.error = exception or RuntimeError("pyttsx3 reported an error")


# espeak-ng holds one global synth callback, so a second engine would silently steal the
# first one's callbacks: one Speaker owns the engine at a time.
_owner_lock = threading.Lock()
_owner: weakref.ref[Speaker] | None = None


def _default_tmp_base() -> str | None:
    # Prefer RAM: a Pi's SD card should not take a file write per reply for months.
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    for candidate in (runtime, "/dev/shm"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    return None


class Speaker:
    """Owns the pyttsx3 engine. Blocking; use it from one thread only (the first that
    calls it). Failures raise `TtsError` after the engine has been reset, so the next call
    starts afresh.
    """

    def __init__(
        self,
        settings: TtsSettings,
        *,
        tmp_dir: str | Path | None = None,
        timeout_s: float = 15.0,
        cli_fallback: bool = True,
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.cli_fallback = cli_fallback
        self.last_backend: Backend | None = None
        self.engine_starts = 0
        self._dir = tempfile.mkdtemp(
            prefix="dialogd-tts-", dir=str(tmp_dir) if tmp_dir else _default_tmp_base()
        )
        self._seq = 0
        self._engine: Any = None
        self._espeak: Any = None
        self._events = _Events()
        self._voice_ids: dict[str, str | None] = {}
        self._default_voice: str | None = None
        self._warned: set[str] = set()
        self._thread: int | None = None
        self._pyttsx3_unusable = False
        self._closed = False

    # -- public -----------------------------------------------------------------------

    def start(self) -> None:
        """Create and warm up the engine now rather than on the first reply."""
        self._check_thread()
        self._ensure_engine()

    def say(self, text: str, lang: str | None = None) -> None:
        """Speak on the local sound device; returns when playback has ended."""
        self._check_thread()
        text = text.strip()
        if not text:
            return
        self._check_player()
        eng = self._ensure_engine()
        voice = self.voice_for(lang)
        try:
            # No retry: part of it may have been heard already.
            self._synth(eng, text, voice, None, self._say_timeout(text))
        except TtsError:
            self._reset_engine()
            raise
        self.last_backend = "pyttsx3"

    def render_wav(self, text: str, lang: str | None = None) -> bytes:
        """Render to WAV bytes (mono, 16 bit, 22050 Hz)."""
        self._check_thread()
        text = text.strip()
        if not text:
            raise ValueError("nothing to render")
        failures: list[str] = []
        for attempt in (1, 2):
            if self._pyttsx3_unusable:
                break
            try:
                eng = self._ensure_engine()
                wav = self._render_pyttsx3(eng, text, self.voice_for(lang))
            except TtsError as e:
                failures.append(str(e))
                log.warning("tts: pyttsx3 render failed (attempt %d): %s", attempt, e)
                self._reset_engine()
                continue
            self.last_backend = "pyttsx3"
            return wav
        if self.cli_fallback and shutil.which("espeak-ng"):
            log.warning("tts: rendering with the espeak-ng command instead of pyttsx3")
            key = self._lang_key(lang)
            voice = self._voice_ids.get(key) if key else None
            if voice is None and key is not None and key not in self._voice_ids:
                voice = self.settings.voices[key]  # pyttsx3 never listed the voices
            wav = self._render_cli(text, voice)
            self.last_backend = "espeak-ng"
            return wav
        raise TtsError("could not render: " + ("; ".join(failures) or "pyttsx3 unusable"))

    def voice_for(self, lang: str | None) -> str | None:
        """The espeak voice id for a reply language, once the engine has started; None
        means espeak's default voice."""
        key = self._lang_key(lang)
        if key is not None:
            return self._voice_ids.get(key) or self._default_voice
        if lang:
            self._warn_once(
                f"lang:{lang}",
                "tts: no voice configured for language %r; using the default voice %r",
                lang,
                self._default_voice,
            )
        return self._default_voice

    def _lang_key(self, lang: str | None) -> str | None:
        if not lang:
            return None
        key = norm_lang(lang)
        for k in (key, key.split("-")[0]):
            if k in self.settings.voices:
                return k
        return None

    def close(self) -> None:
        global _owner
        if self._closed:
            return
        self._closed = True
        self._drop_engine()
        with _owner_lock:
            if _owner is not None and _owner() is self:
                _owner = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- engine lifecycle -------------------------------------------------------------

    def _check_thread(self) -> None:
        if self._closed:
            raise TtsError("speaker is closed")
        me = threading.get_ident()
        if self._thread is None:
            self._thread = me
        elif self._thread != me:
            raise RuntimeError("Speaker must only be used from the thread that first used it")

    def _ensure_engine(self) -> Any:
        if self._engine is not None:
            return self._engine
        if self._pyttsx3_unusable:
            raise TtsError("pyttsx3/espeak-ng is unusable in this process")
        self._claim()
        try:
            import pyttsx3
            import pyttsx3.drivers.espeak as espeak_driver
            from pyttsx3.drivers import _espeak
        except Exception as e:  # a missing libespeak-ng surfaces here, as anything
            self._pyttsx3_unusable = True
            raise TtsError(f"cannot load pyttsx3's espeak driver: {e}") from e
        self._espeak = _espeak
        # The driver print()s "Audio saved to ..." per file, and playback errors; a module
        # global shadowing the builtin sends both to our log instead of stdout (the journal).
        espeak_driver.print = _driver_print
        try:
            # Engine() rather than pyttsx3.init(): init() hands back a cached engine while
            # any reference to it survives, which defeats recreating a broken one.
            eng = pyttsx3.Engine("espeak")
        except Exception as e:
            self._pyttsx3_unusable = True
            raise TtsError(f"cannot start pyttsx3's espeak driver: {e}") from e
        self.engine_starts += 1
        self._events = _Events()
        eng.connect("finished-utterance", self._events.on_finished)
        eng.connect("error", self._events.on_error)
        self._engine = eng
        try:
            deadline = time.monotonic() + self.timeout_s
            self._default_voice = str(eng.getProperty("voice") or "") or None
            self._resolve_voices(eng.getProperty("voices"))
            # The driver's constructor leaves rate/volume commands in espeak's queue, and
            # the proxy holds back commands until the first loop; an empty first loop on an
            # idle espeak gets the engine into the state every later job expects.
            self._wait_idle(deadline)
            eng.runAndWait()
            self._wait_idle(deadline)
            # Warm-up: proves the engine works and takes the first-call oddities.
            self._render_pyttsx3(eng, "ok", self._default_voice)
        except Exception as e:
            self._drop_engine()
            raise TtsError(f"pyttsx3 engine failed to start: {e}") from e
        log.info(
            "tts: pyttsx3 espeak engine ready (voices: %s, default %s)",
            self._voice_ids,
            self._default_voice,
        )
        return eng

    def _claim(self) -> None:
        global _owner
        with _owner_lock:
            other = _owner() if _owner is not None else None
            if other is not None and other is not self:
                raise RuntimeError("another Speaker owns the espeak engine in this process")
            _owner = weakref.ref(self)

    def _reset_engine(self) -> None:
        if self._engine is not None:
            log.warning("tts: recreating the pyttsx3 engine")
        self._drop_engine()

    def _drop_engine(self) -> None:
        eng, self._engine = self._engine, None
        if eng is None:
            return
        with contextlib.suppress(Exception):
            eng.stop()
        if self._espeak is not None:
            with contextlib.suppress(Exception):
                self._espeak.Cancel()
            # Freeing the engine while espeak's thread is still in its callback makes that
            # callback fail on a dead weak proxy.
            with contextlib.suppress(TtsError):
                self._wait_idle(time.monotonic() + 2.0)
        del eng

    def _resolve_voices(self, voices: Any) -> None:
        resolved: dict[str, str | None] = {}
        for lang, wanted in self.settings.voices.items():
            vid = _match_voice(wanted, voices)
            if vid is None:
                self._warn_once(
                    f"voice:{lang}:{wanted}",
                    "tts: voice %r for language %r is not among the %d espeak-ng voices; "
                    "using the default voice %r",
                    wanted,
                    lang,
                    len(voices),
                    self._default_voice,
                )
            resolved[lang] = vid
        self._voice_ids = resolved

    def _warn_once(self, key: str, msg: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, *args)

    # -- one utterance ----------------------------------------------------------------

    def _wait_idle(self, deadline: float) -> None:
        # IsPlaying() is true while espeak's FIFO holds or runs a command, our callback
        # included; polled because espeak's own Synchronize() has no timeout.
        while self._espeak.IsPlaying():
            if time.monotonic() > deadline:
                raise TtsError("espeak-ng stayed busy past the deadline")
            time.sleep(0.002)

    def _synth(
        self, eng: Any, text: str, voice: str | None, path: str | None, timeout_s: float
    ) -> None:
        deadline = time.monotonic() + timeout_s
        drv = eng.proxy._driver
        try:
            self._wait_idle(deadline)
            if eng.isBusy():
                raise TtsError("pyttsx3 proxy is busy between utterances")
            if getattr(drv, "_stopping", False):
                drv._stopping = False  # a stale stop request would cancel this utterance
            job = self._events.job = _Job()
            if voice:
                eng.setProperty("voice", voice)
            eng.setProperty("rate", self.settings.rate)
            eng.setProperty("volume", self.settings.volume)
            # Let espeak apply rate/volume before runAndWait()'s stop() can cancel them.
            self._wait_idle(deadline)
            if job.error is not None:
                raise TtsError(f"setting voice {voice!r} failed: {job.error}")
            if path is None:
                drv._save_file = None
                eng.say(text)
            else:
                eng.save_to_file(text, path)
            watchdog = threading.Timer(
                max(0.0, deadline - time.monotonic()), _unstick, (eng, drv, self._espeak)
            )
            watchdog.daemon = True
            watchdog.start()
            try:
                eng.runAndWait()
            finally:
                watchdog.cancel()
            if not job.done.wait(max(0.0, deadline - time.monotonic())):
                raise TtsError(f"no end of utterance within {timeout_s:.1f} s")
            if job.error is not None:
                raise TtsError(f"pyttsx3 error: {job.error}")
            if not job.completed:
                raise TtsError("utterance was cancelled")
            # The notification comes before the callback returns; anything we queue now
            # would be run by that callback, on espeak's thread.
            self._wait_idle(deadline)
        except TtsError:
            raise
        except Exception as e:
            raise TtsError(f"pyttsx3 failed: {e!r}") from e

    def _render_pyttsx3(self, eng: Any, text: str, voice: str | None) -> bytes:
        self._seq += 1
        path = os.path.join(self._dir, f"r{self._seq}.wav")
        try:
            self._synth(eng, text, voice, path, self._render_timeout(text))
            return _read_wav(path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _render_cli(self, text: str, voice: str | None) -> bytes:
        self._seq += 1
        path = os.path.join(self._dir, f"c{self._seq}.wav")
        cmd = [
            "espeak-ng",
            "-s",
            str(self.settings.rate),
            "-a",
            str(round(self.settings.volume * 100)),
        ]
        if voice:
            cmd += ["-v", voice]
        cmd += ["-w", path, "--stdin"]
        try:
            proc = subprocess.run(
                cmd,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self._render_timeout(text),
                check=False,
            )
            if proc.returncode != 0:
                err = proc.stderr.decode("utf-8", "replace").strip()
                raise TtsError(f"espeak-ng exited with {proc.returncode}: {err}")
            return _read_wav(path)
        except subprocess.TimeoutExpired as e:
            raise TtsError("espeak-ng command timed out") from e
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _render_timeout(self, text: str) -> float:
        # Rendering runs far faster than real time even on a Pi; this only catches hangs.
        return self.timeout_s + 0.05 * len(text)

    def _say_timeout(self, text: str) -> float:
        # Playback is real time: allow ~0.5 s per character (a CJK syllable at slow rates).
        return self.timeout_s + 0.5 * len(text)

    def _check_player(self) -> None:
        # pyttsx3 plays via os.system("aplay ...") and ignores the exit status.
        if shutil.which("aplay") is None:
            raise TtsError("cannot play: 'aplay' (alsa-utils) is not installed")
        try:
            cards = Path("/proc/asound/cards").read_text()
        except OSError:
            cards = ""
        if not cards.strip() or "no soundcards" in cards:
            self._warn_once("nocard", "tts: no ALSA sound card found; speech may be silent")


def _driver_print(*args: object, **_: object) -> None:
    msg = " ".join(str(a) for a in args)
    log.log(logging.DEBUG if msg.startswith("Audio saved") else logging.WARNING, "pyttsx3: %s", msg)


def _unstick(eng: Any, drv: Any, espeak: Any) -> None:
    # Runs on the watchdog timer's thread when runAndWait() overran its deadline.
    log.warning("tts: pyttsx3 runAndWait() overran its deadline; breaking its loop")
    with contextlib.suppress(Exception):
        eng.stop()
    with contextlib.suppress(Exception):
        espeak.Cancel()
    with contextlib.suppress(Exception):
        drv.endLoop()


def _match_voice(wanted: str, voices: Any) -> str | None:
    w = wanted.strip().lower()
    candidates: list[tuple[int, str]] = []
    for v in voices or ():
        vid = str(getattr(v, "id", "") or "")
        name = str(getattr(v, "name", "") or "").lower()
        langs = [str(x).lower() for x in (getattr(v, "languages", None) or ())]
        if vid.lower() == w:
            candidates.append((0, vid))
        elif vid.lower().rsplit("/", 1)[-1] == w:
            candidates.append((1, vid))
        elif name == w:
            candidates.append((2, vid))
        elif w in langs:
            candidates.append((3, vid))
    return min(candidates)[1] if candidates else None


def _read_wav(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
        with wave.open(io.BytesIO(data), "rb") as w:
            frames = w.getnframes()
    except (OSError, wave.Error, EOFError) as e:
        raise TtsError(f"no usable WAV written: {e}") from e
    if frames == 0:
        raise TtsError("empty WAV written")
    return data
