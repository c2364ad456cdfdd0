"""The MQTT link: paho's network thread in, the event loop out.

paho runs its own network thread (loop_start) and reconnects by itself; its callbacks
do nothing but hand messages over to the event loop with call_soon_threadsafe. Every
(re)connect resubscribes and publishes the retained `online` status, as Home
Assistant's MQTT client does. Messages published while the broker is away stay in
paho's queue (QoS 1) and go out after the reconnect: nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from daemon.config import MqttSettings

_LOG = logging.getLogger(__name__)


class Topics:
    """All topics of one site: <prefix>/<site>/<leaf>."""

    def __init__(self, prefix: str, site: str) -> None:
        self.site = site
        base = f"{prefix}/{site}"
        self.text = f"{base}/text"
        self.intent = f"{base}/intent"
        self.error = f"{base}/error"
        self.status = f"{base}/status"
        self.state = f"{base}/status/detail"
        self.audio = f"{base}/audio"
        self.audio_end = f"{base}/audio/end"
        self.asr_partial = f"{base}/asr/partial"
        self.say = f"{base}/say"
        self.tts_audio = f"{base}/tts/audio"

    def inbound(self) -> list[str]:
        return [self.text, self.audio, self.audio_end, self.say]


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes


class MqttLink:
    def __init__(self, settings: MqttSettings, topics: Topics, host: str, port: int) -> None:
        self.settings = settings
        self.topics = topics
        self.host, self.port = host, port
        self.inbox: asyncio.Queue[Inbound] = asyncio.Queue(maxsize=1000)
        self.connected = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._lost_logged = False
        self._stopping = False
        client_id = settings.client_id or f"dialogd-{topics.site}"
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if settings.username:
            c.username_pw_set(settings.username, settings.password)
        if settings.tls:
            ctx = ssl.create_default_context(
                cafile=str(settings.ca_file) if settings.ca_file else None
            )
            c.tls_set_context(ctx)
        c.will_set(topics.status, b"offline", qos=1, retain=True)
        c.reconnect_delay_set(min_delay=1, max_delay=max(1, int(settings.reconnect_max_s)))
        c.max_queued_messages_set(10_000)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self.client = c

    # paho's thread ------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        if reason.is_failure:
            _LOG.error("MQTT broker %s:%d refused us: %s", self.host, self.port, reason)
            return
        for topic in self.topics.inbound():
            client.subscribe(topic, qos=self.settings.qos)
        client.publish(self.topics.status, b"online", qos=1, retain=True)
        self._lost_logged = False
        _LOG.info(
            "MQTT connected to %s:%d, listening on %s", self.host, self.port, self.topics.text
        )
        self._loop.call_soon_threadsafe(self.connected.set)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        self._loop.call_soon_threadsafe(self.connected.clear)
        if not self._lost_logged and not self._stopping:
            # Logged once per outage; paho retries on its own with back-off.
            _LOG.warning(
                "MQTT connection to %s:%d lost (%s); reconnecting", self.host, self.port, reason
            )
            self._lost_logged = True

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._loop.call_soon_threadsafe(self._enqueue, Inbound(msg.topic, bytes(msg.payload)))

    # event loop ---------------------------------------------------------------

    def _enqueue(self, item: Inbound) -> None:
        try:
            self.inbox.put_nowait(item)
        except asyncio.QueueFull:
            _LOG.error("inbox full (1000 waiting); dropping a message on %s", item.topic)

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=self.settings.keepalive)
        self.client.loop_start()

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, qos: int | None = None
    ) -> None:
        info = self.client.publish(
            topic, payload, qos=self.settings.qos if qos is None else qos, retain=retain
        )
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            _LOG.error("MQTT publish on %s failed: %s", topic, mqtt.error_string(info.rc))

    async def retopic(self, topics: Topics) -> None:
        """Move to another site's topics: the old status goes offline, and a new
        connection carries the new last will and subscriptions."""
        old = self.topics
        if self.client.is_connected():
            info = self.client.publish(old.status, b"offline", qos=1, retain=True)
            await asyncio.to_thread(info.wait_for_publish, 2.0)
        self.topics = topics
        self._stopping = True  # this disconnect is ours: not an outage to report
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)
        self._stopping = False
        self.client.will_set(topics.status, b"offline", qos=1, retain=True)
        self.start()

    async def stop(self) -> None:
        """Publish `offline` (the will only fires on an unclean end) and disconnect."""
        self._stopping = True
        if self.client.is_connected():
            info = self.client.publish(self.topics.status, b"offline", qos=1, retain=True)
            await asyncio.to_thread(info.wait_for_publish, 2.0)
        self.client.disconnect()
        self.client.loop_stop()
