"""Black-box reliability scenarios: the real `dialogd run` against a real Mosquitto.

    .venv/bin/python benchmarks/reliability.py SCENARIO [--quick] [--keep] [--fail-on-loss]

Each scenario starts its own Mosquitto (persistence on, in a temporary folder) on a free
127.0.0.1 port and its own daemon (`python -m daemon.cli run --config CFG`, site "bench",
the home of config.toml, the stand-in model, 2 threads, TTS off), sends requests as JSON
{"id", "text"} with QoS 1 on dialogd/bench/text, and counts the answers by id: intents on
dialogd/bench/intent and errors on dialogd/bench/error. The counter is a QoS 1 subscriber
with a persistent session, so it loses nothing itself, broker restarts included.

A "duplicate" is a second answer for the same id; `dup_same_bytes` are those that are the
very same message delivered again (an MQTT redelivery; `dup_flag_set`: with the DUP bit, i.e.
re-sent by the broker to the counter), `dup_reprocessed` those that
differ (the request was decided twice). "missing" ids got no answer at all.

Each scenario prints one JSON line with its counts, then one line for people. Exit code:
0, or 1 when the harness itself failed (or with --fail-on-loss, when a request of a
scenario got no answer or a duplicate). DIALOGD_* variables in the environment reach the
daemon, e.g. DIALOGD_REQUEST__QUEUE_SIZE=100 to try another queue bound.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import getpass
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
HOME_SOURCE = ROOT / "config.toml"
# Shared with the test suite: the fixed prompt's KV cache, evaluated once (~10 s).
KV_DIR = Path(tempfile.gettempdir()) / "dialogd-test-state"
SITE = "bench"
TOPIC_TEXT, TOPIC_INTENT, TOPIC_ERROR, TOPIC_STATUS = (
    f"dialogd/{SITE}/{leaf}" for leaf in ("text", "intent", "error", "status")
)

# Decided by the sentence templates (the fast path) ...
FAST = (
    "turn on the kitchen light",
    "turn off the kitchen light",
    "turn on the tv",
    "turn off the porch light",
    "set the bedroom light to 30 percent",
    "close the curtains",
    "turn on the coffee maker",
    "turn off the desk lamp",
)
# ... and small talk, which only the model answers.
SLOW = (
    "tell me a joke",
    "how are you today",
    "good morning!",
    "tell me something funny",
    "what a lovely day",
)

SIZES: dict[str, dict[str, int]] = {
    # scenario: {"full": N, "quick": N}
    "outage": {"full": 100, "quick": 30},
    "restart": {"full": 20, "quick": 10},
    "sigterm": {"full": 300, "quick": 30},
    "flood": {"full": 3000, "quick": 300},
    "hol": {"full": 300, "quick": 30},
    "soak": {"full": 10_000, "quick": 500},
}

READY_TIMEOUT_S = 180.0  # model load + KV cache restore (or a first prompt evaluation)
STOP_GRACE_S = 40.0  # SIGTERM, then SIGKILL: the daemon drains up to 20 s by default


class HarnessError(RuntimeError):
    """The scenario could not run (a process did not start), as opposed to a finding."""


# ----------------------------------------------------------------------- processes

_CHILDREN: list[subprocess.Popen[bytes]] = []


def _kill_children() -> None:
    """Last resort (atexit, signals): no process of ours outlives the script."""
    for p in _CHILDREN:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)


def _spawn(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Own session: a Ctrl-C in the terminal reaches only this script, which then stops
        # its children itself, in order.
        p = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN.append(p)
    return p


def _stop(p: subprocess.Popen[bytes], grace: float) -> tuple[int | None, float]:
    """SIGTERM, up to `grace` seconds, then SIGKILL. Returns (exit code, seconds)."""
    t0 = time.monotonic()
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
            p.wait(10)
    return p.returncode, time.monotonic() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Broker:
    """A persistent Mosquitto on 127.0.0.1:port; stop() and start() keep its data."""

    def __init__(self, work: Path, port: int) -> None:
        self.port = port
        self.data = work / "mosquitto"
        self.data.mkdir()
        self.log = work / "mosquitto.log"
        self.conf = work / "mosquitto.conf"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            # Run as ourselves (root would otherwise switch to the mosquitto user, who
            # cannot write our temporary folder); ignored when not root.
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {self.data}/\n"
            # Queues for a slow or absent daemon must not be what drops requests here.
            "max_queued_messages 100000\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise HarnessError("mosquitto is not installed (apt-get install mosquitto)")
        deadline = time.monotonic() + 10
        while port_open(self.port):  # a restart: the old socket must be gone
            if time.monotonic() > deadline:
                raise HarnessError(f"port {self.port} is still taken")
            time.sleep(0.05)
        self.proc = _spawn([exe, "-c", str(self.conf)], self.log)
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(f"mosquitto did not start:\n{tail(self.log)}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM: mosquitto writes its persistence file and exits."""
        if self.proc is not None:
            _stop(self.proc, 10)
            self.proc = None


def daemon_python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


# Environment variables win over the config file: these would point the daemon elsewhere.
_PINNED_ENV = ("DIALOGD_MQTT__", "DIALOGD_SITE_ID", "DIALOGD_STATE_DIR", "DIALOGD_LLM__")


def daemon_env() -> dict[str, str]:
    """Our environment (DIALOGD_REQUEST__* etc. pass through) less what the rig fixes."""
    return {k: v for k, v in os.environ.items() if not k.startswith(_PINNED_ENV)}


def write_daemon_config(work: Path, port: int) -> Path:
    source = HOME_SOURCE.read_text(encoding="utf-8")
    start = re.search(r"^\[\[floors\]\]", source, re.M)
    if start is None:
        raise HarnessError(f"{HOME_SOURCE} has no [[floors]] section to copy the home from")
    state = work / "state"
    cfg = work / "config.toml"
    cfg.write_text(
        f'site_id = "{SITE}"\n'
        'log_level = "INFO"\n'
        f"state_dir = {json.dumps(str(state))}\n\n"
        "[mqtt]\n"
        'host = "127.0.0.1"\n'
        f"port = {port}\n\n"
        "[llm]\n"
        f"model_path = {json.dumps(str(MODEL))}\n"
        "threads = 2\n"
        f"state_dir = {json.dumps(str(KV_DIR))}\n\n"
        "[tts]\n"
        "enabled = false\n\n" + source[start.start() :],
        encoding="utf-8",
    )
    return cfg


class Daemon:
    def __init__(self, work: Path, port: int) -> None:
        if not MODEL.is_file():
            raise HarnessError(f"model {MODEL} is missing (dialogd models fetch --standin)")
        KV_DIR.mkdir(parents=True, exist_ok=True)
        self.config = write_daemon_config(work, port)
        self.log = work / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, bus: Bus, timeout: float = READY_TIMEOUT_S) -> float:
        """Start it and wait for its `online` status. Returns the seconds that took."""
        bus.online.clear()
        t0 = time.monotonic()
        self.proc = _spawn(
            [daemon_python(), "-m", "daemon.cli", "run", "--config", str(self.config)],
            self.log,
            env=daemon_env(),
        )
        while not bus.online.wait(0.2):
            if self.proc.poll() is not None:
                raise HarnessError(
                    f"the daemon exited with code {self.proc.returncode}:\n{tail(self.log)}"
                )
            if time.monotonic() - t0 > timeout:
                raise HarnessError(f"the daemon was not online in {timeout:.0f} s")
        return time.monotonic() - t0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self) -> int | None:
        if not self.alive():
            return None
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        return int(m.group(1)) if m else None

    def sigterm(self, grace: float = STOP_GRACE_S) -> tuple[int | None, float]:
        if self.proc is None:
            return None, 0.0
        code, took = _stop(self.proc, grace)
        return code, took


# ----------------------------------------------------------------------- the counter


@dataclass
class Answer:
    kind: str  # "intent" or the error kind
    t: float  # monotonic arrival
    payload: bytes
    dup_flag: bool
    engine: str | None = None
    latency_ms: int | None = None


@dataclass
class Bus:
    """One sender and one listener, both with persistent QoS 1 sessions."""

    port: int
    name: str
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    unmatched: int = 0
    sent_at: dict[str, float] = field(default_factory=dict)
    online: threading.Event = field(default_factory=threading.Event)
    last_answer: float = 0.0
    _mids: list[int] = field(default_factory=list)  # of our requests, in order
    _acked: set[int] = field(default_factory=set)  # mids the broker acknowledged
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _subscribed: threading.Event = field(default_factory=threading.Event)
    _sender_up: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        tag = f"{self.name}-{os.getpid()}-{secrets.token_hex(3)}"
        self.listener = self._client(f"bench-listen-{tag}")
        self.listener.on_connect = self._listener_connected
        self.listener.on_subscribe = self._on_subscribe
        self.listener.on_message = self._on_message
        self.sender = self._client(f"bench-send-{tag}")
        self.sender.max_inflight_messages_set(100)
        self.sender.on_connect = self._sender_connected
        self.sender.on_disconnect = self._sender_disconnected
        self.sender.on_publish = self._on_publish

    def _client(self, client_id: str) -> mqtt.Client:
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
        c.reconnect_delay_set(min_delay=1, max_delay=2)
        return c

    def start(self) -> None:
        for c in (self.listener, self.sender):
            c.connect("127.0.0.1", self.port, keepalive=30)
            c.loop_start()
        if not (self._subscribed.wait(10) and self._sender_up.wait(10)):
            raise HarnessError("the benchmark's MQTT clients could not connect/subscribe")

    def close(self) -> None:
        for c in (self.sender, self.listener):
            with contextlib.suppress(Exception):
                c.disconnect()
            with contextlib.suppress(Exception):
                c.loop_stop()

    # paho's threads
    def _listener_connected(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason.is_failure:
            client.subscribe([(TOPIC_INTENT, 1), (TOPIC_ERROR, 1), (TOPIC_STATUS, 1)])

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._subscribed.set()

    def _sender_connected(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason.is_failure:
            self._sender_up.set()

    def _sender_disconnected(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._sender_up.clear()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._acked.add(mid)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        payload = bytes(msg.payload)
        if msg.topic == TOPIC_STATUS:
            if payload == b"online":
                self.online.set()
            elif payload == b"offline":
                self.online.clear()
            return
        try:
            obj = json.loads(payload)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            with self._lock:
                self.unmatched += 1
            return
        if msg.topic == TOPIC_INTENT:
            ans = Answer("intent", now, payload, bool(msg.dup), obj.get("engine"))
            lat = obj.get("latency_ms")
            ans.latency_ms = lat if isinstance(lat, int) else None
        else:
            ans = Answer(str(obj.get("error")), now, payload, bool(msg.dup))
        rid = obj.get("id")
        with self._lock:
            self.last_answer = now
            if not isinstance(rid, str) or rid not in self.sent_at:
                self.unmatched += 1
                return
            self.answers.setdefault(rid, []).append(ans)

    # the scenario's thread
    def send(self, rid: str, text: str) -> None:
        payload = json.dumps({"id": rid, "text": text}).encode()
        with self._lock:
            self.sent_at[rid] = time.monotonic()
        # Kept by paho while the broker is away (rc "not connected"), and sent (again)
        # once it is back.
        info = self.sender.publish(TOPIC_TEXT, payload, qos=1)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            raise HarnessError("paho's outgoing queue is full")
        self._mids.append(info.mid)

    def accepted(self) -> int:
        """Requests the broker has acknowledged (PUBACK)."""
        with self._lock:
            return sum(1 for m in self._mids if m in self._acked)

    def wait_accepted(self, n: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (got := self.accepted()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return got

    def answered(self, ids: list[str]) -> int:
        with self._lock:
            return sum(1 for i in ids if i in self.answers)

    def wait_answers(
        self,
        ids: list[str],
        timeout: float,
        idle: float,
        while_: Callable[[], bool] = lambda: True,
    ) -> None:
        """Until every id has an answer, or `timeout`, or nothing came for `idle` s."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline and while_():
            if self.answered(ids) >= len(ids):
                return
            with self._lock:
                last = max(self.last_answer, t0)
            if time.monotonic() - last > idle:
                return
            time.sleep(0.1)

    def first_answers(self, ids: list[str]) -> list[Answer]:
        with self._lock:
            return [self.answers[i][0] for i in ids if i in self.answers]

    def tally(self, ids: list[str]) -> dict[str, Any]:
        """Counts over `ids`: answered, intents, errors by kind, duplicates, missing."""
        with self._lock:
            got = {i: list(self.answers.get(i, ())) for i in ids}
            unmatched = self.unmatched
        intents = sum(1 for a in got.values() if a and a[0].kind == "intent")
        errors: dict[str, int] = {}
        for a in got.values():
            if a and a[0].kind != "intent":
                errors[a[0].kind] = errors.get(a[0].kind, 0) + 1
        dups = [a for a in got.values() if len(a) > 1]
        same = sum(1 for a in dups for x in a[1:] if x.payload == a[0].payload)
        missing = [i for i, a in got.items() if not a]
        lat = sorted(
            (a[0].t - self.sent_at[i]) * 1000 for i, a in got.items() if a and i in self.sent_at
        )
        return {
            "sent": len(ids),
            "answered": len(ids) - len(missing),
            "intents": intents,
            "errors": errors,
            "missing": len(missing),
            "missing_ids": missing[:10],
            "duplicates": sum(len(a) - 1 for a in dups),
            "dup_same_bytes": same,
            "dup_reprocessed": sum(len(a) - 1 for a in dups) - same,
            # DUP bit set: the broker re-sent it to the counter (not the daemon twice).
            "dup_flag_set": sum(1 for a in dups for x in a[1:] if x.dup_flag),
            "unmatched_answers": unmatched,
            "answer_ms": {
                "p50": _pct(lat, 50),
                "p95": _pct(lat, 95),
                "max": round(lat[-1]) if lat else None,
            },
        }


def _pct(values: list[float], q: float) -> int | None:
    if not values:
        return None
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return round(values[k])


# ------------------------------------------------------------------------ scenarios


@dataclass
class Rig:
    work: Path
    broker: Broker
    bus: Bus
    daemon: Daemon
    run_tag: str = field(default_factory=lambda: secrets.token_hex(2))

    def ids(self, prefix: str, n: int) -> list[str]:
        return [f"{prefix}-{self.run_tag}-{i:05d}" for i in range(n)]


@contextlib.contextmanager
def rig(name: str, keep: bool) -> Iterator[Rig]:
    """A broker, the counter and a started daemon; all stopped at the end, always."""
    work = Path(tempfile.mkdtemp(prefix=f"dialogd-bench-{name}-"))
    port = free_port()
    broker = Broker(work, port)
    bus = Bus(port, name)
    daemon = Daemon(work, port)
    try:
        broker.start()
        bus.start()
        daemon.start(bus)
        yield Rig(work, broker, bus, daemon)
    finally:
        daemon.sigterm(grace=5)  # the scenario is over: no need for a full drain
        bus.close()
        broker.stop()
        if keep:
            print(f"[{name}] kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def send_paced(bus: Bus, ids: list[str], texts: tuple[str, ...], rate: float | None) -> float:
    """Publish one request per id, `rate` per second (None: as fast as possible)."""
    t0 = time.monotonic()
    for i, rid in enumerate(ids):
        if rate is not None:
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        bus.send(rid, texts[i % len(texts)])
    return time.monotonic() - t0


def outage(r: Rig, n: int) -> tuple[dict[str, Any], str]:
    ids = r.ids("outage", n)
    down_at = n // 2
    rate = 20.0
    t0 = time.monotonic()
    restart_at: float | None = None
    stopped = down_s = 0.0
    for i, rid in enumerate(ids):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if i == down_at:
            r.broker.stop()
            stopped = time.monotonic()
            restart_at = stopped + 2.0
        if restart_at is not None and time.monotonic() >= restart_at:
            r.broker.start()
            down_s = time.monotonic() - stopped
            restart_at = None
        r.bus.send(rid, FAST[i % len(FAST)])
    if restart_at is not None:
        time.sleep(max(0.0, restart_at - time.monotonic()))
        r.broker.start()
        down_s = time.monotonic() - stopped
    accepted = r.bus.wait_accepted(n, 30)
    r.bus.wait_answers(ids, timeout=90, idle=20)
    res = {"accepted": accepted, "broker_down_s": round(down_s, 1), **r.bus.tally(ids)}
    res["daemon_alive"] = r.daemon.alive()
    human = (
        f"{n} sent at {rate:.0f}/s, broker stopped {res['broker_down_s']} s after #{down_at}: "
        f"{accepted} accepted by the broker, {res['answered']} answered "
        f"({res['intents']} intents, errors {res['errors'] or 'none'}), "
        f"{res['missing']} missing, {res['duplicates']} duplicates"
    )
    return res, human


def restart(r: Rig, n: int) -> tuple[dict[str, Any], str]:
    ids = r.ids("restart", n)
    code, stop_s = r.daemon.sigterm()
    send_paced(r.bus, ids, FAST, rate=None)
    accepted = r.bus.wait_accepted(n, 30)
    ready_s = r.daemon.start(r.bus)
    r.bus.wait_answers(ids, timeout=60, idle=15)
    res = {
        "exit_code": code,
        "stop_s": round(stop_s, 1),
        "accepted": accepted,
        "restart_ready_s": round(ready_s, 1),
        **r.bus.tally(ids),
    }
    human = (
        f"daemon stopped by SIGTERM (exit {code}, {stop_s:.1f} s); {n} sent while down "
        f"({accepted} accepted by the broker); restarted in {ready_s:.1f} s: "
        f"{res['answered']} answered ({res['intents']} intents, errors "
        f"{res['errors'] or 'none'}), {res['missing']} missing, {res['duplicates']} duplicates"
    )
    return res, human


def sigterm(r: Rig, n: int) -> tuple[dict[str, Any], str]:
    ids = r.ids("sigterm", n)
    send_paced(r.bus, ids, SLOW, rate=None)
    accepted = r.bus.wait_accepted(n, 30)
    time.sleep(1.0)  # let the daemon take them in
    before = r.bus.answered(ids)
    code, stop_s = r.daemon.sigterm()
    r.bus.wait_answers(ids, timeout=5, idle=3)  # what it published last is delivered
    res = {
        "accepted": accepted,
        "answered_before_sigterm": before,
        "exit_code": code,
        "stop_s": round(stop_s, 1),
        **r.bus.tally(ids),
    }
    human = (
        f"{n} model requests queued, SIGTERM after {before} answers: exit {code} in "
        f"{stop_s:.1f} s; {res['answered']} answered ({res['intents']} intents, errors "
        f"{res['errors'] or 'none'}), {res['missing']} with neither intent nor error"
    )
    return res, human


def flood(r: Rig, n: int) -> tuple[dict[str, Any], str]:
    ids = r.ids("flood", n)
    send_s = send_paced(r.bus, ids, FAST, rate=None)
    accepted = r.bus.wait_accepted(n, 60)
    r.bus.wait_answers(ids, timeout=180, idle=15, while_=r.daemon.alive)
    res = {
        "send_s": round(send_s, 2),
        "accepted": accepted,
        "busy": 0,
        **r.bus.tally(ids),
        "daemon_alive": r.daemon.alive(),
    }
    res["busy"] = res["errors"].get("busy", 0)
    human = (
        f"{n} fast commands sent in {send_s:.1f} s ({accepted} accepted by the broker): "
        f"{res['intents']} intents, {res['busy']} busy, other errors "
        f"{ {k: v for k, v in res['errors'].items() if k != 'busy'} or 'none' }, "
        f"{res['missing']} missing, {res['duplicates']} duplicates; answer p50 "
        f"{res['answer_ms']['p50']} ms, p95 {res['answer_ms']['p95']} ms"
    )
    return res, human


def hol(r: Rig, n: int) -> tuple[dict[str, Any], str]:
    slow = r.ids("hol-model", n)
    send_paced(r.bus, slow, SLOW, rate=None)
    accepted = r.bus.wait_accepted(n, 30)
    time.sleep(0.5)
    fast = f"hol-fast-{r.run_tag}"
    r.bus.send(fast, FAST[0])
    timeout = 180.0
    r.bus.wait_answers([fast], timeout=timeout, idle=timeout, while_=r.daemon.alive)
    got, firsts = r.bus.first_answers([fast]), r.bus.first_answers(slow)
    sent = r.bus.sent_at[fast]
    cutoff = got[0].t if got else time.monotonic()
    before = sum(1 for a in firsts if a.t < cutoff)
    res: dict[str, Any] = {
        "model_requests": n,
        "accepted": accepted,
        "fast_answered": bool(got),
        "fast_kind": got[0].kind if got else None,
        "fast_engine": got[0].engine if got else None,
        "fast_ms": round((got[0].t - sent) * 1000) if got else None,
        "fast_latency_ms_field": got[0].latency_ms if got else None,
        "model_answers_before_fast": before,
        "timeout_s": timeout,
    }
    human = f"{n} model requests queued, then one fast command: " + (
        f"answered in {res['fast_ms']} ms ({res['fast_kind']}, engine "
        f"{res['fast_engine']}), after {before} model answers"
        if got
        else f"no answer in {timeout:.0f} s ({before} model answers by then)"
    )
    return res, human


def soak(r: Rig, n: int) -> tuple[dict[str, Any], str]:
    ids = r.ids("soak", n)
    rate = 100.0
    checkpoint = 1000 if n >= 2000 else max(1, n // 5)
    rss_ready = r.daemon.rss_kb()
    rss_checkpoint: int | None = None
    t0 = time.monotonic()
    for i, rid in enumerate(ids):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if i == checkpoint:
            # The first `checkpoint` have been sent; give them a moment to be answered.
            r.bus.wait_answers(ids[:checkpoint], timeout=5, idle=5)
            rss_checkpoint = r.daemon.rss_kb()
        if i % 500 == 0 and not r.daemon.alive():
            break
        r.bus.send(rid, FAST[i % len(FAST)])
    send_s = time.monotonic() - t0
    accepted = r.bus.wait_accepted(n, 60)
    r.bus.wait_answers(ids, timeout=120, idle=15, while_=r.daemon.alive)
    rss_end = r.daemon.rss_kb()
    res = {
        "rate_per_s": rate,
        "send_s": round(send_s, 1),
        "accepted": accepted,
        **r.bus.tally(ids),
        "rss_kb_ready": rss_ready,
        f"rss_kb_after_{checkpoint}": rss_checkpoint,
        "rss_kb_end": rss_end,
        "rss_growth_kb": (
            rss_end - rss_checkpoint if rss_end is not None and rss_checkpoint else None
        ),
        "daemon_alive": r.daemon.alive(),
    }
    human = (
        f"{n} fast commands at {rate:.0f}/s over {send_s:.0f} s: {res['intents']} intents, "
        f"errors {res['errors'] or 'none'}, {res['missing']} missing, {res['duplicates']} "
        f"duplicates; RSS {_mb(rss_ready)} at ready, {_mb(rss_checkpoint)} after "
        f"{checkpoint}, {_mb(rss_end)} at the end; answer p95 {res['answer_ms']['p95']} ms"
    )
    return res, human


def _mb(kb: int | None) -> str:
    return "?" if kb is None else f"{kb / 1024:.0f} MB"


SCENARIOS: dict[str, tuple[Callable[[Rig, int], tuple[dict[str, Any], str]], str]] = {
    "outage": (outage, "QoS 1 requests at 20/s; the broker stops for 2 s half-way"),
    "restart": (restart, "SIGTERM the daemon, send requests while it is down, start it"),
    "sigterm": (sigterm, "queue model requests (small talk), then SIGTERM the daemon"),
    "flood": (flood, "fast commands as fast as possible: intents, busy errors, missing"),
    "hol": (hol, "model requests queued, then one fast command: its latency"),
    "soak": (soak, "fast commands at 100/s; the daemon's RSS after 1,000 and at the end"),
}


def run_one(name: str, quick: bool, keep: bool) -> dict[str, Any]:
    fn, _ = SCENARIOS[name]
    n = SIZES[name]["quick" if quick else "full"]
    t0 = time.monotonic()
    with rig(name, keep) as r:
        res, human = fn(r, n)
    out = {"scenario": name, "n": n, "quick": quick, **res, "wall_s": round(time.monotonic() - t0)}
    print(json.dumps(out, ensure_ascii=False), flush=True)
    print(f"{name}: {human}", flush=True)
    return out


def lossy(res: dict[str, Any]) -> bool:
    if res.get("scenario") == "hol":
        return not res.get("fast_answered")
    return bool(res.get("missing") or res.get("duplicates"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reliability.py",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="scenarios:\n"
        + "\n".join(
            f"  {k:8} {d} (N={SIZES[k]['full']}, --quick {SIZES[k]['quick']})"
            for k, (_, d) in SCENARIOS.items()
        )
        + "\n  all      every scenario above, one after the other",
    )
    p.add_argument("scenario", choices=[*SCENARIOS, "all"], help="what to run (see below)")
    p.add_argument("--quick", action="store_true", help="smaller N, for CI")
    p.add_argument("--keep", action="store_true", help="keep the temporary folders and logs")
    p.add_argument(
        "--fail-on-loss",
        action="store_true",
        help="exit 1 when a request got no answer or a duplicate (hol: no fast answer)",
    )
    return p


def _on_signal(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    atexit.register(_kill_children)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    status = 0
    try:
        for name in names:
            try:
                res = run_one(name, args.quick, args.keep)
            except HarnessError as exc:
                print(json.dumps({"scenario": name, "harness_error": str(exc)}), flush=True)
                print(f"{name}: could not run: {exc}", file=sys.stderr, flush=True)
                status = 1
                continue
            if args.fail_on_loss and lossy(res):
                status = 1
    except KeyboardInterrupt:
        print("interrupted; stopping the broker and the daemon", file=sys.stderr)
        status = 130
    finally:
        _kill_children()
    return status


if __name__ == "__main__":
    sys.exit(main())
