"""A clause that sets the scene for another: "it's freezing upstairs, bump the heat up 3",
"the washer is way too loud, stop it", "chufang tai an le, kai deng" (the kitchen is too
dark, lights on).

A clause with no verb of any action and no number asks for nothing by itself; when it
names a place, or a device, and another clause asks for something without saying
where, or says "it", that clause is about the place or the device. The scene clause is
folded into the command, which is then decided alone, by either path: its place is said
with the command (`lent_place` in daemon/data/lang), its device stands for the pronoun
or becomes the command's object. A scene that says where the command's own device is
adds nothing ("it's stuffy in the kids' room, could you put the fan on?"). A clause that
only names a target, before a command that names none, is the command's topic ("Amy's
lamp, a little dimmer").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from daemon.core.vocabulary import QUERY, Lang
from daemon.understanding.lang import (
    detect_lang,
    direction,
    grammar,
    lexicon,
    longest_first,
    without_deictic,
)
from daemon.understanding.targets import Mentions, without_spans
from daemon.understanding.verbs import actions_said


def lend(
    text: str,
    lang: Lang,
    mentions: Callable[[str], Mentions],
    bare: Callable[[str], bool] = lambda _: False,
    decides: Callable[[str], bool] = lambda _: False,
    area_of: Callable[[str], str | None] = lambda _: None,
) -> str:
    """`text` with a scene clause folded into the one command it is about; as it was
    when there is none, or when it has more than two clauses. `bare` tells a clause that
    only names targets; `decides`, one the templates decide by itself (asked last: it
    costs a match): "start the sauna" has a verb too general to count, and is no scene."""
    clauses = [c.strip() for c in grammar(lang).separators.split(text) if c and c.strip()]
    if len(clauses) != 2:
        return text
    said = [mentions(c) for c in clauses]
    if bare(clauses[0]) and not said[1].said and not asks_nothing(clauses[1], verbs_only=False):
        # "Amy's lamp, a little dimmer", "keting de deng, tiao an yidian": the topic,
        # then what to do with it.
        first: str = lexicon(lang)["focus_frames"][0]
        return first.format(text=clauses[1], placeholder=clauses[0])
    for i, j in ((0, 1), (1, 0)):
        scene, command = clauses[i], clauses[j]
        ms, mc = said[i], said[j]
        # Without its names: the "tiao" of "kongtiao" (the AC) is no verb.
        if not asks_nothing(without_spans(scene, ms.spans)) or grammar(lang).negation.search(
            scene.lower()
        ):
            continue  # "it isn't cold upstairs, ...": a negation is judged on its clause
        if (
            i == 0
            and _only_places(ms)
            and mc.devices
            and all(area_of(d) in ms.areas for d in mc.devices)
            and not decides(scene)
        ):
            # "it's stuffy in the kids' room, could you put the fan on?": the fan is
            # there; the scene adds nothing to the command.
            return command
        # A place only before the command: after it, it is more often where the
        # speaker goes ("turn off the lights, I'm going upstairs").
        if (
            i == 0
            and _only_places(ms)
            and not (mc.areas or mc.floors or mc.devices or mc.here)
            and (mc.kinds is not None or mc.back or not asks_nothing(command))
            and not decides(scene)
        ):
            if ms.here and not (ms.areas or ms.floors):
                # "it's a bit dark in here, brighten it up": no place said means the
                # speaker's already.
                return command
            place = " ".join(scene[a:b] for a, b in ms.spans)
            if mc.kinds is not None and mc.spans:
                # Before the kind word: "turn the lights on" -> "turn the kitchen lights on".
                a = mc.spans[0][0]
                before: str = lexicon(lang)["lent_place_kind"]
                return command[:a] + before.format(place=place) + command[a:]
            frame: str = lexicon(lang)["lent_place"]
            return frame.format(text=command, place=place)
        if (
            ms.devices
            and not ms.group
            and mc.back
            and not mc.devices
            and len(mc.spans) == 1
            and not decides(scene)
        ):
            a, b = mc.spans[0]
            name = " ".join(scene[x:y] for x, y in ms.names)
            frame = lexicon(lang)["lent_device"]
            return command[:a] + frame.format(name=name) + command[b:]
        if (
            i == 0
            and ms.devices
            and not ms.group
            and not mc.said
            and not asks_nothing(command, False)
            and not decides(scene)
        ):
            # "dianshi tai chao le, tiao xiao yidian" (the tv is too loud, turn it down a bit).
            name = " ".join(scene[x:y] for x, y in ms.names)
            topic: str = lexicon(lang)["focus_frames"][0]
            return topic.format(text=command, placeholder=frame_name(name, lang))
    return text


def asks_nothing(clause: str, verbs_only: bool = True) -> bool:
    """No verb of any action (a question word is none) and no number; without
    `verbs_only`, no comparative either ("a little dimmer" asks for a change)."""
    clause = without_deictic(clause, detect_lang(clause))  # "it's freezing up here"
    if re.search(r"\d", clause) or (actions_said(clause) or frozenset()) - {QUERY}:
        return False
    return verbs_only or direction(clause, detect_lang(clause)) is None


def _only_places(m: Mentions) -> bool:
    return bool(m.areas or m.floors or m.here) and not (
        m.devices or m.kinds is not None or m.back or m.anything or m.everywhere
    )


def frame_name(name: str, lang: Lang) -> str:
    """A device's words as the object of a frame ("the tv"; Chinese as said)."""
    frame: str = lexicon(lang)["lent_device"]
    return frame.format(name=name)


@cache
def _statement(lang: Lang) -> re.Pattern[str] | None:
    words = lexicon(lang)["statement"]
    return re.compile(longest_first(words)) if words else None


def states(clause: str, lang: Lang) -> bool:
    """The clause tells how things are (`statement` in daemon/data/lang), with no verb
    of any action in it: "the living room is freezing", "the driver is here"."""
    pattern = _statement(lang)
    return (
        pattern is not None
        and pattern.match(clause.lower()) is not None
        and not (actions_said(clause) or frozenset()) - {QUERY}
    )
