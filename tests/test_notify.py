"""daemon.ops.notify (sd_notify protocol, watchdog) and daemon.ops.logsetup (journald priorities).

A real AF_UNIX datagram socket stands in for systemd's notify socket: the test binds it,
points NOTIFY_SOCKET at it and reads what the Notifier sends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.ops.logsetup import setup_logging, syslog_priority
from daemon.ops.notify import Notifier, watchdog_task

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test run itself may live under systemd (CI runners do): start from nothing.
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound datagram socket with NOTIFY_SOCKET pointing at it (a short path: AF_UNIX
    paths are limited to 107 bytes, and pytest's tmp_path can be longer)."""
    folder = tempfile.mkdtemp(prefix="dialogd-nfy-")
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    try:
        yield sock
    finally:
        sock.close()
        shutil.rmtree(folder, ignore_errors=True)


def recv(sock: socket.socket) -> list[str]:
    return sock.recv(4096).decode().split("\n")


def drain(sock: socket.socket) -> list[list[str]]:
    """Every datagram waiting in the queue, without blocking."""
    out: list[list[str]] = []
    sock.setblocking(False)
    try:
        while True:
            out.append(sock.recv(4096).decode().split("\n"))
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(2.0)
    return out


# ---- Notifier ----------------------------------------------------------------------------


def test_ready_sends_ready_and_status(notify_socket: socket.socket) -> None:
    n = Notifier()
    assert n.enabled
    assert n.ready("model loaded") is True
    assert recv(notify_socket) == ["READY=1", "STATUS=model loaded"]
    n.close()


def test_status_watchdog_stopping_reloading(notify_socket: socket.socket) -> None:
    n = Notifier()
    n.ready()
    assert recv(notify_socket) == ["READY=1"]
    n.status("listening on mqtt")
    assert recv(notify_socket) == ["STATUS=listening on mqtt"]
    n.watchdog()
    assert recv(notify_socket) == ["WATCHDOG=1"]
    n.reloading("reloading config")
    assert recv(notify_socket) == ["RELOADING=1", "STATUS=reloading config"]
    n.stopping("draining 2 requests")
    assert recv(notify_socket) == ["STOPPING=1", "STATUS=draining 2 requests"]
    n.extend_timeout(90)
    assert recv(notify_socket) == ["EXTEND_TIMEOUT_USEC=90000000"]
    n.close()


def test_status_newlines_cannot_inject_assignments(notify_socket: socket.socket) -> None:
    n = Notifier()
    n.status("line one\nREADY=1")
    assert recv(notify_socket) == ["STATUS=line one READY=1"]
    n.close()


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"dialogd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        n = Notifier()
        assert n.ready("abstract")
        assert recv(sock) == ["READY=1", "STATUS=abstract"]
        n.close()


def test_explicit_environ_mapping(notify_socket: socket.socket) -> None:
    path = os.environ["NOTIFY_SOCKET"]
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"})
    assert n.watchdog_interval() == 2.0
    n.watchdog()
    assert recv(notify_socket) == ["WATCHDOG=1"]
    n.close()


def test_noop_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # without a socket, no watchdog either
    n = Notifier()
    assert not n.enabled
    assert n.ready("x") is False
    assert n.status("x") is False
    assert n.watchdog() is False
    assert n.stopping() is False
    assert n.watchdog_interval() is None
    assert n._sock is None  # not even a socket was created

    started = time.monotonic()
    asyncio.run(asyncio.wait_for(watchdog_task(n), timeout=5))  # returns at once
    assert time.monotonic() - started < 1


def test_send_failure_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/dialogd/notify")
    n = Notifier()
    with caplog.at_level(logging.WARNING, logger="daemon.ops.notify"):
        assert n.ready() is False
        assert n.watchdog() is False
    assert len([r for r in caplog.records if "sd_notify" in r.getMessage()]) == 1


def test_relative_notify_socket_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "relative/path")
    assert not Notifier().enabled


def test_watchdog_interval(notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Notifier().watchdog_interval() is None  # WatchdogSec= not set

    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert Notifier().watchdog_interval() == 15.0

    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert Notifier().watchdog_interval() == 15.0

    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert Notifier().watchdog_interval() is None

    monkeypatch.delenv("WATCHDOG_PID")
    for bad in ("0", "-5", "soon", ""):
        monkeypatch.setenv("WATCHDOG_USEC", bad)
        assert Notifier().watchdog_interval() is None


def test_unset_environment(notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    n = Notifier(unset_environment=True)
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        assert key not in os.environ  # children (the private mosquitto) won't inherit it
    assert n.enabled and n.watchdog_interval() == 1.0
    n.ready()
    assert recv(notify_socket) == ["READY=1"]
    n.close()
    assert not Notifier().enabled


# ---- watchdog_task -----------------------------------------------------------------------


def _run_watchdog_for(
    notifier: Notifier, seconds: float, alive: Callable[[], bool] | None = None
) -> None:
    async def main() -> None:
        task = asyncio.create_task(watchdog_task(notifier, alive))
        await asyncio.sleep(seconds)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_watchdog_task_pings_periodically(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # 0.1 s: ping every 0.05 s
    n = Notifier()
    assert n.watchdog_interval() == 0.05
    _run_watchdog_for(n, 0.5)
    pings = drain(notify_socket)
    assert all(p == ["WATCHDOG=1"] for p in pings)
    assert 4 <= len(pings) <= 15, len(pings)
    n.close()


def test_watchdog_task_withholds_pings_while_unhealthy(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    n = Notifier()
    _run_watchdog_for(n, 0.3, alive=lambda: False)
    assert drain(notify_socket) == []

    def broken() -> bool:
        raise RuntimeError("health check bug")

    _run_watchdog_for(n, 0.3, alive=broken)
    assert drain(notify_socket) == []

    _run_watchdog_for(n, 0.3, alive=lambda: True)
    assert len(drain(notify_socket)) >= 3
    n.close()


def test_blocked_event_loop_stops_the_pings(
    notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point of pinging from the loop: a loop stuck in blocking code goes quiet."""
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    n = Notifier()

    async def main() -> None:
        task = asyncio.create_task(watchdog_task(n))
        await asyncio.sleep(0)  # first ping
        time.sleep(0.6)  # the loop is wedged: 12 intervals pass without a ping
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(drain(notify_socket)) == 1
    n.close()


# ---- setup_logging -----------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                h.close()
        root.setLevel(level)
        logging.captureWarnings(False)


def _journal_stream_of(path: Path) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


@pytest.mark.usefixtures("restore_logging")
def test_journal_priorities_when_journald_reads_us(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stderr"
    with path.open("w") as out:
        monkeypatch.setenv("JOURNAL_STREAM", _journal_stream_of(path))
        setup_logging("info", stream=out)
        log = logging.getLogger("daemon.test")
        log.debug("hidden")
        log.info("model loaded")
        log.warning("broker slow")
        log.error("serial gone")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("request failed")
        logging.getLogger("paho").info("third-party chatter")  # quieted at INFO
    lines = path.read_text().splitlines()
    assert lines[:3] == [
        "<6>daemon.test: model loaded",
        "<4>daemon.test: broker slow",
        "<3>daemon.test: serial gone",
    ]
    assert lines[3] == "<3>daemon.test: request failed"
    # Every traceback line keeps the error priority: journald makes one entry per line.
    assert len(lines) > 5 and all(line.startswith("<3>") for line in lines[3:])
    assert lines[-1] == "<3>ValueError: boom"
    assert not any("hidden" in line or "chatter" in line for line in lines)


@pytest.mark.usefixtures("restore_logging")
def test_debug_level_gets_debug_priority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stderr"
    with path.open("w") as out:
        monkeypatch.setenv("JOURNAL_STREAM", _journal_stream_of(path))
        setup_logging("DEBUG", stream=out)
        logging.getLogger("daemon.test").debug("details")
        logging.getLogger("daemon.test").critical("dying")
    assert path.read_text().splitlines() == ["<7>daemon.test: details", "<2>daemon.test: dying"]


@pytest.mark.usefixtures("restore_logging")
def test_plain_format_without_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stderr"
    with path.open("w") as out:
        setup_logging("INFO", stream=out)
        logging.getLogger("daemon.test").info("hello")
    (line,) = path.read_text().splitlines()
    assert not line.startswith("<")
    # 2024-05-01 12:00:00,123 INFO    daemon.test: hello
    date, clock, level, rest = line.split(None, 3)
    assert len(date) == 10 and date[4] == "-" and ":" in clock
    assert level == "INFO" and rest == "daemon.test: hello"


@pytest.mark.usefixtures("restore_logging")
def test_journal_stream_naming_another_file_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child whose stderr was redirected inherits JOURNAL_STREAM but isn't journald's."""
    other = tmp_path / "other"
    other.touch()
    monkeypatch.setenv("JOURNAL_STREAM", _journal_stream_of(other))
    path = tmp_path / "stderr"
    with path.open("w") as out:
        setup_logging("INFO", stream=out)
        logging.getLogger("daemon.test").info("hello")
    assert not path.read_text().startswith("<")


@pytest.mark.usefixtures("restore_logging")
def test_setup_logging_is_idempotent_and_rejects_bad_levels(tmp_path: Path) -> None:
    path = tmp_path / "stderr"
    with path.open("w") as out:
        setup_logging("INFO", stream=out)
        setup_logging("WARNING", stream=out)
        ours = [h for h in logging.getLogger().handlers if getattr(h, "_dialogd_handler", False)]
        assert len(ours) == 1
        assert logging.getLogger().level == logging.WARNING
        logging.getLogger("daemon.test").info("not shown")
    assert path.read_text() == ""
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("LOUD")


def test_syslog_priority_mapping() -> None:
    assert [syslog_priority(lv) for lv in (10, 20, 30, 40, 50)] == [7, 6, 4, 3, 2]


def test_stderr_default_under_simulated_journald(tmp_path: Path) -> None:
    """End to end, as systemd runs us: stderr is the journal stream and JOURNAL_STREAM
    names it; setup_logging() with no stream argument must notice."""
    path = tmp_path / "journal"
    code = (
        "import logging; from daemon.ops.logsetup import setup_logging; "
        "setup_logging('INFO'); logging.getLogger('daemon.app').info('ready')"
    )
    with path.open("w") as err:
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        env["JOURNAL_STREAM"] = _journal_stream_of(path)
        subprocess.run(
            [sys.executable, "-c", code], stderr=err, env=env, cwd=REPO, check=True, timeout=60
        )
    assert path.read_text().splitlines() == ["<6>daemon.app: ready"]
