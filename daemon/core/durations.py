"""A length of time as people say it ("1 hour 30 minutes", in Chinese "1 xiaoshi 30
fenzhong"): one speller for replies and timers, its words in daemon/data/dialogue.toml."""

from __future__ import annotations

from daemon.core.data import load


def spoken_duration(seconds: int, lang: str) -> str:
    """`seconds` in hours, minutes and seconds, in `lang`; "no time" for 0."""
    seconds = max(0, seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    words = load("dialogue.toml")["zh" if lang.startswith("zh") else "en"]["duration"]
    minute = "minute_before_seconds" if s and "minute_before_seconds" in words else "minute"
    parts = [
        words[unit][0 if n == 1 else 1].format(n=n)
        for n, unit in ((h, "hour"), (m, minute), (s, "second"))
        if n
    ]
    text: str = words["separator"].join(parts)
    return text or words["none"]
