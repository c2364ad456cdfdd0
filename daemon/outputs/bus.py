"""dialogd's neighbours on the same broker: Home Assistant and Rhasspy/Hermes.

Each is an output of the request path (it hears every outcome) plus the subscriptions it
needs; the daemon only constructs them. Their message shapes live in `hass.py` and
`hermes.py`.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from daemon import __version__
from daemon.channels import hermes
from daemon.core.messages import Intent, Outcome, Request
from daemon.core.vocabulary import Source
from daemon.mqtt.link import Inbound, MqttLink
from daemon.outputs.hass import removal, self_discovery

_LOG = logging.getLogger(__name__)


class HassPresence:
    """dialogd as a Home Assistant device: its discovery configs, retained, published at
    every connect and again whenever Home Assistant comes back online (HA asks for it
    on `<discovery_prefix>/status`)."""

    def __init__(self, link: MqttLink, site: str, prefix: str, discovery_prefix: str) -> None:
        self.link = link
        self.site, self.prefix, self.discovery_prefix = site, prefix, discovery_prefix
        link.connect_listeners.append(self.publish)
        link.route(f"{discovery_prefix}/status", self._on_ha_status, qos=1)

    def publish(self) -> None:
        for m in self_discovery(
            self.site, self.prefix, discovery_prefix=self.discovery_prefix, version=__version__
        ):
            self.link.publish(m.topic, m.payload, retain=True, qos=1)
        _LOG.info("Home Assistant discovery published for site %s", self.site)

    def renamed(self, site: str, prefix: str) -> None:
        """A new site id or prefix: the old device goes, the new one comes."""
        for m in removal(self.site, self.discovery_prefix):
            self.link.publish(m.topic, m.payload, retain=True, qos=1)
        self.site, self.prefix = site, prefix
        self.publish()

    def _on_ha_status(self, msg: Inbound) -> None:
        if msg.payload.strip().lower() == b"online" and not msg.retained:
            self.publish()


# A request on its way in, with its channel: Hermes queries arrive over MQTT.
Submit = Callable[[bytes, Source], Coroutine[Any, Any, None]]
Speak = Callable[[str, str | None], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, None]], None]


class HermesBridge:
    """Rhasspy's Hermes protocol: every intent also as `hermes/intent/<action>`;
    `hermes/nlu/query` is a request and `hermes/tts/say` is spoken."""

    MAX_PENDING = 1000  # Hermes queries waiting for their intent, at most

    def __init__(self, link: MqttLink, submit: Submit, speak: Speak | None, spawn: Spawn) -> None:
        self.link = link
        self.submit = submit
        self.speak = speak
        self.spawn = spawn
        # Request id -> the Hermes siteId that asked: its answer carries it back.
        self._sites: OrderedDict[str, str] = OrderedDict()
        link.route("hermes/nlu/query", self._on_query, qos=1)
        link.route("hermes/tts/say", self._on_say, qos=1)

    def output(self, req: Request | None, outcome: Outcome) -> None:
        asked = self._sites.pop(outcome.id, None) if outcome.id else None
        messages = hermes.intent_messages(outcome, asked) if isinstance(outcome, Intent) else []
        if asked is not None and not messages:
            # A Hermes query that ends in an error, or waits for a yes: its dialogue
            # manager still gets an answer.
            text = req.text if req is not None else ""
            session = (req.session if req is not None else "") or (outcome.id or "")
            messages = [hermes.not_recognized(text, asked, session, outcome.id or "")]
        for topic, payload in messages:
            self.link.publish(topic, payload, qos=1, hold=True)

    def _on_query(self, msg: Inbound) -> None:
        q = hermes.parse_nlu_query(msg.payload)
        if q is None:
            _LOG.warning("hermes/nlu/query: malformed payload ignored (%d bytes)", len(msg.payload))
            return
        body: dict[str, str] = {"text": q.text}
        if q.id:
            body["id"] = q.id
        if q.session:
            body["session"] = q.session
        if q.id and q.site:
            self._sites[q.id] = q.site
            while len(self._sites) > self.MAX_PENDING:
                self._sites.popitem(last=False)
        self.spawn(self.submit(json.dumps(body, ensure_ascii=False).encode(), "mqtt"))

    def _on_say(self, msg: Inbound) -> None:
        say = hermes.parse_tts_say(msg.payload)
        if say is None:
            _LOG.warning("hermes/tts/say: malformed payload ignored (%d bytes)", len(msg.payload))
            return

        async def speak_then_finish() -> None:
            if self.speak is not None:
                await self.speak(say.text, say.lang)
            topic, payload = hermes.say_finished(say)
            self.link.publish(topic, payload, qos=1)

        self.spawn(speak_then_finish())
