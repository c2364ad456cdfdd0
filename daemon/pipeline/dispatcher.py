"""The request path, in one place: payload -> Request -> admission -> engines -> Outcome.

Every channel (MQTT text, serial lines, voice) calls `Dispatcher.submit`. The request is
parsed, refused at once if it is bad, a redelivery, or over the bound; otherwise it is
written to the journal (then, and only then, the broker is acknowledged) and waits its
turn. Two stages, each on its own worker thread, so that a fast command never waits
behind the model:

    classify: the sentence templates (milliseconds) -> decided, or
    model:    the language model (100s of ms each) for the rest.

Both stages serve their sources in turn. A request older than `request.max_age_s`
when its turn comes is not executed. Each request ends in exactly one Outcome (an
Intent or an ErrorReply), handed to every output: MQTT, the speaker, the statistics,
and the channel that asked, which gets it back from `submit`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from pydantic import TypeAdapter

from daemon.core.messages import (
    ErrorReply,
    Intent,
    Outcome,
    Request,
    RequestError,
    new_id,
    parse_request,
)
from daemon.core.vocabulary import Source
from daemon.dialogue.manager import Dialogue, TimerEvent, Turn
from daemon.home.registry import Registry
from daemon.pipeline import turns
from daemon.pipeline.admission import FairQueue
from daemon.pipeline.intents import build_intent
from daemon.pipeline.journal import Journal
from daemon.pipeline.workers import ThreadWorker
from daemon.understanding.engine import IntentEngine, Understood

_LOG = logging.getLogger(__name__)

# An output sees every outcome; the request is None for payloads that never became one.
Output = Callable[[Request | None, Outcome], None]
# A timer started, cancelled or finished: published and (when finished) spoken.
TimerOutput = Callable[[TimerEvent], None]
Ack = Callable[[], None]
_OUTCOME: TypeAdapter[Outcome] = TypeAdapter(Outcome)


@dataclass(frozen=True)
class Via:
    """Where an MQTT request came from: its topic's site, and its MQTT 5 response topic
    and correlation data, if any."""

    site: str = ""
    reply_to: str | None = None
    correlation: bytes | None = None


@dataclass(frozen=True)
class Limits:
    max_chars: int = 400
    queue_size: int = 500
    max_age_s: float = 60.0


class Dispatcher:
    def __init__(
        self,
        site: str,
        engine: IntentEngine,
        journal: Journal,
        limits: Limits,
        area: str | None = None,
        model_worker: ThreadWorker | None = None,
        dialogue: Dialogue | None = None,
    ) -> None:
        self.site = site
        self.engine = engine
        self.dialogue = dialogue
        self.journal = journal
        self.limits = limits
        self.area = area
        self.outputs: list[Output] = []
        # The outputs that answer the caller, which a redelivered request is answered on
        # again (an MQTT 5 response topic).
        self.replay_outputs: list[Output] = []
        # Steps that may rewrite a decided intent before the outputs see it (the reply
        # told from real device state).
        self.refiners: list[Callable[[Intent], Intent]] = []
        self.timer_outputs: list[TimerOutput] = []
        self.accepting = True
        self.rules_worker = ThreadWorker("rules")
        # The model's worker is the thread that loaded it: llama.cpp stays on one thread.
        self.model_worker = model_worker or ThreadWorker("llm")
        self._classify: FairQueue[Request] = FairQueue()
        self._model: FairQueue[Request] = FairQueue()
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._open: dict[str, Request] = {}  # accepted, not yet answered
        self._busy_since: dict[str, float] = {}  # stage -> when its current call began

    # ---------------------------------------------------------------- channels

    async def submit(
        self,
        payload: bytes,
        source: Source,
        *,
        truncated: bool = False,
        ack: Ack | None = None,
        via: Via | None = None,
    ) -> Outcome | None:
        """Answer one raw payload. Never raises; None only for a redelivered request
        that is being answered, or whose answer is no longer kept. `via`: where an MQTT
        request came from and where it wants its answer."""
        try:
            return await self._submit(payload, source, truncated, ack, via)
        finally:
            if ack is not None:
                ack()  # once only (the link's ack is idempotent): for refusals and dups

    async def _submit(
        self, payload: bytes, source: Source, truncated: bool, ack: Ack | None, via: Via | None
    ) -> Outcome | None:
        received, wall = time.monotonic(), time.time()
        try:
            if truncated:
                raise RequestError(
                    "too_long", f"line longer than the limit was cut off ({len(payload)}+ bytes)"
                )
            req = parse_request(payload, source, self.limits.max_chars, received, wall)
            if req.area is not None and req.area not in self.engine.registry.area_by_id:
                raise RequestError(
                    "bad_json",
                    f"unknown area {req.area!r}; areas: "
                    + ", ".join(self.engine.registry.area_by_id),
                    req.id,
                )
        except RequestError as exc:
            # Answered where it came from (a pooled site, an MQTT 5 response topic).
            err = exc.reply(source)
            where = None
            if via is not None:
                where = Request(
                    text="",
                    source=source,
                    id=err.id or new_id(),
                    received=received,
                    site=via.site,
                    reply_to=via.reply_to,
                    correlation=via.correlation,
                )
            return self._finish(None, err, route=where)
        if via is not None:
            req = replace(req, site=via.site, reply_to=via.reply_to, correlation=via.correlation)
        if source != "mqtt":
            req = replace(req, key=f"{req.id}@{new_id()}")
        else:
            # A redelivery is the same site, id and payload; an id reused for another
            # request ("turn off" after "turn on", with the caller's fixed id) is new.
            digest = hashlib.sha256(f"{req.site}\0".encode() + payload).hexdigest()[:16]
            req = replace(req, key=f"{req.id}#{digest}")
        if not req.session:
            req = replace(req, session=self.default_session(source, req.site))
        if req.ref in self._open:
            _LOG.info("%s request %s delivered again while it is being answered", source, req.id)
            return None
        if self.journal.seen(req.ref):
            return self._replay_answer(req)
        if not self.accepting:
            return self._finish(
                None, _error(req, "shutdown", "dialogd is shutting down"), route=req
            )
        if len(self._open) >= self.limits.queue_size:
            return self._finish(
                None,
                _error(req, "busy", f"{len(self._open)} requests waiting; try again shortly"),
                route=req,
            )
        self.journal.accept(req)
        if ack is not None:
            ack()
        return await self.enqueue(req)

    async def answer(
        self, payload: bytes, source: Source, ack: Ack | None = None, via: Via | None = None
    ) -> None:
        """A channel's request answered through the outputs (its own answer included)."""
        await self.submit(payload, source, ack=ack, via=via)

    async def answer_line(self, line: bytes, truncated: bool) -> bytes:
        """A serial line in, its answer (intent or error) as one JSON line out."""
        outcome = await self.submit(line, "serial", truncated=truncated)
        assert outcome is not None  # only MQTT redeliveries can go without one
        return outcome.model_dump_json().encode("utf-8")

    def _replay_answer(self, req: Request) -> Outcome | None:
        """A redelivery gets the answer it had, from the journal, on the outputs that
        answer a caller (not on those that act: nothing is switched twice)."""
        raw = self.journal.answer(req.ref)
        if raw is None:
            _LOG.info("%s request %s delivered again; answered once already", req.source, req.id)
            return None
        outcome = _OUTCOME.validate_json(raw)
        _LOG.info("%s request %s delivered again; its answer is sent again", req.source, req.id)
        for output in self.replay_outputs:
            try:
                output(req, outcome)
            except Exception:
                _LOG.exception("an output failed on the replayed %s", outcome.id)
        return outcome

    def subscribe(self, *outputs: Output) -> Callable[[], None]:
        """Every outcome from now on goes to `outputs` too. Returns the undo."""
        self.outputs.extend(outputs)

        def undo() -> None:
            for output in outputs:
                self.outputs.remove(output)

        return undo

    def swap_engine(self, engine: IntentEngine) -> None:
        """A new engine (new devices, replies) takes over; calls already running finish
        with the old one. On the event loop, so no stage sees half of each."""
        self.engine = engine
        if self.dialogue is not None:
            self.dialogue.engine = engine

    def default_session(self, source: Source, site: str = "") -> str:
        """A site's microphone, its MQTT audio and its MQTT text share one conversation;
        a serial port has its own, and so has Home Assistant's pipeline over Wyoming (its
        microphones are elsewhere). `site`: another site's request (pooled)."""
        if source in ("serial", "cli", "wyoming"):
            return f"{source}:{self.site}"
        return site or self.site

    async def recognize(self, text: str, area: str | None = None, session: str = "") -> Understood:
        """What `text` means, decided as a request's would be (templates, then the model,
        each on its stage's thread) but for no output: nothing is published, switched,
        counted or remembered in a conversation. For callers that act on the meaning
        themselves (Wyoming's `intent` program). Raises what the engine raises."""
        engine = self.engine  # one engine for both steps, even if a swap comes between
        where = area if area is not None else self.area
        focus = self.dialogue.focus(session) if self.dialogue is not None else frozenset()
        u = await self.rules_worker.run(engine.understand_fast, text, where, focus)
        if u is None:
            u = await self.model_worker.run(engine.understand_model, text, where, focus)
        return u

    async def enqueue(self, req: Request) -> Outcome:
        """A request taken on (also those replayed from the journal after a restart)."""
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[req.ref] = fut
        self._open[req.ref] = req
        self._classify.put(req.source, req)
        return await fut

    # ------------------------------------------------------------------ stages

    async def classify_task(self) -> None:
        """The templates, on their own thread: decided here, or on to the model."""
        while True:
            req = await self._classify.get()
            if req.ref not in self._open or self._expired(req):
                continue
            turn = self._shortcut(req)
            if turn is not None:  # a yes, an answer to "which one?", "... too"
                self._concluded(req, turn)
                continue
            self._busy_since["rules"] = time.monotonic()
            # The engine that decides is the one whose registry publishes the decision,
            # even if a new one is swapped in meanwhile (a device may be gone from it).
            engine = self.engine
            try:
                u = await self.rules_worker.run(
                    turns.by_rules, engine, req, self._area_of(req), self._focus(req)
                )
            except Exception:
                _LOG.exception("templates failed on request %s; trying the model", req.id)
                u = None
            finally:
                self._busy_since.pop("rules", None)
            if u is None:
                self._model.put(req.source, req)
            else:
                self._decided(req, u, engine.registry)

    async def model_task(self) -> None:
        while True:
            req = await self._model.get()
            if req.ref not in self._open or self._expired(req):
                continue
            self._busy_since["model"] = time.monotonic()
            engine = self.engine
            try:
                u = await self.model_worker.run(
                    turns.by_model, engine, req, self._area_of(req), self._focus(req)
                )
            except Exception as exc:
                _LOG.exception("model failed on request %s", req.id)
                self._finish(req, _error(req, "model_failure", f"{type(exc).__name__}: {exc}"))
                continue
            finally:
                self._busy_since.pop("model", None)
            self._decided(req, u, engine.registry)

    def _expired(self, req: Request) -> bool:
        age = time.time() - req.wall if req.wall else time.monotonic() - req.received
        if age <= self.limits.max_age_s:
            return False
        self._finish(
            req,
            _error(
                req,
                "expired",
                f"waited {age:.0f} s, longer than request.max_age_s = {self.limits.max_age_s:g}",
            ),
        )
        return True

    def _shortcut(self, req: Request) -> Turn | None:
        if self.dialogue is None:
            return None
        try:
            return turns.by_conversation(self.dialogue, turns.placed(req, self._area_of(req)))
        except Exception:  # the stage must live on: the engine answers it afresh
            _LOG.exception("request %s: the dialogue failed on it", req.id)
            return None

    def _focus(self, req: Request) -> frozenset[str]:
        return turns.focus(self.dialogue, req)

    def _decided(self, req: Request, u: Understood, registry: Registry) -> None:
        try:
            turn = turns.conclude(self.dialogue, turns.placed(req, self._area_of(req)), u)
        except Exception:  # the conversation is lost, not the answer
            _LOG.exception("request %s: the dialogue failed on it", req.id)
            turn = Turn(u, req.session)
        self._concluded(req, turn, registry)

    def _concluded(self, req: Request, turn: Turn, registry: Registry | None = None) -> None:
        """`registry`: the deciding engine's (the current one's for dialogue shortcuts)."""
        u = turn.understood
        latency = (time.monotonic() - req.received) * 1000
        area = self._area_of(req)
        for event in turn.timer_events:
            self._timer_event(event)
        try:
            intent = build_intent(
                req, turn, self.site, latency, registry or self.engine.registry, area
            )
        except Exception as exc:  # an answer must still go out, and the stage live on
            _LOG.exception("request %s: the decision cannot be published", req.id)
            self._finish(req, _error(req, "model_failure", f"{type(exc).__name__}: {exc}"))
            return
        for refine in self.refiners:
            try:
                intent = refine(intent)
            except Exception:  # the templates' reply still goes out
                _LOG.exception("request %s: refining the reply failed", req.id)
        _LOG.info(
            "%s %s %r -> %s (%s, %.0f ms)",
            req.source,
            req.id,
            req.text,
            "; ".join(
                f"{c.action} {c.device or '-'} {'-' if c.value is None else c.value}"
                for c in intent.commands
            ),
            u.engine,
            latency,
        )
        if turn.status != "decided":
            _LOG.info("request %s: %s (session %s)", req.id, turn.status, turn.session)
        self._finish(req, intent)

    def _timer_event(self, event: TimerEvent) -> None:
        for output in self.timer_outputs:
            try:
                output(event)
            except Exception:
                _LOG.exception("a timer output failed on %s", event.timer.id)

    async def dialogue_task(self) -> None:
        """Confirmations that met silence are dropped ("OK, I won't."); timers that end
        are announced, those that ended while dialogd was down first of all."""
        assert self.dialogue is not None
        dialogue = self.dialogue
        while True:
            try:
                self._dialogue_tick(dialogue)
            except Exception:  # a bad timer file or intent must not end the task
                _LOG.exception("dialogue housekeeping failed; trying again")
            await asyncio.sleep(0.25)

    def _dialogue_tick(self, dialogue: Dialogue) -> None:
        """Expired confirmations become their refusal intents; due timers finish."""
        for pending, turn in dialogue.expire():
            req = Request(
                text=pending.text,
                source=pending.source,
                id=pending.request_id,
                received=time.monotonic(),
                session=turn.session,
                area=pending.area,
                site=pending.site,
                reply_to=pending.reply_to,
                correlation=pending.correlation,
            )
            try:
                intent = build_intent(req, turn, self.site, 0, self.engine.registry, req.area)
            except Exception:  # the other expired confirmations still get theirs
                _LOG.exception("request %s: its refusal cannot be published", req.id)
                continue
            self._finish(None, intent, route=req)
        for timer in dialogue.timers.due(time.time()):
            _LOG.info("timer %s (%s, %d s) finished", timer.id, timer.name, timer.seconds)
            self._timer_event(TimerEvent("finished", timer))

    def refuse(self, err: ErrorReply) -> None:
        """A payload that never became a request (an oversized audio chunk, say)."""
        self._finish(None, err)

    def _area_of(self, req: Request) -> str | None:
        """The area a request was said in: its own, else this site's (not for another
        site's request taken from the pool: its area is not this one's)."""
        if req.area is not None:
            return req.area
        return self.area if req.site in ("", self.site) else None

    def _finish(
        self, req: Request | None, outcome: Outcome, route: Request | None = None
    ) -> Outcome:
        """The one place where a request ends: every output gets its outcome, once."""
        if req is not None:
            if self._open.pop(req.ref, None) is None:
                return outcome  # answered already (a shutdown error raced the model)
            # Only a broker redelivers: only its requests keep their answer.
            self.journal.done(req.ref, outcome.model_dump_json() if req.source == "mqtt" else None)
        if isinstance(outcome, ErrorReply):
            _LOG.warning(
                "%s request %s refused: %s (%s)",
                outcome.source,
                outcome.id,
                outcome.error,
                outcome.detail,
            )
        for output in self.outputs:
            try:
                output(req or route, outcome)
            except Exception:
                _LOG.exception("an output failed on %s", outcome.id)
        if req is not None:
            fut = self._waiting.pop(req.ref, None)
            if fut is not None and not fut.done():
                fut.set_result(outcome)
        return outcome

    # ---------------------------------------------------------------- health

    @property
    def depth(self) -> dict[str, int]:
        return {
            "open": len(self._open),
            "classify": len(self._classify),
            "model": len(self._model),
        }

    def stuck(self, limits: dict[str, float]) -> str | None:
        """A stage whose current call has run longer than its limit, if any."""
        now = time.monotonic()
        for stage, since in self._busy_since.items():
            if now - since > limits.get(stage, 60.0):
                return f"{stage} call running for {now - since:.0f} s"
        return None

    # -------------------------------------------------------------- shutdown

    async def drain(self, timeout: float) -> None:
        """Stop taking requests; answer what is open within `timeout`, then refuse the
        rest with a `shutdown` error (sent before the link closes)."""
        self.accepting = False
        if self._open:
            _LOG.info("answering %d open request(s), up to %.0f s", len(self._open), timeout)
        deadline = time.monotonic() + timeout
        while self._open and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        late = list(self._open.values())
        self._classify.drain()
        self._model.drain()
        for req in late:
            self._finish(req, _error(req, "shutdown", "dialogd stopped before answering"))
        if late:
            _LOG.warning("%d request(s) refused at shutdown (drain timeout)", len(late))
        self.journal.close()

    def close(self) -> None:
        self.rules_worker.close()
        self.model_worker.close()


def _error(req: Request, kind: str, detail: str) -> ErrorReply:
    return ErrorReply(id=req.id, error=kind, detail=detail, source=req.source)  # type: ignore[arg-type]


async def run_stages(d: Dispatcher) -> list[asyncio.Task[None]]:
    tasks = [
        asyncio.create_task(d.classify_task(), name="classify"),
        asyncio.create_task(d.model_task(), name="model"),
    ]
    if d.dialogue is not None:
        tasks.append(asyncio.create_task(d.dialogue_task(), name="dialogue"))
    return tasks
