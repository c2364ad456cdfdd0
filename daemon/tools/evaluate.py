"""`dialogd eval SET...`: accuracy and latency of the intent engine on labelled sets.

Reads FORMAT.md's evaluation lines: `text` with `expect` (one command or a list), an
optional `area` and optional `tags`, or `turns`. A line is exact when the same set of
(action, device, value) triples comes out, device lists expanded; a `clarify` is judged
on its action. Each line is a conversation of its own: its turns go through one dialogue
session, one after the other, as they would from one site within the follow-up window.

Several sets run in one go, each against its own home: a set given as `HOME.toml:SET.jsonl`,
or an `X.jsonl` found in a directory beside an `X.toml`, uses that registry (floors, areas,
devices, unit); everything else (model, dialogue, replies) comes from the config. Homes
that agree on `[llm]` share one loaded model, given each home's registry in turn.

Besides each set's summary line, a report counts exact turns per home and per language,
exact lines per tag, and `safety`: how many lines tagged `safety` actuated nothing. A turn
actuates when its decision has an actuating command (vocabulary.ACTUATING) and its status
says to carry it out (`decided`, `confirmed`); a `needs_confirmation` moves nothing.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from daemon.config.settings import (
    ConfigError,
    DialogueSettings,
    LlmSettings,
    Settings,
    load_settings,
)
from daemon.core.messages import Request
from daemon.core.vocabulary import ACTUATING, CLARIFY
from daemon.dialogue import manager
from daemon.dialogue.manager import Dialogue
from daemon.dialogue.timers import TimerBook
from daemon.home.registry import Command, Decision
from daemon.outputs.metrics import percentile
from daemon.pipeline.intents import build_intent
from daemon.pipeline.turns import play
from daemon.understanding.engine import IntentEngine, Model

# A turn is Chinese when it has a CJK ideograph (mixed lines count as Chinese).
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Statuses on which a consumer carries the commands out (messages.IntentStatus).
CARRIED_OUT = ("decided", "confirmed")
SAFETY = "safety"
# What a home's own TOML gives; the rest of the settings come from the config.
REGISTRY_KEYS = ("temperature_unit", "floors", "areas", "devices", "area")


@dataclass(frozen=True)
class LabelledTurn:
    text: str
    expect: Any  # as in the file: one command object or a list of them
    area: str | None = None


@dataclass(frozen=True)
class Item:
    turns: tuple[LabelledTurn, ...]
    conversation: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalSet:
    """One set to run: its lines, and the registry TOML they are about (None: the config's)."""

    label: str
    path: Path
    home: Path | None = None


@dataclass(frozen=True)
class Played:
    """What one turn came to."""

    text: str
    exact: bool
    valid: bool
    actuated: bool
    engine: str
    ms: float

    @property
    def lang(self) -> str:
        return "zh" if _CJK.search(self.text) else "en"


@dataclass(frozen=True)
class Scored:
    """What one line came to: its turns, in order."""

    item: Item
    turns: tuple[Played, ...]

    @property
    def exact(self) -> bool:
        return all(t.exact for t in self.turns)

    @property
    def actuated(self) -> bool:
        return any(t.actuated for t in self.turns)


@dataclass(frozen=True)
class Output:
    """What to print while a set runs."""

    quiet: bool = False
    jsonl: bool = False
    home: str | None = None  # the set's label, on rows and misses when several sets run


# ------------------------------------------------------------------ reading sets


def load_set(path: Path) -> list[Item]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(_item(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise SystemExit(f"{path}:{n}: not an eval line ({exc!r})") from None
    return items


def _item(obj: dict[str, Any]) -> Item:
    if "turns" in obj:
        turns = tuple(
            LabelledTurn(t["text"], t["expect"], t.get("area", obj.get("area")))
            for t in obj["turns"]
        )
        item = Item(turns, conversation=True, tags=_tags(obj))
    else:
        item = Item((LabelledTurn(obj["text"], obj["expect"], obj.get("area")),), tags=_tags(obj))
    for t in item.turns:
        expected_triples(t.expect)
    return item


def _tags(obj: dict[str, Any]) -> tuple[str, ...]:
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise TypeError("tags must be a list of strings")
    return tuple(tags)


def resolve_sets(args: Sequence[str]) -> list[EvalSet]:
    """The sets named on the command line: `SET.jsonl`, `HOME.toml:SET.jsonl`, or a
    directory of `X.jsonl` files (each with `X.toml` beside it, when there is one)."""
    found: list[tuple[Path, Path | None]] = []
    for arg in args:
        found.extend(_resolve_one(arg))
    stems = [p.stem for p, _ in found]
    return [EvalSet(p.stem if stems.count(p.stem) == 1 else str(p), p, home) for p, home in found]


def _resolve_one(arg: str) -> list[tuple[Path, Path | None]]:
    if ".toml:" in arg:
        home, _, path = arg.partition(".toml:")
        pair = (Path(path), Path(home + ".toml"))
        for p in pair:
            if not p.is_file():
                raise SystemExit(f"eval: {p}: no such file (in {arg!r})")
        return [pair]
    where = Path(arg)
    if where.is_dir():
        sets = sorted(where.glob("*.jsonl"))
        if not sets:
            raise SystemExit(f"eval: {where}: no .jsonl sets in this directory")
        return [(p, _own_home(p)) for p in sets]
    if not where.is_file():
        raise SystemExit(f"eval: {where}: no such file or directory")
    return [(where, None)]


def _own_home(path: Path) -> Path | None:
    home = path.with_suffix(".toml")
    return home if home.is_file() else None


def home_settings(base: Settings, home: Path | None) -> Settings:
    """The config with the registry of `home` (floors, areas, devices, unit, area)."""
    if home is None:
        return base
    try:
        own = load_settings(home)
    except ConfigError as exc:
        raise ConfigError([f"{home}: {p}" for p in exc.problems]) from None
    return base.model_copy(update={k: getattr(own, k) for k in REGISTRY_KEYS})


# ------------------------------------------------------------------ scoring


def expected_triples(expect: Any) -> set[tuple[str, str | None, Any]]:
    commands = expect if isinstance(expect, list) else [expect]
    out: set[tuple[str, str | None, Any]] = set()
    for c in commands:
        if c["action"] == CLARIFY:
            out.add((CLARIFY, None, None))
            continue
        dev = c.get("device")
        devices = dev if isinstance(dev, list) else [dev]
        out.update((c["action"], d, c.get("value")) for d in devices)
    return out


def got_shape(d: Decision) -> Any:
    """The decided commands in the shape of `expect`: one object, or a list."""
    out = [_command(c) for c in d.commands]
    return out[0] if len(out) == 1 else out


def _command(c: Command) -> dict[str, Any]:
    return {"action": c.action, "device": c.device, "value": c.value}


def actuates(played: manager.Turn) -> bool:
    """Whether the turn moves something: an actuating command, to be carried out now."""
    commands = played.understood.decision.commands
    return played.status in CARRIED_OUT and any(c.action in ACTUATING for c in commands)


def _valid(engine: IntentEngine, played: manager.Turn, turn: LabelledTurn, site: str) -> bool:
    u = played.understood
    try:
        build_intent(
            Request(text=turn.text, source="cli", id="eval"),
            played,
            site,
            u.ms,
            engine.registry,
            turn.area,
        )
    except ValidationError:
        return False
    return engine.registry.check_decision(u.decision) is None


# ------------------------------------------------------------------ playing a set


def evaluate(
    engine: IntentEngine,
    items: list[Item],
    site: str,
    quiet: bool,
    jsonl: bool = False,
    dialogue: Dialogue | None = None,
) -> dict[str, object]:
    """Play `items` and return the summary (the JSON line `dialogd eval` prints)."""
    return summarize(play_set(engine, items, site, dialogue, Output(quiet, jsonl)))


def play_set(
    engine: IntentEngine,
    items: Sequence[Item],
    site: str,
    dialogue: Dialogue | None = None,
    out: Output | None = None,
) -> list[Scored]:
    """Play every line, printing misses (stderr) or `--jsonl` rows (stdout) as `out` says."""
    out = out or Output()
    if dialogue is None:
        dialogue = Dialogue(engine, DialogueSettings(), TimerBook(None), site)
    outcomes = []
    for i, it in enumerate(items):
        results = [_play_turn(engine, dialogue, turn, i, site, out) for turn in it.turns]
        outcome = Scored(it, tuple(p for p, _ in results))
        _print_line(outcome, [row for _, row in results], out)
        outcomes.append(outcome)
    return outcomes


def _play_turn(
    engine: IntentEngine, dialogue: Dialogue, turn: LabelledTurn, i: int, site: str, out: Output
) -> tuple[Played, dict[str, Any]]:
    t0 = time.perf_counter()
    req = Request(text=turn.text, source="cli", id=f"eval-{i}", session=f"eval-{i}")
    played = play(dialogue, req, turn.area)
    u = played.understood
    ms = (time.perf_counter() - t0) * 1000
    hit = u.decision.triples() == expected_triples(turn.expect)
    valid = _valid(engine, played, turn, site)
    row = {
        "text": turn.text,
        "expect": turn.expect,
        "got": got_shape(u.decision),
        "exact": hit,
        "engine": u.engine,
        "ms": round(ms, 1),
        "status": played.status,
        "margin": None if u.margin is None else round(min(u.margin, 99.0), 3),
    }
    if not hit and not out.quiet and not out.jsonl:
        _print_miss(turn, row, out.home)
    return Played(turn.text, hit, valid, actuates(played), u.engine, ms), row


def _print_miss(turn: LabelledTurn, row: dict[str, Any], home: str | None) -> None:
    print(
        "MISS "
        + (f"[{home}] " if home else "")
        + f"{turn.text!r}"
        + (f" (area {turn.area})" if turn.area else "")
        + f": got {json.dumps(row['got'], ensure_ascii=False)} ({row['engine']}), "
        f"want {json.dumps(turn.expect, ensure_ascii=False)}",
        file=sys.stderr,
    )


def _print_line(outcome: Scored, rows: list[dict[str, Any]], out: Output) -> None:
    if not out.jsonl:
        return
    it = outcome.item
    line = dict(rows[0]) if not it.conversation else {"turns": rows, "exact": outcome.exact}
    if it.tags:
        line["tags"] = list(it.tags)
    if out.home is not None:
        line["home"] = out.home
    print(json.dumps(line, ensure_ascii=False))


def summarize(outcomes: Sequence[Scored]) -> dict[str, object]:
    """The summary line: turns, valid and exact ones, latency, conversations."""
    turns = [t for o in outcomes for t in o.turns]
    times = [t.ms for t in turns]
    model_times = [t.ms for t in turns if t.engine == "model"]
    conversations = [o for o in outcomes if o.item.conversation]
    return {
        "n": len(turns),
        "valid": sum(t.valid for t in turns),
        "exact": sum(t.exact for t in turns),
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "model_n": len(model_times),
        "model_p50_ms": round(percentile(model_times, 50), 1),
        "conversations": len(conversations),
        "conversations_exact": sum(o.exact for o in conversations),
    }


# ------------------------------------------------------------------ the report


@dataclass
class Tally:
    n: int = 0
    ok: int = 0

    def add(self, ok: bool) -> None:
        self.n += 1
        self.ok += ok

    def row(self, label: str) -> str:
        rate = f"{100 * self.ok / self.n:6.1f}%" if self.n else "      -"
        return f"  {label:<24}{self.ok:>6} /{self.n:>5}{rate}"


@dataclass
class Report:
    """Exact turns per home and language, exact lines per tag, safe `safety` lines."""

    homes: dict[str, Tally] = field(default_factory=dict)
    langs: dict[str, Tally] = field(default_factory=dict)
    tags: dict[str, Tally] = field(default_factory=dict)
    safety: dict[str, Tally] = field(default_factory=dict)

    def add(self, home: str, outcomes: Iterable[Scored]) -> None:
        turns, safe = self.homes.setdefault(home, Tally()), self.safety.setdefault(home, Tally())
        for o in outcomes:
            for t in o.turns:
                turns.add(t.exact)
                self.langs.setdefault(t.lang, Tally()).add(t.exact)
            for tag in o.item.tags:
                self.tags.setdefault(tag, Tally()).add(o.exact)
            if SAFETY in o.item.tags:
                safe.add(not o.actuated)

    def as_json(self) -> dict[str, Any]:
        def table(t: dict[str, Tally], ok: str = "exact") -> dict[str, dict[str, int]]:
            return {k: {"n": v.n, ok: v.ok} for k, v in sorted(t.items())}

        return {
            "homes": table(self.homes),
            "languages": table(self.langs),
            "tags": table(self.tags),
            "safety": table(self.safety, "safe"),
        }

    def text(self) -> str:
        lines = [f"  {'':<24}{'ok':>6} /{'n':>5}{'rate':>7}"]
        lines += _section("exact turns per home", self.homes, total=True)
        lines += _section("exact turns per language (zh: has CJK)", self.langs)
        lines += _section("exact lines per tag (a conversation is one line)", self.tags)
        lines += _section("safety: lines tagged safety that actuated nothing", self.safety, True)
        return "\n".join(lines)


def _section(title: str, tallies: dict[str, Tally], total: bool = False) -> list[str]:
    lines = [title] + [t.row(k) for k, t in sorted(tallies.items())]
    if total and len(tallies) > 1:
        everything = tallies.values()
        lines.append(Tally(sum(t.n for t in everything), sum(t.ok for t in everything)).row("all"))
    return lines


# ------------------------------------------------------------------ the command


class Engines:
    """An engine per home; homes with the same `[llm]` settings share the loaded model."""

    def __init__(self) -> None:
        self._model: Model | None = None
        self._llm: LlmSettings | None = None

    def for_home(self, settings: Settings) -> IntentEngine:
        from daemon.pipeline.engines import build_engine, home_registry

        if self._model is not None and settings.llm == self._llm:
            registry = home_registry(settings)
            self._model.set_registry(registry)
            return IntentEngine(registry, settings.replies, self._model)
        engine = build_engine(settings)
        self._model, self._llm = engine.model, settings.llm
        return engine


def run_eval(
    settings: Settings,
    sets: Sequence[EvalSet],
    quiet: bool = False,
    jsonl: bool = False,
    report: bool = False,
) -> int:
    """Run each set against its home; print its summary line, then the report if asked.

    Every set and home is read before any model loads, so a bad one fails at once.
    """
    from daemon.pipeline.engines import build_dialogue

    homes = [(s, home_settings(settings, s.home), load_set(s.path)) for s in sets]
    engines = Engines()
    several = len(sets) > 1
    board = Report()
    for s, home, items in homes:
        engine = engines.for_home(home)
        dialogue = build_dialogue(home, engine, persist=False)
        out = Output(quiet, jsonl, s.label if several else None)
        outcomes = play_set(engine, items, home.site_id, dialogue, out)
        print(json.dumps(summarize(outcomes)), flush=True)
        board.add(s.label, outcomes)
    if report:
        print(json.dumps({"report": board.as_json()}) if jsonl else board.text())
    return 0
