"""Model-path latency in a generated home of N devices (default 150) beside the reference
home, in one process, same model, same machine: does a big registry slow decisions?

    .venv/bin/python benchmarks/big_home_latency.py [--devices 150] [--runs 3]

Requests name devices of each home; every one goes through the model path alone (the
templates are skipped) so that the figures are the model's. Prints p50/p95 per home and
their ratio, and the prompt size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from daemon.config.settings import load_settings  # noqa: E402
from daemon.pipeline.engines import build_engine  # noqa: E402
from daemon.tools.homegen import synthetic_home_toml  # noqa: E402
from daemon.understanding.engine import IntentEngine  # noqa: E402
from daemon.understanding.llm import LlamaEngine  # noqa: E402

PHRASES = (
    ("switch off the {name}", "turn_off"),
    ("please turn the {name} on", "turn_on"),
    ("{name} off", "turn_off"),
    ("is the {name} on", "query"),
)


def requests_for(engine: IntentEngine, n: int) -> list[tuple[str, tuple[str, str]]]:
    """(text, (expected action, device)) for `n` devices spread over the home."""
    devices = [d for d in engine.registry.devices if d.type in ("light", "switch", "fan")]
    step = max(1, len(devices) // n)
    picked = devices[::step][:n]
    out = []
    for i, d in enumerate(picked):
        text, action = PHRASES[i % len(PHRASES)]
        out.append((text.format(name=d.name), (action, d.id)))
    return out


def measure(
    engine: IntentEngine, items: list[tuple[str, tuple[str, str]]], runs: int
) -> tuple[list[float], int]:
    out, exact = [], 0
    for _ in range(runs):
        for text, (action, device) in items:
            t0 = time.perf_counter()
            u = engine.understand_model(text)
            out.append((time.perf_counter() - t0) * 1000)
            c = u.decision.first
            exact += (c.action, c.devices) == (action, (device,))
    return out, exact


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=150)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=12)
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.toml"
        big.write_text(synthetic_home_toml(args.devices), encoding="utf-8")
        homes = {
            "reference": ROOT / "tests" / "data" / "home.toml",
            f"generated-{args.devices}": big,
        }
        for name, path in homes.items():
            s = load_settings(path)
            s = s.model_copy(
                update={"llm": s.llm.model_copy(update={"state_dir": ROOT / ".state"})}
            )
            engine = build_engine(s)
            model = engine.model
            assert isinstance(model, LlamaEngine)
            texts = requests_for(engine, args.requests)
            measure(engine, texts[:2], 1)  # warm-up
            ms, exact = measure(engine, texts, args.runs)
            ms.sort()
            rows[name] = {
                "devices": len(tomllib.loads(path.read_text())["devices"]),
                "prompt_tokens": model.prefix_tokens,
                "n_ctx": model.llm.n_ctx(),
                "n": len(ms),
                "exact": exact,
                "p50_ms": round(statistics.median(ms), 1),
                "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
            }
            model.close()
    for name, r in rows.items():
        print(
            f"{name:15} {r['devices']:4} devices, prompt {r['prompt_tokens']:5} tok, "
            f"n_ctx {r['n_ctx']:5}: model path p50 {r['p50_ms']:6.1f} ms, "
            f"p95 {r['p95_ms']:6.1f} ms, exact {r['exact']}/{r['n']}"
        )
    ref, gen = rows["reference"], rows[f"generated-{args.devices}"]
    ratio = {
        "p50": round(gen["p50_ms"] / ref["p50_ms"], 2),
        "p95": round(gen["p95_ms"] / ref["p95_ms"], 2),
    }
    print(json.dumps({"homes": rows, "big_over_reference": ratio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
