"""What the request path says on MQTT: intents and errors at the site that asked (and on
an MQTT 5 caller's response topic), device results, timer events.

Everything goes through the link's outbox, so what is decided while the broker is away is
published once it is back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

from daemon.core.messages import Intent, Outcome, Request, utc_now
from daemon.dialogue.manager import TimerEvent
from daemon.home.actuator import Result
from daemon.mqtt.link import MqttLink, Topics
from daemon.ops.signing import dumps_signed

_LOG = logging.getLogger(__name__)


class MqttOutputs:
    def __init__(
        self, link: MqttLink, topics: Callable[[], Topics], sign_key: bytes | None
    ) -> None:
        self.link = link
        self.topics = topics  # the current ones: a reload may rename the site
        self.sign_key = sign_key

    def outcome(self, req: Request | None, outcome: Outcome) -> None:
        """Every intent and error, at the site the request came from."""
        topics = self.topics().for_site(req.site if req is not None else "")
        payload = self._payload(outcome)
        topic = topics.intent if isinstance(outcome, Intent) else topics.error
        self.link.publish(topic, payload, hold=True)
        self._to_caller(req, payload)

    def replay(self, req: Request | None, outcome: Outcome) -> None:
        """A redelivered request's original answer, to the caller's response topic only:
        the intent topic had it once, and whoever acts on that topic must not act twice."""
        if req is not None and req.reply_to:
            self._to_caller(req, self._payload(outcome))

    def _payload(self, outcome: Outcome) -> bytes:
        if isinstance(outcome, Intent) and self.sign_key is not None:
            return dumps_signed(outcome.model_dump(mode="json"), self.sign_key)
        return outcome.model_dump_json().encode()

    def _to_caller(self, req: Request | None, payload: bytes) -> None:
        if req is not None and req.reply_to:
            # MQTT 5 request/response: the caller's own topic, with its correlation data.
            self.link.publish(req.reply_to, payload, hold=True, correlation=req.correlation)

    def result(self, result: Result, reply: str) -> None:
        """How the devices dialogd switched answered, on `<site>/result`, and as a second
        message on the caller's MQTT 5 response topic (with its correlation data)."""
        intent = result.intent
        payload = result_json(result, reply)
        topic = self.topics().for_site(intent.site).result
        self.link.publish(topic, payload, hold=True)
        self._to_caller(result.request, payload)

    async def asr_partial(self, text: str) -> None:
        """A partial transcript, as the recogniser hears it (a display may show it)."""
        self.link.publish(self.topics().asr_partial, text.encode("utf-8"), qos=0)

    async def tts_audio(self, wav: bytes) -> None:
        """The spoken reply as WAV, for a satellite that plays it (`[tts] output`)."""
        self.link.publish(self.topics().tts_audio, wav, qos=0)

    def timer(self, event: TimerEvent) -> None:
        t = event.timer
        body = {
            "event": event.event,
            "name": t.name,
            "seconds": t.seconds,
            "id": t.id,
            "session": t.session,
            "ts": utc_now(),
        }
        self.link.publish(self.topics().timer, json.dumps(body).encode(), hold=True)


def result_json(result: Result, reply: str) -> bytes:
    """A result as its callers read it: the request's id, the worst device result
    (`executed`, `no_response`, `failed`, `sent`), each device's, and the truthful reply."""
    intent = result.intent
    body = {
        "id": intent.id,
        "session": intent.session,
        "site": intent.site,
        "result": result.result,
        "devices": [
            {
                "device": r.device,
                "action": r.action,
                "value": r.value,
                "result": r.result,
                "detail": r.detail,
            }
            for r in result.devices
        ],
        "reply": reply,
        "ts": utc_now(),
    }
    return json.dumps(body, ensure_ascii=False).encode()


def safe_response_topic(
    topic: str | None, closed: Iterable[str], device_topics: Iterable[str | None]
) -> str | None:
    """An MQTT 5 response topic, unless it points where an intent must not go.

    A requester could otherwise have dialogd publish, with dialogd's broker rights, onto
    another site's topics (an intent there is acted on; its JSON is even a request), a
    device's command topic or a discovery config. `closed`: prefixes no answer goes under
    (dialogd's own, discovery, zigbee2mqtt, Tasmota, Hermes); `device_topics`: every topic
    of a known device, and what is under it.
    """
    if topic is None:
        return None
    devices = {t for t in device_topics if t}
    if (
        not topic
        or any(c in topic for c in "#+\0")
        or topic.startswith("$")
        or any(topic == c.rstrip("/") or topic.startswith(c) for c in closed)
        or topic in devices
        or any(topic.startswith(f"{t}/") for t in devices)
    ):
        _LOG.warning("MQTT 5 response topic %r refused; answering on the intent topic", topic)
        return None
    return topic
