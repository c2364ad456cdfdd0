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
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from daemon.home.registry import Command, Decision, Hint, Registry
from daemon.home.vocabulary import CHAT, COLORS, QUERY, UNKNOWN
from daemon.understanding.fastpath import FastPath
from daemon.understanding.lang import (
    Lang,
    color_names,
    detect_lang,
    grammar,
    normalize,
    phrase_pattern,
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
        self.registry, self.fast, self.policy, self.replies, self._names = self._parts(registry)
        self._colors = _color_words()

    def _parts(self, registry: Registry) -> tuple[Registry, FastPath, Policy, Replies, list[str]]:
        phrases = [p for d in registry.devices for p in d.phrases] + [
            p for place in (*registry.areas, *registry.floors) for p in place.phrases
        ]
        names = sorted({p.lower() for p in phrases}, key=len, reverse=True)
        return (
            registry,
            FastPath(registry),
            Policy(registry),
            Replies(registry, self._replies_cfg),
            names,
        )

    def reload(self, registry: Registry, replies: dict[str, dict[str, str]]) -> None:
        """New devices or reply templates, keeping the loaded model. All or nothing: the
        new parts are built first, the model's prompt next (it raises if its context
        cannot hold the registry); only then does the engine switch."""
        old_cfg = self._replies_cfg
        self._replies_cfg = replies
        try:
            parts = self._parts(registry)
            if self.model is not None:
                self.model.set_registry(registry)
        except Exception:
            self._replies_cfg = old_cfg
            raise
        self.registry, self.fast, self.policy, self.replies, self._names = parts

    def understand(
        self, text: str, area: str | None = None, focus: frozenset[str] = frozenset()
    ) -> Understood:
        """The whole path: the templates, else the model (or `unknown` without one).

        `focus`: the devices a conversation is about; a request that names no target
        ("make it brighter", "把它关掉") means them, before the site's area.
        """
        return self.understand_fast(text, area, focus) or self.understand_model(text, area, focus)

    def understand_fast(
        self, text: str, area: str | None = None, focus: frozenset[str] = frozenset()
    ) -> Understood | None:
        """The templates alone: a decision in milliseconds, or None for the model."""
        t0 = time.perf_counter()
        lang = detect_lang(text)
        if suspicious(self._without_names(text)):
            return None
        decision = self.fast.decide(normalize(text, lang), lang, area, focus)
        if decision is None:
            return None
        return self._finish(decision, text, lang, "rules", t0)

    def understand_model(
        self, text: str, area: str | None = None, focus: frozenset[str] = frozenset()
    ) -> Understood:
        """The model path (what the templates do not match), constrained to the registry."""
        t0 = time.perf_counter()
        lang = detect_lang(text)
        if self.model is None:
            # Without a model, "not sure" has to be an honest "unknown".
            return self._finish(Decision.one(UNKNOWN), text, lang, "rules", t0)
        norm = normalize(text, lang)
        wary = suspicious(self._without_names(text))
        clauses = [c.strip() for c in grammar(lang).separators.split(norm) if c.strip()]
        if wary or not 2 <= len(clauses) <= MAX_MODEL_COMMANDS:
            clauses = [norm]
        # A compound request is asked clause by clause, each with its own hint: it costs
        # no more than its commands asked alone, and each answer is about its own words.
        commands: list[Command] = []
        grounded = frozenset(d.id for d in self.registry.in_area(area or "")) | focus
        reply: str | None = None
        evaluated = sampled = 0
        decided_ms = 0.0
        for clause in clauses:
            named = self.hint(clause, lang, area)
            by_focus = named.devices is None and bool(focus)
            if by_focus:
                # "turn them on": the devices talked about, as if named.
                named = replace(named, devices=focus, named_directly=True)
            grounded |= named.devices or frozenset()
            answer = self.model.decide(clause, lang, None if wary else named)
            evaluated += answer.evaluated_tokens
            sampled += answer.sampled_tokens
            decided_ms += answer.decided_ms
            reply = reply or answer.reply
            for c in answer.decision.commands:
                c = self._repeat_for(c, commands, named)
                if by_focus and set(c.devices) <= focus and c.devices:
                    c = self._whole_focus(c, focus)
                if c not in commands:
                    commands.append(c)
        return self._finish(
            Decision(tuple(commands)),
            text,
            lang,
            "model",
            t0,
            grounded=grounded,
            model_reply=reply,
            tokens=(evaluated, sampled),
            decided_ms=decided_ms,
        )

    def conclude(self, decision: Decision, text: str, lang: Lang) -> Understood:
        """A decision made outside the engine (a follow-up the dialogue resolved): the
        same policy and reply as any other."""
        return self._finish(decision, text, lang, "rules", time.perf_counter())

    def _whole_focus(self, c: Command, focus: frozenset[str]) -> Command:
        """The model names one device per command; "them" means every one talked about
        that takes the action."""
        ids = tuple(d for d in sorted(focus) if self.registry.by_id[d].accepts(c.action))
        return Command(c.action, ids or c.devices, c.value)

    def _repeat_for(self, c: Command, before: list[Command], named: Hint) -> Command:
        """A later clause that the model could not place on its own ("... and the lounge
        lamp") does what the clause before it did, on the devices it names."""
        if c.action not in (UNKNOWN, CHAT) or not before or not named.devices:
            return c
        last = before[-1]
        ids = tuple(d for d in sorted(named.devices) if self.registry.by_id[d].accepts(last.action))
        if not last.devices or not ids or last.action in (QUERY,):
            return c
        return Command(last.action, ids, last.value)

    def _finish(
        self,
        decision: Decision,
        text: str,
        lang: Lang,
        engine: Literal["rules", "model"],
        t0: float,
        *,
        grounded: frozenset[str] | None = None,
        model_reply: str | None = None,
        tokens: tuple[int, int] = (0, 0),
        decided_ms: float = 0.0,
    ) -> Understood:
        """The safety policy, then one reply for the whole request."""
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
        said: list[str] = []
        for dev in reg.devices:
            hits = [p.lower() for p in dev.phrases if _says(low, p.lower(), lang)]
            if hits:
                named.add(dev.id)
                said.extend(hits)
        directly = bool(named)
        # A place inside a device's own name ("master bedroom light") is that device, not
        # every device of the master bedroom: places are looked for in what is left.
        for phrase in sorted(said, key=len, reverse=True):
            low = low.replace(phrase, " ")
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
    if lang == "zh":
        return phrase in text
    return phrase_pattern(phrase).search(text) is not None


def _color_words() -> dict[str, str]:
    """Colour words of every language, to their FORMAT.md name (daemon/data/lang)."""
    out = {c: c for c in COLORS}
    out.update(color_names())
    return out


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
