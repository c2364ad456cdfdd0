"""Where an MQTT 5 response may go (daemon/outputs/mqtt.py)."""

from __future__ import annotations

import pytest

from daemon.outputs.mqtt import safe_response_topic

CLOSED = ["dialogd/", "homeassistant/", "zigbee2mqtt/", "cmnd/", "hermes/"]
DEVICES = ["garage/door/set", "garage/door/state", None]


@pytest.mark.parametrize(
    "topic",
    [
        "dialogd/frontdoor/intent",  # another site's intent: it would be acted on
        "dialogd/kitchen/text",  # a request in another site's name
        "dialogd",
        "homeassistant/switch/x/config",
        "zigbee2mqtt/Front Door/set",
        "cmnd/garagefan/POWER",
        "hermes/intent/unlock",
        "garage/door/set",  # a known device's command topic...
        "garage/door/set/extra",  # ...and what is under it
        "$SYS/broker",
        "a/+/b",
        "a/#",
        "",
    ],
)
def test_refused(topic: str) -> None:
    assert safe_response_topic(topic, CLOSED, DEVICES) is None


@pytest.mark.parametrize("topic", ["nodered/replies/flow1", "ha/scripts/reply", "dialogdx/r"])
def test_allowed(topic: str) -> None:
    assert safe_response_topic(topic, CLOSED, DEVICES) == topic
