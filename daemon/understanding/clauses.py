"""A request's clauses before anything is decided: which to decide, which were taken back.

People talk in pieces: "nope, cancel", "open the hatch... never mind", "switch the
kitchen lights on, no wait, the dining room ones", "don't open the curtains, close
them", "suanle, guan le ba" (never mind, turn it off then). One pass over the clauses,
by the grammar of the language (`discourse`, `cancel`, `correction` and `negation` in
daemon/data/lang):

- clauses made only of hesitations and self-corrections ("oops", "wait no") carry no
  command;
- a clause that calls things off cancels what came before it; whatever follows is the
  request (it may still be a command: "suanle, guan le ba");
- a correction ("no wait", "actually", "suanle") drops the clauses before it, which are
  kept aside: "the dining room ones" repeats their action on new devices;
- a negated clause asks for nothing, but its devices are what "them" means next
  ("don't open the curtains, close them").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from daemon.core.vocabulary import Lang
from daemon.understanding.activity import activity
from daemon.understanding.lang import grammar, lexicon, marks
from daemon.understanding.verbs import actions_said


@dataclass(frozen=True)
class Clauses:
    kept: tuple[str, ...]  # the clauses to decide, in order
    cancelled: bool = False  # a clause called off what came before it
    before: tuple[str, ...] = ()  # clauses a correction or a cancel replaced
    negated: tuple[str, ...] = ()  # clauses that say not to do something

    def text(self, lang: Lang) -> str:
        joiner: str = lexicon(lang)["clause_joiner"]
        return joiner.join(self.kept)


@dataclass(frozen=True)
class _Words:
    discourse: re.Pattern[str]
    cancel: re.Pattern[str]
    correction: re.Pattern[str]
    apology: re.Pattern[str]
    rather: re.Pattern[str]
    cessative: re.Pattern[str] | None  # "stop doing it" said with a negation
    cessative_as: str


@cache
def _words(lang: Lang) -> _Words:
    lex = lexicon(lang)
    edge = lang == "en"

    def whole(key: str) -> re.Pattern[str]:
        body = "|".join(f"(?:{p})" for p in sorted(lex[key], key=len, reverse=True))
        word = rf"\b(?:{body})\b" if edge else f"(?:{body})"
        return re.compile(f"(?:{word}{lex['discourse_gap']})+")

    cessative = re.compile(lex["cessative"]) if lex.get("cessative") else None
    return _Words(
        whole("discourse"),
        whole("cancel"),
        whole("correction"),
        whole("apology"),
        whole("rather"),
        cessative,
        lex.get("cessative_as", ""),
    )


def split(
    text: str,
    lang: Lang,
    bare: Callable[[str], bool] = lambda _: False,
    names: Callable[[str], bool] = lambda _: False,
) -> Clauses:
    """`text` (normalised) cut into clauses, with what was taken back set aside. `bare`
    tells a clause that only names targets: after a negated clause it is negated too
    ("don't turn on the tv and the fan"). `names` tells words that name a target: only
    a target's "stop doing it" turns it off ("ni bie shuo le", you, stop talking, is
    no command)."""
    w = _words(lang)
    neg = grammar(lang).negation
    raw = [c.strip() for c in grammar(lang).separators.split(text) if c and c.strip()]
    kept: list[str] = []
    before: list[str] = []
    negated: list[str] = []
    cancelled = False
    negated_last = False
    reworded = False
    for i, clause in enumerate(raw):
        said = clause.strip(" " + marks("stop", "exclamation"))
        stop = w.cessative.match(said) if w.cessative is not None else None
        if stop is not None and actions_said(stop["verb"]) is None and names(stop["target"]):
            clause, reworded = w.cessative_as.format(target=stop["target"]), True
        low = clause.lower()
        if w.discourse.fullmatch(low):
            # "..., no wait, ...": what came before is replaced. An apology with
            # nothing after it ("..., sorry") takes nothing back.
            last = not any(not w.discourse.fullmatch(c.strip().lower()) for c in raw[i + 1 :])
            if kept and w.correction.fullmatch(low) and not (last and w.apology.fullmatch(low)):
                before.extend(kept)
                kept = []
            continue
        core = _strip_lead(w.discourse, low)
        if w.cancel.fullmatch(core) or w.cancel.fullmatch(low):
            cancelled = True
            before.extend(kept)
            kept = []
            continue
        lead = w.correction.match(low)
        if lead is not None and lead.end() < len(low) and kept:
            # "no wait, the dining room ones": what came before is replaced.
            before.extend(kept)
            kept = []
            clause = clause[lead.end() :].strip(" " + marks("comma"))
        elif lead is not None and lead.end() < len(low) and cancelled:
            clause = clause[lead.end() :].strip(" " + marks("comma"))
        elif (rather := w.rather.match(low)) and _says_more(low[rather.end() :], lang) and not kept:
            # "haishi jingyin ba" (rather mute it), the turn after a command: the
            # correction of the command before, whose clause is not here. Only words
            # of "rather": "bu shi kai deng" (I did not say lights on) is no request.
            clause = clause[rather.end() :].strip(" " + marks("comma"))
            reworded = True  # what is kept is not the request as it was said
        ordered = activity(low, lang)  # "stop vacuuming" is no negation
        if len(raw) > 1 and (
            neg.search(ordered.rest if ordered else low) or (negated_last and bare(clause))
        ):
            negated.append(clause)
            negated_last = True
            continue
        negated_last = False
        kept.append(clause)
    if not kept and negated and not cancelled:
        # Every clause negated: the request asks for nothing; decide it whole so that
        # the policy says so.
        return Clauses((text,), negated=tuple(negated))
    if reworded:
        return Clauses(tuple(kept), cancelled, tuple(before), tuple(negated))
    if not cancelled and not before and not negated and (len(kept) == len(raw) or not kept):
        return Clauses((text,))  # nothing taken back: the request as it was said
    return Clauses(tuple(kept), cancelled, tuple(before), tuple(negated))


def _says_more(rest: str, lang: Lang) -> bool:
    """More than particles and fillers ("suanle ba" is all one "never mind")."""
    return bool(re.sub(r"[\W_]+", "", grammar(lang).skip.sub(" ", rest)))


def _strip_lead(pattern: re.Pattern[str], low: str) -> str:
    m = pattern.match(low)
    return low[m.end() :].strip() if m else low


def after_correction(text: str, lang: Lang) -> str | None:
    """What follows a correction that opens `text` ("no, the bedroom one" -> "the
    bedroom one"); None when it opens with none, or nothing follows it."""
    low = text.lower().strip()
    lead = _words(lang).correction.match(low)
    if lead is None or lead.end() >= len(low):
        return None
    return text.strip()[lead.end() :].strip(" " + marks("comma"))
