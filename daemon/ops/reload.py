"""SIGHUP: what a reloaded config changes while dialogd runs, and what needs a restart.

Devices, areas, floors, replies, the site's area, `[home]`, and the topics (`site_id`,
`[mqtt] prefix`) apply at once; the rest of `[mqtt]`, the models and the channels keep
their running values until a restart, and the log names them.
"""

from __future__ import annotations

from typing import Any

from daemon.config.settings import Settings

RESTART_SECTIONS = ("mqtt", "llm", "serial", "asr", "tts", "request", "homeassistant", "hermes")


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
