"""The private broker: users, ACL, persistence and the supervisor, with a real mosquitto."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import queue
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from daemon.mqtt.broker import BrokerError, PrivateBroker, mosquitto_hash, port_open
from tests.conftest import ROOT, free_port, mosquitto_exe

Creds = tuple[str, str] | None


def connack(port: int, creds: Creds) -> ReasonCode:
    """The broker's answer to a CONNECT with these credentials (None: anonymous)."""
    got: queue.Queue[ReasonCode] = queue.Queue()
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    if creds is not None:
        c.username_pw_set(*creds)
    c.on_connect = lambda cl, u, f, rc, p: got.put(rc)
    c.connect("127.0.0.1", port, keepalive=10)
    c.loop_start()
    try:
        return got.get(timeout=10)
    finally:
        c.disconnect()
        c.loop_stop()


class Client:
    """A connected paho client (by user) that records what it receives."""

    def __init__(
        self,
        port: int,
        creds: Creds,
        subscribe: str | None = None,
        *,
        client_id: str = "",
        clean: bool = True,
    ) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
        )
        if creds is not None:
            self.c.username_pw_set(*creds)
        ready = threading.Event()

        def on_connect(cl: mqtt.Client, u: object, f: object, rc: ReasonCode, p: object) -> None:
            assert not rc.is_failure, rc
            if subscribe is None:
                ready.set()
            else:
                cl.subscribe(subscribe, qos=1)

        self.c.on_connect = on_connect
        self.c.on_subscribe = lambda cl, u, mid, rcs, p: ready.set()
        self.c.on_message = lambda cl, u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        assert ready.wait(10), "no CONNACK/SUBACK"

    def publish(self, topic: str, payload: bytes) -> None:
        self.c.publish(topic, payload, qos=1).wait_for_publish(5)

    def received(self, wait: float) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def kill_pid(pid: int | None) -> None:
    if pid is not None:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@asynccontextmanager
async def running(b: PrivateBroker) -> AsyncIterator[PrivateBroker]:
    """Start `b`; afterwards stop it, and kill by pid whatever mosquitto it left running."""
    pids: list[int] = []
    try:
        await b.start()
        pids.append(b.pid or 0)
        yield b
    finally:
        pids.append(b.pid or 0)
        await b.stop()
        for pid in pids:
            kill_pid(pid or None)


async def eventually(cond: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


def new_broker(state: Path, **kw: object) -> PrivateBroker:
    return PrivateBroker(free_port(), state_dir=state, **kw)  # type: ignore[arg-type]


# Users and files ------------------------------------------------------------------------


def test_refuses_anonymous_accepts_both_users_and_keeps_their_passwords(tmp_path: Path) -> None:
    async def main() -> None:
        b = new_broker(tmp_path)
        async with running(b):
            anon = await asyncio.to_thread(connack, b.port, None)
            assert anon.is_failure, "anonymous clients must be refused"
            for creds in (b.credentials, b.local_credentials):
                assert not (await asyncio.to_thread(connack, b.port, creds)).is_failure
            wrong = await asyncio.to_thread(connack, b.port, ("local", "guess"))
            assert wrong.is_failure
            first = (b.credentials, b.local_credentials)
        assert b.credentials[0] == "dialogd" and b.local_credentials[0] == "local"
        assert b.credentials[1] != b.local_credentials[1]

        path = tmp_path / "broker" / "credentials.toml"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "broker").stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "broker" / "passwd").stat().st_mode) == 0o600
        conf = (tmp_path / "broker" / "mosquitto.conf").read_text()
        for line in (
            "allow_anonymous false",
            "persistence true",
            f"persistence_location {tmp_path / 'broker'}/",
            "max_queued_messages 20000",
            "max_inflight_messages 100",
        ):
            assert line in conf.splitlines(), line

        again = new_broker(tmp_path)
        assert (again.credentials, again.local_credentials) == first
        async with running(again):
            assert not (await asyncio.to_thread(connack, again.port, first[0])).is_failure
        assert path.read_text().count(first[1][1]) >= 1

    asyncio.run(main())


def test_loose_credentials_file_is_made_private(tmp_path: Path) -> None:
    b = new_broker(tmp_path)
    creds = b.credentials
    path = tmp_path / "broker" / "credentials.toml"
    path.chmod(0o644)
    assert new_broker(tmp_path).credentials == creds
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_password_hash_is_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    exe = shutil.which("mosquitto_passwd")
    if exe is None:
        pytest.skip("mosquitto_passwd not installed")
    pwfile = tmp_path / "pw"
    pwfile.touch()
    subprocess.run([exe, "-b", str(pwfile), "alice", "s3cret pw"], check=True, timeout=30)
    user, hashed = pwfile.read_text().strip().split(":", 1)
    salt = base64.b64decode(hashed.split("$")[3])
    assert (user, mosquitto_hash("s3cret pw", salt)) == ("alice", hashed)


def test_port_taken_and_missing_mosquitto_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            b = PrivateBroker(s.getsockname()[1], state_dir=tmp_path)
            with pytest.raises(BrokerError, match="is taken by another program"):
                await b.start()
        monkeypatch.setattr("daemon.mqtt.broker.shutil.which", lambda name: None)
        monkeypatch.setattr("daemon.mqtt.broker.Path.exists", lambda self: False)
        with pytest.raises(BrokerError, match="mosquitto is not installed"):
            await new_broker(tmp_path).start()

    asyncio.run(main())


# ACL --------------------------------------------------------------------------------------


def test_only_dialogd_publishes_intents_and_everybody_reads(tmp_path: Path) -> None:
    async def main() -> None:
        b = new_broker(tmp_path, prefix="home")
        async with running(b):
            await asyncio.to_thread(acl_checks, b)

    def acl_checks(b: PrivateBroker) -> None:
        daemon = Client(b.port, b.credentials, "home/#")
        person = Client(b.port, b.local_credentials, "#")
        try:
            # `local` cannot pretend to be dialogd...
            for leaf in ("intent", "error", "status", "status/detail"):
                person.publish(f"home/x/{leaf}", b"forged")
            assert daemon.received(1.0) == [], "a forged intent reached dialogd's session"
            # ...nor write outside the request topics.
            person.publish("home/x/tts/audio", b"forged")
            person.publish("elsewhere/x", b"forged")
            assert daemon.received(0.3) == []
            assert person.received(0.2) == []
            # It sends requests, and reads what dialogd publishes.
            for leaf in ("text", "audio", "audio/end", "say"):
                person.publish(f"home/x/{leaf}", b"req")
            got = daemon.received(1.0)
            assert sorted(t for t, _ in got) == sorted(
                f"home/x/{leaf}" for leaf in ("text", "audio", "audio/end", "say")
            )
            person.received(0.2)  # its own requests, echoed back
            daemon.publish("home/x/intent", b'{"action": "turn_on"}')
            assert person.received(1.0) == [("home/x/intent", b'{"action": "turn_on"}')]
        finally:
            daemon.close()
            person.close()

    asyncio.run(main())


def test_a_new_prefix_moves_the_acl_without_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        b = new_broker(tmp_path)
        async with running(b):
            pid = b.pid
            await b.set_prefix("attic")
            await asyncio.sleep(0.3)  # mosquitto reloads the ACL on SIGHUP
            assert b.pid == pid
            await asyncio.to_thread(check, b)

    def check(b: PrivateBroker) -> None:
        daemon = Client(b.port, b.credentials, "attic/#")
        person = Client(b.port, b.local_credentials)
        try:
            person.publish("attic/x/intent", b"forged")
            person.publish("attic/x/text", b"hello")
            assert daemon.received(1.0) == [("attic/x/text", b"hello")]
        finally:
            daemon.close()
            person.close()

    asyncio.run(main())


# Persistence ------------------------------------------------------------------------------


def test_requests_queued_for_dialogd_survive_a_broker_restart(tmp_path: Path) -> None:
    async def main() -> None:
        b = new_broker(tmp_path)
        async with running(b):
            await asyncio.to_thread(subscribe_and_leave, b)
            await asyncio.to_thread(send, b, 50)
        async with running(b):
            got = await asyncio.to_thread(come_back, b)
        assert [p for _, p in got] == [f"req {i}".encode() for i in range(50)]

    def subscribe_and_leave(b: PrivateBroker) -> None:
        Client(b.port, b.credentials, "dialogd/+/text", client_id="dialogd-t", clean=False).close()

    def send(b: PrivateBroker, n: int) -> None:
        person = Client(b.port, b.local_credentials)
        for i in range(n):
            person.publish("dialogd/t/text", f"req {i}".encode())
        person.close()

    def come_back(b: PrivateBroker) -> list[tuple[str, bytes]]:
        daemon = Client(b.port, b.credentials, client_id="dialogd-t", clean=False)
        try:
            return daemon.received(2.0)
        finally:
            daemon.close()

    asyncio.run(main())


# Supervisor -------------------------------------------------------------------------------


def test_supervise_restarts_a_killed_mosquitto(tmp_path: Path) -> None:
    async def main() -> None:
        b = new_broker(tmp_path, restart_delay=(0.1, 1.0))
        async with running(b):
            task = asyncio.create_task(b.supervise())
            try:
                old = b.pid
                kill_pid(old)
                await eventually(lambda: b.pid not in (None, old) and port_open(b.host, b.port))
                ok = await asyncio.to_thread(connack, b.port, b.credentials)
                assert not ok.is_failure
                assert not task.done()
            finally:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    asyncio.run(main())


def test_failing_restarts_do_not_kill_the_supervisor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="daemon.mqtt.broker")

    def failures() -> list[str]:
        return [r.getMessage() for r in caplog.records if "cannot restart" in r.getMessage()]

    async def main() -> None:
        b = new_broker(tmp_path, restart_delay=(0.3, 0.6))
        async with running(b):
            task = asyncio.create_task(b.supervise())
            blocker = socket.socket()
            try:
                # 1. The port is taken meanwhile: refused restarts, retried.
                kill_pid(b.pid)
                blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                await eventually(lambda: _try_bind(blocker, b.port))
                blocker.listen()
                await eventually(lambda: len(failures()) >= 2)
                assert "is taken by another program" in failures()[0]
                assert not task.done()
                blocker.close()
                await eventually(lambda: b.pid is not None and port_open(b.host, b.port))
                assert not task.done()

                # 2. A restart that hangs (timed out by the supervisor), then one that
                # raises something unexpected: still supervised.
                real_start = b.start
                calls = 0

                async def flaky_start(timeout: float | None = None) -> None:
                    nonlocal calls
                    calls += 1
                    if calls == 1:
                        await asyncio.sleep(3600)
                    if calls == 2:
                        raise OSError("disk full")
                    await real_start(timeout)

                b.start = flaky_start  # type: ignore[method-assign]
                b.start_timeout = 0.2  # the supervisor gives start() 2 * 0.2 + 5 s
                kill_pid(b.pid)
                await eventually(lambda: any("no answer in 5.4 s" in m for m in failures()))
                b.start_timeout = 10.0
                await eventually(lambda: any("disk full" in m for m in failures()))
                await eventually(lambda: b.pid is not None and port_open(b.host, b.port))
                assert not task.done()
                ok = await asyncio.to_thread(connack, b.port, b.credentials)
                assert not ok.is_failure
            finally:
                blocker.close()
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    asyncio.run(main())


def test_stop_ends_supervise(tmp_path: Path) -> None:
    async def main() -> None:
        b = new_broker(tmp_path, restart_delay=(0.05, 0.1))
        async with running(b):
            task = asyncio.create_task(b.supervise())
            await asyncio.sleep(0.1)
            await b.stop()
            await asyncio.wait_for(task, 5)
            assert b.pid is None

    asyncio.run(main())


def _try_bind(s: socket.socket, port: int) -> bool:
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


# The example ACL for a shared broker -------------------------------------------------------


def test_shared_broker_acl_example(tmp_path: Path) -> None:
    """systemd/mosquitto-acl.conf: satellites publish only their own site's requests."""
    port = free_port()
    users = {u: f"pw-{u}" for u in ("dialogd", "kitchen", "attic", "homeassistant")}
    (tmp_path / "passwd").write_text(
        "".join(f"{u}:{mosquitto_hash(p)}\n" for u, p in users.items())
    )
    (tmp_path / "passwd").chmod(0o600)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\n"
        f"password_file {tmp_path / 'passwd'}\nacl_file {ROOT / 'systemd' / 'mosquitto-acl.conf'}\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    proc = subprocess.Popen(
        [mosquitto_exe(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", port):
            assert proc.poll() is None and time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)
        daemon = Client(port, ("dialogd", users["dialogd"]), "dialogd/#")
        kitchen = Client(port, ("kitchen", users["kitchen"]), "dialogd/#")
        ha = Client(port, ("homeassistant", users["homeassistant"]), "dialogd/#")
        try:
            kitchen.publish("dialogd/kitchen/intent", b"forged")
            kitchen.publish("dialogd/attic/text", b"not my site")
            kitchen.publish("dialogd/kitchen/text", b"lights on")
            assert daemon.received(1.0) == [("dialogd/kitchen/text", b"lights on")]
            daemon.publish("dialogd/attic/intent", b"attic's")
            daemon.publish("dialogd/kitchen/intent", b"kitchen's")
            assert [t for t, _ in kitchen.received(1.0)] == [
                "dialogd/kitchen/text",
                "dialogd/kitchen/intent",
            ]
            assert len(ha.received(0.5)) == 3  # HA reads everything that got through
        finally:
            for c in (daemon, kitchen, ha):
                c.close()
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
