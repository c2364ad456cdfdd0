"""Blocking audio sources for the local microphone, and the mute switch.

Every source yields raw 16-bit little-endian mono PCM at 16 kHz (`SAMPLE_RATE`) in
chunks of about `chunk_ms`. Sources are blocking and reopenable: `daemon.channels.speech.voice` runs
`open()` / `read()` / `close()` on a reader thread of its own and reopens a source
after an error, so a USB mic that is unplugged and plugged back in recovers.
"""

from __future__ import annotations

import collections
import logging
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_BYTES_PER_SAMPLE = 2


class AudioSourceError(RuntimeError):
    """A source could not be opened or stopped delivering audio."""


class AudioSource(Protocol):
    live: bool
    """True for a real microphone: if the recognizer falls behind, drop its audio
    rather than block the device (which would overrun anyway). False for a file: wait."""

    def open(self) -> None: ...

    def read(self) -> bytes:
        """The next chunk; b"" at the end of the stream. Raises AudioSourceError."""
        ...

    def close(self) -> None:
        """Idempotent, and callable from another thread to unblock a read()."""
        ...


# ------------------------------------------------------------------------------ mute


class Muter:
    """When mic audio must be dropped: while the daemon speaks, plus a tail.

    The tail covers what the speaker still plays after the TTS call returns (output
    buffers, room echo). Thread-safe: the TTS side sets it, reader threads check it.
    """

    def __init__(self, tail_s: float = 0.4, clock: Callable[[], float] = time.monotonic) -> None:
        self.tail_s = tail_s
        self._clock = clock
        self._until = float("-inf")
        self._lock = threading.Lock()

    def set_muted(self, until_monotonic: float) -> None:
        """Mute until `until_monotonic` (time.monotonic() clock) plus the tail."""
        with self._lock:
            self._until = until_monotonic + self.tail_s

    def mute(self) -> None:
        """Mute until `unmute()` (for speech whose length is not known beforehand)."""
        with self._lock:
            self._until = float("inf")

    def unmute(self) -> None:
        """The daemon stopped speaking now: stay muted for the tail only."""
        self.set_muted(self._clock())

    def is_muted(self) -> bool:
        with self._lock:
            return self._clock() < self._until


# -------------------------------------------------------------------------- resample


Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]


class StreamResampler:
    """Linear-interpolation resampler for a chunked stream of 16-bit mono PCM.

    State is carried across chunks, so chunk boundaries leave no clicks or gaps. When
    downsampling, a moving average over one output period first takes off most of what
    would alias; that is crude next to a polyphase filter but ample for speech
    recognition, whose features stop at 7.6 kHz.
    """

    def __init__(self, src_rate: int, dst_rate: int = SAMPLE_RATE) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError(f"bad sample rates {src_rate} -> {dst_rate}")
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._step = src_rate / dst_rate
        self._avg = max(1, round(self._step)) if src_rate > dst_rate else 1
        self.reset()

    def reset(self) -> None:
        self._hist: FloatArray = np.zeros(0)
        self._prev: float | None = None  # last sample of the previous chunk
        self._pos = 0.0  # next output position, in input samples from _prev (or chunk start)

    def process(self, pcm: bytes) -> bytes:
        if self.src_rate == self.dst_rate:
            return pcm
        x: FloatArray = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if self._avg > 1:
            padded = np.concatenate([self._hist, x])
            if len(padded) < self._avg:
                self._hist = padded
                return b""
            x = np.convolve(padded, np.full(self._avg, 1.0 / self._avg), mode="valid")
            self._hist = padded[len(padded) - (self._avg - 1) :]
        if self._prev is not None:
            x = np.concatenate([[self._prev], x])
        if len(x) == 0:
            return b""
        last = len(x) - 1
        self._prev = float(x[-1])
        if self._pos > last:
            self._pos -= last
            return b""
        t = self._pos + self._step * np.arange(int((last - self._pos) // self._step) + 1)
        out: FloatArray = np.interp(t, np.arange(len(x)), x)
        self._pos = float(t[-1]) + self._step - last
        return _to_int16(out).tobytes()


def _to_int16(x: FloatArray) -> Int16Array:
    return np.clip(np.round(x), -32768, 32767).astype("<i2")


def read_wav(path: Path) -> bytes:
    """A PCM WAV file as 16-bit mono PCM at 16 kHz (channels averaged, rate converted)."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise AudioSourceError(f"{path}: not a PCM WAV file ({e})") from e
    if width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    elif width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / 256.0
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    else:
        raise AudioSourceError(f"{path}: {width * 8}-bit samples are not supported")
    if channels > 1:
        x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    pcm = _to_int16(x).tobytes()
    return StreamResampler(rate).process(pcm) if rate != SAMPLE_RATE else pcm


def _chunk_bytes(chunk_ms: int) -> int:
    return max(1, SAMPLE_RATE * chunk_ms // 1000) * _BYTES_PER_SAMPLE


# ------------------------------------------------------------------------------ file


class FileSource:
    """A WAV file played as if it were a microphone (tests, demos, replaying a bug).

    `speed` 1.0 paces chunks in real time, 2.0 twice as fast, None as fast as the
    reader can take them. `loop` starts over at the end instead of ending the stream.
    """

    def __init__(
        self,
        path: Path,
        *,
        speed: float | None = None,
        loop: bool = False,
        chunk_ms: int = 100,
    ) -> None:
        self.path = Path(path)
        self.speed = speed
        self.loop = loop
        self.live = speed is not None
        self._chunk = _chunk_bytes(chunk_ms)
        self._pcm = b""
        self._pos = 0
        self._t0 = 0.0
        self._sent = 0  # bytes read since open(), for pacing
        self._closed = threading.Event()

    def open(self) -> None:
        self._pcm = read_wav(self.path)
        if not self._pcm:
            raise AudioSourceError(f"{self.path}: no audio")
        self._pos = 0
        self._sent = 0
        self._t0 = time.monotonic()
        self._closed.clear()

    def read(self) -> bytes:
        if self._closed.is_set():
            return b""
        if self._pos >= len(self._pcm):
            if not self.loop:
                return b""
            self._pos = 0
        chunk = self._pcm[self._pos : self._pos + self._chunk]
        self._pos += len(chunk)
        if self.speed is not None:
            due = self._t0 + self._sent / (SAMPLE_RATE * _BYTES_PER_SAMPLE) / self.speed
            # Event.wait, not sleep: close() from another thread ends the wait at once.
            if self._closed.wait(max(0.0, due - time.monotonic())):
                return b""
        self._sent += len(chunk)
        return chunk

    def close(self) -> None:
        self._closed.set()


# ------------------------------------------------------------------------------ ALSA


class AlsaSource:
    """The microphone through `arecord` (alsa-utils), e.g. device "plughw:1,0".

    A subprocess rather than a Python ALSA binding: nothing to compile on the Pi, and
    "plughw" makes ALSA convert rate and format for cards that cannot do 16 kHz mono.
    """

    live = True

    def __init__(
        self, device: str | None = None, *, chunk_ms: int = 100, arecord: str = "arecord"
    ) -> None:
        self.device = device
        self._arecord = arecord
        self._chunk = _chunk_bytes(chunk_ms)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    def command(self) -> list[str]:
        cmd = [self._arecord, "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", "16000"]
        if self.device:
            cmd += ["-D", self.device]
        return cmd

    def open(self) -> None:
        exe = shutil.which(self._arecord)
        if exe is None:
            raise AudioSourceError(f"{self._arecord} not found: install alsa-utils")
        self.close()
        self._stderr.clear()
        proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        with self._lock:
            self._proc = proc
        # Drained on a thread: overrun messages over months would fill the pipe and
        # stall arecord, and the last lines explain why it died.
        threading.Thread(
            target=self._drain, args=(proc,), name="dialogd-arecord-stderr", daemon=True
        ).start()

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())

    def read(self) -> bytes:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return b""
        try:
            data = proc.stdout.read(self._chunk)
        except (ValueError, OSError) as e:  # stdout closed by close() on another thread
            if self._proc is None:
                return b""
            raise AudioSourceError(f"reading from arecord failed: {e}") from e
        if len(data) == self._chunk:
            return data
        with self._lock:
            closed = self._proc is None
        if closed:
            return b""
        try:
            rc = proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            rc = None
        time.sleep(0.05)  # let the drain thread catch arecord's last words
        why = " | ".join(self._stderr) or "no message"
        raise AudioSourceError(f"arecord ({self.device or 'default'}) exited with {rc}: {why}")

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# ------------------------------------------------------------------------ sounddevice


class SounddeviceSource:
    """The microphone through PortAudio (`pip install sounddevice`, libportaudio2).

    Opened at 16 kHz when the device allows it, else at its default rate and resampled.
    """

    live = True

    def __init__(
        self, device: str | int | None = None, *, chunk_ms: int = 100, timeout_s: float = 2.0
    ) -> None:
        # A device given as "2" in a config file means index 2, not a name match on "2".
        self.device = int(device) if isinstance(device, str) and device.isdigit() else device
        self._chunk_ms = chunk_ms
        self._timeout_s = timeout_s
        self._stream: Any = None
        self._queue: collections.deque[bytes] = collections.deque(maxlen=100)
        self._ready = threading.Condition()
        self._closed = False
        self._resampler: StreamResampler | None = None
        self.overflows = 0

    def open(self) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as e:
            raise AudioSourceError(
                "asr.source = 'sounddevice' needs the sounddevice package and PortAudio "
                "(pip install 'dialogd[mic]'; apt install libportaudio2), "
                f"or use asr.source = 'alsa': {e}"
            ) from e
        self.close()
        self._queue.clear()
        self._closed = False
        try:
            rate = SAMPLE_RATE
            try:
                sd.check_input_settings(
                    device=self.device, channels=1, dtype="int16", samplerate=rate
                )
            except Exception:
                rate = int(sd.query_devices(self.device, "input")["default_samplerate"])
            self._resampler = StreamResampler(rate) if rate != SAMPLE_RATE else None
            stream = sd.RawInputStream(
                samplerate=rate,
                blocksize=max(1, rate * self._chunk_ms // 1000),
                device=self.device,
                channels=1,
                dtype="int16",
                callback=self._callback,
            )
            stream.start()
        except Exception as e:
            raise AudioSourceError(f"cannot open input device {self.device!r}: {e}") from e
        self._stream = stream

    def _callback(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        # Runs on PortAudio's thread: copy and hand over, nothing slow.
        if status:
            self.overflows += 1
        with self._ready:
            self._queue.append(bytes(indata))
            self._ready.notify()

    def read(self) -> bytes:
        with self._ready:
            if not self._ready.wait_for(
                lambda: self._closed or bool(self._queue), timeout=self._timeout_s
            ):
                raise AudioSourceError(
                    f"no audio from input device {self.device!r} for {self._timeout_s} s"
                )
            if self._closed:
                return b""
            data = self._queue.popleft()
        return self._resampler.process(data) if self._resampler else data

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
            stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:
                log.debug("closing the input stream failed", exc_info=True)


def make_source(
    kind: Literal["none", "sounddevice", "alsa", "file"],
    device: str | None = None,
    file: Path | None = None,
) -> AudioSource | None:
    """The source named by the asr.source / asr.device / asr.file settings."""
    if kind == "none":
        return None
    if kind == "alsa":
        return AlsaSource(device)
    if kind == "sounddevice":
        return SounddeviceSource(device)
    if file is None:
        raise ValueError("asr.source = 'file' needs asr.file")
    return FileSource(file, speed=1.0)
