"""The dialogue around the engine: follow-ups, questions back, confirmations, timers.

Plain blocking code, no asyncio; the dispatcher calls it on the event loop, so sessions
need no lock. A turn goes:

1. `shortcut`: turns that only make sense in their conversation, decided without the
   engine: a yes (or PIN) to a pending confirmation, anything else to it ("OK, I
   won't."), an answer to "which one?", "and the bedroom too", "the other one".
2. otherwise the engine, given the session's `focus` (the devices talked about last), so
   that "make it brighter" or "turn it off" means them.
3. `after`: the decision against the conversation: a `clarify` is remembered, a
   sensitive action waits for its confirmation, `cancel` ends the session, timers are
   kept. The result is a Turn: the decision, its status and whether a reply is expected.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

from daemon.config.settings import DialogueSettings
from daemon.core.data import load
from daemon.core.durations import spoken_duration
from daemon.core.messages import IntentStatus as Status
from daemon.core.messages import Request
from daemon.core.vocabulary import (
    ABSOLUTE_TO_RELATIVE,
    ACTUATING,
    CANCEL,
    CANCEL_TIMER,
    CHAT,
    CLARIFY,
    QUERY,
    RELATIVE_TO_ABSOLUTE,
    START_TIMER,
    TIMER_STATUS,
    UNKNOWN,
    Lang,
)
from daemon.dialogue.sessions import Pending, Session, Sessions
from daemon.dialogue.timers import Timer, TimerBook, TimerError
from daemon.home.registry import Command, Decision, RangeProblem
from daemon.understanding.clauses import after_correction
from daemon.understanding.engine import IntentEngine, Understood
from daemon.understanding.lang import (
    alternation,
    detect_lang,
    direction,
    grammar,
    marks,
    normalize,
    phrase_pattern,
)
from daemon.understanding.policy import mood
from daemon.understanding.targets import without_spans
from daemon.understanding.templates import domain_of

_LOG = logging.getLogger(__name__)
# What sets a device moving for a while: a "stop!" after it stops the device.
_MOVING = frozenset({"open", "close", "set_position", "start", "return_to_base", "resume"})
_STOP = "stop"
_TIMER_ACTIONS = (START_TIMER, CANCEL_TIMER, TIMER_STATUS)

TimerEventKind = Literal["started", "cancelled", "finished"]


@dataclass(frozen=True)
class TimerEvent:
    event: TimerEventKind
    timer: Timer


@dataclass(frozen=True)
class Turn:
    """One decided turn of a conversation."""

    understood: Understood
    session: str
    status: Status = "decided"
    expect_reply: bool = False  # the reply is a question: a satellite reopens its mic
    timer_events: tuple[TimerEvent, ...] = ()


@dataclass(frozen=True)
class _Words:
    yes: re.Pattern[str]
    not_yes: re.Pattern[str]
    also: re.Pattern[str]
    again: re.Pattern[str]
    only: re.Pattern[str]
    halt: re.Pattern[str]
    both: re.Pattern[str]
    other: re.Pattern[str]
    one_back: re.Pattern[str]
    many_back: re.Pattern[str]
    fillers: re.Pattern[str]
    what: dict[str, str]
    and_: str  # between the devices' names of a confirmation
    timer_separator: str
    timer_back: re.Pattern[str]
    timer_frames: tuple[str, ...]
    timer_noun: str


@cache
def words(lang: Lang) -> _Words:
    raw = load("dialogue.toml")[lang]
    edge = lang == "en"

    def alt(key: str) -> re.Pattern[str]:
        # Longest first: "of course" is taken whole before "of" could be.
        return alternation(sorted(raw[key], key=len, reverse=True), words=edge)

    return _Words(
        yes=alt("yes"),
        not_yes=alt("not_yes"),
        also=alt("also"),
        again=alt("again"),
        only=alt("only"),
        halt=alt("halt"),
        both=alt("both"),
        other=alt("other"),
        one_back=alt("one_back"),
        many_back=alt("many_back"),
        fillers=alt("answer_fillers"),
        what=dict(raw["what"]),
        and_=raw["and"],
        timer_separator=raw["timer_separator"],
        timer_back=alt("timer_back"),
        timer_frames=tuple(raw["timer_frames"]),
        timer_noun=raw["timer_noun"],
    )


def _head(name: str) -> str:
    """A name's head noun: its last word, or in Chinese its last two characters
    ("zhuwo kongtiao" and "keting kongtiao" are both kongtiao)."""
    low = name.lower().strip()
    return low[-2:] if detect_lang(low) == "zh" else low.split()[-1] if low.split() else low


def _leftover(text: str, lang: Lang) -> str:
    """What an answer says besides the words around a target ("the", "one", "please")
    and the particles and courtesies the templates skip ("both lah")."""
    rest = grammar(lang).skip.sub(" ", words(lang).fillers.sub(" ", text))
    if lang == "en":
        rest = grammar(lang).fillers.sub(" ", rest)
    return rest.strip()


@cache
def _punctuation() -> re.Pattern[str]:
    """Punctuation of any language, and the marks people type around words (not the
    apostrophe inside one: "Chloe's room")."""
    kinds = ("comma", "stop", "exclamation", "question", "semicolon", "colon", "enumeration")
    return re.compile(rf"(?:[\s{re.escape(marks(*kinds))}~…\"]|'(?!\w)|(?<!\w)')+")


def _by_own_words(
    words_of: dict[str, frozenset[str]], text: str, pattern: Callable[[str], re.Pattern[str]]
) -> tuple[list[str], str]:
    """The candidates `text` names by words that are theirs alone (of no other
    candidate), and `text` without those words."""
    picked = []
    for dev_id, own in words_of.items():
        others = {w for other, ws in words_of.items() if other != dev_id for w in ws}
        hits = [w for w in own - others if pattern(w).search(text)]
        if hits:
            picked.append(dev_id)
            text = pattern(max(hits, key=len)).sub(" ", text)
    return picked, text


def _undecided(u: Understood | None) -> bool:
    return u is None or u.decision.first.action in (UNKNOWN, CHAT)


def _bare(text: str) -> str:
    return _punctuation().sub(" ", text.lower()).strip()


class Dialogue:
    def __init__(
        self,
        engine: IntentEngine,
        settings: DialogueSettings,
        timers: TimerBook,
        site: str,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.timers = timers
        self.site = site
        self.sessions = Sessions(settings.max_sessions)

    # ------------------------------------------------------------------ turns

    def focus(self, key: str, now: float | None = None, text: str = "") -> frozenset[str]:
        """The devices the conversation is about, within the follow-up window; for
        `text` that points back at one device, the one a follow-up added last."""
        s = self.sessions.peek(key)
        now = time.monotonic() if now is None else now
        if s is None or now - s.last_at > self.settings.followup_s:
            return frozenset()
        if s.last is None:
            return s.topic
        # After "X too", what follows is about X unless it says "them" ("zai liang
        # yidian" after "zhuwo ye kai yixia": the master bedroom's lights).
        many = bool(text) and bool(words(detect_lang(text)).many_back.search(text.lower()))
        if s.added and s.added_at == s.last_at and text and not many:
            return frozenset(s.added)
        return frozenset(s.last.devices)

    def shortcut(self, req: Request, now: float | None = None) -> Turn | None:
        """A turn decided by its conversation alone, or None for the engine."""
        now = time.monotonic() if now is None else now
        key = req.session
        lang = detect_lang(req.text)
        s = self.sessions.peek(key)
        if s is not None and s.pending is not None:
            if s.pending.pin or not (
                self._moves_on(req.text, lang) or self._asks_other(req, s.pending, lang)
            ):
                return self._answer_confirmation(req, s, s.pending, lang, now)
            # Neither a yes nor a no: a new request ("louder" after "do you want me to
            # turn up the speaker?"). The question is dropped, and nothing it asked runs.
            _LOG.info("session %s: %s dropped for a new request", key, s.pending.request_id)
            s.pending = None
        if (
            s is not None
            and s.proposal is not None
            and now - s.last_at <= self.settings.followup_s
            and self._whole_yes(req.text, lang)
        ):
            # "should I put the heater on?" - "go on then, do it".
            proposal, s.proposal = s.proposal, None
            return self.after(req, self.engine.conclude(proposal, req.text, lang), now)
        if self._whole_yes(req.text, lang):
            # "yes" with nothing to confirm is small talk, never a command.
            u = self.engine.conclude(Decision.one(CHAT), req.text, lang)
            return Turn(replace(u, reply=self.say("nothing_pending", lang)), key)
        if s is None:
            return None
        window = self.settings.followup_s
        question, s.question = s.question, None
        if question is not None and question.asked and now - s.question_at <= window:
            picked = self._which(question.devices, req.text, lang)
            if picked:
                # The answer completes the command that was asked about.
                asked = question.asked
                cmd = Command(asked.action, picked, asked.value)
                s.others = tuple(d for d in question.devices if d not in picked)
                u = self.engine.conclude(Decision((cmd,)), req.text, lang)
                return self.after(req, u, now)
        if s.timer_at and now - s.timer_at <= window:
            about = self._about_timer(req, lang, now)
            if about is not None:
                return about
        if s.last is None or now - s.last_at > window:
            return None
        halted = self._halted(s, req.text, lang, now)
        if halted is not None:
            return self.after(req, self.engine.conclude(Decision((halted,)), req.text, lang), now)
        w = words(lang)
        low = normalize(req.text, lang).lower()
        fixed = after_correction(req.text, lang)
        again = None
        if fixed is not None:
            again = self.engine.fast.repeat(s.last, normalize(fixed, lang), lang, req.area)
            # "sorry, I meant 24": the last command with the value meant.
            again = again or self.engine.fast.refine(s.last, normalize(fixed, lang), lang)
            if (again is None or not again.devices) and s.last.action not in (CLARIFY, QUERY):
                # "not this one, Ann's": part of the name of another of the same kind.
                picked = self._of_kind(s.last, fixed, lang)
                if picked:
                    again = Command(s.last.action, picked, s.last.value)
            if (
                again is not None
                and again.devices
                and again.action == s.last.action
                and set(again.devices) != set(s.last.devices)
            ):
                # "no, the bedroom one", "not this one, the one upstairs": the last
                # command, on the device meant (before "the other one" is guessed).
                s.last, s.last_at = again, now
                return Turn(self.engine.conclude(Decision((again,)), req.text, lang), key)
        others = s.others or self._beside(s.last)
        if others and w.other.search(low):
            # With a verb of its own, that ("ling yi ge ye kai yixia": turn the other on).
            rest = w.also.sub(" ", w.other.sub(" ", low))
            own = self.engine.understand_fast(rest, None, frozenset(others))
            mine = own.decision.first if own is not None else None
            if (
                own is not None
                and mine is not None
                and mine.action in ACTUATING
                and set(mine.devices) <= set(others)
            ):
                s.last, s.last_at = mine, now
                return Turn(own, key)
            cmd = Command(s.last.action, others, s.last.value)
            s.others = tuple(d for d in s.last.devices if d not in others)
            s.last, s.last_at = cmd, now
            return Turn(self.engine.conclude(Decision((cmd,)), req.text, lang), key)
        if again is not None and again.devices and again.action == s.last.action:
            s.last, s.last_at = again, now  # the device it was already about
            return Turn(self.engine.conclude(Decision((again,)), req.text, lang), key)
        # "zai di yidian" (a bit lower again) says which way; "a bit more" does not.
        way = direction(low, lang)
        if s.last.action in RELATIVE_TO_ABSOLUTE and w.again.fullmatch(_bare(low).strip()):
            # "a bit more" after "turn it up": the same change again; "zai di yidian"
            # (a bit lower) one step of its own, the way it says.
            again = s.last
            rule = (
                self.engine.registry.rule(again.action, again.devices[0]) if again.devices else None
            )
            if way is not None and rule is not None and rule.default_step:
                again = replace(again, value=way * rule.default_step)
            s.last, s.last_at = again, now
            return Turn(self.engine.conclude(Decision((again,)), req.text, lang), key)
        relative = ABSOLUTE_TO_RELATIVE.get(s.last.action)
        if relative is not None and w.again.fullmatch(_bare(low).strip()):
            # "a bit more" after "set it to 50 percent": one step up from there.
            first = s.last.devices[0] if s.last.devices else None
            rule = self.engine.registry.rule(relative, first)
            if rule is not None and rule.default_step:
                cmd = Command(relative, s.last.devices, rule.default_step * (way or 1))
                s.last, s.last_at = cmd, now
                return Turn(self.engine.conclude(Decision((cmd,)), req.text, lang), key)
        said = _bare(req.text).strip()  # not normalised: "the kitchen one" is no number
        lead = w.only.match(said)
        if lead is not None:
            picked = self._some_of(s.last.devices, said[lead.end() :], lang)
            if picked:
                # "just the chandelier": the last command, on only what it names.
                cmd = Command(s.last.action, picked, s.last.value)
                s.last, s.last_at = cmd, now
                return Turn(self.engine.conclude(Decision((cmd,)), req.text, lang), key)
        if w.also.search(low) or self._only_place(req, low, lang, now):
            again = self.engine.fast.repeat(s.last, w.also.sub(" ", low), lang, req.area)
            if (again is None or not again.devices) and s.last.action not in (CLARIFY, QUERY):
                # "and the porch one": part of the name of another of the kind.
                picked = self._of_kind(s.last, w.also.sub(" ", req.text.lower()), lang)
                again = Command(s.last.action, picked, s.last.value) if picked else again
            if again is not None:
                if again.devices and again.action == s.last.action:
                    # "them" now means both: what was talked about, and this one too.
                    both = tuple(dict.fromkeys((*s.last.devices, *again.devices)))
                    s.last, s.last_at = Command(again.action, both, again.value), now
                    s.added, s.added_at = again.devices, now
                elif again.devices:
                    # "..., and put batteries on the list": its own action, its own device.
                    s.last, s.last_at = again, now
                # The policy reads the turn without its "too": "woshi ne?" repeats the
                # command; its "ne" is no question about the bedroom.
                rest = w.also.sub(" ", low)
                return Turn(self.engine.conclude(Decision((again,)), rest, lang), key)
            focus = self.focus(req.session, now, req.text)
            if _undecided(self.engine.understand_fast(req.text, req.area, focus)):
                # "taideng ye guandiao" (the desk lamp too, off): its own verb, and the
                # "too" the templates do not know.
                own = self.engine.understand_fast(w.also.sub(" ", low), req.area, focus)
                mine = own.decision.first if own is not None else None
                if (
                    own is not None
                    and mine is not None
                    and (
                        mine.action in (*ACTUATING, UNKNOWN)
                        or (mine.action == QUERY and mine.devices)
                    )
                ):
                    # Unknown too: "the kitchen light purple too" when it takes no colour;
                    # a question too: "is the porch one on too?".
                    return self.after(req, own, now)
        return None

    def after(self, req: Request, u: Understood, now: float | None = None) -> Turn:
        """The engine's decision, in its conversation."""
        now = time.monotonic() if now is None else now
        key = req.session
        first = u.decision.first
        if first.action == CANCEL:
            # Called off: nothing waits and nothing repeats, but "it" is still the
            # device talked about.
            s = self.sessions.peek(key)
            if s is not None:
                topic = frozenset(s.last.devices) if s.last is not None else s.topic
                fresh = self.sessions.reset(key)
                fresh.topic, fresh.last_at = topic, s.last_at
            return Turn(u, key)
        timers = [c for c in u.decision.commands if c.action in _TIMER_ACTIONS]
        if timers:
            self.sessions.get(key).timer_at = now  # "cancel it" may mean the timer next
        if timers and len(timers) == len(u.decision.commands):
            return self._timer_turn(req, u)
        s = self.sessions.get(key)
        if first.action == CLARIFY:
            s.question, s.question_at = first, now
            return Turn(u, key, expect_reply=True)
        if first.action == CHAT:
            named = self.engine.fast.targets.mentions(normalize(req.text, u.lang), u.lang)
            proposal = self._proposed(req, u.lang)
            talked = {d for c in proposal.commands for d in c.devices} if proposal else set()
            if named.devices or talked:
                # "should I turn the humidifier on?", then "then do it": what was talked
                # about, though nothing was done to it.
                fresh = self.sessions.reset(key)
                fresh.topic = frozenset(named.devices) | frozenset(talked)
                fresh.proposal, fresh.last_at = proposal, now
                return Turn(u, key)
        self._remember(s, u.decision, now)
        if any(self.engine.registry.is_sensitive(c) for c in u.decision.commands):
            mode = self._mode(req)
            if mode != "none":
                return self._ask_confirmation(req, s, u, mode == "pin", now)
        if u.unsure:
            # The model was not sure enough to act: it asks, and a yes does it.
            return self._ask_confirmation(req, s, u, False, now, kind="unsure")
        # A timer beside device commands ("turn off the light and set a timer") starts
        # with them, and only once they may go ahead.
        return self._with_timers(req, Turn(u, key), timers)

    def _about_timer(self, req: Request, lang: Lang, now: float) -> Turn | None:
        """After talk about a timer, a request that names no target of its own and says
        nothing the templates know alone, read as about the timer: "cancel it", "how long
        is left" (`timer_back`, `timer_frames` in daemon/data/dialogue.toml)."""
        text = normalize(req.text, lang).strip()
        m = self.engine.fast.targets.mentions(text, lang)
        if m.devices or m.areas or m.floors or m.kinds is not None:
            return None  # it names a target of its own
        # Matched as the rules stage would (its focus too), so a request that means
        # something by itself is decided here once, not matched again there.
        alone = self.engine.understand_fast(
            req.text, req.area, self.focus(req.session, now, req.text)
        )
        if alone is not None and alone.decision.first.action not in (CHAT, CANCEL, UNKNOWN):
            return self.after(req, alone, now)
        w = words(lang)
        bare = text.rstrip(" " + marks("stop", "exclamation", "question"))
        tries = [w.timer_back.sub(w.timer_noun, bare, count=1)] if w.timer_back.search(bare) else []
        tries += [frame.format(text=bare) for frame in w.timer_frames]
        for framed in tries:
            u = self.engine.understand_fast(framed, req.area)
            if u is not None and all(c.action in _TIMER_ACTIONS for c in u.decision.commands):
                _LOG.debug("%r read as %r, about the timer", req.text, framed)
                return self.after(req, u, now)
        return None

    def _with_timers(self, req: Request, turn: Turn, timers: list[Command]) -> Turn:
        events: list[TimerEvent] = []
        for c in timers:
            one = self._timer_turn(req, replace(turn.understood, decision=Decision((c,))))
            events.extend(one.timer_events)
            if one.status == "refused":  # the reply says why this timer did not start
                u = turn.understood
                sep = "" if u.lang == "zh" else " "
                turn = replace(
                    turn, understood=replace(u, reply=u.reply + sep + one.understood.reply)
                )
        return replace(turn, timer_events=turn.timer_events + tuple(events))

    def expire(self, now: float | None = None) -> list[tuple[Pending, Turn]]:
        """Confirmations that waited too long: dropped, each with its "OK, I won't."."""
        now = time.monotonic() if now is None else now
        out = []
        for s, p in self.sessions.expired_pending(now):
            lang: Lang = "zh" if p.lang == "zh" else "en"
            _LOG.info(
                "session %s: no confirmation of %s within %.0f s; dropped",
                s.key,
                p.request_id,
                self.settings.confirm_s,
            )
            out.append((p, self._refusal(s.key, p.text, lang)))
        return out

    # ---------------------------------------------------------- confirmations

    def _mode(self, req: Request) -> str:
        if req.source == "mqtt" and req.session in self.settings.trusted_sessions:
            return "none"
        mode = self.settings.confirm.get(req.source, "yes")
        if mode == "pin" and not self.settings.pin:
            _LOG.warning("dialogue.confirm says pin for %s but no dialogue.pin is set", req.source)
            return "yes"
        return mode

    def _ask_confirmation(
        self,
        req: Request,
        s: Session,
        u: Understood,
        pin: bool,
        now: float,
        kind: str = "confirm",
    ) -> Turn:
        s.pending = Pending(
            decision=u.decision,
            request_id=req.id,
            text=req.text,
            lang=u.lang,
            source=req.source,
            area=req.area,
            deadline=now + self.settings.confirm_s,
            pin=pin,
            site=req.site,
            reply_to=req.reply_to,
            correlation=req.correlation,
        )
        asked = next(
            (c for c in u.decision.commands if self.engine.registry.is_sensitive(c)),
            next(c for c in u.decision.commands if c.devices),
        )
        what = self._what(asked, u.lang)
        reply = self.say("confirm_pin" if pin else kind, u.lang, what=what)
        _LOG.info(
            "session %s: %s waits for a confirmation (%s, margin %s)",
            s.key,
            asked.action,
            kind,
            u.margin,
        )
        return Turn(replace(u, reply=reply), s.key, "needs_confirmation", expect_reply=True)

    def _answer_confirmation(
        self, req: Request, s: Session, p: Pending, lang: Lang, now: float
    ) -> Turn:
        s.pending = None
        if now <= p.deadline and self._confirms(req.text, lang, p):
            plang: Lang = "zh" if p.lang == "zh" else "en"
            u = self.engine.conclude(p.decision, p.text, plang)
            _LOG.info("session %s: confirmed %s", s.key, p.request_id)
            timers = [c for c in p.decision.commands if c.action in _TIMER_ACTIONS]
            return self._with_timers(req, Turn(u, s.key, "confirmed"), timers)
        return self._refusal(s.key, req.text, lang)

    def _confirms(self, text: str, lang: Lang, p: Pending) -> bool:
        if p.pin:
            digits = re.sub(r"\D", "", normalize(text, lang))
            return bool(self.settings.pin) and digits == self.settings.pin
        w = words(lang)
        low = _bare(normalize(text, lang))
        return bool(w.yes.match(low)) and not w.not_yes.search(low)

    def _moves_on(self, text: str, lang: Lang) -> bool:
        """The answer to a question back says neither yes nor no."""
        w = words(lang)
        low = _bare(normalize(text, lang))
        return bool(low.strip()) and not w.yes.search(low) and not w.not_yes.search(low)

    def _asks_other(self, req: Request, p: Pending, lang: Lang) -> bool:
        """A yes-word, then a command other than the one waiting ("hao le, guandiao ba"
        after "open it halfway?"): a new request, not the answer."""
        clauses = grammar(lang).separators.split(normalize(req.text, lang))
        if len(clauses) < 2:
            return False
        rest = " ".join(c for c in clauses[1:] if c.strip())
        devices = frozenset(d for c in p.decision.commands for d in c.devices)
        u = self.engine.understand_fast(rest, req.area, devices)
        if u is None or not any(c.action in ACTUATING for c in u.decision.commands):
            return False
        return set(u.decision.commands) != set(p.decision.commands)

    def _whole_yes(self, text: str, lang: Lang) -> bool:
        w = words(lang)
        low = _bare(text)
        rest = w.yes.sub(" ", low)
        return bool(w.yes.search(low)) and not rest.strip() and not w.not_yes.search(low)

    def _refusal(self, key: str, text: str, lang: Lang) -> Turn:
        u = self.engine.conclude(Decision.one(CANCEL), text, lang)
        return Turn(replace(u, reply=self.say("refused", lang)), key, "refused")

    def _what(self, c: Command, lang: Lang) -> str:
        w = words(lang)
        names = [self._name(d, lang) for d in c.devices]
        key = c.action
        if isinstance(c.value, int) and key.startswith("change_"):
            key += "_up" if c.value > 0 else "_down"
        template = w.what.get(key, w.what["default"])
        amount = abs(c.value) if isinstance(c.value, int) else ""
        return template.format(device=w.and_.join(names), value=c.value, amount=amount)

    def _name(self, device: str, lang: Lang) -> str:
        d = self.engine.registry.by_id[device]
        if lang == "zh":
            return next((p for p in d.phrases if detect_lang(p) == "zh"), d.name)
        return d.name

    # ------------------------------------------------------ questions back

    def _which(self, candidates: tuple[str, ...], text: str, lang: Lang) -> tuple[str, ...]:
        """The candidates an answer to "which one?" picks; () if it is no answer."""
        w = words(lang)
        low = _bare(text)  # not normalised: "the kitchen one" is no number
        if w.both.search(low) and not _leftover(w.both.sub(" ", low), lang):
            return candidates
        reg = self.engine.registry

        def pattern(phrase: str) -> re.Pattern[str]:
            low = phrase.lower()
            return phrase_pattern(low) if lang == "en" else re.compile(re.escape(low))

        picked: list[str] = []
        rest = low
        # A device's own name first; then its place, which every candidate there shares
        # ("shufang" after "which light?": both of the study's).
        for dev_id in candidates:
            for phrase in sorted(reg.by_id[dev_id].phrases, key=len, reverse=True):
                if pattern(phrase).search(rest):
                    picked.append(dev_id)
                    rest = pattern(phrase).sub(" ", rest)
                    break
        if not picked:
            places: list[str] = []
            for dev_id in candidates:
                d = reg.by_id[dev_id]
                area = reg.area_by_id.get(d.area or "")
                phrases = list(area.phrases) if area is not None else []
                if area is not None and area.floor in reg.floor_by_id:
                    phrases += reg.floor_by_id[area.floor].phrases
                hits = [p for p in phrases if pattern(p).search(low)]
                if hits:
                    picked.append(dev_id)
                    places.extend(hits)
            for phrase in sorted(set(places), key=len, reverse=True):
                rest = pattern(phrase).sub(" ", rest)
        if not picked:
            # The part of one candidate's name before its kind word: "the porch one",
            # "menlang na ge" for the "menlang deng".
            parts = {
                dev_id: self.engine.fast.targets.name_parts(dev_id, lang) for dev_id in candidates
            }
            picked, rest = _by_own_words(parts, rest, pattern)
        if not picked and lang == "en":
            # A word of one candidate's place name alone: "the common one" of the
            # "common toilet" light, beside the "master toilet" one.
            words_of: dict[str, frozenset[str]] = {}
            for dev_id in candidates:
                place = reg.area_by_id.get(reg.by_id[dev_id].area or "")
                names = place.phrases if place is not None else ()
                words_of[dev_id] = frozenset(
                    w for p in names for w in p.lower().split() if len(w) > 3
                )
            picked, rest = _by_own_words(words_of, rest, pattern)
        if picked:
            # "the lamp on the porch": the kind word is the candidates' own.
            m = self.engine.fast.targets.mentions(rest, lang)
            if m.kinds is not None and not (m.devices or m.areas or m.floors):
                rest = without_spans(rest, m.spans)
        return tuple(picked) if picked and not _leftover(rest, lang) else ()

    def _halted(self, s: Session, text: str, lang: Lang, now: float) -> Command | None:
        """ "Stop!" right after a command that set something moving (the blinds, the
        vacuum): stop it."""
        last = s.last
        if last is None or now - s.last_at > self.settings.followup_s:
            return None
        w = words(lang)
        if w.halt.sub(" ", _bare(text)).strip() or not w.halt.search(_bare(text)):
            return None
        reg = self.engine.registry
        moving = last.action in _MOVING and all(
            d in reg.by_id and reg.by_id[d].accepts(_STOP) for d in last.devices
        )
        return Command(_STOP, last.devices) if moving and last.devices else None

    def _proposed(self, req: Request, lang: Lang) -> Decision | None:
        """What an advice question asks about doing ("should I put the heater on?", "yao
        bu yao kai jiashiqi"): its command without the question's frame; None for
        anything else (hearsay, a negation, a narrative)."""
        m = mood(req.text, lang)
        if not m.hypothetical or m.reported or m.negated:
            return None
        g = grammar(lang)
        rest = g.hypothetical.sub(" ", normalize(req.text, lang).lower())
        rest = rest.strip(" " + marks("question", "stop", "exclamation"))
        u = self.engine.understand_fast(rest, req.area) if rest else None
        if u is None or not all(c.action in ACTUATING for c in u.decision.commands):
            return None
        return u.decision

    def _only_place(self, req: Request, low: str, lang: Lang, now: float) -> bool:
        """The turn names only targets that decide nothing by themselves ("now the
        living room"): it is about the last command, like "and the living room"."""
        if not self.engine.fast.bare_target(grammar(lang).skip.sub(" ", low), lang):
            return False
        focus = self.focus(req.session, now, req.text)
        return _undecided(self.engine.understand_fast(req.text, req.area, focus))

    def _of_kind(self, last: Command, text: str, lang: Lang) -> tuple[str, ...]:
        """The others of the last command's kind that `text` picks, by a part of their
        name ("the porch one", "Ann's"), that take its action."""
        reg = self.engine.registry
        kind = self.engine.fast.targets.narrowest_kind(last.devices)
        pool = tuple(
            sorted(d for d in kind - set(last.devices) if reg.by_id[d].accepts(last.action))
        )
        return self._which(pool, text, lang) if pool else ()

    def _beside(self, last: Command) -> tuple[str, ...]:
        """ "The other one" with no question asked before: the devices of the same kind in
        the same place as the last command's, that take its action ("turn off the
        bedside lamp" -> "the other one too": the bedroom's other light)."""
        reg = self.engine.registry
        mine = [reg.by_id[d] for d in last.devices if d in reg.by_id]
        if not mine:
            return ()
        places = {d.area for d in mine}
        kinds = {domain_of(d.type) for d in mine}
        alike = [
            d
            for d in reg.devices
            if d.id not in last.devices and domain_of(d.type) in kinds and d.accepts(last.action)
        ]
        heads = {_head(p) for d in mine for p in d.phrases}
        here = [d for d in alike if d.area in places]
        if here:
            # Of the kind its name says, when there is one: after "Dad's lamp", "the
            # other one" is Mum's lamp, not the ceiling light beside them.
            named = [d for d in here if heads & {_head(p) for p in d.phrases}]
            return tuple(d.id for d in named or here)
        # Elsewhere only when the home has one other: "the other air conditioner", of
        # the kind its name says (kongtiao, not the floor heating).
        same = [d for d in alike if heads & {_head(p) for p in d.phrases}] or alike
        return (same[0].id,) if len(same) == 1 else ()

    def _some_of(self, devices: tuple[str, ...], text: str, lang: Lang) -> tuple[str, ...]:
        """The devices of `devices` that `text` names, by name or by kind; () unless it
        is some of them and not all."""
        picked = self._which(devices, text, lang)
        if not picked:
            m = self.engine.fast.targets.mentions(text, lang)
            said = m.kinds or frozenset()
            rest = _leftover(without_spans(text, m.spans), lang)
            picked = () if rest else tuple(d for d in devices if d in said)
        return picked if 0 < len(picked) < len(devices) else ()

    def _remember(self, s: Session, d: Decision, now: float) -> None:
        acting = [c for c in d.commands if c.devices and c.action not in (CLARIFY, QUERY)]
        talked = acting or [c for c in d.commands if c.devices]
        if len({(c.action, c.value) for c in talked}) == 1 and len(talked) > 1:
            # "turn on the patio lights and the fountain", then "turn them off": one
            # command on all of them.
            devices = tuple(dict.fromkeys(x for c in talked for x in c.devices))
            talked = [Command(talked[0].action, devices, talked[0].value)]
        if talked:
            s.last, s.last_at = talked[-1], now
        elif isinstance(d.problem, RangeProblem) and d.problem.device is not None:
            # "set the heating to 40" was out of range: "sorry, I meant 24" corrects it.
            p = d.problem
            s.last, s.last_at = Command(p.action, (d.problem.device,), p.value), now

    # ------------------------------------------------------------------ timers

    def _timer_turn(self, req: Request, u: Understood) -> Turn:
        c = u.decision.first
        lang = u.lang
        key = req.session
        wall = time.time()
        if c.action == START_TIMER:
            try:
                t = self.timers.start(
                    int(c.value) if isinstance(c.value, int) else 0,
                    c.label,
                    site=self.site,
                    session=key,
                    lang=lang,
                    source=req.source,
                    now=wall,
                )
            except TimerError as exc:
                reply = self.say(f"timer_{exc.reason}", lang)
                return Turn(replace(u, reply=reply), key, "refused")
            reply = self.timer_reply("timer_started", t, lang)
            return Turn(replace(u, reply=reply), key, timer_events=(TimerEvent("started", t),))
        if c.action == CANCEL_TIMER:
            everything = bool(grammar(lang).everything.search(req.text.lower()))
            gone = self.timers.cancel(c.label, session=key, everything=everything)
            if not gone:
                return Turn(replace(u, reply=self.say("no_timers", lang)), key)
            reply = self.timer_reply("timer_cancelled", gone[0], lang)
            events = tuple(TimerEvent("cancelled", t) for t in gone)
            return Turn(replace(u, reply=reply), key, timer_events=events)
        running = self.timers.running(wall)
        if c.label:
            named = {t.id for t in self.timers.find(c.label)}
            running = [t for t in running if t.id in named] or running
        if not running:
            return Turn(replace(u, reply=self.say("no_timers", lang)), key)
        reply = words(lang).timer_separator.join(
            self.timer_reply("timer_left", t, lang, duration=spoken_duration(t.left(wall), lang))
            for t in running[:3]
        )
        return Turn(replace(u, reply=reply), key)

    def timer_reply(self, kind: str, t: Timer, lang: str, duration: str | None = None) -> str:
        ln: Lang = "zh" if lang == "zh" else "en"
        text = duration or spoken_duration(t.seconds, ln)
        if t.name:
            return self.say(kind, ln, name=t.name, duration=text)
        return self.say(f"{kind}_unnamed", ln, duration=text)

    def say(self, kind: str, lang: Lang, **values: str) -> str:
        return self.engine.replies.line(kind, lang, **values)
