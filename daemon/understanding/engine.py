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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Literal, Protocol

from daemon.core.script import simplified
from daemon.core.vocabulary import ACTUATING, CANCEL, CHAT, CLARIFY, COLORS, QUERY, UNKNOWN, Lang
from daemon.home.registry import Command, Decision, Hint, Registry
from daemon.understanding.clauses import Clauses
from daemon.understanding.clauses import split as split_clauses
from daemon.understanding.exclusion import set_apart, without
from daemon.understanding.fastpath import FastPath
from daemon.understanding.items import expand as expand_items
from daemon.understanding.lang import (
    color_names,
    detect_lang,
    direction,
    grammar,
    lexicon,
    marks,
    normalize,
    phrase_pattern,
    suspicious,
)
from daemon.understanding.policy import Policy, mood
from daemon.understanding.replies import Replies
from daemon.understanding.setting import asks_nothing, lend, states
from daemon.understanding.sounds import Respeller
from daemon.understanding.targets import Mentions, Target
from daemon.understanding.verbs import actions_said, verb_starts

_LOG = logging.getLogger(__name__)

MAX_MODEL_COMMANDS = 4
_NUMBER = re.compile(r"-?\d+")
# Two English words in a row: the request may be English around a Chinese name or item.
_ENGLISH_FRAME = re.compile(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


class Model(Protocol):
    """What the engine needs of a language model (LlamaEngine, or none at all)."""

    reevaluated: int  # prompt tokens the last registry change evaluated

    def decide(
        self, text: str, lang: str = "en", hint: Hint | None = None, max_commands: int = 1
    ) -> ModelAnswerLike: ...

    def decide_each(
        self, clauses: list[tuple[str, Hint | None]], lang: str = "en"
    ) -> Sequence[ModelAnswerLike]: ...

    def set_registry(self, registry: Registry) -> None: ...

    def use(self, registry: Registry) -> None: ...

    def fits(self, registry: Registry) -> None: ...

    def check(self, text: str, asked: str, answer: str) -> float: ...


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
    @property
    def margin(self) -> float | None: ...


@dataclass(frozen=True)
class _Prepared:
    lang: Lang
    clauses: Clauses
    text: str  # the clauses to decide, normalised
    focus: frozenset[str]
    replaced: Command | None  # the command a correction replaced
    # The focus for the templates: also the devices of clauses set aside when a kept
    # clause names no target. Only a template match may take them up: the model would
    # put them on any clause whose object the home lacks ("don't turn on the ac, opening
    # the window will do").
    fast_focus: frozenset[str] = frozenset()
    # Devices an exception set apart ("all the lights except the porch light").
    excluded: frozenset[str] = frozenset()


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
    # The model's margin for its least certain command (None: not scored), and whether
    # that is too little to act on without asking back.
    margin: float | None = None
    unsure: bool = False


class IntentEngine:
    def __init__(
        self,
        registry: Registry,
        replies: dict[str, dict[str, str]] | None = None,
        model: Model | None = None,
        margins: tuple[float, float] = (0.5, 1.5),
        check: bool = False,
    ) -> None:
        self.model = model
        self.margins = margins
        self.check = check
        self._replies_cfg = replies or {}
        self._set(registry)

    def _set(self, registry: Registry) -> None:
        self.registry, self.fast, self.policy, self.replies, self._names, self.respeller = (
            self._parts(registry)
        )
        self._colors = _color_words()
        for lang in ("en", "zh"):
            # The grammar's patterns compile on first use: pay for them here, once.
            self.understand_fast(lexicon(lang)["warmup_request"])

    def _parts(
        self, registry: Registry
    ) -> tuple[Registry, FastPath, Policy, Replies, list[str], Respeller]:
        phrases = [p for d in registry.devices for p in d.phrases] + [
            p for place in (*registry.areas, *registry.floors) for p in place.phrases
        ]
        names = sorted({p.lower() for p in phrases}, key=len, reverse=True)
        fast = FastPath(registry)
        return (
            registry,
            fast,
            Policy(registry),
            Replies(registry, self._replies_cfg),
            names,
            Respeller(registry, fast.targets.kind_words),
        )

    def with_registry(self, registry: Registry, replies: dict[str, dict[str, str]]) -> IntentEngine:
        """A new engine for new devices or reply templates, sharing the loaded model.

        Built beside this one, which keeps deciding until the caller swaps them; it raises
        (the model's context cannot hold the registry, a bad reply template) before any
        swap. The model's prompt follows on its own thread at the new engine's first
        model request (or when the caller warms it: `warm`).
        """
        if self.model is not None:
            self.model.fits(registry)
        return IntentEngine(registry, replies, self.model, margins=self.margins, check=self.check)

    def warm(self) -> None:
        """Evaluate the model's prompt for this engine's registry now (model thread)."""
        if self.model is not None:
            self.model.use(self.registry)

    def understand(
        self, text: str, area: str | None = None, focus: frozenset[str] = frozenset()
    ) -> Understood:
        """The whole path: the templates, else the model (or `unknown` without one).

        `focus`: the devices a conversation is about; a request that names no target
        ("make it brighter", "turn it off") means them, before the site's area.
        """
        return self.understand_fast(text, area, focus) or self.understand_model(text, area, focus)

    def understand_fast(
        self, text: str, area: str | None = None, focus: frozenset[str] = frozenset()
    ) -> Understood | None:
        """The templates alone: a decision in milliseconds, or None for the model."""
        t0 = time.perf_counter()
        text = simplified(text)
        p = self._prepare(text, area, focus)
        if self._asks_nothing(text, p.lang):
            return self._finish(Decision.one(CHAT), text, p.lang, "rules", t0)
        if not p.clauses.kept:
            return self._finish(Decision.one(CANCEL), text, p.lang, "rules", t0)
        # "the dish washer": a name's word that a recogniser wrote as two.
        decision = self.fast.decide(
            self.respeller.rejoined(p.text, p.lang), p.lang, area, p.fast_focus
        )
        if (
            decision is None
            and p.lang == "zh"
            and (_ENGLISH_FRAME.search(text) or p.text.isascii())
        ):
            # "add huochai to the pantry": English grammar around a Chinese word; "hao
            # le, close it": English once the Chinese discourse words are set aside.
            english = p.text if p.text.isascii() else text
            decision = self.fast.decide(normalize(english, "en"), "en", area, p.fast_focus)
        if decision is None and p.lang == "zh" and _LATIN_WORD.search(p.text):
            decision = self._each_in_its_language(p.text, area, p.fast_focus)
        asking = decision is not None and decision.first.action == CLARIFY
        if decision is None or _unknown(decision) or asking:
            # Misheard or mistyped names ("the projecter"; in Chinese "deng", wait,
            # written for its homophone "deng", lamp); a question back that a misheard
            # place made is asked only if it still must be: the respelling settles on
            # some of the same devices, never on others ("fan" is no "flat").
            respelled = self.respeller.respell(p.text, p.lang)
            if respelled != p.text:
                respelled_decision = self.fast.decide(respelled, p.lang, area, p.fast_focus)
                if respelled_decision is not None and (
                    (decision is None and not asking)
                    or not (
                        _unknown(respelled_decision)
                        or (asking and not _narrows(respelled_decision, decision))
                    )
                ):
                    decision = respelled_decision
        if decision is None and p.lang == "en":
            # Names heard by their sound ("the porch lite"): only a clear command.
            heard = self.respeller.respell(p.text, p.lang, by_sound=True)
            if heard != p.text:
                by_sound = self.fast.decide(heard, p.lang, area, p.fast_focus)
                if by_sound is not None and not _unknown(by_sound):
                    decision = by_sound
        if decision is None and len(grammar(p.lang).separators.split(p.text)) == 1:
            # "guandiao dianshi dakai chuanglian", "lock the door turn off the lights":
            # commands one after another with nothing between them (speech has no commas).
            decision = self._run_on(p.text, p.lang, area, p.fast_focus)
        if decision is None and len(grammar(p.lang).separators.split(p.text)) == 1:
            # "the TV is way too loud": nothing asked, but one step the other way meant.
            said = self.fast.complaint(p.text, p.lang, area, p.fast_focus)
            decision = None if said is None else Decision((said,))
        if decision is None:
            item = self.fast.add_alone(p.text, p.lang, p.fast_focus)
            decision = None if item is None else Decision((item,))
        if decision is None and p.replaced is not None:
            # "..., no wait, the dining room ones": the replaced clause's action.
            again = self.fast.repeat(p.replaced, p.text, p.lang, area)
            decision = None if again is None else Decision((again,))
        if decision is None and p.clauses.cancelled:
            # After "never mind", only a clear command counts ("never mind, just turn
            # it off").
            decision = Decision.one(CANCEL)
        if decision is None:
            return None
        return self._finish(
            decision, text, p.lang, "rules", t0, decided_text=p.text, excluded=p.excluded
        )

    def _run_on(
        self, text: str, lang: Lang, area: str | None, focus: frozenset[str], depth: int = 0
    ) -> Decision | None:
        """Two or more commands said without a break: split where a verb or a target
        starts, when the part before and the rest each move something."""
        if depth > 2:
            return None
        mentions = self.fast.targets.mentions(text, lang)
        points = sorted({a for a, _ in mentions.spans} | set(verb_starts(text)))
        for at in points:
            if at <= 0 or (lang == "en" and text[at - 1] != " "):
                continue
            left, right = text[:at].strip(), text[at:].strip()
            if not all(verb_starts(x) or not self.fast.bare_target(x, lang) for x in (left, right)):
                continue  # a name alone ("the pool pump") is no command here
            first = self.fast.decide(left, lang, area, focus)
            if first is None or not _acts(first):
                continue
            rest = self.fast.decide(right, lang, area, focus)
            if rest is None or not _acts(rest):
                rest = self._run_on(right, lang, area, focus, depth + 1)
            if rest is not None and _acts(rest):
                return Decision(first.commands + rest.commands)
        return None

    def _each_in_its_language(
        self, text: str, area: str | None, focus: frozenset[str]
    ) -> Decision | None:
        """Clauses in two languages ("touyingji on, ranhou movie mode"): each decided in
        its own; None unless every clause is."""
        commands: list[Command] = []
        for clause in grammar("zh").separators.split(text):
            clause = clause.strip(" " + marks("comma", "stop", "exclamation", "question"))
            if not clause:
                continue
            lang: Lang = "en" if clause.isascii() else "zh"
            d = self.fast.decide(normalize(clause, lang), lang, area, focus)
            if d is None:
                return None
            commands += d.commands
        return Decision(tuple(commands)) if len(commands) > 1 else None

    def _asks_nothing(self, text: str, lang: Lang) -> bool:
        """Text that talks to the assistant about its rules, hearsay, quotes and "what
        if" ask for nothing, whatever devices they name: decided before any template or
        model, on both paths (the daemon may run the model path alone)."""
        said = mood(text, lang)
        return suspicious(self._without_names(text)) or said.reported or said.hypothetical

    def _prepare(self, text: str, area: str | None, focus: frozenset[str]) -> _Prepared:
        """The language, the clauses to decide (clauses.py), and the focus they inherit
        from the clauses set aside ("don't open the curtains, close them")."""
        lang = detect_lang(text)
        said = normalize(text, lang)
        excluded: frozenset[str] = frozenset()

        def names_target(clause: str) -> bool:
            m = self.fast.targets.mentions(clause, lang)
            return m.said or (m.here and area is not None)  # "except in here"

        apart = set_apart(said, lang, names_target)
        if apart is not None:
            said = apart.text
            words = self.fast.targets.mentions(apart.words, lang)
            # The speaker's area only for "here": "except the lamps" is every lamp.
            where = area if words.here else None
            excluded = frozenset(d.id for d in self.fast.targets.resolve(words, where).devices)
        said = self.fast.shared_head(said, lang)
        # "it's freezing upstairs, bump the heat up 3": one command, upstairs.
        said = lend(
            said,
            lang,
            lambda c: self.fast.targets.mentions(c, lang),
            lambda c: self.fast.bare_target(c, lang),
            lambda c: self.fast.decide(c, lang, area, focus) is not None,
            lambda d: self.registry.by_id[d].area if d in self.registry.by_id else None,
        )
        parts = split_clauses(
            said,
            lang,
            lambda c: self.fast.bare_target(c, lang),
            lambda c: self.fast.targets.mentions(c, lang).said,
        )
        # The devices of clauses set aside are what "them" means next ("don't open the
        # curtains, close them"); a clause that does not point back does not get them.
        extra: set[str] = set()
        aside = [*parts.negated, *parts.before]
        # For the templates, so is a clause that names no target at all ("xiyiji bie xi le,
        # ting le ba": the washing machine, stopped).
        # Only with clauses set aside: the common request pays for nothing here.
        kept = [self.fast.targets.mentions(c, lang) for c in parts.kept] if aside else []
        aside_devices: set[str] = set()
        # A clause with only a place is one too, for a kind it leaves out ("bie guan
        # keting de deng, ba zhuwo de guan le": the master bedroom's lights).
        if any(m.back or not m.said or not (m.devices or m.kinds) for m in kept):
            for clause in aside:
                m = self.fast.targets.mentions(clause, lang)
                if m.said:
                    aside_devices.update(d.id for d in self.fast.targets.resolve(m, area).devices)
        if any(m.back for m in kept):
            extra = aside_devices
        replaced = None
        if parts.before and parts.kept:
            decided = self.fast.decide(parts.before[-1], lang, area, focus)
            if decided is not None and decided.commands[-1].devices:
                replaced = decided.commands[-1]
        return _Prepared(
            lang,
            parts,
            parts.text(lang),
            focus | frozenset(extra),
            replaced,
            fast_focus=focus | frozenset(aside_devices),
            excluded=excluded,
        )

    def understand_model(
        self, text: str, area: str | None = None, focus: frozenset[str] = frozenset()
    ) -> Understood:
        """The model path (what the templates do not match), constrained to the registry."""
        t0 = time.perf_counter()
        text = simplified(text)
        p = self._prepare(text, area, focus)
        lang, norm, focus = p.lang, p.text, p.focus
        if self._asks_nothing(text, lang) or self.policy.refuses_any(norm, lang):
            # The policy would make chat of whatever the model chose: no need to ask it.
            return self._finish(Decision.one(CHAT), text, lang, "rules", t0, decided_text=norm)
        said = self.fast.targets.mentions(norm, lang)
        if not (said.strange_room and not said.said):
            # Not when only a room the home lacks is named: "the heated floor in the
            # bathroom" is no misheard "heater".
            norm = self.respeller.respell(norm, lang)
        if self.model is None or said.elsewhere:
            # Without a model, "not sure" has to be an honest "unknown"; and a kind of
            # device somewhere this home does not reach ("the neighbours' lights") is
            # none of its devices, whatever the model would pick.
            return self._finish(Decision.one(UNKNOWN), text, lang, "rules", t0)
        self.model.use(self.registry)
        wary = suspicious(self._without_names(text))
        clauses = [c.strip() for c in grammar(lang).separators.split(norm) if c.strip()]
        if wary or not 2 <= len(clauses) <= MAX_MODEL_COMMANDS:
            clauses = [norm]
        # A compound request is asked clause by clause, each with its own hint, so that
        # each answer is about its own words; the model reads the clauses side by side.
        commands: list[Command] = []
        grounded = frozenset(d.id for d in self.registry.in_area(area or ""))
        reply: str | None = None
        evaluated = sampled = 0
        decided_ms = 0.0
        margin: float | None = None
        asks: list[_Ask | None] = []  # None: a kind of room the home lacks
        for clause in clauses:
            named = self.hint(clause, lang, area)
            mentions = self.fast.targets.mentions(clause, lang)
            if mentions.elsewhere or (mentions.strange_room and not mentions.said):
                # A kind of room the home lacks, and nothing of this home: whatever the
                # model picks is somewhere else ("the heated floor in the bathroom").
                asks.append(None)
                continue
            group = self._group(mentions, area, focus)
            # Only what points back or asks for something is about the devices talked
            # about: "good night" after "turn off the lights" is no question about them.
            about = mentions.back or not asks_nothing(clause, verbs_only=False)
            by_focus = named.devices is None and bool(focus) and group is None and about
            if by_focus:
                # "turn them on": the devices talked about, as if named.
                named = replace(named, devices=focus, named_directly=True)
            if group is not None:
                # "kill the lights in the media room": the model picks the action for
                # a device of each kind; the command is for the whole group.
                grounded |= frozenset(d.id for d in group.devices)
                named = replace(named, devices=_representatives(group), named_directly=True)
            grounded |= named.devices or frozenset()
            asks.append(_Ask(clause, named, mentions, group, by_focus))
        if not any(a is not None and a.named.named_directly and not a.by_focus for a in asks):
            # The devices talked about, unless the request names its own: "the kitchen
            # light purple too", when only the living room light takes colours, is
            # nothing the kitchen light can do, not the living room light again.
            grounded |= focus
        answers = iter(
            self.model.decide_each(
                [(a.clause, None if wary else a.named) for a in asks if a is not None], lang
            )
        )
        for a in asks:
            if a is None:
                commands.append(Command(UNKNOWN))
                continue
            answer = next(answers)
            evaluated += answer.evaluated_tokens
            sampled += answer.sampled_tokens
            if answer.margin is not None:
                margin = answer.margin if margin is None else min(margin, answer.margin)
            decided_ms += answer.decided_ms
            reply = reply or answer.reply
            for c in answer.decision.commands:
                if a.mentions.back and commands and _restated(c, commands[-1]):
                    continue  # "we're out of rice, add it to the list": "it" is the rice
                c = self._repeat_for(c, commands, a.named)
                c = self.fast.property_switched(c, a.clause, lang)
                if a.by_focus and set(c.devices) <= focus and c.devices:
                    c = self._whole_focus(c, focus)
                if a.group is not None and c.devices:
                    c = self._whole_group(c, a.group)
                if c not in commands:
                    commands.append(c)
        u = self._finish(
            Decision(tuple(commands)),
            text,
            lang,
            "model",
            t0,
            grounded=grounded,
            model_reply=reply,
            tokens=(evaluated, sampled),
            decided_ms=decided_ms,
            decided_text=norm,
            margin=margin,
            excluded=p.excluded,
        )
        if not u.unsure and all(states(c, lang) for c in clauses) and _acts(u.decision):
            # "the living room is freezing": no one asked for anything; whatever the
            # model made of it is asked back ("Do you want me to ...?"), never done.
            u = replace(u, unsure=True)
        if self.check and not u.unsure:
            score = self.check_score(u, text)
            # A no (or a tie) asks back instead of acting.
            u = u if score is None else replace(u, unsure=score <= 0)
        return u

    def check_score(self, u: Understood, text: str) -> float | None:
        """The yes/no question to the model before anything moves: the log-odds of yes
        to "Is the speaker asking you to <it> now?"; None when nothing would move."""
        acting = [c for c in u.decision.commands if c.action in ACTUATING and c.devices]
        if not acting or self.model is None:
            return None
        self.model.use(self.registry)
        c = acting[0]
        names = " and ".join(self.registry.by_id[d].name for d in c.devices)
        asked = f"{c.action.replace('_', ' ')} the {names}"
        line = " ".join(str(x) for x in (c.action, c.devices[0], c.value) if x is not None)
        score = self.model.check(text, asked, line)
        _LOG.info("check for %r (%s): log-odds of yes %.2f", text, asked, score)
        return score

    def conclude(self, decision: Decision, text: str, lang: Lang) -> Understood:
        """A decision made outside the engine (a follow-up the dialogue resolved): the
        same policy and reply as any other."""
        return self._finish(decision, text, lang, "rules", time.perf_counter())

    def _group(self, m: Mentions, area: str | None, focus: frozenset[str]) -> Target | None:
        """The devices a clause points at as a set (a kind, a place, "all"), or None
        when it names devices one by one or nothing at all."""
        if not m.group:
            return None
        target = self.fast.targets.resolve(m, area, focus)
        return target if target.devices else None

    def _whole_group(self, c: Command, group: Target) -> Command:
        """The model's command for one device of a group, for every device of the group
        that takes it; a question back when they are in different places and nothing
        settled which."""
        ids = tuple(d.id for d in group.devices if d.accepts(c.action))
        if not ids:
            return c
        if not group.settled and len(ids) > 1 and c.action != QUERY:
            return Command(CLARIFY, ids, asked=Command(c.action, (), c.value))
        return Command(c.action, ids, c.value)

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
        decided_text: str | None = None,
        margin: float | None = None,
        excluded: frozenset[str] = frozenset(),
    ) -> Understood:
        """The safety policy, then one reply for the whole request. `decided_text`: the
        clauses that were decided, when some were set aside (a negation is judged on
        its own clause). `excluded`: devices an exception set apart (exclusion.py)."""
        decision = without(decision, excluded)
        if any(c.action == "add_item" for c in decision.commands):
            said = normalize(decided_text or text, lang)
            decision = replace(decision, commands=expand_items(decision.commands, lang, said))
        decision = self.policy.apply(decision, text, lang, engine, grounded, decided_text)
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
            margin=margin,
            unsure=self._unsure(decision, margin),
        )

    def _unsure(self, decision: Decision, margin: float | None) -> bool:
        """The model chose an actuating command by too little to act without asking."""
        if margin is None or not any(c.action in ACTUATING for c in decision.commands):
            return False
        plain, sensitive = self.margins
        sensitive_here = any(self.registry.is_sensitive(c) for c in decision.commands)
        return margin < (sensitive if sensitive_here else plain)

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
        absolute = bool(numbers) and bool(_value_pattern(lang, "target_value").search(low))
        sign = direction(low, lang)
        # "by 2", or a number beside a comparative with no "to": "2 degrees cooler".
        relative = bool(numbers) and (
            bool(_value_pattern(lang, "step_value").search(low)) or sign is not None
        )
        colors = frozenset(c for word, c in self._colors.items() if word in low)
        return Hint(
            devices=frozenset(named) or None,
            values=numbers or None,
            colors=colors or None,
            named_directly=directly,
            absolute=absolute,
            relative=relative and not absolute,
            actions=actions_said(text),
            sign=sign,
        )


@dataclass(frozen=True)
class _Ask:
    """A clause for the model, with what its words point at."""

    clause: str
    named: Hint
    mentions: Mentions
    group: Target | None
    by_focus: bool  # names nothing: about the devices talked about


def _unknown(d: Decision) -> bool:
    return all(c.action == UNKNOWN for c in d.commands)


def _representatives(group: Target) -> frozenset[str]:
    """Few devices of the group that take every action one of them takes: the model
    chooses an action, not a device, and each line it scores costs batch tokens (a
    colour light beside a plain one, not one of each type: "set_color" once)."""
    out: list[str] = []
    covered: set[str] = set()
    for d in sorted(group.devices, key=lambda d: -len(d.actions)):
        if not covered.issuperset(d.actions):
            out.append(d.id)
            covered.update(d.actions)
    return frozenset(out or [d.id for d in group.devices[:1]])


def _says(text: str, phrase: str, lang: Lang) -> bool:
    if lang == "zh":
        return phrase in text
    return phrase_pattern(phrase).search(text) is not None


def _restated(c: Command, before: Command) -> bool:
    """The same action on the same devices, said again of "it" (not a new number: "set it
    to 30 instead" is a correction)."""
    same = c.action == before.action and c.devices == before.devices and bool(c.devices)
    return same and not isinstance(c.value, int)


@cache
def _value_pattern(lang: Lang, key: str) -> re.Pattern[str]:
    """A number said as where to go ("to 10%", `target_value`) or as how far to move
    ("by 2", `step_value`; daemon/data/lang)."""
    lex = lexicon(lang)
    words = sorted({w for ws in lex["value_words"].values() for w in ws}, key=len, reverse=True)
    alternatives = "|".join(re.escape(w) for w in words) or "(?!x)x"
    return re.compile(lex[key].replace("{words}", alternatives))


def _color_words() -> dict[str, str]:
    """Colour words of every language, to their FORMAT.md name (daemon/data/lang)."""
    out = {c: c for c in COLORS}
    out.update(color_names())
    return out


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _acts(decision: Decision) -> bool:
    return any(c.action in ACTUATING and c.devices for c in decision.commands)


def _narrows(respelled: Decision, question: Decision | None) -> bool:
    """A decision that settles a question back on some of its own candidates."""
    if question is None or respelled.first.action == CLARIFY:
        return False
    asked = {d for c in question.commands for d in c.devices}
    said = {d for c in respelled.commands for d in c.devices}
    return bool(said) and said <= asked
