"""Confirmation replies from templates: free, instant and always in the user's language.

Only small talk (`chat`) needs the model to write its reply. Templates can be
overridden per language and action in `[replies.<lang>]` of config.toml; `{device}`
is the device's name and `{value}` the number.
"""

from __future__ import annotations

from collections.abc import Mapping

from daemon.registry import Decision, Registry

DEFAULTS: dict[str, dict[str, str]] = {
    "en": {
        "turn_on": "Turning on the {device}.",
        "turn_off": "Turning off the {device}.",
        "open": "Opening the {device}.",
        "close": "Closing the {device}.",
        "lock": "Locking the {device}.",
        "unlock": "Unlocking the {device}.",
        "start": "Starting the {device}.",
        "stop": "Stopping the {device}.",
        "set_brightness": "Setting the {device} to {value} percent.",
        "set_volume": "Setting the {device} volume to {value}.",
        "set_temperature": "Setting the {device} to {value} degrees.",
        "set_speed": "Setting the {device} to speed {value}.",
        "query": "Checking the {device}.",
        "chat": "I'm here to help with your home.",
        "unknown": "Sorry, I can't do that in this home.",
    },
    "zh": {
        "turn_on": "正在打开{device}。",
        "turn_off": "正在关闭{device}。",
        "open": "正在打开{device}。",
        "close": "正在关闭{device}。",
        "lock": "正在锁上{device}。",
        "unlock": "正在解锁{device}。",
        "start": "正在启动{device}。",
        "stop": "正在停止{device}。",
        "set_brightness": "把{device}调到百分之{value}。",
        "set_volume": "把{device}音量调到{value}。",
        "set_temperature": "把{device}调到{value}度。",
        "set_speed": "把{device}调到{value}档。",
        "query": "正在查看{device}。",
        "chat": "我可以帮您控制家里的设备。",
        "unknown": "抱歉，家里没有这个设备或功能。",
    },
}


class Replies:
    def __init__(self, registry: Registry, overrides: Mapping[str, Mapping[str, str]]) -> None:
        self.registry = registry
        self.tables = {
            lang: {**table, **overrides.get(lang, {})} for lang, table in DEFAULTS.items()
        }

    def render(self, d: Decision, lang: str) -> str:
        template = self.tables.get(lang, self.tables["en"])[d.action]
        name = ""
        if d.device is not None:
            dev = self.registry.by_id[d.device]
            name = dev.name
            if lang == "zh":
                # A Chinese reply should name the device in Chinese when it has a name.
                name = next((a for a in dev.aliases if _is_cjk(a)), dev.name)
        return template.format(device=name, value=d.value)


def _is_cjk(s: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in s)
