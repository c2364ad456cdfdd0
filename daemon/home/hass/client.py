"""One websocket connection to Home Assistant, kept up for as long as dialogd runs.

Home Assistant's websocket API (developers.home-assistant.io/docs/api/websocket): the
server says `auth_required`, the client answers with its access token, then every
command carries an id and gets a `result` with the same id; subscriptions deliver
`event` messages with theirs. On every (re)connect the caller's `on_connect` runs again
(read the registries, subscribe), as Home Assistant's own clients do. A refused token
is logged once, clearly, and retried slowly; anything else backs off from 1 s to 60 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

_LOG = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 15.0
MAX_BACKOFF_S = 60.0
MAX_MESSAGE = 64 * 1024 * 1024  # registries of a big home run to megabytes


class HassError(Exception):
    """Home Assistant answered a command with an error, or is not reachable."""


class AuthError(HassError):
    pass


Event = dict[str, Any]


class HassClient:
    def __init__(
        self,
        url: str,
        token: str,
        on_connect: Callable[[HassClient], Awaitable[None]],
        on_event: Callable[[Event], None],
    ) -> None:
        self.url = websocket_url(url)
        self._token = token  # never logged
        self.on_connect = on_connect
        self.on_event = on_event
        self.connected = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}

    async def run(self) -> None:
        """Connect, authenticate, serve; on any failure log, wait, and connect again."""
        delay = 1.0
        refused = False
        while True:
            try:
                async with connect(self.url, max_size=MAX_MESSAGE, open_timeout=10) as ws:
                    await self._authenticate(ws)
                    if refused:
                        _LOG.info("Home Assistant accepts the token now")
                    refused, delay = False, 1.0
                    self._ws = ws
                    _LOG.info("connected to Home Assistant at %s", self.url)
                    reader = asyncio.create_task(self._read(ws), name="hass-reader")
                    try:
                        self.connected.set()
                        await self.on_connect(self)
                        await reader
                    finally:
                        reader.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await reader
            except asyncio.CancelledError:
                raise
            except AuthError as exc:
                if not refused:
                    _LOG.error(
                        "Home Assistant at %s refused the access token (%s): check "
                        "[homeassistant] token_file; retrying every %.0f s",
                        self.url,
                        exc,
                        MAX_BACKOFF_S,
                    )
                refused, delay = True, MAX_BACKOFF_S
            except (OSError, WebSocketException, HassError, TimeoutError) as exc:
                _LOG.warning(
                    "Home Assistant at %s: %s; connecting again in %.0f s",
                    self.url,
                    exc or type(exc).__name__,
                    delay,
                )
            finally:
                self._lost()
            await asyncio.sleep(delay)
            delay = min(MAX_BACKOFF_S, delay * 2)

    async def _authenticate(self, ws: ClientConnection) -> None:
        hello = json.loads(await asyncio.wait_for(ws.recv(), COMMAND_TIMEOUT_S))
        if hello.get("type") != "auth_required":
            raise HassError(f"unexpected greeting {hello.get('type')!r}")
        await ws.send(json.dumps({"type": "auth", "access_token": self._token}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), COMMAND_TIMEOUT_S))
        if answer.get("type") == "auth_invalid":
            raise AuthError(str(answer.get("message", "auth_invalid")))
        if answer.get("type") != "auth_ok":
            raise HassError(f"unexpected answer to auth: {answer.get('type')!r}")

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                msg = json.loads(raw)
            except ValueError:
                _LOG.warning("Home Assistant sent something that is not JSON; ignored")
                continue
            for one in msg if isinstance(msg, list) else [msg]:
                self._dispatch(one)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "event":
            try:
                self.on_event(msg.get("event") or {})
            except Exception:  # one bad event must not end the connection
                _LOG.exception("a Home Assistant event could not be handled")
        elif kind == "result":
            fut = self._waiting.pop(int(msg.get("id", -1)), None)
            if fut is None or fut.done():
                return
            if msg.get("success"):
                fut.set_result(msg.get("result"))
            else:
                err = msg.get("error") or {}
                fut.set_exception(HassError(f"{err.get('code')}: {err.get('message')}"))

    def _lost(self) -> None:
        self._ws = None
        self.connected.clear()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(HassError("the connection to Home Assistant was lost"))
        self._waiting.clear()

    async def command(self, body: dict[str, Any]) -> Any:
        """Send one command and wait for its result; HassError if it fails."""
        ws = self._ws
        if ws is None:
            raise HassError("not connected to Home Assistant")
        msg_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = fut
        await ws.send(json.dumps({**body, "id": msg_id}))
        try:
            return await asyncio.wait_for(fut, COMMAND_TIMEOUT_S)
        finally:
            self._waiting.pop(msg_id, None)


def websocket_url(url: str) -> str:
    """http://host:8123 -> ws://host:8123/api/websocket (a ws:// URL is kept)."""
    base = url.rstrip("/")
    if base.startswith("http"):
        base = "ws" + base[len("http") :]
    return base if base.endswith("/api/websocket") else base + "/api/websocket"
