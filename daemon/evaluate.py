"""`dialogd eval SET.jsonl`: accuracy and latency of the intent engine on a labelled set."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from daemon.config import Settings
from daemon.messages import Intent, Request
from daemon.nlu.engine import IntentEngine, Understood
from daemon.service import build_intent
from daemon.stats import percentile


@dataclass(frozen=True)
class Item:
    text: str
    action: str
    device: str | None
    value: int | None


def load_set(path: Path) -> list[Item]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            e = obj["expect"]
            items.append(Item(obj["text"], e["action"], e.get("device"), e.get("value")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}:{n}: not an eval line ({exc})") from None
    return items


def as_intent(u: Understood, text: str, site: str) -> Intent:
    return build_intent(Request(text=text, source="cli", id="eval"), u, site, u.ms)


def evaluate(engine: IntentEngine, items: list[Item], site: str, quiet: bool) -> dict[str, object]:
    valid = exact = 0
    times: list[float] = []
    model_times: list[float] = []
    for it in items:
        t0 = time.perf_counter()
        u = engine.understand(it.text)
        ms = (time.perf_counter() - t0) * 1000
        times.append(ms)
        if u.engine == "model":
            model_times.append(ms)
        try:
            as_intent(u, it.text, site)
            ok_valid = engine.registry.check(u.decision) is None
        except ValidationError:
            ok_valid = False
        valid += ok_valid
        d = u.decision
        hit = (d.action, d.device, d.value) == (it.action, it.device, it.value)
        exact += hit
        if not hit and not quiet:
            print(
                f"MISS {it.text!r}: got {d.action} {d.device} {d.value} ({u.engine}), "
                f"want {it.action} {it.device} {it.value}",
                file=sys.stderr,
            )
    return {
        "n": len(items),
        "valid": valid,
        "exact": exact,
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "model_n": len(model_times),
        "model_p50_ms": round(percentile(model_times, 50), 1),
    }


def run_eval(settings: Settings, path: Path, quiet: bool = False) -> int:
    from daemon.app import build_engine

    items = load_set(path)
    engine = build_engine(settings)
    result = evaluate(engine, items, settings.site_id, quiet)
    print(json.dumps(result))
    return 0
