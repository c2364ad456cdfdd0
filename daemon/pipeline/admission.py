"""Fair, bounded waiting lines between the channels and the engines.

Each source (mqtt, serial, voice, cli) has its own line and they are served in turn,
so a flood on one channel cannot starve the others. The bound is kept by the
dispatcher over everything accepted and not yet answered; these lines only order work.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        self._lines: dict[str, deque[T]] = {}
        self._turn: deque[str] = deque()  # sources with work, in serving order
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return sum(len(line) for line in self._lines.values())

    def put(self, source: str, item: T) -> None:
        line = self._lines.setdefault(source, deque())
        if not line:
            self._turn.append(source)
        line.append(item)
        self._ready.set()

    async def get(self) -> T:
        while not self._turn:
            self._ready.clear()
            await self._ready.wait()
        source = self._turn.popleft()
        line = self._lines[source]
        item = line.popleft()
        if line:
            self._turn.append(source)  # back of the round
        return item

    def drain(self) -> list[T]:
        """Everything still waiting, taken out (at shutdown)."""
        out = [item for line in self._lines.values() for item in line]
        self._lines.clear()
        self._turn.clear()
        return out
