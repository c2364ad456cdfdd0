"""The request path, in one place: payload -> Request -> intent or error -> outputs.

Every channel (MQTT text, serial lines, voice) calls `Dispatcher.handle`; it returns
what the channel should answer with, after the intent (or error) has been published
on MQTT and the reply handed to the speaker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from daemon.home.registry import Decision, Registry
from daemon.messages import (
    CommandOut,
    ErrorReply,
    Intent,
    Outcome,
    Request,
    RequestError,
    Source,
    Step,
    parse_request,
    to_json,
    utc_now,
)
from daemon.mqtt import Topics
from daemon.stats import Stats
from daemon.understanding.engine import IntentEngine, Understood
from daemon.workers import ThreadWorker

_LOG = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]
# Hands a reply to the speaker and returns at once: a channel's answer must not wait
# for the speech to finish.
Speak = Callable[[str, str, Source], None]


def build_intent(
    request: Request,
    u: Understood,
    site: str,
    latency_ms: float,
    registry: Registry,
    area: str | None = None,
) -> Intent:
    """The published form of a decided request."""
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
        site=site,
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
    )


def steps(d: Decision, registry: Registry) -> list[Step]:
    out = []
    for c in d.commands:
        for dev in c.devices or (None,):
            sensitive = dev is not None and c.action in registry.by_id[dev].sensitive
            out.append(Step(action=c.action, device=dev, value=c.value, sensitive=sensitive))
    return out


class Dispatcher:
    def __init__(
        self,
        site: str,
        topics: Topics,
        engine: IntentEngine,
        worker: ThreadWorker,
        publish: Publish,
        max_chars: int,
        speak: Speak | None = None,
        area: str | None = None,
    ) -> None:
        self.site = site
        self.topics = topics
        self.engine = engine
        self.worker = worker
        self.publish = publish
        self.max_chars = max_chars
        self.speak = speak
        self.area = area
        self.stats = Stats()
        self.accepting = True
        self._in_flight: set[asyncio.Task[Outcome]] = set()

    async def handle(self, payload: bytes, source: Source, truncated: bool = False) -> Outcome:
        """Answer one raw request. Never raises: failures become ErrorReply."""
        received = time.monotonic()
        try:
            if truncated:
                raise RequestError(
                    "too_long", f"line longer than the limit was cut off ({len(payload)}+ bytes)"
                )
            if not self.accepting:
                raise RequestError("busy", "dialogd is shutting down")
            request = parse_request(payload, source, self.max_chars, received)
            if request.area is not None and request.area not in self.engine.registry.area_by_id:
                raise RequestError(
                    "bad_json",
                    f"unknown area {request.area!r}; areas: "
                    + ", ".join(self.engine.registry.area_by_id),
                    request.id,
                )
        except RequestError as exc:
            return self._fail(exc.reply(source))
        # Shielded so that a shutdown lets requests already in flight finish.
        task = asyncio.ensure_future(self._answer(request))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(task)

    async def _answer(self, request: Request) -> Outcome:
        try:
            area = request.area or self.area
            understood: Understood = await self.worker.run(
                self.engine.understand, request.text, area
            )
        except Exception as exc:
            _LOG.exception("model failed on request %s", request.id)
            return self._fail(
                ErrorReply(
                    id=request.id,
                    error="model_failure",
                    detail=f"{type(exc).__name__}: {exc}",
                    source=request.source,
                )
            )
        latency = (time.monotonic() - request.received) * 1000
        intent = build_intent(request, understood, self.site, latency, self.engine.registry, area)
        self.publish(self.topics.intent, to_json(intent))
        self.stats.record(latency, understood.engine)
        _LOG.info(
            "%s %s %r -> %s (%s, %.0f ms)",
            request.source,
            request.id,
            request.text,
            "; ".join(
                f"{c.action} {c.device or '-'} {'-' if c.value is None else c.value}"
                for c in intent.commands
            ),
            understood.engine,
            latency,
        )
        if self.speak is not None:
            self.speak(understood.reply, understood.lang, request.source)
        return intent

    def _fail(self, err: ErrorReply) -> ErrorReply:
        self.stats.record_error()
        _LOG.warning("%s request %s refused: %s (%s)", err.source, err.id, err.error, err.detail)
        self.publish(self.topics.error, to_json(err))
        return err

    async def drain(self, timeout: float) -> None:
        """Stop taking requests; give those in flight up to `timeout` seconds."""
        self.accepting = False
        pending = list(self._in_flight)
        if not pending:
            return
        _LOG.info("waiting up to %.0f s for %d request(s) in flight", timeout, len(pending))
        _, late = await asyncio.wait(pending, timeout=timeout)
        if late:
            _LOG.warning("%d request(s) still unanswered at shutdown", len(late))
