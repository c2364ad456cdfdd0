"""The request path in-process: journal, dedupe, admission, expiry, shutdown, health, and
a fuzz run of hostile payloads through the whole path (templates only, no model)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config.settings import load_settings
from daemon.core.messages import ErrorReply, Intent, Outcome, Request
from daemon.ops.notify import Notifier, watchdog_task
from daemon.pipeline.admission import FairQueue
from daemon.pipeline.dispatcher import Dispatcher, Limits, run_stages
from daemon.pipeline.engines import home_registry
from daemon.pipeline.journal import Journal
from daemon.pipeline.outbox import Held, Outbox
from daemon.understanding.engine import IntentEngine, Understood
from tests.conftest import DATA

ENGINE = IntentEngine(home_registry(load_settings(DATA / "home.toml")))


def _req(rid: str, text: str = "turn on the kitchen light") -> Request:
    return Request(text=text, source="mqtt", id=rid, received=time.monotonic(), wall=time.time())


# ------------------------------------------------------------------- parts


def test_fair_queue_serves_sources_in_turn() -> None:
    async def go() -> list[str]:
        q: FairQueue[str] = FairQueue()
        for i in range(5):
            q.put("mqtt", f"m{i}")
        q.put("serial", "s0")
        return [await q.get() for _ in range(6)]

    order = asyncio.run(go())
    assert order.index("s0") <= 1, order  # the flood does not starve the serial line


def test_journal_keeps_pending_requests_and_answered_ids(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path, window=3)
    for i in range(5):
        j.accept(_req(f"r{i}"))
    for i in range(4):
        j.done(f"r{i}")
    j.close()
    with path.open("a") as f:
        f.write('{"a": {"id": "torn", "te')  # a power cut mid-line
    again = Journal(path, window=3)
    assert [r.id for r in again.pending()] == ["r4"]
    assert again.seen("r3") and again.seen("r4") and not again.seen("r0")  # window of 3
    again.done("r4")
    assert not again.pending()


def test_outbox_survives_a_restart_and_is_bounded(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.jsonl", limit=3)
    for i in range(5):
        box.hold(Held("t/intent", f"m{i}".encode(), 1, False))
    assert [m.payload for m in Outbox(tmp_path / "outbox.jsonl", limit=3).take()][-3:] == [
        b"m2",
        b"m3",
        b"m4",
    ]
    assert len(box) == 3 and [m.payload for m in box.take()] == [b"m2", b"m3", b"m4"]
    assert not (tmp_path / "outbox.jsonl").exists()


# -------------------------------------------------------------- dispatcher


class SlowEngine:
    """The real templates, but every call waits on a gate: a stuck engine on demand."""

    def __init__(self) -> None:
        self.registry = ENGINE.registry
        self.gate = threading.Event()

    def understand_fast(
        self, text: str, area: str | None = None, focus: frozenset[str] = frozenset()
    ) -> Understood | None:
        self.gate.wait(10)
        return ENGINE.understand_fast(text, area)

    def understand_model(
        self, text: str, area: str | None = None, focus: frozenset[str] = frozenset()
    ) -> Understood:
        self.gate.wait(10)
        return ENGINE.understand_model(text, area)


def _dispatcher(
    engine: Any, tmp: Path, window_s: float = 600.0, **limits: Any
) -> tuple[Dispatcher, list[Outcome]]:
    d = Dispatcher(
        "test",
        engine,
        Journal(tmp / "journal.jsonl", window=100, window_s=window_s),
        Limits(**limits),
    )
    seen: list[Outcome] = []
    d.outputs.append(lambda req, outcome: seen.append(outcome))
    return d, seen


def test_duplicate_ids_are_answered_once_busy_past_the_bound_and_shutdown_errors(
    tmp_path: Path,
) -> None:
    engine = SlowEngine()

    async def go() -> tuple[list[Outcome | None], list[Outcome]]:
        d, seen = _dispatcher(engine, tmp_path, queue_size=3)
        tasks = await run_stages(d)
        payload = json.dumps({"text": "turn on the tv", "id": "x"}).encode()
        first = asyncio.create_task(d.submit(payload, "mqtt"))
        await asyncio.sleep(0.05)
        again = await d.submit(payload, "mqtt")  # a redelivery while it is open
        more = [
            asyncio.create_task(d.submit(f'{{"text": "tv on", "id": "y{i}"}}'.encode(), "mqtt"))
            for i in range(4)
        ]
        await asyncio.sleep(0.05)
        await d.drain(0.1)  # the engine is stuck: what is open gets `shutdown`
        results = [again, await first, *[await t for t in more]]
        engine.gate.set()
        for t in tasks:
            t.cancel()
        d.close()
        return results, seen

    results, seen = asyncio.run(go())
    assert results[0] is None
    kinds = [r.error if isinstance(r, ErrorReply) else "intent" for r in results[1:]]
    assert kinds.count("busy") == 2 and kinds.count("shutdown") == 3, kinds
    ids = [o.id for o in seen]
    assert len(ids) == len(set(ids)) == 5, ids  # exactly one outcome per request


def test_an_id_reused_for_another_request_is_a_new_request(tmp_path: Path) -> None:
    """Redelivery is not reuse: the same id with another payload (a Node-RED flow's fixed
    id, an ESP32 counter that restarts) is answered; the same payload again within the
    window is a redelivery, which gets its original answer again (also after a restart)
    on the outputs that answer callers, and acts on nothing; after the window it is new."""

    async def go(window_s: float) -> tuple[list[Outcome | None], list[Outcome], list[Outcome]]:
        journal = tmp_path / str(window_s)
        d, acted = _dispatcher(ENGINE, journal, window_s=window_s)
        answered: list[Outcome] = []
        d.replay_outputs.append(lambda req, outcome: answered.append(outcome))
        tasks = await run_stages(d)
        on = json.dumps({"text": "turn on the tv", "id": "kitchen-1"}).encode()
        off = json.dumps({"text": "turn off the tv", "id": "kitchen-1"}).encode()
        outs = [await d.submit(on, "mqtt"), await d.submit(off, "mqtt")]
        outs.append(await d.submit(off, "mqtt"))
        for t in tasks:
            t.cancel()
        d.close()
        d.journal.close()
        restarted, acted_after = _dispatcher(ENGINE, journal, window_s=window_s)
        restarted.replay_outputs.append(lambda req, outcome: answered.append(outcome))
        tasks = await run_stages(restarted)
        outs.append(await restarted.submit(on, "mqtt"))
        for t in tasks:
            t.cancel()
        restarted.close()
        return outs, acted + acted_after, answered

    (first, second, again, after_restart), acted, replayed = asyncio.run(go(600.0))
    assert isinstance(first, Intent) and first.action == "turn_on" and first.id == "kitchen-1"
    assert isinstance(second, Intent) and second.action == "turn_off" and second.id == "kitchen-1"
    # The broker delivering the last one again: the same answer, not a second decision.
    assert again == second and after_restart == first
    assert acted == [first, second] and replayed == [second, first]
    (*_, later, after), acted, replayed = asyncio.run(go(0.0))
    assert isinstance(later, Intent) and later.action == "turn_off"
    assert isinstance(after, Intent) and after.action == "turn_on" and replayed == []
    assert len(acted) == 4


@pytest.mark.parametrize(
    "payload",
    [
        b'{"text": "turn on the tv", "id": NaN}',
        b'{"text": "turn on the tv", "id": Infinity}',
        b'{"text": "turn on the tv", "id": -1e400}',
        b'{"text": "turn on the tv", "id": true}',
        b'{"text": "turn on the tv", "id": ' + b'{"a": ' * 300 + b"1" + b"}" * 300 + b"}",
    ],
)
def test_an_id_that_is_not_a_string_or_finite_number_is_bad_json(
    tmp_path: Path, payload: bytes
) -> None:
    async def go() -> Outcome | None:
        d, _ = _dispatcher(ENGINE, tmp_path)
        tasks = await run_stages(d)
        out = await d.submit(payload, "mqtt")
        for t in tasks:
            t.cancel()
        d.close()
        return out

    out = asyncio.run(go())
    assert isinstance(out, ErrorReply) and out.error == "bad_json" and out.id is None, out


def test_a_device_reusing_an_id_gets_every_request_answered(tmp_path: Path) -> None:
    """Only MQTT can deliver a request again; a serial device sending the same id on every
    line is asking again, and each line gets its answer."""

    async def go() -> list[Outcome | None]:
        d, _ = _dispatcher(ENGINE, tmp_path)
        tasks = await run_stages(d)
        line = json.dumps({"text": "turn on the tv", "id": "1"}).encode()
        outs = list(await asyncio.gather(*(d.submit(line, "serial") for _ in range(3))))
        outs.append(await d.submit(line, "serial"))
        for t in tasks:
            t.cancel()
        d.close()
        return outs

    outs = asyncio.run(go())
    assert all(isinstance(o, Intent) and o.id == "1" for o in outs), outs


def test_requests_older_than_max_age_expire(tmp_path: Path) -> None:
    async def go() -> Outcome:
        d, _ = _dispatcher(ENGINE, tmp_path, max_age_s=5)
        tasks = await run_stages(d)
        old = Request(text="open the garage", source="mqtt", id="old", wall=time.time() - 60)
        d.journal.accept(old)
        out = await d.enqueue(old)
        for t in tasks:
            t.cancel()
        d.close()
        return out

    out = asyncio.run(go())
    assert isinstance(out, ErrorReply) and out.error == "expired"


def test_a_stuck_engine_stops_the_watchdog(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.1)
    engine = SlowEngine()

    def pings(seconds: float) -> int:
        n, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                n += sock.recv(4096).decode().splitlines().count("WATCHDOG=1")
        return n

    async def go() -> tuple[int, int, int]:
        d, _ = _dispatcher(engine, tmp_path)
        notifier = Notifier(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
        tasks = await run_stages(d)
        alive = lambda: d.stuck({"rules": 0.3, "model": 0.3}) is None  # noqa: E731
        tasks.append(asyncio.create_task(watchdog_task(notifier, alive)))
        healthy = await asyncio.to_thread(pings, 0.6)
        request = asyncio.create_task(d.submit(b"turn on the tv", "mqtt"))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(pings, 0.15)  # the pings sent before it was stuck
        stuck = await asyncio.to_thread(pings, 0.8)
        engine.gate.set()
        await request
        recovered = await asyncio.to_thread(pings, 0.6)
        for t in tasks:
            t.cancel()
        d.close()
        return healthy, stuck, recovered

    healthy, stuck, recovered = asyncio.run(go())
    sock.close()
    assert healthy >= 2 and stuck == 0 and recovered >= 2, (healthy, stuck, recovered)


# ------------------------------------------------------------------- fuzz

FUZZ_COUNT = {"n": 0}


@pytest.fixture(scope="module", autouse=True)
def _report_fuzz_count() -> Iterator[None]:
    yield
    if FUZZ_COUNT["n"]:
        print(f"\nfuzz: {FUZZ_COUNT['n']} hostile payloads through the request path")


hostile = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=10,
    ).map(lambda o: json.dumps({"text": o, "id": "f", "area": o}).encode()),
    st.sampled_from(
        [
            b"[" * 1000 + b"]" * 1000,
            b'{"text": "hi", "id": ' + b"9" * 5000 + b"}",
            b'{"text": "\\ud800 light"}',
            b"\xef\xbb\xbf" + b'{"text": "turn on the tv"}',
            b"null",
            b"[]",
            b"42",
            b"turn on the \x07kitchen light",
            "关掉\u202e客厅灯".encode(),
        ]
    ),
)


@settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payloads=st.lists(hostile, min_size=1, max_size=8))
def test_fuzz_every_payload_gets_exactly_one_answer(
    payloads: list[bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")

    async def go() -> tuple[list[Outcome | None], list[Outcome]]:
        d, seen = _dispatcher(ENGINE, tmp, queue_size=1000)
        tasks = await run_stages(d)
        # Unique ids, so that no answer is a legitimate duplicate drop.
        outs = []
        for n, p in enumerate(payloads):
            try:
                obj = json.loads(p)
            except (ValueError, RecursionError):
                obj = None
            if isinstance(obj, dict) and "id" in obj:
                obj["id"] = f"f{n}"
                p = json.dumps(obj).encode("utf-8", "surrogatepass")
            outs.append(await d.submit(p, "mqtt"))
        for t in tasks:
            t.cancel()
        d.close()
        return outs, seen

    outs, seen = asyncio.run(go())
    FUZZ_COUNT["n"] += len(payloads)
    assert all(isinstance(o, (Intent, ErrorReply)) for o in outs), outs
    assert len(seen) == len(payloads)
    for o in seen:  # every answer can be published
        o.model_dump_json().encode("utf-8")


@pytest.mark.parametrize(
    "payload", [b"", b'{"text": ""}', b'{"text": 5}', b"\xff\xfe", b'{"text": "x", "area": 3}']
)
def test_every_error_carries_an_id_the_callers_or_a_new_one(tmp_path: Path, payload: bytes) -> None:
    """Errors are correlated like intents: the caller's id, else one dialogd makes up (only
    an id that was itself refused is answered with null)."""

    async def go(body: bytes) -> Outcome | None:
        d, _ = _dispatcher(ENGINE, tmp_path / str(len(body)))
        tasks = await run_stages(d)
        out = await d.submit(body, "mqtt")
        for t in tasks:
            t.cancel()
        d.close()
        return out

    made_up = asyncio.run(go(payload))
    assert isinstance(made_up, ErrorReply) and made_up.id, made_up
    if payload.startswith(b"{"):
        body = json.loads(payload)
        mine = asyncio.run(go(json.dumps({**body, "id": "mine"}).encode()))
        assert isinstance(mine, ErrorReply) and mine.id == "mine", mine


def test_a_decision_is_published_with_the_registry_that_made_it(tmp_path: Path) -> None:
    """A new engine swapped in while a request is being decided (the tv gone from the
    home) does not turn the old engine's decision into a model_failure."""

    async def go() -> Outcome | None:
        engine = SlowEngine()
        d, _ = _dispatcher(engine, tmp_path)
        tasks = await run_stages(d)
        pending = asyncio.create_task(d.submit(b'{"text": "turn on the tv", "id": "t"}', "mqtt"))
        await asyncio.sleep(0.1)  # the templates are deciding, held at the gate
        settings = load_settings(DATA / "home.toml")
        without_tv = settings.model_copy(
            update={"devices": [x for x in settings.devices if x.id != "tv"]}
        )
        d.swap_engine(IntentEngine(home_registry(without_tv)))
        engine.gate.set()
        out = await pending
        for t in tasks:
            t.cancel()
        d.close()
        return out

    out = asyncio.run(go())
    assert isinstance(out, Intent) and (out.action, out.device) == ("turn_on", "tv"), out
