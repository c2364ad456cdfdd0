"""dialogd's own state on the broker: `<prefix>/<site>/status/detail`, retained, every
30 s, at shutdown, and at once when the home or the config changes (`starting`,
`online`, `stopping`, `offline`, with the queue, the device count, the reloads, the
figures and the last reload error). The broker's own connection shows in systemd's
STATUS line instead: while it is gone, nothing can be published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from daemon import __version__
from daemon.config.settings import Settings
from daemon.mqtt.link import MqttLink, Topics
from daemon.ops.notify import Notifier
from daemon.outputs.metrics import Metrics
from daemon.pipeline.dispatcher import Dispatcher

STATUS_EVERY_S = 30.0


class Status:
    def __init__(
        self,
        link: MqttLink,
        topics: Callable[[], Topics],
        settings: Callable[[], Settings],
        dispatcher: Dispatcher,
        metrics: Metrics,
        notifier: Notifier,
    ) -> None:
        self.link = link
        self.notifier = notifier
        self.topics = topics
        self.settings = settings
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.serving = False  # the home is known and requests are decided
        self.reload_error: str | None = None  # shown until a reload works
        self.reloads = 0  # config reloads applied
        self.serial_connected: bool | None = None  # None: no serial channel

    def payload(self, state: str | None = None) -> bytes:
        d = self.dispatcher
        if state is None:
            state = "stopping" if not d.accepting else "online" if self.serving else "starting"
        llm = self.settings().llm
        body = {
            "state": state,
            "queue": d.depth,
            "devices": len(d.engine.registry.devices),
            "reloads": self.reloads,
            "reload_error": self.reload_error,
            "serial_connected": self.serial_connected,
            "metrics": self.metrics.snapshot(),
            "version": __version__,
            "site": self.settings().site_id,
            "model": llm.model_path.name if llm.enabled and llm.model_path else None,
            **self.metrics.status_figures(),
        }
        return json.dumps(body).encode()

    def serial_changed(self, up: bool) -> None:
        """The ESP32's port in status/detail: a hub sees when it is unplugged."""
        self.serial_connected = up
        self.publish()

    def broker_changed(self, up: bool) -> None:
        """`systemctl status dialogd` says whether the broker is there."""
        self.metrics.broker_connected(up)
        if not up:
            self.notifier.status(
                f"MQTT broker {self.link.host}:{self.link.port} lost; reconnecting"
            )
        elif self.serving:
            self.notifier.status(f"serving on {self.topics().text}")

    def publish(self, state: str | None = None) -> None:
        self.link.publish(self.topics().state, self.payload(state), retain=True, qos=1)

    async def run(self) -> None:
        while True:
            self.publish()
            await asyncio.sleep(STATUS_EVERY_S)
