"""TimerBook: bounds, names, cancel rules, persistence across restarts, spoken durations."""

from __future__ import annotations

import json
import logging
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.core.durations import spoken_duration
from daemon.dialogue.timers import Timer, TimerBook, TimerError

NOW = 1_700_000_000.0


def start(
    book: TimerBook,
    seconds: int,
    name: str | None = None,
    *,
    session: str = "s1",
    now: float = NOW,
    lang: str = "en",
) -> Timer:
    return book.start(
        seconds, name, site="kitchen", session=session, lang=lang, source="mqtt", now=now
    )


def test_timer_fields_and_left() -> None:
    t = start(TimerBook(None), 300, "pasta")
    assert len(t.id) == 8 and int(t.id, 16) >= 0
    assert (t.name, t.seconds, t.ends_at, t.site, t.session, t.lang, t.source) == (
        "pasta",
        300,
        NOW + 300,
        "kitchen",
        "s1",
        "en",
        "mqtt",
    )
    assert t.left(NOW) == 300
    assert t.left(NOW + 0.5) == 300  # ceil: "5 minutes" until a whole second has gone
    assert t.left(NOW + 299.9) == 1
    assert t.left(NOW + 1000) == 0
    with pytest.raises(AttributeError):
        t.name = "x"  # type: ignore[misc]


def test_persistence_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state" / "timers.json"  # parent made on first write
    book = TimerBook(path)
    a = start(book, 600, "Pasta Timer")
    b = start(book, 60, None, lang="zh", session="s2")
    again = TimerBook(path)
    assert again.running(NOW) == [b, a]
    assert again.next_due() == NOW + 60
    assert again.cancel(None) == [b]  # start order survives: b was the latest
    assert TimerBook(path).find(None) == [a]


def test_timer_that_ended_while_down_is_due_at_start(tmp_path: Path) -> None:
    path = tmp_path / "timers.json"
    book = TimerBook(path)
    eggs = start(book, 240, "eggs")
    roast = start(book, 3600, "roast")
    del book  # the daemon stops; ten minutes pass
    later = NOW + 600
    book = TimerBook(path)
    assert book.running(later) == [roast]
    assert book.due(later) == [eggs]
    assert book.due(later) == []
    assert TimerBook(path).due(later) == []  # announced once, also across another restart
    assert TimerBook(path).due(NOW + 3600) == [roast]


@pytest.mark.parametrize(
    "text",
    [
        b"{not json",
        b"",
        b"[]",
        b'{"timers": 3}',
        b'{"timers": [{"id": "x"}]}',
        b"\xff\xfe",
        b"[" * 100_000,
        b'{"timers": [{"id": "a", "name": null, "seconds": true, "ends_at": 1, "site": "k",'
        b' "session": "s", "lang": "en", "source": "m"}]}',
        b'{"timers": [{"id": "a", "name": null, "seconds": 5, "ends_at": NaN, "site": "k",'
        b' "session": "s", "lang": "en", "source": "m"}]}',
    ],
)
def test_damaged_file_gives_empty_book_and_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: bytes
) -> None:
    path = tmp_path / "timers.json"
    path.write_bytes(text)
    with caplog.at_level(logging.WARNING, logger="daemon.dialogue.timers"):
        book = TimerBook(path)
    assert len(book) == 0 and book.next_due() is None
    assert any(r.levelno == logging.WARNING and "damaged" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "timers.json.bad").read_bytes() == text
    assert not path.exists()
    start(book, 10)
    assert len(TimerBook(path)) == 1


def test_unreadable_path_does_not_raise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "timers.json"
    path.mkdir()  # reading a directory is an OSError
    with caplog.at_level(logging.WARNING):
        assert len(TimerBook(path)) == 0
    assert caplog.records


def test_missing_file_is_empty_without_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert len(TimerBook(tmp_path / "none.json")) == 0
    assert not caplog.records


def test_unwritable_file_keeps_timers_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    book = TimerBook(blocker / "timers.json")  # its parent cannot be made
    with caplog.at_level(logging.WARNING):
        t = start(book, 5)
    assert book.running(NOW) == [t]
    assert "could not write" in caplog.text


def test_file_is_private_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "timers.json"
    book = TimerBook(path)
    start(book, 30, "tea")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["timers.json"]  # no tmp file left over
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [t["name"] for t in data["timers"]] == ["tea"]


def test_bounds(tmp_path: Path) -> None:
    book = TimerBook(tmp_path / "timers.json")
    with pytest.raises(TimerError) as e:
        start(book, 0)
    assert e.value.reason == "too_short" and isinstance(e.value, ValueError)
    with pytest.raises(TimerError) as e:
        start(book, 86401)
    assert e.value.reason == "too_long"
    start(book, 86400)
    start(book, 1)
    for i in range(18):
        start(book, 60 + i)
    with pytest.raises(TimerError) as e:
        start(book, 60)  # the 21st
    assert e.value.reason == "too_many"
    assert len(book) == 20 and len(TimerBook(tmp_path / "timers.json")) == 20
    book.due(NOW + 1)  # one rang: room for another
    start(book, 60)


@pytest.mark.parametrize(
    ("said", "name"),
    [
        ("Pasta Timer", "pasta"),
        ("  pasta  ", "pasta"),
        ("EGG timer ", "egg"),
        ("timer", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("意面计时器", "意面"),
        ("鸡蛋定时器", "鸡蛋"),
        ("烤箱倒计时", "烤箱"),
        ("计时器", None),
        ("egg timers", "egg timers"),
        ("stopwatchtimer", "stopwatchtimer"),
        ("tea", "tea"),
    ],
)
def test_name_normalisation(said: str | None, name: str | None) -> None:
    assert start(TimerBook(None), 10, said).name == name


def test_cancel_by_name() -> None:
    book = TimerBook(None)
    p1, tea, p2 = start(book, 10, "pasta"), start(book, 20, "tea"), start(book, 30, "pasta")
    assert book.find("Pasta timer") == [p1, p2]
    assert book.cancel("PASTA Timer") == [p1, p2]
    assert book.cancel("pasta") == []
    assert book.cancel("pasta", everything=True) == []  # "all the pasta timers": none left
    assert book.running(NOW) == [tea]


def test_cancel_latest_and_session_preference() -> None:
    book = TimerBook(None)
    a = start(book, 50, session="kitchen-1")
    b = start(book, 40, session="kitchen-2")
    c = start(book, 30, session="kitchen-1")
    d = start(book, 20, session="kitchen-2")
    assert book.cancel(None, session="kitchen-1") == [c]
    assert book.cancel("timer") == [d]  # "cancel the timer": no name, the latest
    assert book.cancel(None, session="nobody") == [b]  # no own timer: the latest of all
    assert book.cancel(None, session="kitchen-1") == [a]
    assert book.cancel(None) == []


def test_cancel_everything(tmp_path: Path) -> None:
    book = TimerBook(tmp_path / "timers.json")
    timers = [start(book, 10 * i, f"t{i}") for i in range(1, 4)]
    assert book.cancel(None, everything=True) == timers
    assert len(TimerBook(tmp_path / "timers.json")) == 0 and book.next_due() is None


def test_running_find_due_next_due() -> None:
    book = TimerBook(None)
    assert book.next_due() is None and book.due(NOW) == []
    long, short = start(book, 100, "long"), start(book, 10, "short")
    assert book.running(NOW) == [short, long]
    assert book.find(None) == [short, long]
    assert book.find("none") == []
    assert book.next_due() == NOW + 10
    assert book.running(NOW + 10) == [long]  # ended, waiting to be announced
    assert book.due(NOW + 9.99) == []
    assert book.due(NOW + 10) == [short]
    assert book.next_due() == NOW + 100


@pytest.mark.parametrize(
    ("seconds", "en", "zh"),
    [
        (300, "5 minutes", "5分钟"),
        (5400, "1 hour 30 minutes", "1小时30分钟"),
        (45, "45 seconds", "45秒"),
        (65, "1 minute 5 seconds", "1分5秒"),
        (1, "1 second", "1秒"),
        (60, "1 minute", "1分钟"),
        (3600, "1 hour", "1小时"),
        (7200, "2 hours", "2小时"),
        (3605, "1 hour 5 seconds", "1小时5秒"),
        (3661, "1 hour 1 minute 1 second", "1小时1分1秒"),
        (86400, "24 hours", "24小时"),
        (0, "0 seconds", "0秒"),
    ],
)
def test_spoken_duration(seconds: int, en: str, zh: str) -> None:
    assert spoken_duration(seconds, "en") == en
    assert spoken_duration(seconds, "zh") == zh


@given(st.integers(min_value=0, max_value=200_000))
def test_spoken_duration_says_every_second(seconds: int) -> None:
    words = spoken_duration(seconds, "en").split()
    unit = {"hour": 3600, "hours": 3600, "minute": 60, "minutes": 60, "second": 1, "seconds": 1}
    assert sum(int(n) * unit[u] for n, u in zip(words[::2], words[1::2], strict=True)) == seconds


OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("start"),
            st.integers(-5, 150),
            st.sampled_from([None, "a", "b timer"]),
            st.sampled_from(["s1", "s2"]),
        ),
        st.tuples(
            st.just("cancel"),
            st.sampled_from([None, "a", "b"]),
            st.sampled_from([None, "s1", "s2"]),
            st.booleans(),
        ),
        st.tuples(st.just("due")),
        st.tuples(st.just("tick"), st.integers(0, 60)),
        st.tuples(st.just("restart")),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_book_stays_bounded_and_each_timer_rings_once(ops: list[tuple[Any, ...]]) -> None:
    # tmp_path is per test, not per example: each example needs its own file.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "timers.json"
        book = TimerBook(path, max_timers=5, max_seconds=100)
        now, rung, started, cancelled = NOW, set[str](), set[str](), set[str]()
        for op in ops:
            if op[0] == "start":
                _, seconds, name, session = op
                try:
                    t = start(book, seconds, name, session=session, now=now)
                except TimerError as e:
                    assert (e.reason == "too_short") == (seconds < 1)
                    assert (e.reason == "too_long") == (seconds > 100)
                    assert (e.reason == "too_many") == (1 <= seconds <= 100)
                    assert e.reason != "too_many" or len(book) == 5
                else:
                    started.add(t.id)
                    assert t.ends_at == now + seconds
            elif op[0] == "cancel":
                _, name, session, everything = op
                gone = book.cancel(name, session=session, everything=everything)
                cancelled |= {t.id for t in gone}
            elif op[0] == "due":
                for t in book.due(now):
                    assert t.id not in rung and t.id not in cancelled and t.ends_at <= now
                    rung.add(t.id)
            elif op[0] == "tick":
                now += op[1]
            else:
                book = TimerBook(path, max_timers=5, max_seconds=100)
            assert len(book) <= 5
            held = {t.id for t in book.find(None)}
            assert held <= started and not held & (rung | cancelled)
            assert book.next_due() == min((t.ends_at for t in book.find(None)), default=None)
