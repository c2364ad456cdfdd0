"""Does the yes/no check before acting tell right from wrong? (`llm.check`)

For every single-request line of the given homes that the model path decides with an
actuating command, asks the model "Is the speaker asking you to <it> right now?" and
prints the log-odds of yes, whether the decision was exact, and the time it took. A
useful check would answer no to the wrong ones (hearsay, statements, wrong verbs) and yes
to the right ones: its false refusals are the right ones with a no.

    .venv/bin/python benchmarks/yes_no_check.py [DIR]     (default: tests/data/wide)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from daemon.config.settings import load_settings
from daemon.pipeline.engines import build_engine
from daemon.tools.evaluate import expected_triples, load_set


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/wide")
    rows: list[tuple[float, bool, float, str]] = []
    for set_path in sorted(root.glob("*.jsonl")):
        engine = build_engine(load_settings(set_path.with_suffix(".toml")))
        for item in load_set(set_path):
            if len(item.turns) != 1:
                continue
            turn = item.turns[0]
            u = engine.understand(turn.text, turn.area)
            if u.engine != "model":
                continue
            t0 = time.perf_counter()
            score = engine.check_score(u, turn.text)
            ms = (time.perf_counter() - t0) * 1000
            if score is None:
                continue
            exact = u.decision.triples() == expected_triples(turn.expect)
            rows.append((score, exact, ms, turn.text))
    for score, exact, ms, text in sorted(rows):
        print(f"{score:6.2f} {'exact' if exact else 'wrong'} {ms:5.0f} ms  {text}")
    right = [r for r in rows if r[1]]
    wrong = [r for r in rows if not r[1]]
    print(
        f"{len(rows)} model decisions that actuate: {len(right)} exact, {len(wrong)} wrong; "
        f"the check says no to {sum(r[0] <= 0 for r in wrong)} wrong ones and to "
        f"{sum(r[0] <= 0 for r in right)} right ones (false refusals); "
        f"median {sorted(r[2] for r in rows)[len(rows) // 2]:.0f} ms each"
        if rows
        else "no model decision actuates"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
