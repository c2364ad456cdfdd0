"""One turn, step by step: the same steps for every caller.

A turn is:
1. the conversation alone (a yes, an answer to "which one?", "... too": `by_conversation`);
2. else the templates (`by_rules`), else the model (`by_model`);
3. then the conversation's view of the decision (confirmations, timers, what "it" means
   next: `conclude`).

`play` runs the steps in order on the calling thread (`dialogd ask`, `eval`, `bench`).
The dispatcher runs the same steps as stages, the engine's on their own worker threads
(pipeline/dispatcher.py). There is no third way through a turn.
"""

from __future__ import annotations

from dataclasses import replace

from daemon.core.messages import Request
from daemon.core.script import in_script_of, simplified
from daemon.dialogue.manager import Dialogue, Turn
from daemon.understanding.engine import IntentEngine, Understood
from daemon.understanding.numbers import as_spoken


def placed(req: Request, area: str | None) -> Request:
    """The request with the area it was said in: its own, else its site's. The
    conversation reads it too ("the heater" is the one in the speaker's room)."""
    return replace(req, area=area) if req.area is None and area is not None else req


def focus(dialogue: Dialogue | None, req: Request) -> frozenset[str]:
    """The devices the request's conversation is about ("it", "them")."""
    return dialogue.focus(req.session, text=read(req).text) if dialogue is not None else frozenset()


def read(req: Request) -> Request:
    """The request as understanding reads it: Chinese in simplified characters
    (core/script.py). The outputs keep the words as they were said."""
    text = simplified(req.text)
    return req if text == req.text else replace(req, text=text)


def as_said(turn: Turn, req: Request) -> Turn:
    """`turn` with the words it keeps (a list item) in the script they were said in."""
    u = turn.understood
    # Chinese items in their script; English ones with their numbers and capitals.
    items = [c for c in u.decision.commands if isinstance(c.value, str) and c.action == "add_item"]
    if not items:
        return turn
    commands, reply = [], u.reply
    for c in u.decision.commands:
        if c in items and isinstance(c.value, str):
            said = (
                as_spoken(c.value, req.text)
                if c.value.isascii()
                else in_script_of(c.value, req.text)
            )
            reply = reply.replace(c.value, said)
            c = replace(c, value=said)
        commands.append(c)
    decision = replace(u.decision, commands=tuple(commands))
    return replace(turn, understood=replace(u, decision=decision, reply=reply))


def by_conversation(dialogue: Dialogue | None, req: Request) -> Turn | None:
    turn = dialogue.shortcut(read(req)) if dialogue is not None else None
    return as_said(turn, req) if turn is not None else None


def by_rules(
    engine: IntentEngine, req: Request, area: str | None, about: frozenset[str]
) -> Understood | None:
    return engine.understand_fast(read(req).text, area, about)


def by_model(
    engine: IntentEngine, req: Request, area: str | None, about: frozenset[str]
) -> Understood:
    return engine.understand_model(read(req).text, area, about)


def conclude(dialogue: Dialogue | None, req: Request, u: Understood) -> Turn:
    turn = dialogue.after(read(req), u) if dialogue is not None else Turn(u, req.session)
    return as_said(turn, req)


def play(dialogue: Dialogue, req: Request, area: str | None = None) -> Turn:
    """A whole turn, blocking: the steps above in order."""
    req = placed(req, area)
    turn = by_conversation(dialogue, req)
    if turn is not None:
        return turn
    where, about = req.area or area, focus(dialogue, req)
    u = by_rules(dialogue.engine, req, where, about) or by_model(dialogue.engine, req, where, about)
    return conclude(dialogue, req, u)
