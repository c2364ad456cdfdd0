"""A private Mosquitto on 127.0.0.1 for when no broker is configured.

As Rhasspy's internal broker: a new user gets a working daemon at once, and hubs on
the same machine can talk to it. It lives and dies with dialogd.

It is not anonymous: everything lives in `<state_dir>/broker/`:

* `credentials.toml` (0600): random passwords of two users, made at the first start and
  reused after: `dialogd` (the daemon itself) and `local` (people's mosquitto_pub/sub,
  hubs on this machine).
* `passwd` (0600): the same, hashed as mosquitto 2.0 wants (PBKDF2-SHA512, `$7$`).
* `acl`: only `dialogd` publishes intents, errors and status; `local` publishes requests
  (text, audio, say) and reads everything.
* `mosquitto.conf`, and `mosquitto.db`: persistent sessions and their queued messages
  survive a broker restart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import secrets
import shutil
import signal
import socket
import time
import tomllib
from contextlib import suppress
from pathlib import Path

from daemon.config.settings import Settings

_LOG = logging.getLogger(__name__)

DAEMON_USER = "dialogd"
LOCAL_USER = "local"
# Requests (see mqtt.Topics.inbound): what `local` may publish. Everything else under the
# prefix (intent, error, status, status/detail, asr/partial, tts/audio) is dialogd's alone.
INPUT_LEAVES = ("text", "audio", "audio/end", "say")

# A persistent session's queue in the broker, per client. Larger on purpose than the
# daemon's admission bound ([request] queue_size, 500 by default, at most 100,000 but
# rarely raised): while dialogd restarts (model load: seconds) the broker holds what
# arrives, and audio streams count one message per chunk. Every request must reach the
# daemon, which answers the ones beyond its bound with an explicit `busy` error; a
# message dropped here would get no answer at all.
MAX_QUEUED_MESSAGES = 20_000
# QoS 1/2 messages in flight to one client at a time: enough to drain a queue quickly.
MAX_INFLIGHT_MESSAGES = 100
_PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes


class BrokerError(RuntimeError):
    pass


class PrivateBroker:
    def __init__(
        self,
        port: int,
        *,
        state_dir: Path,
        prefix: str = "dialogd",
        host: str = "127.0.0.1",
        restart_delay: tuple[float, float] = (1.0, 30.0),
        stable_after_s: float = 30.0,
    ) -> None:
        """`restart_delay` is supervise()'s back-off (first, longest wait); a broker that
        ran `stable_after_s` before dying restarts after the first wait again."""
        _check_topic_part(prefix)
        self.host, self.port = host, port
        self.prefix = prefix
        self.dir = Path(state_dir) / "broker"
        self.restart_delay = restart_delay
        self.stable_after_s = stable_after_s
        self.start_timeout = 10.0
        self._proc: asyncio.subprocess.Process | None = None
        self._users: dict[str, str] | None = None
        self._started_at = 0.0
        self._closing = False

    # credentials --------------------------------------------------------------

    @property
    def credentials_file(self) -> Path:
        return self.dir / "credentials.toml"

    @property
    def credentials(self) -> tuple[str, str]:
        """(user, password) for dialogd itself: pass to mqtt_security.configure()."""
        return DAEMON_USER, self._load_users()[DAEMON_USER]

    @property
    def local_credentials(self) -> tuple[str, str]:
        """(user, password) for people and local hubs: publish requests, read everything."""
        return LOCAL_USER, self._load_users()[LOCAL_USER]

    def _load_users(self) -> dict[str, str]:
        """Read credentials.toml, or make it with new random passwords (first start)."""
        if self._users is not None:
            return self._users
        path = self.credentials_file
        users: dict[str, str] | None = None
        try:
            with path.open("rb") as f:
                table = tomllib.load(f).get("users")
            table = table if isinstance(table, dict) else {}
            if all(isinstance(table.get(u), str) and table[u] for u in (DAEMON_USER, LOCAL_USER)):
                users = {u: table[u] for u in (DAEMON_USER, LOCAL_USER)}
            else:
                _LOG.warning("%s lacks a user; making new passwords", path)
        except FileNotFoundError:
            pass
        except tomllib.TOMLDecodeError as exc:
            _LOG.warning("%s is not valid TOML (%s); making new passwords", path, exc)
        except OSError as exc:
            raise BrokerError(
                f"cannot read the private broker's credentials {path}: {exc}"
            ) from None
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if users is None:
                users = {u: secrets.token_urlsafe(24) for u in (DAEMON_USER, LOCAL_USER)}
                _write_private(path, _credentials_toml(users, path, self.port, self.prefix))
                _LOG.info("private broker: new credentials in %s", path)
            elif path.stat().st_mode & 0o077:
                _LOG.warning("%s was readable by others; making it 0600", path)
                path.chmod(0o600)
        except OSError as exc:
            raise BrokerError(
                f"cannot write the private broker's files in {self.dir}: {exc}"
            ) from None
        self._users = users
        return users

    # files --------------------------------------------------------------------

    def _write_files(self) -> Path:
        users = self._load_users()
        try:
            _write_private(
                self.dir / "passwd",
                "".join(f"{u}:{mosquitto_hash(p)}\n" for u, p in users.items()),
            )
            _write_private(self.dir / "acl", acl_text(self.prefix))
            conf = self.dir / "mosquitto.conf"
            _write_private(conf, self._conf_text())
        except OSError as exc:
            raise BrokerError(
                f"cannot write the private broker's files in {self.dir}: {exc}"
            ) from None
        return conf

    def _conf_text(self) -> str:
        d = self.dir
        return (
            "# Written by dialogd at each start of its private broker: edits are lost.\n"
            f"listener {self.port} {self.host}\n"
            "allow_anonymous false\n"
            f"password_file {d / 'passwd'}\n"
            f"acl_file {d / 'acl'}\n"
            "persistence true\n"
            f"persistence_location {d}/\n"
            # Saved on a clean stop anyway; this bounds what a crash (or kill -9) loses.
            "autosave_interval 30\n"
            "# Far above [request] queue_size: the daemon, not the broker, turns a flood\n"
            "# away, with an explicit `busy` answer to each request (see daemon/mqtt/broker.py).\n"
            f"max_queued_messages {MAX_QUEUED_MESSAGES}\n"
            f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}\n"
            "log_dest stderr\nlog_type error\nlog_type warning\n"
            # Started as root, mosquitto would become the `mosquitto` user, which cannot read
            # our 0600 files; it is our child and runs as we do (dialogd under systemd).
            + ("user root\n" if os.geteuid() == 0 else "")
        )

    async def set_prefix(self, prefix: str) -> None:
        """A new [mqtt] prefix (SIGHUP): rewrite the ACL and have mosquitto reload it."""
        _check_topic_part(prefix)
        self.prefix = prefix
        try:
            _write_private(self.dir / "acl", acl_text(prefix))
        except OSError as exc:
            raise BrokerError(f"cannot write the private broker's ACL: {exc}") from None
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGHUP)

    # process ------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The running mosquitto's pid, if any."""
        if self._proc is None or self._proc.returncode is not None:
            return None
        return self._proc.pid

    async def start(self, timeout: float | None = None) -> None:
        timeout = self.start_timeout if timeout is None else timeout
        exe = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if exe is None:
            raise BrokerError(
                "no MQTT broker configured and mosquitto is not installed: "
                "`sudo apt-get install mosquitto`, or set [mqtt] host"
            )
        if port_open(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is taken by another program; if it is a "
                f'broker, set [mqtt] host = "{self.host}", else pick another [mqtt] port'
            )
        conf = self._write_files()
        self._closing = False
        self._proc = await asyncio.create_subprocess_exec(
            exe, "-c", str(conf), stdin=asyncio.subprocess.DEVNULL
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not port_open(self.host, self.port):
            if self._proc.returncode is not None:
                raise BrokerError(f"private mosquitto exited with code {self._proc.returncode}")
            if loop.time() > deadline:
                await self._terminate()
                raise BrokerError(f"private mosquitto did not listen on {self.port} in {timeout}s")
            await asyncio.sleep(0.05)
        self._started_at = time.monotonic()
        _LOG.info(
            "private MQTT broker (mosquitto pid %d) on %s:%d, users %s and %s (%s)",
            self._proc.pid,
            self.host,
            self.port,
            DAEMON_USER,
            LOCAL_USER,
            self.credentials_file,
        )

    async def supervise(self) -> None:
        """Long-lived task: restart the broker if it dies (paho then reconnects).

        A restart that fails or times out is logged and retried with back-off; nothing
        but cancellation ends this task.
        """
        first, longest = self.restart_delay
        delay = first
        while True:
            proc = self._proc
            if proc is not None:
                code = await proc.wait()
                if self._closing:
                    return
                ran = time.monotonic() - self._started_at
                if ran >= self.stable_after_s:
                    delay = first
                _LOG.error(
                    "private mosquitto exited with code %s; restarting it in %g s", code, delay
                )
            while True:
                await asyncio.sleep(delay)
                if self._closing:
                    return
                delay = min(delay * 2, longest)
                # start() has its own deadline for mosquitto to listen; this one bounds
                # anything else that could hang (stopping a stuck process included).
                bound = 2 * self.start_timeout + 5
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 a cancel that lands as
                    # start() finishes is lost in wait_for, and this task, which only a
                    # cancel ends, would then wait on the new mosquitto forever.
                    async with asyncio.timeout(bound):
                        await self.start()
                    break
                except Exception as exc:  # BrokerError, OSError, anything: retry, never die
                    why = f"no answer in {bound:g} s" if isinstance(exc, TimeoutError) else exc
                    _LOG.error(
                        "cannot restart the private broker: %s; retrying in %g s", why, delay
                    )
                    try:
                        await self._terminate()
                    except Exception as exc2:
                        _LOG.error("cannot stop the failed private mosquitto: %s", exc2)

    async def stop(self) -> None:
        """Stop mosquitto for good: a running supervise() returns instead of restarting."""
        self._closing = True
        await self._terminate()

    async def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with suppress(ProcessLookupError):  # it died meanwhile
                proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                with suppress(ProcessLookupError):
                    proc.kill()
                try:
                    # Bounded too: stopping must never hang the daemon's shutdown.
                    async with asyncio.timeout(5):
                        await proc.wait()
                except TimeoutError:
                    _LOG.error("private mosquitto (pid %d) did not exit after SIGKILL", proc.pid)


def acl_text(prefix: str) -> str:
    """The private broker's ACL: dialogd's outputs are dialogd's alone."""
    lines = [
        "# Written by dialogd at each start of its private broker: edits are lost.",
        "# dialogd: its own topics, and the requests it subscribes to.",
        f"user {DAEMON_USER}",
        f"topic readwrite {prefix}/#",
        # Home integration: discovery, device state and commands, its own discovery
        # configs, Hermes. Only dialogd itself has this user.
        "topic readwrite #",
        "",
        "# local: people and hubs on this machine: send requests, read everything.",
        f"user {LOCAL_USER}",
        "topic read #",
        "topic read $SYS/#",
        *(f"topic write {prefix}/+/{leaf}" for leaf in INPUT_LEAVES),
        "",
    ]
    return "\n".join(lines)


def mosquitto_hash(password: str, salt: bytes | None = None) -> str:
    """A password hash in mosquitto 2.0's password_file format (as `mosquitto_passwd`)."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS, 64)
    b64 = base64.b64encode
    return f"$7${_PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def _credentials_toml(users: dict[str, str], path: Path, port: int, prefix: str) -> str:
    password = f"$(sed -n 's/^{LOCAL_USER} = \"\\(.*\\)\"$/\\1/p' {path})"
    return (
        "# The private MQTT broker's users, made by dialogd at its first start.\n"
        "# Delete this file and restart dialogd for new passwords.\n"
        "# A request from a shell (SITE: dialogd's site_id):\n"
        f'#   mosquitto_pub -p {port} -u {LOCAL_USER} -P "{password}" \\\n'
        f"#     -t {prefix}/SITE/text -m 'turn on the kitchen light'\n"
        "[users]\n" + "".join(f'{u} = "{p}"\n' for u, p in users.items())
    )


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by this user only (0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_topic_part(prefix: str) -> None:
    if not prefix or any(c in prefix for c in "#+\n\r\0") or prefix != prefix.strip():
        raise BrokerError(f"[mqtt] prefix {prefix!r} cannot go into the broker's ACL")


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


async def start_broker(s: Settings) -> tuple[str, PrivateBroker | None]:
    """The broker to use: the configured one; else a server already on the port (say
    Debian's own mosquitto service, started when the package was installed), else a
    private one that dialogd starts and supervises."""
    if s.mqtt.host is not None:
        return s.mqtt.host, None
    host = "127.0.0.1"
    if port_open(host, s.mqtt.port):
        _LOG.warning(
            "no [mqtt] host configured, but a server already listens on %s:%d; "
            "using it as the broker instead of starting a private one",
            host,
            s.mqtt.port,
        )
        return host, None
    broker = PrivateBroker(s.mqtt.port, state_dir=s.state_dir, prefix=s.mqtt.prefix)
    await broker.start()
    return host, broker
