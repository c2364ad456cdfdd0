"""The request journal: what dialogd has accepted and not yet answered, on disk.

A request is acknowledged to the broker only after it is written here, so a crash or a
restart loses nothing: at start-up the requests accepted but never answered are
answered (or refused as expired). The keys of answered requests (an MQTT request's key
is its site, id and payload) are remembered for a bounded time and number, so that a
request the broker delivers again is not executed twice; an id reused for another
request, or after the window, is a new request.

One JSON object per line: {"a": {...request...}} when accepted, {"d": "<key>", "t":
<unix time>, "o": {...outcome...}} when answered; the outcome is what a redelivery gets
again. Lines are flushed to the OS at once (a crash of dialogd
loses nothing) and fsync'ed at most every `sync_every_s` (a power cut loses at most that
much).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import IO, Any

from daemon.core.messages import Request

_LOG = logging.getLogger(__name__)


class Journal:
    def __init__(
        self, path: Path | None, window: int, sync_every_s: float = 0.5, window_s: float = 600.0
    ) -> None:
        self.path = path
        self.window = window
        self.window_s = window_s
        self.sync_every_s = sync_every_s
        self._pending: OrderedDict[str, Request] = OrderedDict()
        self._done: dict[str, float] = {}  # key -> when it was answered (unix time)
        self._answers: dict[str, str] = {}  # key -> its outcome, as JSON
        self._done_order: deque[str] = deque()
        self._file: IO[str] | None = None
        self._lines = 0
        self._last_sync = time.monotonic()
        self._dirty = False
        if path is not None:
            self._open(path)

    # ------------------------------------------------------------------ set-up

    def _open(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                self._replay(path)
            self._compact(path)
        except OSError as exc:
            # Requests still get answered; only a crash could now lose some.
            _LOG.error("request journal %s unusable (%s); continuing without it", path, exc)
            self._file = None

    def _replay(self, path: Path) -> None:
        with path.open(encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                try:
                    obj = json.loads(line)
                    if "a" in obj:
                        req = _request(obj["a"])
                        self._pending[req.ref] = req
                    elif "d" in obj:
                        key = str(obj["d"])
                        self._pending.pop(key, None)
                        answer = obj.get("o")
                        self._remember(
                            key,
                            float(obj.get("t") or 0.0),
                            json.dumps(answer, ensure_ascii=False) if answer else None,
                        )
                except (ValueError, KeyError, TypeError):
                    # A torn last line after a power cut: everything before it counts.
                    _LOG.warning("journal %s line %d unreadable; skipped", path, n)
        if self._pending:
            _LOG.info("journal: %d request(s) accepted before the restart still to answer",
                      len(self._pending))  # fmt: skip

    def _compact(self, path: Path) -> None:
        """Rewrite the file with only what still matters: pending requests, recent ids."""
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for rid in self._done_order:
                f.write(self._done_line(rid, self._done[rid], self._answers.get(rid)) + "\n")
            for req in self._pending.values():
                f.write(json.dumps({"a": _fields(req)}, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        if self._file is not None:
            self._file.close()
        self._file = path.open("a", encoding="utf-8")
        self._lines = len(self._done_order) + len(self._pending)

    # ---------------------------------------------------------------- requests

    def pending(self) -> list[Request]:
        """Accepted before a restart and never answered, oldest first."""
        return list(self._pending.values())

    def seen(self, request_id: str) -> bool:
        """Accepted or answered already: a redelivery, not a new request."""
        if request_id in self._pending:
            return True
        answered = self._done.get(request_id)
        return answered is not None and time.time() - answered <= self.window_s

    def answer(self, request_id: str) -> str | None:
        """The outcome (JSON) a request was answered with, while it is remembered."""
        if not self.seen(request_id):
            return None
        return self._answers.get(request_id)

    def accept(self, req: Request) -> None:
        self._pending[req.ref] = req
        self._write({"a": _fields(req)})

    def done(self, request_id: str, answer: str | None = None) -> None:
        """`answer`: the outcome as JSON, replayed to a redelivery of the request."""
        if self._pending.pop(request_id, None) is None and request_id in self._done:
            return
        now = time.time()
        self._remember(request_id, now, answer)
        self._write_line(self._done_line(request_id, now, answer))

    @staticmethod
    def _done_line(key: str, when: float, answer: str | None) -> str:
        # The outcome is spliced in as it was serialised: no second parse and dump.
        head = json.dumps({"d": key, "t": when}, ensure_ascii=False)
        return head if answer is None else f'{head[:-1]}, "o": {answer}}}'

    def _remember(self, request_id: str, when: float, answer: str | None = None) -> None:
        if request_id in self._done:
            self._done_order.remove(request_id)
        self._done[request_id] = when
        if answer is not None:
            self._answers[request_id] = answer
        self._done_order.append(request_id)
        while len(self._done_order) > self.window:
            gone = self._done_order.popleft()
            self._done.pop(gone, None)
            self._answers.pop(gone, None)

    def _write(self, obj: dict[str, Any]) -> None:
        self._write_line(json.dumps(obj, ensure_ascii=False))

    def _write_line(self, line: str) -> None:
        if self._file is None:
            return
        try:
            self._file.write(line + "\n")
            self._file.flush()
            self._lines += 1
            self._dirty = True
            now = time.monotonic()
            if now - self._last_sync >= self.sync_every_s:
                os.fsync(self._file.fileno())
                self._last_sync, self._dirty = now, False
            if self.path is not None and self._lines > 4 * max(self.window, 1000):
                self._compact(self.path)
        except OSError as exc:
            _LOG.error("request journal write failed (%s); continuing without it", exc)
            self._file = None

    def sync(self) -> None:
        if self._file is not None and self._dirty:
            try:
                os.fsync(self._file.fileno())
            except OSError:
                return
            self._last_sync, self._dirty = time.monotonic(), False

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None


def _fields(r: Request) -> dict[str, Any]:
    return {
        "id": r.id,
        "key": r.key,
        "text": r.text,
        "source": r.source,
        "area": r.area,
        "wall": r.wall,
        "session": r.session,
        "site": r.site,
        "reply_to": r.reply_to,
        "correlation": r.correlation.hex() if r.correlation is not None else None,
    }


def _request(d: dict[str, Any]) -> Request:
    return Request(
        text=str(d["text"]),
        source=d["source"],
        id=str(d["id"]),
        received=time.monotonic(),
        area=d.get("area"),
        wall=float(d.get("wall") or 0.0),
        key=str(d.get("key") or ""),
        session=str(d.get("session") or ""),
        site=str(d.get("site") or ""),
        reply_to=d.get("reply_to") or None,
        correlation=bytes.fromhex(d["correlation"]) if d.get("correlation") else None,
    )
