"""The safety policy: one set of rules applied to every decision, whichever path made it.

- A request that asks for nothing to be done never actuates: a negation ("don't open
  the garage"), a hypothetical ("I wonder if I should ..."), reported speech ("he said
  to unlock ...") becomes `chat`; a question ("why is the kitchen light on?", "did you
  turn off the porch light?") becomes a `query` of the devices it names.
- A request for a reminder, an alarm or a TV channel ("remind me to turn off the
  heater") is `unknown`: dialogd keeps timers, not reminders, and nothing it names moves
  now.
- A value out of a device's range is never clamped or changed: the command becomes
  `unknown`, and the reply names the range.
- The model may choose a `sensitive` action (unlocking a door, opening the garage) only
  when the request says that action's verb itself, and never for text that tries to
  instruct the assistant.
- Whatever remains is checked against the registry; an invalid command is `unknown`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace

from daemon.core.vocabulary import (
    ACTUATING,
    CANCEL_TIMER,
    CHAT,
    QUERY,
    START_TIMER,
    UNKNOWN,
    Lang,
    number_rule,
)
from daemon.home.registry import Command, Decision, RangeProblem, Registry
from daemon.understanding import verbs
from daemon.understanding.activity import activity
from daemon.understanding.lang import grammar, suspicious

_LOG = logging.getLogger(__name__)


_LATIN_BESIDE_CJK = re.compile(r"(?<=[\u3400-\u9fff])(?=[a-z])|(?<=[a-z'])(?=[\u3400-\u9fff])")


@dataclass(frozen=True)
class Mood:
    """What kind of utterance a request is, by its grammar alone."""

    negated: bool
    question: bool
    hypothetical: bool
    reported: bool
    lacking: bool = False  # "remind me to ...", "channel 4": what dialogd cannot do

    @property
    def asks_for_nothing(self) -> bool:
        return self.negated or self.hypothetical or self.reported


def mood(text: str, lang: Lang) -> Mood:
    """The request's mood by the grammar of its language, and of English too: mixed
    requests ("don't turn on the chufang deng") are common, and a negation in either
    counts."""
    # English words right against Chinese ones ("don't kai cheku men"): apart, so that
    # the English grammar finds their edges.
    low = _LATIN_BESIDE_CJK.sub(" ", text.lower().strip())
    grammars = [grammar(lang)] + ([grammar("en")] if lang != "en" else [])
    polite = any(g.polite.search(low) for g in grammars)
    question = any(g.question.search(low) for g in grammars) and not polite
    # "stop vacuuming" orders the vacuum to stop; "stop turning on the lights" is a "no".
    ordered = activity(low, lang)
    said = ordered.rest if ordered is not None else low
    return Mood(
        negated=any(g.negation.search(said) for g in grammars),
        question=question,
        hypothetical=any(g.hypothetical.search(low) for g in grammars),
        reported=any(g.reported.search(low) for g in grammars),
        lacking=any(g.lacking.search(low) for g in grammars),
    )


class Policy:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def apply(
        self,
        d: Decision,
        text: str,
        lang: Lang,
        engine: str,
        grounded: frozenset[str] | None = None,
        decided: str | None = None,
    ) -> Decision:
        """`grounded`: for the model's decisions, the devices the request names (by name,
        or through an area or floor) plus those in the speaker's area; others are refused.
        `decided`: the clauses that were decided, when others were set aside: a negation
        counts in its own clause ("don't open the curtains, close them")."""
        if engine == "model" and grounded is not None:
            d = self._grounded(d, text, grounded)
        actions = {c.action for c in d.commands}
        if actions != {START_TIMER} and mood(text, lang).lacking:
            _LOG.info("%r asks for what dialogd cannot do (a reminder, a channel): unknown", text)
            return Decision.one(UNKNOWN)
        if not actions & (ACTUATING | {UNKNOWN, QUERY, START_TIMER, CANCEL_TIMER}):
            return self._valid(self._ranges(d))  # a timer's length has a range too
        m = mood(text, lang)
        if decided is not None and decided != text:
            if m.negated and all(c.action == UNKNOWN for c in d.commands):
                # "don't start Dusty, the dog is asleep": the negation was understood,
                # and what is left of the request asks for nothing dialogd knows.
                _LOG.info("%r: a negation, and nothing else understood: chat", text)
                return Decision.one(CHAT)
            m = replace(m, negated=mood(decided, lang).negated)
        if m.hypothetical or m.reported:
            # Hearsay, quotes and "what if": nothing to do, even as a question.
            _LOG.info("%r asks for nothing to be done (%s): chat", text, m)
            return Decision.one(CHAT)
        if m.asks_for_nothing and not m.question:
            _LOG.info("%r asks for nothing to be done (%s): chat", text, m)
            return Decision.one(CHAT)
        if not actions & ACTUATING:
            return self._valid(self._ranges(d))
        if m.question or m.asks_for_nothing:
            return self._valid(Decision(tuple(self._as_query(c) for c in d.commands)))
        if engine == "model":
            d = self._sensitive_guard(d, text)
        return self._valid(self._ranges(d))

    @staticmethod
    def refuses_any(decided: str, lang: Lang) -> bool:
        """Whether apply() turns any command the model could choose for these (decided)
        clauses into chat: a negation that is not a question ("don't open the garage
        door yet"). The model path asks the model nothing then."""
        m = mood(decided, lang)
        return m.negated and not m.question

    @staticmethod
    def _grounded(d: Decision, text: str, grounded: frozenset[str]) -> Decision:
        """A request for a device the home lacks is unknown, never a similar device; a
        question about nothing the request names is not about the home (chat)."""
        out = []
        for c in d.commands:
            if c.devices and not set(c.devices) <= grounded:
                _LOG.info("model chose %s, which %r does not name", c, text)
                c = Command(CHAT if c.action == QUERY else UNKNOWN)
            out.append(c)
        if any(c.action == CHAT for c in out):
            return Decision.one(CHAT)
        return Decision(tuple(out))

    @staticmethod
    def _as_query(c: Command) -> Command:
        if c.action not in ACTUATING:
            return c
        return Command(QUERY, c.devices) if c.devices else Command(UNKNOWN)

    def _sensitive_guard(self, d: Decision, text: str) -> Decision:
        wary = suspicious(text)
        low = text.lower()
        out = []
        for c in d.commands:
            if self.registry.is_sensitive(c) and (wary or not verbs.says(low, c.action)):
                _LOG.warning("model chose %s for %r without saying so; refusing", c, text)
                c = Command(UNKNOWN)
            out.append(c)
        return Decision(tuple(out))

    def _ranges(self, d: Decision) -> Decision:
        for c in d.commands:
            for dev_id in c.devices or (None,):
                dev = self.registry.by_id.get(dev_id or "")
                rule = number_rule(
                    c.action,
                    speeds=dev.speeds if dev else 3,
                    fahrenheit=self.registry.fahrenheit,
                )
                if rule is None or not isinstance(c.value, int) or rule.accepts(c.value):
                    continue
                return Decision(
                    (Command(UNKNOWN),),
                    problem=RangeProblem(c.action, dev_id, c.value, rule.lo, rule.hi, rule.unit),
                )
        return d

    def _valid(self, d: Decision) -> Decision:
        problem = self.registry.check_decision(d)
        if problem is None:
            return d
        _LOG.info("decision %s is not valid here (%s): unknown", d, problem)
        return Decision((Command(UNKNOWN),))
