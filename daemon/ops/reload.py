"""SIGHUP: what a reloaded config changes while dialogd runs, and what needs a restart.

Devices, areas, floors, replies, the site's area, `[home]`, and the topics (`site_id`,
`[mqtt] prefix`) apply at once; the rest of `[mqtt]`, the models and the channels keep
their running values until a restart, and the log names them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from daemon.config.settings import ConfigError, Settings, load_settings
from daemon.home.live import HomeLive
from daemon.mqtt.broker import PrivateBroker
from daemon.mqtt.link import MqttLink, Topics
from daemon.ops.checks import model_problems
from daemon.ops.notify import Notifier
from daemon.outputs.bus import HassPresence
from daemon.outputs.status import Status
from daemon.pipeline.dispatcher import Dispatcher
from daemon.pipeline.engines import EngineSwap

_LOG = logging.getLogger(__name__)

RESTART_SECTIONS = (
    "mqtt",
    "llm",
    "serial",
    "asr",
    "tts",
    "request",
    "homeassistant",
    "hermes",
    "wyoming",
)


def applied(old: Settings, new: Settings) -> Settings:
    """The settings dialogd runs with after the reload."""
    update: dict[str, Any] = {
        "devices": new.devices,
        "areas": new.areas,
        "floors": new.floors,
        "area": new.area,
        "temperature_unit": new.temperature_unit,
        "replies": new.replies,
        "home": new.home,
        "site_id": new.site_id,
        "mqtt": old.mqtt.model_copy(update={"prefix": new.mqtt.prefix}),
    }
    return old.model_copy(update=update)


def summary(old: Settings, new: Settings, running: Settings) -> str:
    """One log line: devices added and removed, sections that wait for a restart."""
    old_ids = {d.id for d in old.devices}
    new_ids = {d.id for d in new.devices}
    pending = [k for k in RESTART_SECTIONS if getattr(new, k) != getattr(running, k)]
    return "config reloaded: {} device(s) (added {}, removed {}){}".format(
        len(new_ids),
        sorted(new_ids - old_ids) or "none",
        sorted(old_ids - new_ids) or "none",
        f"; changes to [{'], ['.join(pending)}] need a restart" if pending else "",
    )


class Running(Protocol):
    """What a reload changes in the running daemon."""

    settings: Settings
    topics: Topics
    config_path: Path | None
    notifier: Notifier
    dispatcher: Dispatcher
    home: HomeLive
    status: Status
    link: MqttLink
    broker: PrivateBroker | None
    hass: HassPresence | None
    swap: EngineSwap


async def reload(d: Running) -> None:
    """Re-read the config file and apply it, all or nothing: a config, registry or model
    check that fails leaves the old one serving (`reload_error` in status/detail)."""
    d.notifier.reloading("reloading the config")
    old = d.settings
    try:
        new = load_settings(d.config_path)
        if problems := model_problems(new):
            raise ConfigError(problems)
        d.home.configure(new)  # the config's devices with those the broker told of
        registry = d.home.registry()
        try:
            await d.swap(registry, dict(new.replies))
        except Exception as exc:  # the engine is unchanged: all or nothing
            d.home.configure(old)
            raise ConfigError([str(exc)]) from None
    except ConfigError as exc:
        for line in exc.problems:
            _LOG.error("reload refused: %s", line)
        d.status.reload_error = "; ".join(exc.problems)
        d.status.publish()
        d.notifier.ready("reload refused; serving with the old config")
        return
    d.status.reload_error = None
    d.status.reloads += 1
    d.dispatcher.area = new.area
    if (new.site_id, new.mqtt.prefix) != (old.site_id, old.mqtt.prefix):
        if d.broker is not None and new.mqtt.prefix != old.mqtt.prefix:
            await d.broker.set_prefix(new.mqtt.prefix)  # its ACL names the prefix
        d.topics = Topics(new.mqtt.prefix, new.site_id)
        d.dispatcher.site = new.site_id
        await d.link.retopic(d.topics)
        if d.hass is not None:
            d.hass.renamed(new.site_id, new.mqtt.prefix)
        _LOG.info("topics are now %s/%s/...", new.mqtt.prefix, new.site_id)
    d.settings = applied(old, new)
    _LOG.info("%s", summary(old, new, d.settings))
    d.status.publish()
    d.notifier.ready(f"reloaded: {len(new.devices)} devices; serving on {d.topics.text}")
