"""Background tasks the event loop must keep: requests in flight, reloads.

asyncio keeps only weak references to tasks; one that nobody holds can be collected
before it finishes. Every fire-and-forget coroutine of the daemon goes through here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def named(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """A long-lived task for one resource; its name is what the watchdog and logs show."""
    return asyncio.create_task(coro, name=name)
