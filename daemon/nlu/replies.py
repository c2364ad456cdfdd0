"""Replies from templates: free, instant and always in the user's language.

Templates can be overridden per language and action in `[replies.<lang>]` of
config.toml; `{device}` is the device's name and `{value}` the number. Small talk gets a
canned answer by topic (greeting, thanks, a joke, ...) unless `llm.chat_replies` lets
the model write it, which costs a dozen generated tokens (about 1.3 s on a Pi 4).
"""

from __future__ import annotations

import re
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


# Small-talk topics: (English pattern, Chinese pattern, English reply, Chinese reply).
SMALL_TALK: tuple[tuple[str, str, str, str], ...] = (
    (r"\bjoke|funny|laugh", "笑话|好笑|逗", "I'd tell a UDP joke, but you might not get it.",
     "我的电费单比笑话还好笑。"),
    (r"\bthank|thx|cheers", "谢", "You're welcome!", "不客气！"),
    (r"\bgood ?night|\bbye\b|goodbye|see you", "晚安|再见|拜拜", "Good night!", "晚安！"),
    (r"how are you|how's it going|how do you do", "你好吗|怎么样", "I'm fine, thanks!",
     "我很好，谢谢！"),
    (r"what can you|help me|what do you do|able to", "能做|会做|能干|帮我什么|功能",
     "I can control the lights, heating, TV and more.", "我可以帮您控制家里的设备。"),
    (r"your name|who are you|who made you", "名字|你是谁|谁做", "I'm your home assistant.",
     "我是您的家庭助手。"),
    (r"\bgood (morning|afternoon|evening)", "早上好|早安|下午好|晚上好",
     "Good {time}!", "您好！"),
    (r"\b(hello|hi|hey|howdy)\b", "你好|您好|嗨|哈喽", "Hello, how can I help?",
     "您好，需要我做什么？"),
)  # fmt: skip


class Replies:
    def __init__(self, registry: Registry, overrides: Mapping[str, Mapping[str, str]]) -> None:
        self.registry = registry
        self.tables = {
            lang: {**table, **overrides.get(lang, {})} for lang, table in DEFAULTS.items()
        }

    def small_talk(self, text: str, lang: str) -> str:
        """A canned answer to small talk, by topic; the configured chat template else."""
        low = text.lower()
        for en, zh, reply_en, reply_zh in SMALL_TALK:
            m = re.search(zh if lang == "zh" else en, low)
            if m:
                if lang == "zh":
                    return reply_zh
                time_of_day = m.group(1) if m.re.groups else ""
                return reply_en.format(time=time_of_day)
        return self.render(Decision("chat"), lang)

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
