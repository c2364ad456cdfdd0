"""Shared fixtures: a real Mosquitto broker, config files, the real daemon process."""

from __future__ import annotations

import json
import os
import queue
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
from typing import TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
MODELS = ROOT / "models"
STANDIN = MODELS / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
DIALOGD = [sys.executable, "-m", "daemon.cli"]
# One KV cache for the whole session: the first daemon evaluates the prompt, the rest
# restore it.
STATE_DIR = Path(tempfile.gettempdir()) / "dialogd-test-state"


_T = TypeVar("_T")


def wait_port(port: int, timeout: float = 60, host: str = "127.0.0.1") -> None:
    """Wait until something accepts TCP connections on `port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.1)


def until(cond: Callable[[], _T], timeout: float, what: str, every: float = 0.05) -> _T:
    """`cond()`'s first truthy value, polled; TimeoutError naming `what` after `timeout`.

    For what no event announces: a list that another thread fills, a retained message
    that may or may not be there yet."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} within {timeout}s")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_exe() -> str:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        pytest.fail("mosquitto is not installed (apt-get install mosquitto); tests/run.sh does it")
    return exe


class Broker:
    """A real Mosquitto on a free loopback port, which a test can stop and restart."""

    def __init__(self, tmp: Path, persistent: bool = False) -> None:
        self.port = free_port()
        self.conf = tmp / "mosquitto.conf"
        # Persistent: sessions and queued messages survive a broker restart, as with
        # Debian's mosquitto; the queue holds a flood for a client that is away.
        keep = (
            f"persistence true\npersistence_location {tmp}/\nautosave_interval 1\n"
            "max_queued_messages 20000\n" + ("user root\n" if os.geteuid() == 0 else "")
            # As root, mosquitto would switch to the `mosquitto` user, which cannot write
            # its database into this test's folder.
            if persistent
            else "persistence false\n"
        )
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{keep}")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [mosquitto_exe(), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@dataclass
class Listener:
    """A paho client that records everything under a topic filter."""

    port: int
    topic: str = "dialogd/#"
    messages: queue.Queue[tuple[str, bytes]] = field(default_factory=queue.Queue)
    history: list[tuple[str, bytes]] = field(default_factory=list)
    credentials: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        if self.credentials is not None:
            self.client.username_pw_set(*self.credentials)

        def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
            self.history.append((m.topic, bytes(m.payload)))
            self.messages.put((m.topic, bytes(m.payload)))

        self.client.on_message = on_message
        subscribed = queue.Queue[int]()
        self.client.on_subscribe = lambda c, u, mid, rc, p: subscribed.put(mid)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(self.topic, qos=1)
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        subscribed.get(timeout=10)

    def publish(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def wait_for(self, topic: str, timeout: float = 30.0, pred=None) -> bytes:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"nothing on {topic} within {timeout}s")
            try:
                t, p = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if t == topic and (pred is None or pred(p)):
                return p

    def wait_json(self, topic: str, timeout: float = 30.0, **match: object) -> dict:  # type: ignore[type-arg]
        def pred(p: bytes) -> bool:
            try:
                obj = json.loads(p)
            except ValueError:
                return False
            return all(obj.get(k) == v for k, v in match.items())

        return json.loads(self.wait_for(topic, timeout, pred))  # type: ignore[no-any-return]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def detail(self, pred: Callable[[dict], bool], timeout: float = 30.0) -> dict:  # type: ignore[type-arg]
        """The first status/detail (retained, republished when the home or the config
        changes) that satisfies `pred`: an event to wait on, not a log line."""

        def match(p: bytes) -> bool:
            try:
                return bool(pred(json.loads(p)))
            except (ValueError, TypeError, KeyError):
                return False

        return json.loads(self.wait_for("dialogd/test/status/detail", timeout, match))  # type: ignore[no-any-return]

    def online(self, timeout: float = 90.0) -> None:
        """dialogd says `online`: it knows the home and decides requests."""
        self.wait_for("dialogd/test/status", timeout, lambda p: p == b"online")


def private_broker_login(state_dir: Path, user: str = "local") -> tuple[str, str]:
    """A user of dialogd's private broker, from the credentials file it made."""
    import tomllib

    users = tomllib.loads((state_dir / "broker" / "credentials.toml").read_text())["users"]
    return user, str(users[user])


def reference_devices() -> str:
    """The shipped config's home: floors, areas and devices."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    return text[text.index("[[floors]]") :]


def write_config(
    path: Path,
    *,
    port: int | None,
    private_port: int | None = None,
    extra: str = "",
    devices: str | None = None,
) -> Path:
    """A config for tests; port=None means "no broker configured" (the private one)."""
    host = 'host = "127.0.0.1"\n' if port is not None else ""
    path.write_text(
        f"""site_id = "test"
[mqtt]
{host}port = {port if port is not None else (private_port or free_port())}
reconnect_max_s = 1
[llm]
model_path = "{STANDIN}"
state_dir = "{STATE_DIR}"
threads = 2
{extra}
{devices if devices is not None else reference_devices()}
""",
        encoding="utf-8",
    )
    return path


def need_model() -> None:
    if not STANDIN.is_file():
        pytest.fail(
            f"{STANDIN} is missing: run `dialogd models fetch --standin` (tests/run.sh does)"
        )


class DaemonProcess:
    """`dialogd run` in a child process, with its own systemd notify socket: tests wait on
    what it tells systemd (READY=1, STATUS=...), not on its log."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.log = config.with_suffix(".log")
        self._log_f = self.log.open("wb")
        self._notify_dir = tempfile.mkdtemp(prefix="dn-")  # AF_UNIX paths are short
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(f"{self._notify_dir}/n")
        self._notify.settimeout(0.2)
        self.notes: list[str] = []  # every assignment received, in order
        self._notes_cv = threading.Condition()
        self._reading = True
        self._reader = threading.Thread(target=self._read_notes, daemon=True)
        self._reader.start()
        self.proc = subprocess.Popen(
            [*DIALOGD, "run", "--config", str(config)],
            cwd=ROOT,
            stdout=self._log_f,
            stderr=subprocess.STDOUT,
            # A test that reads the notify socket itself passes its own.
            env={**os.environ, "NOTIFY_SOCKET": f"{self._notify_dir}/n", **(env or {})},
        )

    def _read_notes(self) -> None:
        while self._reading:
            try:
                data = self._notify.recv(4096)
            except (TimeoutError, OSError):
                continue
            with self._notes_cv:
                self.notes.extend(data.decode(errors="replace").splitlines())
                self._notes_cv.notify_all()

    def wait_note(self, pred: Callable[[str], bool], timeout: float = 60, after: int = 0) -> int:
        """Wait until dialogd tells systemd something `pred` accepts (an assignment such
        as "READY=1" or "STATUS=..."), among the notes from index `after`; its index."""
        deadline = time.monotonic() + timeout
        with self._notes_cv:
            while True:
                for i in range(after, len(self.notes)):
                    if pred(self.notes[i]):
                        return i
                if self.proc.poll() is not None:
                    raise AssertionError(f"dialogd exited {self.proc.returncode}:\n{self.output()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no such note within {timeout}s: {self.notes}")
                self._notes_cv.wait(min(left, 0.5))

    def wait_ready(self, timeout: float = 90) -> None:
        self.wait_note(lambda n: n == "READY=1", timeout)

    def wait_status(self, text: str, timeout: float = 60, after: int = 0) -> int:
        """Wait for a STATUS= note containing `text`; its index."""
        return self.wait_note(lambda n: n.startswith("STATUS=") and text in n, timeout, after)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_f.close()
        self._reading = False
        self._reader.join(2)
        self._notify.close()
        shutil.rmtree(self._notify_dir, ignore_errors=True)
        return self.proc.returncode
