"""Kitchen timers: a small bounded book of countdowns that survives a daemon restart.

The book is plain and blocking: the caller supplies `now` (time.time()) to every call and
polls `due()`, e.g. at `next_due()`. Each change is written to a JSON file under the state
directory, so a timer that ended while the daemon was down comes out of the first `due()`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import uuid
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from daemon.core.data import load

_LOG = logging.getLogger(__name__)

Reason = Literal["too_short", "too_long", "too_many"]

_FIELDS = {"id", "name", "seconds", "ends_at", "site", "session", "lang", "source"}


class TimerError(ValueError):
    """A timer the book refuses; `reason` is for the spoken reply."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason


@dataclass(frozen=True)
class Timer:
    id: str
    name: str | None
    seconds: int
    ends_at: float
    site: str
    session: str
    lang: str
    source: str

    def left(self, now: float) -> int:
        return max(0, math.ceil(self.ends_at - now))


def normalise_name(name: str | None) -> str | None:
    if name is None:
        return None
    text = name.strip().lower()
    text = _suffix().sub("", text).strip()
    return text or None


@cache
def _suffix() -> re.Pattern[str]:
    """Said after the name ("pasta timer"), in any language; it names no particular
    timer (`timer_words` in daemon/data/dialogue.toml)."""
    data = load("dialogue.toml")
    return re.compile(
        "(?:" + "|".join([*data["en"]["timer_words"], *data["zh"]["timer_words"]]) + ")$"
    )


def _timer_from(raw: Any) -> Timer:
    """A Timer from its JSON object; ValueError if anything in it is not what we wrote."""
    if not isinstance(raw, dict) or set(raw) != _FIELDS:
        raise ValueError(f"not a timer: {raw!r}")
    strings = ("id", "site", "session", "lang", "source")
    ends_at = raw["ends_at"]
    if (
        not all(isinstance(raw[k], str) for k in strings)
        or not (raw["name"] is None or isinstance(raw["name"], str))
        # bool is an int to isinstance, and json accepts NaN and Infinity.
        or type(raw["seconds"]) is not int
        or type(ends_at) not in (int, float)
        or not math.isfinite(ends_at)
    ):
        raise ValueError(f"not a timer: {raw!r}")
    return Timer(**{**raw, "ends_at": float(ends_at)})


class TimerBook:
    """At most `max_timers` timers of 1 s to `max_seconds`, kept in start order."""

    def __init__(self, path: Path | None, max_timers: int = 20, max_seconds: int = 86400) -> None:
        if max_timers < 1 or max_seconds < 1:
            raise ValueError("max_timers and max_seconds must be at least 1")
        self.path = path
        self.max_timers = max_timers
        self.max_seconds = max_seconds
        self._timers: list[Timer] = self._load()

    def start(
        self,
        seconds: int,
        name: str | None,
        *,
        site: str,
        session: str,
        lang: str,
        source: str,
        now: float,
    ) -> Timer:
        if seconds < 1:
            raise TimerError("too_short", f"{seconds} s")
        if seconds > self.max_seconds:
            raise TimerError("too_long", f"{seconds} s > {self.max_seconds} s")
        # Refuse the new one rather than drop a running one the user still counts on.
        if len(self._timers) >= self.max_timers:
            raise TimerError("too_many", f"{len(self._timers)} timers already")
        timer = Timer(
            id=uuid.uuid4().hex[:8],
            name=normalise_name(name),
            seconds=seconds,
            ends_at=now + seconds,
            site=site,
            session=session,
            lang=lang,
            source=source,
        )
        self._timers.append(timer)
        self._save()
        _LOG.info("timer %s (%s) started for %d s", timer.id, timer.name, seconds)
        return timer

    def cancel(
        self, name: str | None, *, session: str | None = None, everything: bool = False
    ) -> list[Timer]:
        """A name: every timer of that name. Else everything: all. Else the latest started,
        of `session` if it has one."""
        key = normalise_name(name)
        if key is not None:
            gone = [t for t in self._timers if t.name == key]
        elif everything:
            gone = list(self._timers)
        else:
            own = [t for t in self._timers if session is not None and t.session == session]
            gone = (own or self._timers)[-1:]
        if gone:
            self._timers = [t for t in self._timers if t not in gone]
            self._save()
            _LOG.info("cancelled timers %s", ", ".join(t.id for t in gone))
        return gone

    def running(self, now: float) -> list[Timer]:
        """The timers still counting down; ended ones wait for `due()`."""
        return sorted((t for t in self._timers if t.ends_at > now), key=lambda t: t.ends_at)

    def find(self, name: str | None) -> list[Timer]:
        """The timers of that name by ends_at; no name (or just "timer"): all of them."""
        key = normalise_name(name)
        return sorted(
            (t for t in self._timers if key is None or t.name == key), key=lambda t: t.ends_at
        )

    def due(self, now: float) -> list[Timer]:
        ended = sorted((t for t in self._timers if t.ends_at <= now), key=lambda t: t.ends_at)
        if ended:
            self._timers = [t for t in self._timers if t.ends_at > now]
            self._save()
        return ended

    def next_due(self) -> float | None:
        return min((t.ends_at for t in self._timers), default=None)

    def __len__(self) -> int:
        return len(self._timers)

    def _load(self) -> list[Timer]:
        if self.path is None:
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("timers"), list):
                raise ValueError("no timers list")
            return [_timer_from(raw) for raw in data["timers"]]
        except FileNotFoundError:
            return []
        # ValueError covers JSONDecodeError and UnicodeDecodeError; deep nesting recurses.
        except (OSError, ValueError, RecursionError) as e:
            bad = self.path.with_name(self.path.name + ".bad")
            _LOG.warning("timer file %s is damaged (%s); no timers, kept as %s", self.path, e, bad)
            # Aside, not lost: the next save would overwrite what someone may want to read.
            with contextlib.suppress(OSError):
                os.replace(self.path, bad)
            return []

    def _save(self) -> None:
        if self.path is None:
            return
        text = json.dumps(
            {"version": 1, "timers": [asdict(t) for t in self._timers]},
            ensure_ascii=False,
            indent=1,
        )
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            # A full or read-only disk costs the restart guarantee, not the timers themselves.
            _LOG.warning("could not write timer file %s: %s", self.path, e)
            with contextlib.suppress(OSError):
                tmp.unlink()
