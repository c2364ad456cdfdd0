"""Messages decided while the broker is away, kept on disk until it is back.

Bounded: past `limit` messages the oldest are dropped, each drop logged. The file is
one JSON object per line and is emptied once its messages are handed to the broker.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Held:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    correlation: bytes | None = None  # MQTT 5 correlation data of a response


class Outbox:
    def __init__(self, path: Path | None, limit: int = 10_000) -> None:
        self.path = path
        self.limit = limit
        self._held: deque[Held] = deque()
        self._dropped = 0
        if path is not None and path.exists():
            self._load(path)

    def __len__(self) -> int:
        return len(self._held)

    def _load(self, path: Path) -> None:
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    o = json.loads(line)
                    corr = o.get("c")
                    self._held.append(
                        Held(
                            o["t"],
                            base64.b64decode(o["p"]),
                            int(o["q"]),
                            bool(o["r"]),
                            bytes.fromhex(corr) if corr else None,
                        )
                    )
                except (ValueError, KeyError, TypeError):
                    continue
        except OSError as exc:
            _LOG.error("outbox %s unreadable: %s", path, exc)
        if self._held:
            _LOG.info("outbox: %d message(s) from before the restart to publish", len(self._held))

    def hold(self, msg: Held) -> None:
        self._held.append(msg)
        while len(self._held) > self.limit:
            self._held.popleft()
            self._dropped += 1
            _LOG.error("outbox full (%d); dropped the oldest held message", self.limit)
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(
                    json.dumps(
                        {
                            "t": msg.topic,
                            "p": base64.b64encode(msg.payload).decode(),
                            "q": msg.qos,
                            "r": msg.retain,
                            "c": msg.correlation.hex() if msg.correlation else None,
                        }
                    )
                    + "\n"
                )
        except OSError as exc:
            _LOG.error("outbox %s not writable (%s); holding in memory only", self.path, exc)

    def take(self) -> list[Held]:
        """Everything held, oldest first; the file is emptied."""
        out = list(self._held)
        self._held.clear()
        if self.path is not None:
            try:
                self.path.unlink(missing_ok=True)
            except OSError as exc:
                _LOG.error("outbox %s not removable: %s", self.path, exc)
        return out
