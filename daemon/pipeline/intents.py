"""The published form of a decided request: the Intent, built from what the engine
understood (the request path itself is daemon/pipeline/dispatcher.py)."""

from __future__ import annotations

from daemon.core.messages import (
    CommandOut,
    Intent,
    Request,
    Step,
    utc_now,
)
from daemon.dialogue.manager import Turn
from daemon.home.registry import Decision, Registry


def build_intent(
    request: Request,
    turn: Turn,
    site: str,
    latency_ms: float,
    registry: Registry,
    area: str | None = None,
) -> Intent:
    """The published form of a decided request."""
    u = turn.understood
    commands = [
        CommandOut(
            action=c.action,
            device=c.device,
            value=c.value,
            sensitive=registry.is_sensitive(c),
        )
        for c in u.decision.commands
    ]
    first = commands[0]
    return Intent(
        id=request.id,
        ts=utc_now(),
        site=request.site or site,
        instance=site,
        source=request.source,
        text=request.text,
        area=area,
        action=first.action,
        device=first.device,
        value=first.value,
        sensitive=any(c.sensitive for c in commands),
        commands=commands,
        steps=steps(u.decision, registry),
        reply=u.reply,
        lang=u.lang,
        latency_ms=round(latency_ms),
        engine=u.engine,
        session=turn.session,
        status=turn.status,
        expect_reply=turn.expect_reply,
    )


def steps(d: Decision, registry: Registry) -> list[Step]:
    out = []
    for c in d.commands:
        for dev in c.devices or (None,):
            sensitive = dev is not None and c.action in registry.by_id[dev].sensitive
            out.append(Step(action=c.action, device=dev, value=c.value, sensitive=sensitive))
    return out
