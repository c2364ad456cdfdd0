"""A real Home Assistant core for the tests: installed by tests/run.sh into its own
Python 3.13 venv (HASS_PYTHON), started on a free port with its `demo` integration as the
home, onboarded through its REST API, and given a long-lived token over its websocket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from tests.conftest import free_port

HASS_VERSION = "2025.4.4"
HASS_PYTHON = Path(
    os.environ.get(
        "HASS_PYTHON", Path.home() / ".cache/dialogd" / f"hass-{HASS_VERSION}" / "bin/python"
    )
)
CLIENT_ID = "http://dialogd.test/"
# What the tests need of HA, and little else (default_config would start dozens of
# integrations and take a minute longer).
CONFIGURATION = """\
homeassistant:
  name: Test Home
  unit_system: metric
  time_zone: UTC
  latitude: 0
  longitude: 0
  elevation: 0
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
auth:
websocket_api:
conversation:
assist_pipeline:
stt:
tts:
demo:
logger:
  default: warning
"""


def available() -> bool:
    return HASS_PYTHON.is_file()


class HassCore:
    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = config_dir / "hass.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""

    def start(self, timeout: float = 240) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        conf = self.config_dir / "configuration.yaml"
        if not conf.exists():
            conf.write_text(CONFIGURATION.format(port=self.port))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(HASS_PYTHON), "-m", "homeassistant", "-c", str(self.config_dir),
                 "--skip-pip", "--log-no-color"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Home Assistant exited:\n{self.output()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/onboarding", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # any answer means its HTTP server is up (onboarded: 404)
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"Home Assistant not up in {timeout}s:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    # ------------------------------------------------------------------- onboarding

    def onboard(self) -> str:
        """The owner user, the rest of onboarding, then a long-lived token."""
        user = self._post(
            "/api/onboarding/users",
            {"client_id": CLIENT_ID, "name": "Owner", "username": "owner",
             "password": "dialogd-test", "language": "en"},
        )  # fmt: skip
        access = self._token(user["auth_code"])
        self._post("/api/onboarding/core_config", {}, access)
        self._post("/api/onboarding/analytics", {}, access)
        self._post(
            "/api/onboarding/integration",
            {"client_id": CLIENT_ID, "redirect_uri": CLIENT_ID},
            access,
        )
        self.token = self.ws(
            access,
            {"type": "auth/long_lived_access_token", "client_name": "dialogd", "lifespan": 30},
        )
        return self.token

    def _token(self, code: str) -> str:
        data = urllib.parse.urlencode(
            {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID}
        ).encode()
        req = urllib.request.Request(f"{self.url}/auth/token", data=data, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return str(json.loads(r.read())["access_token"])

    def _post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(
            f"{self.url}{path}", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def rest(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET (or POST with `body`) on the REST API, as the owner."""
        if body is not None:
            return self._post(path, body, self.token)
        req = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def raw(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> bytes:
        """A request with a raw body (audio) or a GET of raw bytes, as the owner."""
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
            method="POST" if data is not None else "GET",
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            return bytes(r.read())

    def add_wyoming(self, port: int) -> str:
        """HA's own wyoming config flow, pointed at dialogd; the new entry's id."""
        flow = self.rest("/api/config/config_entries/flow", {"handler": "wyoming"})
        done = self.rest(
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"host": "127.0.0.1", "port": port},
        )
        if done.get("type") != "create_entry":
            raise RuntimeError(f"wyoming config flow: {done}")
        return str(done["result"]["entry_id"])

    def entities_of(self, entry_id: str, domain: str, timeout: float = 30) -> list[str]:
        """The entities a config entry made in `domain`, once it made some."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.ws(None, {"type": "config/entity_registry/list"})
            found = [
                e["entity_id"]
                for e in entries
                if e.get("config_entry_id") == entry_id and e["entity_id"].startswith(f"{domain}.")
            ]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def remove_entry(self, entry_id: str) -> None:
        req = urllib.request.Request(
            f"{self.url}/api/config/config_entries/entry/{entry_id}",
            headers={"Authorization": f"Bearer {self.token}"},
            method="DELETE",
        )
        with urllib.request.urlopen(req, timeout=30):
            pass

    def ws(self, token: str | None, command: dict[str, Any]) -> Any:
        """One websocket command, as the owner; its result."""
        with connect(f"ws://127.0.0.1:{self.port}/api/websocket") as ws:
            json.loads(ws.recv())
            ws.send(json.dumps({"type": "auth", "access_token": token or self.token}))
            if json.loads(ws.recv()).get("type") != "auth_ok":
                raise RuntimeError("Home Assistant refused the token")
            ws.send(json.dumps({**command, "id": 1}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == 1 and msg.get("type") == "result":
                    if not msg.get("success"):
                        raise RuntimeError(f"{command['type']}: {msg.get('error')}")
                    return msg.get("result")

    def state(self, entity_id: str) -> dict[str, Any]:
        return self.rest(f"/api/states/{entity_id}")  # type: ignore[no-any-return]

    def wait_state(self, entity_id: str, state: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                now = self.state(entity_id)
            except urllib.error.HTTPError as exc:  # 404: the entity is not there yet
                if exc.code != 404 or time.monotonic() > deadline:
                    raise
                now = {}
            if now.get("state") == state:
                return now
            if time.monotonic() > deadline:
                raise TimeoutError(f"{entity_id} is {now.get('state')!r}, not {state!r}")
            time.sleep(0.2)
