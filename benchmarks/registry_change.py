"""What one device change costs the model: prompt tokens re-evaluated, and time.

    .venv/bin/python benchmarks/registry_change.py [--config tests/data/home.toml]

For one device added (at the end of the list, as discovery adds it), one renamed (in
the middle) and one removed, side by side in one run:

    landed:   what dialogd did before issue 17: the whole prefix, evaluated again;
    old:      the old layout (device list inside the first system message, examples
              after it), re-evaluated from the first token that differs;
    new:      the layout now (instructions, examples, then the device list),
              re-evaluated from the first token that differs, measured for real.

Also the time to build a new engine beside the old one (templates, policy, replies),
which is what a fast command no longer waits for.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from daemon.config.home import Device  # noqa: E402
from daemon.config.settings import Settings, load_settings  # noqa: E402
from daemon.home.registry import Registry  # noqa: E402
from daemon.pipeline.engines import build_engine, home_registry  # noqa: E402
from daemon.understanding.llm import LlamaEngine, _common_prefix  # noqa: E402
from daemon.understanding.prompt import (  # noqa: E402
    DEVICES,
    SYSTEM,
    ChatML,
    device_lines,
    examples_for,
)


def old_layout(registry: Registry) -> str:
    system = SYSTEM + "\n\n" + DEVICES.format(devices=device_lines(registry))
    return ChatML.prefix(system, examples_for(registry))


def changes(s: Settings) -> dict[str, Settings]:
    """One device added, renamed and removed: the ones in the middle of the list that no
    worked example is about (removing an example's device rewrites that example too)."""
    devices = list(s.devices)
    used = " ".join(answer for _, answer in examples_for(home_registry(s)))
    middle = next(i for i in range(len(devices) // 2, len(devices)) if devices[i].id not in used)
    added = Device(id="garage_strip", type="light", name="garage strip", area=devices[0].area)
    renamed = devices[middle].model_copy(update={"name": devices[middle].name + " two"})
    return {
        "added": s.model_copy(update={"devices": [*devices, added]}),
        "renamed": s.model_copy(
            update={"devices": [*devices[:middle], renamed, *devices[middle + 1 :]]}
        ),
        "removed": s.model_copy(update={"devices": devices[:middle] + devices[middle + 1 :]}),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "tests/data/home.toml")
    args = ap.parse_args()
    s = load_settings(args.config)
    s = s.model_copy(update={"llm": s.llm.model_copy(update={"state_dir": None})})
    engine = build_engine(s)
    model = engine.model
    assert isinstance(model, LlamaEngine)
    base = home_registry(s)
    old_base = model._tok(old_layout(base))
    model.set_registry(base)
    prefix = model.prefix_tokens
    print(f"{'change':<9} {'landed':>7} {'old':>7} {'new':>7} {'new ms':>8} {'build ms':>9}")
    for name, changed in changes(s).items():
        model.set_registry(base)
        registry = home_registry(changed)
        old_new = model._tok(old_layout(registry))
        t0 = time.perf_counter()
        new_engine = engine.with_registry(registry, dict(s.replies))
        build_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        new_engine.warm()
        new_ms = (time.perf_counter() - t0) * 1000
        print(
            f"{name:<9} {len(old_new):>7} {len(old_new) - _common_prefix(old_base, old_new):>7} "
            f"{model.reevaluated:>7} {new_ms:>8.0f} {build_ms:>9.0f}"
        )
    print(f"prefix: {prefix} tokens ({len(old_base)} in the old layout)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
