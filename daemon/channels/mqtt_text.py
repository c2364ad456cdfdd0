"""The MQTT inbox: text requests in, and the rest of what dialogd subscribes to handed on.

Requests on `<prefix>/<site>/text` (and, with a shared subscription, other sites') each
become their own task through `submit`: acknowledged once the request path has taken
them, answered at the site that asked and, for an MQTT 5 caller, on its response topic.
Audio goes to the speech channel, `say` to the speaker, and everything another part
routed (discovery, device state, Hermes) to that part.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from daemon.config.settings import Settings
from daemon.core.messages import ErrorReply, new_id
from daemon.mqtt.link import Inbound, MqttLink, Topics, reserved_prefixes
from daemon.outputs.mqtt import safe_response_topic
from daemon.pipeline.dispatcher import Ack, Via

_LOG = logging.getLogger(__name__)

MAX_AUDIO_CHUNK = 256 * 1024  # 8 s of 16 kHz PCM in one message is no satellite's chunk

Submit = Callable[[bytes, Ack, Via], None]  # starts answering one request (a task)


class MqttInbox:
    def __init__(
        self,
        link: MqttLink,
        topics: Callable[[], Topics],
        settings: Callable[[], Settings],
        submit: Submit,
        refuse: Callable[[ErrorReply], None],
        device_topics: Callable[[], Iterable[str | None]],
    ) -> None:
        self.link = link
        self.topics = topics
        self.settings = settings
        self.submit = submit
        self.refuse = refuse
        self.device_topics = device_topics
        # Set by the speech channel and the speaker, when they are on: where MQTT audio
        # (a chunk, then its end) and `say` go.
        self.audio: tuple[Callable[[bytes], Awaitable[None]], Callable[[], Awaitable[None]]]
        self.audio = (_ignore, _nothing)
        self.speech_on = False
        self.say: Callable[[bytes], None] = lambda payload: None

    async def run(self) -> None:
        while True:
            msg: Inbound = await self.link.inbox.get()
            topics = self.topics()
            site = topics.text_site(msg.topic)
            if site == topics.site or (site and self.settings().mqtt.share_group):
                self._request(msg, site)
                continue
            msg.ack()
            if self.link.handle(msg):
                continue
            if msg.topic == topics.audio and self.speech_on:
                if len(msg.payload) > MAX_AUDIO_CHUNK:
                    self.refuse(
                        ErrorReply(
                            id=new_id(),
                            error="too_long",
                            detail=f"audio chunk of {len(msg.payload)} bytes; at most "
                            f"{MAX_AUDIO_CHUNK} per message",
                            source="voice",
                        )
                    )
                else:
                    await self.audio[0](msg.payload)
            elif msg.topic == topics.audio_end and self.speech_on:
                await self.audio[1]()
            elif msg.topic == topics.say:
                self.say(msg.payload)

    def _request(self, msg: Inbound, site: str) -> None:
        reply_to = None
        if msg.response_topic is not None:
            reply_to = safe_response_topic(
                msg.response_topic, closed_prefixes(self.settings()), self.device_topics()
            )
        correlation = msg.correlation if reply_to else None
        self.submit(msg.payload, msg.ack, Via(site, reply_to, correlation))


def closed_prefixes(s: Settings) -> list[str]:
    """Topic prefixes no answer may be sent under (see safe_response_topic)."""
    return [
        *reserved_prefixes(s.mqtt.prefix),
        f"{s.home.discovery_prefix}/",
        f"{s.homeassistant.discovery_prefix}/",
        f"{s.home.zigbee2mqtt_base}/",
        "cmnd/",
    ]


async def _ignore(payload: bytes) -> None:
    return None


async def _nothing() -> None:
    return None
