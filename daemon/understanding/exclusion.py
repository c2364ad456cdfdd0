"""Exceptions to a group: "turn off all the lights except the porch light", "everything
off but the fridge", "chule woshi, qita de deng dou guandiao" (all lights off but the
bedroom's).

The request is decided without its exception, on either path, and the devices the
exception names are then taken out of every group it decided (engine.py). So the
templates and the model see an ordinary group request, and neither can act on the
device the speaker set apart. The words are data (`except_*` in daemon/data/lang).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

from daemon.core.vocabulary import UNKNOWN, Lang
from daemon.home.registry import Decision
from daemon.understanding.lang import close_cjk_gaps, grammar, lexicon, longest_first, marks
from daemon.understanding.verbs import actions_said


@dataclass(frozen=True)
class SetApart:
    text: str  # the request without its exception, "the other lights" made "all the lights"
    words: str  # the exception ("the porch light")


@dataclass(frozen=True)
class _Words:
    marker: re.Pattern[str]
    end: re.Pattern[str]  # where an exception stops, short of its clause's end
    closing: re.Pattern[str]  # a word that closes it ("yiwai"), gone with it
    others: re.Pattern[str]
    every: str


@cache
def _words(lang: Lang) -> _Words:
    lex = lexicon(lang)
    spaced = lang == "en"

    edge = r"\b" if spaced else ""
    stops = [re.escape(c) for c in marks("comma", "semicolon")]
    ends = [*lex["except_ends"], *lex["except_others"], *lex["every"]] if not spaced else []
    return _Words(
        marker=re.compile(rf"{edge}(?:{longest_first(lex['except_markers'])}){edge}\s*"),
        end=re.compile(rf"\s*(?:{longest_first([*stops, *ends])})"),
        closing=re.compile(rf"\s*(?:{longest_first(lex['except_ends'])})"),
        others=re.compile(rf"{edge}(?:{longest_first(lex['except_others'])}){edge}"),
        every=lex["except_every"],
    )


def set_apart(text: str, lang: Lang, names_target: Callable[[str], bool]) -> SetApart | None:
    """`text` (normalised) with its exception set apart, or None when it has none. Only
    an exception that names something of the home counts ("except on weekends" is no
    device), and only beside a rest that names a target too."""
    w = _words(lang)
    m = w.marker.search(text)
    if m is None:
        return None
    stop = w.end.search(text, m.end())
    end = stop.start() if stop is not None else len(text)
    words = text[m.end() : end]
    # "... except the porch light and lock the door": the second command is no exception.
    for sep in grammar(lang).separators.finditer(words):
        if actions_said(words[sep.end() :]):
            end = m.end() + sep.start()
            words = words[: sep.start()]
            break
    if not names_target(words):
        return None
    closing = w.closing.match(text, end)
    rest = text[: m.start()] + " " + text[closing.end() if closing else end :]
    rest = w.others.sub(w.every, rest)
    rest = re.sub(rf"^[\s{re.escape(marks('comma', 'semicolon'))}]+", "", rest)
    rest = re.sub(r"\s{2,}", " ", rest).strip()
    if lang == "zh":
        rest = close_cjk_gaps(rest)
    if not rest or not names_target(rest):
        return None
    return SetApart(rest, words.strip())


def without(decision: Decision, excluded: frozenset[str]) -> Decision:
    """`decision` with `excluded` taken out of its groups. A command on one device is
    left alone: the exception is of a group. A group left empty is nothing to do."""
    if not excluded:
        return decision
    kept = []
    for c in decision.commands:
        if len(c.devices) > 1:
            ids = tuple(d for d in c.devices if d not in excluded)
            if not ids:
                continue
            c = replace(c, devices=ids)
        kept.append(c)
    return replace(decision, commands=tuple(kept)) if kept else Decision.one(UNKNOWN)
