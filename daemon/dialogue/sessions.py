"""Conversations: what each partner talked about last, bounded in number and in time.

A session is one conversation partner: a site (its microphone and its MQTT audio, and
MQTT text without a `session` id), a serial port, or an MQTT caller that names its
`session`. Memory is bounded: past `max_sessions` the least recently used goes, so a
flood of new session ids costs a fixed amount of memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from daemon.core.vocabulary import Source
from daemon.home.registry import Command, Decision


@dataclass(frozen=True)
class Pending:
    """A sensitive decision waiting for its yes (or PIN)."""

    decision: Decision
    request_id: str
    text: str
    lang: str
    source: Source
    area: str | None
    deadline: float  # time.monotonic()
    pin: bool  # a PIN, not a plain yes, confirms it
    # Where its answer goes: the requesting site, an MQTT 5 response topic.
    site: str = ""
    reply_to: str | None = None
    correlation: bytes | None = None


@dataclass
class Session:
    key: str
    last: Command | None = None  # the last command on devices: what "it" refers to
    last_at: float = 0.0
    # What "it" still refers to once the last command was called off ("never mind",
    # then "send it back to its dock"); nothing to repeat.
    topic: frozenset[str] = frozenset()
    question: Command | None = None  # a `clarify` waiting for "the kitchen one"
    question_at: float = 0.0
    others: tuple[str, ...] = ()  # candidates not chosen: "the other one"
    # The devices a follow-up added to the last command ("and the dining room one
    # too"), while that command is the last: what "that one" means.
    added: tuple[str, ...] = ()
    added_at: float = 0.0
    pending: Pending | None = None
    # What an advice question talked of doing ("should I put the heater on?"): a yes
    # next ("go on then, do it") asks for it.
    proposal: Decision | None = None
    timer_at: float = 0.0  # when the conversation last talked about a timer


class Sessions:
    def __init__(self, max_sessions: int = 256) -> None:
        self.max_sessions = max_sessions
        self._by_key: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_key)

    def peek(self, key: str) -> Session | None:
        return self._by_key.get(key)

    def get(self, key: str) -> Session:
        """The session, made if new; the least recently used one goes past the bound."""
        s = self._by_key.get(key)
        if s is None:
            s = self._by_key[key] = Session(key)
            while len(self._by_key) > self.max_sessions:
                self._by_key.popitem(last=False)
        else:
            self._by_key.move_to_end(key)
        return s

    def reset(self, key: str) -> Session:
        """A fresh session in the place of `key`'s."""
        self._by_key.pop(key, None)
        return self.get(key)

    def expired_pending(self, now: float) -> list[tuple[Session, Pending]]:
        """Confirmations whose time ran out, taken out of their sessions."""
        out = []
        for s in self._by_key.values():
            if s.pending is not None and now > s.pending.deadline:
                out.append((s, s.pending))
                s.pending = None
        return out
