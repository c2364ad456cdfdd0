"""The MQTT link: paho's network thread in, the event loop out.

paho runs its own network thread (loop_start) and reconnects by itself; its callbacks
do nothing but hand messages over to the event loop with call_soon_threadsafe. Every
(re)connect resubscribes and publishes the retained `online` status, as Home
Assistant's MQTT client does.

Nothing accepted is lost:
- The session is persistent (a stable client id, clean_session=False, QoS 1
  subscriptions): what the broker holds for dialogd while it is away, during a broker
  restart or a daemon restart, is delivered when it is back.
- Requests are acknowledged by hand, only once the request path has taken them on
  (written to its journal): a message the broker sent but dialogd never took is sent
  again.
- What dialogd decides while the broker is away waits in an on-disk outbox and is
  published once it is back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from daemon.config.settings import MqttSettings
from daemon.mqtt.security import configure as configure_security
from daemon.mqtt.security import describe_connect_failure, describe_refusal, describe_tls_log
from daemon.pipeline.outbox import Held, Outbox

_LOG = logging.getLogger(__name__)
# MQTT 5 ends a session when the connection does unless told otherwise: a week keeps what
# the broker holds for dialogd across restarts and outages, as clean_session=False did.
SESSION_EXPIRY_S = 7 * 24 * 3600
POOLED_SESSION_EXPIRY_S = 120
MAX_CORRELATION = 256  # bytes of correlation data echoed back, at most


def _properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def reserved_prefixes(prefix: str) -> list[str]:
    """Topics nobody else may make dialogd publish to: its own, the broker's `$SYS`, and
    Hermes' (an intent there is acted on). Discovered devices may not use them, and no
    caller's response topic may point there."""
    return [f"{prefix}/", "$", "hermes/"]


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
        self.timer = f"{base}/timer"
        self.result = f"{base}/result"
        self.prefix = prefix

    def inbound(self, share_group: str | None = None) -> list[str]:
        """The subscriptions; with a share group, the text requests of every site,
        shared with the group's other instances."""
        text = f"$share/{share_group}/{self.prefix}/+/text" if share_group else self.text
        return [text, self.audio, self.audio_end, self.say]

    def text_site(self, topic: str) -> str | None:
        """The site whose request topic `topic` is, or None for any other topic."""
        if not topic.startswith(f"{self.prefix}/"):
            return None
        parts = topic.removeprefix(f"{self.prefix}/").split("/")
        if len(parts) == 2 and parts[1] == "text" and parts[0]:
            return parts[0]
        return None

    def for_site(self, site: str) -> Topics:
        return self if site in ("", self.site) else Topics(self.prefix, site)


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes
    ack: Callable[[], None]  # acknowledge to the broker (once; later calls do nothing)
    retained: bool = False
    # MQTT 5 request/response: where the requester wants its answer, and what to echo.
    response_topic: str | None = None
    correlation: bytes | None = None


class MqttLink:
    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        host: str,
        port: int,
        *,
        outbox: Outbox | None = None,
        credentials: tuple[str, str] | None = None,
        on_connection: Callable[[bool], None] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.host, self.port = host, port
        # Unbounded on purpose: a request is acknowledged only after the request path
        # takes it, which is quick; the request path keeps the bound (`busy`).
        self.inbox: asyncio.Queue[Inbound] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.serving = False  # `online` is said once dialogd can decide (`serve`)
        self.outbox = outbox or Outbox(None)
        self.on_connection = on_connection
        self._loop = asyncio.get_running_loop()
        self._lost_logged = False
        self._stopping = False
        self._unconfirmed: set[int] = set()  # mids of QoS 1 publishes not yet confirmed
        self._extra: dict[str, int] = {}  # subscriptions of other parts (discovery, state)
        self._routes: dict[str, list[Callable[[Inbound], None]]] = {}
        self._subacks: set[int] = set()  # subscriptions of this connect not yet confirmed
        self._suback_lock = threading.Lock()
        self.connect_listeners: list[Callable[[], None]] = []  # after every (re)connect
        self.client = self._client(credentials)

    @property
    def session_expiry_s(self) -> int:
        s = self.settings
        if s.session_expiry_s is not None:
            return s.session_expiry_s
        # A pooled instance's queued share would wait for it alone (mosquitto, EMQX).
        return POOLED_SESSION_EXPIRY_S if s.share_group else SESSION_EXPIRY_S

    @property
    def v5(self) -> bool:
        return self.settings.protocol == 5

    def _client(self, credentials: tuple[str, str] | None) -> mqtt.Client:
        s = self.settings
        client_id = s.client_id or f"dialogd-{self.topics.site}"
        if s.protocol == 5:
            c = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        else:
            c = mqtt.Client(
                callback_api_version=CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=mqtt.MQTTv311,
                clean_session=False,
                manual_ack=True,
            )
        configure_security(c, s, credentials)
        c.will_set(self.topics.status, b"offline", qos=1, retain=True)
        c.reconnect_delay_set(min_delay=1, max_delay=max(1, int(s.reconnect_max_s)))
        c.max_queued_messages_set(10_000)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_connect_fail = self._on_connect_fail
        c.on_log = self._on_log
        return c

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
            _LOG.error(
                "MQTT broker %s:%d refused us: %s", self.host, self.port, describe_refusal(reason)
            )
            return
        mids = set()
        for topic in self.topics.inbound(self.settings.share_group):
            mids.add(client.subscribe(topic, qos=max(1, self.settings.qos))[1])
        for topic, qos in list(self._extra.items()):
            mids.add(client.subscribe(topic, qos=qos)[1])
        # Ready (and `online`) once the broker has confirmed every subscription: what is
        # published to dialogd after that is heard.
        with self._suback_lock:
            self._subacks = {m for m in mids if m is not None}
            waiting = bool(self._subacks)
        if not waiting:
            self._subscribed(client)
        self._lost_logged = False
        _LOG.info(
            "MQTT connected to %s:%d (%s session), listening on %s",
            self.host,
            self.port,
            "resumed" if flags.session_present else "new",
            self.topics.text,
        )

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: object,
        properties: object,
    ) -> None:
        with self._suback_lock:
            if mid not in self._subacks:
                return
            self._subacks.discard(mid)
            done = not self._subacks
        if done:
            self._subscribed(client)

    def _subscribed(self, client: mqtt.Client) -> None:
        if self.serving:
            client.publish(self.topics.status, b"online", qos=1, retain=True)
        self._loop.call_soon_threadsafe(self._connected)

    def serve(self) -> None:
        """Say `online`, now and at every connect from now on: dialogd is ready (at start,
        only once the home on the broker is known)."""
        self.serving = True
        if self.connected.is_set():
            self.client.publish(self.topics.status, b"online", qos=1, retain=True)

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        if not self._lost_logged:
            _LOG.error("MQTT broker %s:%d: %s", self.host, self.port, describe_connect_failure())
            self._lost_logged = True

    def _on_log(self, client: mqtt.Client, userdata: object, level: int, buf: str) -> None:
        # paho only logs some TLS refusals (a client certificate the broker wants).
        line = describe_tls_log(buf)
        if line is not None and not self._lost_logged:
            _LOG.error("MQTT broker %s:%d: %s", self.host, self.port, line)
            self._lost_logged = True

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        self._loop.call_soon_threadsafe(self._disconnected)
        if not self._lost_logged and not self._stopping:
            # Logged once per outage; paho retries on its own with back-off.
            _LOG.warning(
                "MQTT connection to %s:%d lost (%s); reconnecting", self.host, self.port, reason
            )
            self._lost_logged = True

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        response = getattr(props, "ResponseTopic", None) if props is not None else None
        corr = getattr(props, "CorrelationData", None) if props is not None else None
        item = Inbound(
            msg.topic,
            bytes(msg.payload),
            self._acker(msg.mid, msg.qos),
            retained=bool(msg.retain),
            response_topic=response if isinstance(response, str) and response else None,
            correlation=bytes(corr)[:MAX_CORRELATION] if corr else None,
        )
        self._loop.call_soon_threadsafe(self.inbox.put_nowait, item)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason: ReasonCode,
        properties: object,
    ) -> None:
        self._loop.call_soon_threadsafe(self._unconfirmed.discard, mid)

    # event loop ---------------------------------------------------------------

    def _acker(self, mid: int, qos: int) -> Callable[[], None]:
        done = False

        def ack() -> None:
            nonlocal done
            if not done and qos > 0:
                done = True
                self.client.ack(mid, qos)

        return ack

    def _connected(self) -> None:
        self.connected.set()
        if self.on_connection is not None:
            self.on_connection(True)
        for listener in list(self.connect_listeners):
            try:
                listener()
            except Exception:
                _LOG.exception("a connect listener failed")
        held = self.outbox.take()
        if held:
            _LOG.info("publishing %d message(s) held while the broker was away", len(held))
        for m in held:
            self._send(m.topic, m.payload, m.qos, m.retain, m.correlation)

    def _disconnected(self) -> None:
        self.connected.clear()
        if self.on_connection is not None:
            self.on_connection(False)

    def start(self) -> None:
        if self.v5:
            props = _properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s
            self.client.connect_async(
                self.host,
                self.port,
                keepalive=self.settings.keepalive,
                clean_start=False,
                properties=props,
            )
        else:
            self.client.connect_async(self.host, self.port, keepalive=self.settings.keepalive)
        self.client.loop_start()

    def route(
        self, topic_filter: str, handler: Callable[[Inbound], None], qos: int = 0
    ) -> Callable[[], None]:
        """Another part's subscription (discovery, device state, Hermes), kept across
        reconnects; its messages go to `handler` on the event loop. Several parts may
        route one filter (a device's state topic may be anything). Returns its undo."""
        handlers = self._routes.setdefault(topic_filter, [])
        if handler not in handlers:
            handlers.append(handler)
        if self._extra.get(topic_filter, -1) < qos:
            self._extra[topic_filter] = qos
            if self.client.is_connected():
                self.client.subscribe(topic_filter, qos=qos)
        return lambda: self._unroute(topic_filter, handler)

    def _unroute(self, topic_filter: str, handler: Callable[[Inbound], None]) -> None:
        """`handler` no longer wants `topic_filter`; unsubscribed when nobody does."""
        handlers = self._routes.get(topic_filter, [])
        if handler in handlers:
            handlers.remove(handler)
        if handlers:
            return
        self._routes.pop(topic_filter, None)
        if self._extra.pop(topic_filter, None) is not None and self.client.is_connected():
            self.client.unsubscribe(topic_filter)

    def handle(self, msg: Inbound) -> bool:
        """Hand `msg` to the parts whose subscriptions match it; False when none do."""
        matched = False
        for topic_filter, handlers in list(self._routes.items()):
            if mqtt.topic_matches_sub(topic_filter, msg.topic):
                for handler in list(handlers):
                    matched = True
                    try:
                        handler(msg)
                    except Exception:  # one part's bug must not end the MQTT task
                        _LOG.exception("handling a message on %s failed", msg.topic)
        return matched

    def send_now(self, topic: str, payload: bytes, qos: int = 1) -> bool:
        """Publish only if the broker is there: a device command must not wait in the
        outbox and switch something minutes later."""
        if not self.connected.is_set():
            return False
        self._send(topic, payload, qos, False)
        return True

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        qos: int | None = None,
        hold: bool = False,
        correlation: bytes | None = None,
    ) -> None:
        """Publish now; with `hold`, a message that cannot go out now waits in the outbox
        (on disk) for the broker, instead of in paho's memory. `correlation`: MQTT 5
        correlation data of a response."""
        q = self.settings.qos if qos is None else qos
        if hold and not self.connected.is_set():
            self.outbox.hold(Held(topic, payload, q, retain, correlation))
            return
        self._send(topic, payload, q, retain, correlation)

    def _send(
        self, topic: str, payload: bytes, qos: int, retain: bool, correlation: bytes | None = None
    ) -> None:
        props = None
        if correlation is not None and self.v5:
            props = _properties(PacketTypes.PUBLISH)
            props.CorrelationData = correlation
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            _LOG.error("MQTT publish on %s failed: %s", topic, mqtt.error_string(info.rc))
        elif qos > 0:
            self._unconfirmed.add(info.mid)

    async def flush(self, timeout: float) -> bool:
        """Wait until the broker has confirmed every QoS 1 publish, up to `timeout`."""
        deadline = self._loop.time() + timeout
        while self._unconfirmed and self.connected.is_set() and self._loop.time() < deadline:
            await asyncio.sleep(0.02)
        return not self._unconfirmed

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
