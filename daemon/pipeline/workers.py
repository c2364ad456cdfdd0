"""Run a blocking engine on its own single worker thread.

Engines (llama.cpp, Vosk, pyttsx3, a serial port) are plain blocking objects that must
stay on one thread; this adapter is the only place where they meet asyncio (the pattern
of wyoming-faster-whisper's handler): the model and the templates (pipeline/), the
recognizer's loop and the microphone readers (channels/speech/voice.py), the speaker's
loop (outputs/speech/tts.py) and the serial port (channels/serial.py) each get one.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ThreadWorker:
    """One thread for one engine: calls run on it in order, one at a time."""

    def __init__(self, name: str) -> None:
        # The thread is named `name` itself, as the engine's own thread would be.
        self._pool = ThreadPoolExecutor(max_workers=1, initializer=_named, initargs=(name,))

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def submit(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """The same, from any thread and without waiting: an engine's own loop (a queue it
        serves until told to stop) runs this way, on this worker's thread."""
        return self._pool.submit(fn, *args, **kwargs)

    def close(self, wait: bool = True, cancel_pending: bool = True) -> None:
        """No more calls. With `cancel_pending`, what has not started is dropped, else it
        still runs; with `wait`, until the thread is done."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_pending)


def _named(name: str) -> None:
    threading.current_thread().name = name
