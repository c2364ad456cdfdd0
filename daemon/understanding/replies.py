"""Replies from templates: free, instant and always in the user's language.

One reply for a whole request: a sentence per command, joined. Templates can be
overridden per language and action in `[replies.<lang>]` of config.toml; `{device}` is
the device's name (or a list of names) and `{value}` the value. Small talk gets a
canned answer by topic unless `llm.chat_replies` lets the model write it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from daemon.core.vocabulary import CHAT, CLARIFY
from daemon.home.registry import Command, Decision, RangeProblem, Registry

DEFAULTS: dict[str, dict[str, str]] = {
    "en": {
        "turn_on": "Turning on the {device}.",
        "turn_off": "Turning off the {device}.",
        "open": "Opening the {device}.",
        "close": "Closing the {device}.",
        "stop": "Stopping the {device}.",
        "lock": "Locking the {device}.",
        "unlock": "Unlocking the {device}.",
        "start": "Starting the {device}.",
        "pause": "Pausing the {device}.",
        "resume": "Resuming the {device}.",
        "next_track": "Next track on the {device}.",
        "previous_track": "Previous track on the {device}.",
        "mute": "Muting the {device}.",
        "unmute": "Unmuting the {device}.",
        "return_to_base": "Sending the {device} back to its dock.",
        "activate": "Activating {device}.",
        "set_brightness": "Setting the {device} to {value} percent.",
        "change_brightness": "Changing the {device} brightness by {value} percent.",
        "set_color": "Making the {device} {value}.",
        "set_volume": "Setting the {device} volume to {value}.",
        "change_volume": "Changing the {device} volume by {value}.",
        "set_temperature": "Setting the {device} to {value} degrees.",
        "change_temperature": "Changing the {device} by {value} degrees.",
        "set_speed": "Setting the {device} to speed {value}.",
        "change_speed": "Changing the {device} speed by {value}.",
        "set_position": "Setting the {device} to {value} percent.",
        "add_item": "Adding {value} to the {device}.",
        "query": "Checking the {device}.",
        "chat": "I'm here to help with your home.",
        "unknown": "Sorry, I can't do that in this home.",
        "cancel": "OK, never mind.",
        "clarify": "Which one: {device}?",
        "start_timer": "Timer set for {value}.",
        "cancel_timer": "Timer cancelled.",
        "timer_status": "Checking the timer.",
        "out_of_range": "Sorry, the {device} goes from {lo} to {hi} {unit}.",
        "timer_out_of_range": "Sorry, a timer runs from one second to 24 hours.",
        "and": " and ",
        "or": " or ",
    },
    "zh": {
        "turn_on": "正在打开{device}。",
        "turn_off": "正在关闭{device}。",
        "open": "正在打开{device}。",
        "close": "正在关闭{device}。",
        "stop": "正在停止{device}。",
        "lock": "正在锁上{device}。",
        "unlock": "正在解锁{device}。",
        "start": "正在启动{device}。",
        "pause": "暂停{device}。",
        "resume": "继续{device}。",
        "next_track": "{device}下一首。",
        "previous_track": "{device}上一首。",
        "mute": "{device}静音。",
        "unmute": "{device}取消静音。",
        "return_to_base": "{device}正在回充。",
        "activate": "启动{device}。",
        "set_brightness": "把{device}调到百分之{value}。",
        "change_brightness": "把{device}亮度调整{value}%。",
        "set_color": "把{device}调成{value}。",
        "set_volume": "把{device}音量调到{value}。",
        "change_volume": "把{device}音量调整{value}。",
        "set_temperature": "把{device}调到{value}度。",
        "change_temperature": "把{device}调整{value}度。",
        "set_speed": "把{device}调到{value}档。",
        "change_speed": "把{device}调整{value}档。",
        "set_position": "把{device}调到百分之{value}。",
        "add_item": "把{value}加到{device}。",
        "query": "正在查看{device}。",
        "chat": "我可以帮您控制家里的设备。",
        "unknown": "抱歉，家里没有这个设备或功能。",
        "cancel": "好的，不做了。",
        "clarify": "哪一个：{device}？",
        "start_timer": "计时器已设为{value}。",
        "cancel_timer": "计时器已取消。",
        "timer_status": "正在查看计时器。",
        "out_of_range": "抱歉，{device}的范围是{lo}到{hi}{unit}。",
        "timer_out_of_range": "抱歉，计时器可以从一秒到二十四小时。",
        "and": "和",
        "or": "还是",
    },
}
_ZH_UNITS = {"percent": "%", "degrees": "度", "level": "档", "levels": "档", "seconds": "秒"}
_ZH_COLORS = {"red": "红色", "orange": "橙色", "yellow": "黄色", "green": "绿色",
              "cyan": "青色", "blue": "蓝色", "purple": "紫色", "pink": "粉色",
              "white": "白色"}  # fmt: skip

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
        return self._table(lang)[CHAT]

    def render(self, d: Decision, lang: str) -> str:
        if d.problem is not None:
            return self._out_of_range(d.problem, lang)
        sep = "" if lang == "zh" else " "
        return sep.join(self._one(c, lang) for c in d.commands)

    def _one(self, c: Command, lang: str) -> str:
        t = self._table(lang)
        joiner = t["or"] if c.action == CLARIFY else t["and"]
        names = self.names(c.devices, lang, joiner)
        return t[c.action].format(device=names, value=self._value(c, lang))

    def _value(self, c: Command, lang: str) -> object:
        v = c.value
        if c.action == "set_color" and lang == "zh" and isinstance(v, str):
            return _ZH_COLORS.get(v, v)
        if c.action == "start_timer" and isinstance(v, int):
            return _duration(v, lang)
        return v

    def _out_of_range(self, p: RangeProblem, lang: str) -> str:
        if p.device is None:  # a timer's length
            return self._table(lang)["timer_out_of_range"]
        t = self._table(lang)
        device = self.names((p.device,) if p.device else (), lang, t["and"])
        unit = _ZH_UNITS.get(p.unit, p.unit) if lang == "zh" else p.unit
        return t["out_of_range"].format(device=device, lo=p.lo, hi=p.hi, unit=unit)

    def names(self, ids: Sequence[str], lang: str, joiner: str | None = None) -> str:
        """The devices' names in `lang`, joined ("a, b and c"; 甲、乙和丙)."""
        joiner = self._table(lang)["and"] if joiner is None else joiner
        names = []
        for i in ids:
            dev = self.registry.by_id.get(i)
            if dev is None:
                continue
            name = dev.name
            if lang == "zh":
                name = next((a for a in dev.aliases if _is_cjk(a)), dev.name)
            names.append(name)
        if len(names) <= 1:
            return "".join(names)
        if lang == "zh":
            return "、".join(names[:-1]) + joiner + names[-1]
        return ", ".join(names[:-1]) + joiner + names[-1]

    def _table(self, lang: str) -> dict[str, str]:
        return self.tables.get(lang, self.tables["en"])


def _duration(seconds: int, lang: str) -> str:
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    if lang == "zh":
        return "".join(f"{n}{u}" for n, u in ((h, "小时"), (m, "分钟"), (s, "秒")) if n)
    parts = [f"{n} {u}{'s' if n != 1 else ''}" for n, u in ((h, "hour"), (m, "minute"),
                                                            (s, "second")) if n]  # fmt: skip
    return " ".join(parts)


def _is_cjk(s: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in s)
