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

from daemon.messages import (
    ErrorReply,
    Intent,
    Outcome,
    Request,
    RequestError,
    Source,
    parse_request,
    to_json,
    utc_now,
)
from daemon.mqtt import Topics
from daemon.nlu.engine import IntentEngine, Understood
from daemon.stats import Stats
from daemon.workers import ThreadWorker

_LOG = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]
# Hands a reply to the speaker and returns at once: a channel's answer must not wait
# for the speech to finish.
Speak = Callable[[str, str, Source], None]


def build_intent(request: Request, u: Understood, site: str, latency_ms: float) -> Intent:
    """The published form of a decided request."""
    return Intent(
        id=request.id,
        ts=utc_now(),
        site=site,
        source=request.source,
        text=request.text,
        action=u.decision.action,
        device=u.decision.device,
        value=u.decision.value,
        reply=u.reply,
        lang=u.lang,
        latency_ms=round(latency_ms),
        engine=u.engine,
    )


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
    ) -> None:
        self.site = site
        self.topics = topics
        self.engine = engine
        self.worker = worker
        self.publish = publish
        self.max_chars = max_chars
        self.speak = speak
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
        except RequestError as exc:
            return self._fail(exc.reply(source))
        # Shielded so that a shutdown lets requests already in flight finish.
        task = asyncio.ensure_future(self._answer(request))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(task)

    async def _answer(self, request: Request) -> Outcome:
        try:
            understood: Understood = await self.worker.run(self.engine.understand, request.text)
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
        d = understood.decision
        latency = (time.monotonic() - request.received) * 1000
        intent = build_intent(request, understood, self.site, latency)
        self.publish(self.topics.intent, to_json(intent))
        self.stats.record(latency, understood.engine)
        _LOG.info(
            "%s %s %r -> %s %s %s (%s, %.0f ms)",
            request.source,
            request.id,
            request.text,
            d.action,
            d.device or "-",
            "-" if d.value is None else d.value,
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
