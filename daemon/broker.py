"""A private Mosquitto on 127.0.0.1 for when no broker is configured.

As Rhasspy's internal broker: a new user gets a working daemon at once, and hubs on
the same machine can talk to it. It lives and dies with dialogd.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
from pathlib import Path

_LOG = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    pass


class PrivateBroker:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._proc: asyncio.subprocess.Process | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    async def start(self, timeout: float = 10.0) -> None:
        exe = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if exe is None:
            raise BrokerError(
                "no MQTT broker configured and mosquitto is not installed: "
                "`sudo apt-get install mosquitto`, or set [mqtt] host"
            )
        if self._dir is not None:
            self._dir.cleanup()
        if port_open(self.host, self.port):
            raise BrokerError(
                f"port {self.port} on {self.host} is taken by another program; if it is a "
                f'broker, set [mqtt] host = "{self.host}", else pick another [mqtt] port'
            )
        self._dir = tempfile.TemporaryDirectory(prefix="dialogd-mosquitto-")
        conf = Path(self._dir.name) / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} {self.host}\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\n"
        )
        self._proc = await asyncio.create_subprocess_exec(
            exe, "-c", str(conf), stdin=asyncio.subprocess.DEVNULL
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while not port_open(self.host, self.port):
            if self._proc.returncode is not None:
                raise BrokerError(f"private mosquitto exited with code {self._proc.returncode}")
            if asyncio.get_running_loop().time() > deadline:
                await self.stop()
                raise BrokerError(f"private mosquitto did not listen on {self.port} in {timeout}s")
            await asyncio.sleep(0.05)
        _LOG.info(
            "private MQTT broker (mosquitto pid %d) on %s:%d", self._proc.pid, self.host, self.port
        )

    async def supervise(self) -> None:
        """Long-lived task: restart the broker if it dies (paho then reconnects)."""
        while True:
            assert self._proc is not None
            code = await self._proc.wait()
            _LOG.error("private mosquitto exited with code %s; restarting it in 1 s", code)
            await asyncio.sleep(1)
            try:
                await self.start()
            except BrokerError as exc:
                _LOG.error("cannot restart the private broker: %s; retrying in 10 s", exc)
                await asyncio.sleep(10)

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0
