"""The intent engine: text in, a valid decision and a reply out. Blocking, no asyncio.

Rules first (instant, only when sure), the model for the rest; the registry checks
every result, so an intent can never name a device or action the home does not have.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from daemon.nlu.fastpath import FastPath, detect_lang, suspicious
from daemon.nlu.replies import Replies
from daemon.registry import Decision, Hint, Registry
from daemon.vocabulary import CHAT, UNKNOWN

_LOG = logging.getLogger(__name__)

# Actions the model may only choose when the request says so explicitly.
GUARDED = {"unlock": re.compile(r"unlock|解锁|开锁|打开门锁|打开锁")}


class Model(Protocol):
    """What the engine needs of a language model (LlamaEngine, or none at all)."""

    def decide(self, text: str, lang: str = "en", hint: Hint | None = None) -> ModelAnswerLike: ...

    def set_registry(self, registry: Registry) -> None: ...


class ModelAnswerLike(Protocol):
    @property
    def decision(self) -> Decision: ...
    @property
    def reply(self) -> str | None: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def evaluated_tokens(self) -> int: ...
    @property
    def sampled_tokens(self) -> int: ...
    @property
    def decided_ms(self) -> float: ...


@dataclass(frozen=True)
class Understood:
    decision: Decision
    reply: str
    lang: Literal["en", "zh"]
    engine: Literal["rules", "model"]
    ms: float
    evaluated_tokens: int = 0
    sampled_tokens: int = 0
    decided_ms: float = 0.0  # until action, device and value were known (before a chat reply)


class IntentEngine:
    def __init__(
        self,
        registry: Registry,
        replies: dict[str, dict[str, str]] | None = None,
        model: Model | None = None,
    ) -> None:
        self.model = model
        self._replies_cfg = replies or {}
        self._set(registry)

    def _set(self, registry: Registry) -> None:
        self.registry = registry
        self.fast = FastPath(registry)
        self.replies = Replies(registry, self._replies_cfg)

    def reload(self, registry: Registry, replies: dict[str, dict[str, str]]) -> None:
        """New devices or reply templates, keeping the loaded model."""
        self._replies_cfg = replies
        self._set(registry)
        if self.model is not None:
            self.model.set_registry(registry)

    def understand(self, text: str) -> Understood:
        t0 = time.perf_counter()
        lang: Literal["en", "zh"] = "zh" if detect_lang(text) == "zh" else "en"
        decision = self.fast.decide(text)
        if decision is not None and self.registry.check(decision) is None:
            return Understood(decision, self.replies.render(decision, lang), lang, "rules", _ms(t0))
        if self.model is None:
            # Without a model, "not sure" has to be an honest "unknown".
            d = Decision(UNKNOWN)
            return Understood(d, self.replies.render(d, lang), lang, "rules", _ms(t0))
        wary = suspicious(text)
        # No hint for a suspicious request: its own words are what it wants obeyed.
        answer = self.model.decide(text, lang, None if wary else self.fast.hint(text))
        d = answer.decision
        problem = self.registry.check(d)
        if problem is not None:  # cannot happen with the trie; kept as the last guard
            _LOG.error("model produced an invalid decision %s (%s); using unknown", d, problem)
            d = Decision(UNKNOWN)
        elif d.action in GUARDED and (wary or not GUARDED[d.action].search(text.lower())):
            # A model can be talked into anything; a door unlocks only when asked in
            # so many words, and never by text that tries to instruct the assistant.
            _LOG.warning("model chose %s for %r without the word for it; refusing", d, text)
            d = Decision(UNKNOWN)
        if d.action == CHAT:
            reply = answer.reply or self.replies.small_talk(text, lang)
        else:
            reply = self.replies.render(d, lang)
        return Understood(
            d,
            reply,
            lang,
            "model",
            _ms(t0),
            answer.evaluated_tokens,
            answer.sampled_tokens,
            decided_ms=answer.decided_ms,
        )


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
