"""`dialogd eval SET.jsonl`: accuracy and latency of the intent engine on a labelled set.

Reads FORMAT.md's evaluation lines: `text` with `expect` (one command or a list) and an
optional `area`, or `turns`. A line is exact when the same set of (action, device,
value) triples comes out, device lists expanded; a `clarify` is judged on its action.
Each line is a conversation of its own: its turns go through one dialogue session, one
after the other, as they would from one site within the follow-up window.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from daemon.config import DialogueSettings, Settings
from daemon.dialogue import manager
from daemon.dialogue.manager import Dialogue
from daemon.dialogue.timers import TimerBook
from daemon.home.registry import Command, Decision
from daemon.home.vocabulary import CLARIFY
from daemon.messages import Request
from daemon.service import build_intent
from daemon.stats import percentile
from daemon.understanding.engine import IntentEngine


@dataclass(frozen=True)
class Turn:
    text: str
    expect: Any  # as in the file: one command object or a list of them
    area: str | None = None


@dataclass(frozen=True)
class Item:
    turns: tuple[Turn, ...]
    conversation: bool = False


def load_set(path: Path) -> list[Item]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if "turns" in obj:
                turns = tuple(
                    Turn(t["text"], t["expect"], t.get("area", obj.get("area")))
                    for t in obj["turns"]
                )
                items.append(Item(turns, conversation=True))
            else:
                items.append(Item((Turn(obj["text"], obj["expect"], obj.get("area")),)))
            for t in items[-1].turns:
                expected_triples(t.expect)
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise SystemExit(f"{path}:{n}: not an eval line ({exc!r})") from None
    return items


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


def evaluate(
    engine: IntentEngine,
    items: list[Item],
    site: str,
    quiet: bool,
    jsonl: bool = False,
    dialogue: Dialogue | None = None,
) -> dict[str, object]:
    if dialogue is None:
        dialogue = Dialogue(engine, DialogueSettings(), TimerBook(None), site)
    valid = exact = n_turns = 0
    conversations = conv_exact = 0
    times: list[float] = []
    model_times: list[float] = []
    for i, it in enumerate(items):
        rows = []
        all_hit = True
        session = f"eval-{i}"
        for turn in it.turns:
            t0 = time.perf_counter()
            req = Request(text=turn.text, source="cli", id=f"eval-{i}", session=session)
            played = dialogue.play(req, turn.area)
            u = played.understood
            ms = (time.perf_counter() - t0) * 1000
            n_turns += 1
            times.append(ms)
            if u.engine == "model":
                model_times.append(ms)
            valid += _valid(engine, played, turn, site)
            hit = u.decision.triples() == expected_triples(turn.expect)
            exact += hit
            all_hit = all_hit and hit
            row = {
                "text": turn.text,
                "expect": turn.expect,
                "got": got_shape(u.decision),
                "exact": hit,
                "engine": u.engine,
                "ms": round(ms, 1),
            }
            rows.append(row)
            if not hit and not quiet and not jsonl:
                print(
                    f"MISS {turn.text!r}"
                    + (f" (area {turn.area})" if turn.area else "")
                    + f": got {json.dumps(row['got'], ensure_ascii=False)} ({u.engine}), "
                    f"want {json.dumps(turn.expect, ensure_ascii=False)}",
                    file=sys.stderr,
                )
        if it.conversation:
            conversations += 1
            conv_exact += all_hit
        if jsonl:
            line = rows[0] if not it.conversation else {"turns": rows, "exact": all_hit}
            print(json.dumps(line, ensure_ascii=False))
    return {
        "n": n_turns,
        "valid": valid,
        "exact": exact,
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "model_n": len(model_times),
        "model_p50_ms": round(percentile(model_times, 50), 1),
        "conversations": conversations,
        "conversations_exact": conv_exact,
    }


def _valid(engine: IntentEngine, played: manager.Turn, turn: Turn, site: str) -> bool:
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


def run_eval(settings: Settings, path: Path, quiet: bool = False, jsonl: bool = False) -> int:
    from daemon.app import build_dialogue, build_engine

    items = load_set(path)
    engine = build_engine(settings)
    dialogue = build_dialogue(settings, engine, persist=False)
    result = evaluate(engine, items, settings.site_id, quiet, jsonl, dialogue)
    print(json.dumps(result))
    return 0
