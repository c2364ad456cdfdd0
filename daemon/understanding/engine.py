"""The intent engine: text in, a valid decision and a reply out. Blocking, no asyncio.

The path of every request, in one place:
1. the language, and the text as the matchers see it (numbers as digits);
2. the fast path: Home Assistant's templates and dialogd's own (templates.py);
3. what they do not match goes to the model, constrained to the registry (llm.py);
4. the safety policy, whichever path decided (policy.py);
5. one reply for the whole request (replies.py).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from daemon.home.registry import Decision, Hint, Registry
from daemon.home.vocabulary import CHAT, COLORS, UNKNOWN
from daemon.understanding.fastpath import FastPath
from daemon.understanding.lang import (
    Lang,
    color_names,
    detect_lang,
    grammar,
    normalize,
    suspicious,
)
from daemon.understanding.policy import Policy
from daemon.understanding.replies import Replies

_LOG = logging.getLogger(__name__)

MAX_MODEL_COMMANDS = 4
_NUMBER = re.compile(r"-?\d+")


class Model(Protocol):
    """What the engine needs of a language model (LlamaEngine, or none at all)."""

    def decide(
        self, text: str, lang: str = "en", hint: Hint | None = None, max_commands: int = 1
    ) -> ModelAnswerLike: ...

    def set_registry(self, registry: Registry) -> None: ...


class ModelAnswerLike(Protocol):
    @property
    def decision(self) -> Decision: ...
    @property
    def reply(self) -> str | None: ...
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
    lang: Lang
    engine: Literal["rules", "model"]
    ms: float
    evaluated_tokens: int = 0
    sampled_tokens: int = 0
    decided_ms: float = 0.0  # until the commands were known (before a chat reply)


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
        self.policy = Policy(registry)
        self.replies = Replies(registry, self._replies_cfg)
        self._colors = _color_words()
        phrases = [p for d in registry.devices for p in d.phrases] + [
            p for place in (*registry.areas, *registry.floors) for p in place.phrases
        ]
        self._names = sorted({p.lower() for p in phrases}, key=len, reverse=True)

    def reload(self, registry: Registry, replies: dict[str, dict[str, str]]) -> None:
        """New devices or reply templates, keeping the loaded model.

        The model goes first: if its context cannot hold the new registry it raises
        and nothing has changed.
        """
        if self.model is not None:
            self.model.set_registry(registry)
        self._replies_cfg = replies
        self._set(registry)

    def understand(self, text: str, area: str | None = None) -> Understood:
        t0 = time.perf_counter()
        lang = detect_lang(text)
        norm = normalize(text, lang)
        wary = suspicious(self._without_names(text))
        decision = None if wary else self.fast.decide(norm, lang, area)
        engine: Literal["rules", "model"] = "rules"
        tokens = (0, 0)
        decided_ms = 0.0
        model_reply: str | None = None
        grounded: frozenset[str] | None = None
        if decision is None and self.model is not None:
            engine = "model"
            named = self.hint(norm, lang, area)
            grounded = (named.devices or frozenset()) | frozenset(
                d.id for d in self.registry.in_area(area or "")
            )
            # No hint for a suspicious request: its own words are what it wants obeyed.
            hint = None if wary else named
            clauses = len([c for c in grammar(lang).separators.split(norm) if c.strip()])
            answer = self.model.decide(
                norm, lang, hint, max_commands=max(1, min(clauses, MAX_MODEL_COMMANDS))
            )
            decision = answer.decision
            model_reply = answer.reply
            tokens = (answer.evaluated_tokens, answer.sampled_tokens)
            decided_ms = answer.decided_ms
        elif decision is None:
            # Without a model, "not sure" has to be an honest "unknown".
            decision = Decision.one(UNKNOWN)
        decision = self.policy.apply(decision, text, lang, engine, grounded)
        if decision.commands[0].action == CHAT:
            reply = model_reply or self.replies.small_talk(text, lang)
        else:
            reply = self.replies.render(decision, lang)
        return Understood(
            decision,
            reply,
            lang,
            engine,
            _ms(t0),
            tokens[0],
            tokens[1],
            decided_ms=decided_ms or _ms(t0),
        )

    def _without_names(self, text: str) -> str:
        """The request without the home's own names: "movie mode" is a scene, not an
        attempt to switch the assistant's mode."""
        low = text.lower()
        for phrase in self._names:
            low = low.replace(phrase, " ")
        return low

    def hint(self, text: str, lang: Lang, area: str | None) -> Hint:
        """The devices, places, numbers and colours a request names, for the decoder."""
        low = text.lower()
        reg = self.registry
        named: set[str] = set()
        for dev in reg.devices:
            if any(_says(low, p.lower(), lang) for p in dev.phrases):
                named.add(dev.id)
        directly = bool(named)
        for place in reg.areas:
            if any(_says(low, p.lower(), lang) for p in place.phrases):
                named.update(d.id for d in reg.in_area(place.id))
        for fl in reg.floors:
            if any(_says(low, p.lower(), lang) for p in fl.phrases):
                named.update(d.id for d in reg.on_floor(fl.id))
        numbers = frozenset(abs(int(n)) for n in _NUMBER.findall(low) if len(n) <= 6)
        colors = frozenset(c for word, c in self._colors.items() if word in low)
        return Hint(
            devices=frozenset(named) or None,
            values=numbers or None,
            colors=colors or None,
            named_directly=directly,
        )


def _says(text: str, phrase: str, lang: Lang) -> bool:
    if lang == "zh" or not phrase.isascii():
        return phrase in text
    return re.search(rf"\b{re.escape(phrase)}s?\b", text) is not None


def _color_words() -> dict[str, str]:
    """Colour words of every language, to their FORMAT.md name (daemon/data/lang)."""
    out = {c: c for c in COLORS}
    out.update(color_names())
    return out


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
