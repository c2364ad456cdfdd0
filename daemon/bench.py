"""`dialogd bench`: plain llama-cpp-python against dialogd's engine, same model, one run.

Rows:
  plain-json     the tutorial way: system prompt listing the devices, temperature 0.7,
                 free text, parse the first {...}
  plain-schema   llama.cpp's JSON-schema grammar with device and action enums, temp 0
  dialogd-model  dialogd's model path for every item (cached prefix, token trie, the
                 devices the request names as a hint), no rules
  dialogd        the full engine: rules first, the model for the rest (canned small talk)
  dialogd+chat   the same, with small-talk replies written by the model
Columns: json = a JSON object came back; valid = schema-valid and inside the registry.
All rows share one llama.cpp model in this process, so machine noise hits them alike.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from daemon.config import Settings
from daemon.evaluate import Item, load_set
from daemon.nlu.engine import IntentEngine
from daemon.nlu.fastpath import detect_lang
from daemon.nlu.llm import LlamaEngine
from daemon.registry import Decision, Registry
from daemon.stats import percentile

DEFAULT_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "dev.jsonl"

PLAIN_SYSTEM = """You control a smart home. Devices:
{devices}
Reply with JSON only: {{"action": ..., "device": ..., "value": ...}}.
action is one of the device's actions, or "query" for a question about a device, \
"chat" for small talk, "unknown" for a device the home does not have. device is a \
device id or null. value is a number for set_ actions (percent, degrees C, fan speed \
1-3), else null."""


@dataclass
class Row:
    name: str
    exact: int = 0
    valid: int = 0  # schema-valid and inside the registry
    parsed: int = 0  # at least a JSON object with the three fields
    times: list[float] | None = None
    evaluated: int = 0
    generated: int = 0

    def add(
        self,
        ok_valid: bool,
        ok_exact: bool,
        ms: float,
        evaluated: int,
        gen: int,
        parsed: bool = True,
    ) -> None:
        self.parsed += parsed
        self.valid += ok_valid
        self.exact += ok_exact
        self.times = [*(self.times or []), ms]
        self.evaluated += evaluated
        self.generated += gen


class _Counter:
    """Counts the tokens a Llama evaluates, by wrapping its eval()."""

    def __init__(self, llm: llama_cpp.Llama) -> None:
        self.n = 0
        self.calls = 0
        inner = llm.eval

        def counted(tokens: Sequence[int]) -> None:
            self.n += len(tokens)
            self.calls += 1
            inner(tokens)

        llm.eval = counted  # type: ignore[method-assign]

    def take(self) -> tuple[int, int]:
        n, c = self.n, self.calls
        self.n = self.calls = 0
        return n, c


def _schema(registry: Registry) -> dict[str, Any]:
    actions = sorted(
        {a for d in registry.devices for a in d.actions} | {"query", "chat", "unknown"}
    )
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": actions},
            "device": {
                "anyOf": [{"type": "string", "enum": list(registry.by_id)}, {"type": "null"}]
            },
            "value": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
        "required": ["action", "device", "value"],
    }


def _parse_first_json(text: str) -> Decision | None:
    m = re.search(r"\{.*?\}", text, re.S)
    if not m:
        return None
    try:
        obj = json.loads(m.group(0))
        value = obj.get("value")
        return Decision(
            str(obj.get("action")),
            obj.get("device"),
            int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None,
        )
    except (ValueError, TypeError, AttributeError):
        return None


def _plain(
    llm: llama_cpp.Llama, counter: _Counter, registry: Registry, schema: bool
) -> Callable[[str], tuple[Decision | None, int, int]]:
    from daemon.nlu.prompt import device_lines

    system = PLAIN_SYSTEM.format(devices=device_lines(registry))
    fmt: Any = {"type": "json_object", "schema": _schema(registry)} if schema else None

    def run(text: str) -> tuple[Decision | None, int, int]:
        out: Any = llm.create_chat_completion(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
            temperature=0.0 if schema else 0.7,
            max_tokens=48,
            response_format=fmt,
            seed=1,
        )
        evaluated, _ = counter.take()
        return (
            _parse_first_json(out["choices"][0]["message"]["content"] or ""),
            evaluated,
            int(out["usage"]["completion_tokens"]),
        )

    return run


def _per_token_costs(engine: LlamaEngine, registry: Registry) -> dict[str, float]:
    """ms per generated token: free greedy, dialogd's trie, llama.cpp's GBNF grammar."""
    llm = engine.llm
    steps = 24

    def free_step() -> float:
        t0 = time.perf_counter()
        tok = int(np.argmax(engine._logits()))
        llm.eval([tok])
        return (time.perf_counter() - t0) * 1000

    def trie_step() -> float:
        ids = list(range(0, 4000, 97))  # a branch with as many choices as any of ours
        t0 = time.perf_counter()
        logits = engine._logits()
        tok = ids[int(np.argmax(logits[ids]))]
        llm.eval([tok])
        return (time.perf_counter() - t0) * 1000

    def timed(step: Callable[[], float]) -> list[float]:
        llm.n_tokens = engine.prefix_tokens
        llm.eval(engine._tok("tell me a long story<|im_end|>\n<|im_start|>assistant\n"))
        return [step() for _ in range(steps)]

    # Alternating rounds, so that a noisy moment on a shared machine hits both alike.
    free_ms: list[float] = []
    trie_ms: list[float] = []
    for _ in range(4):
        free_ms += timed(free_step)
        trie_ms += timed(trie_step)
    free, trie = float(np.median(free_ms)), float(np.median(trie_ms))

    # llama.cpp's own sampler with and without a JSON-schema grammar, same prompt.
    from llama_cpp.llama_grammar import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(json.dumps(_schema(registry)), verbose=False)
    prompt = engine._tok("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")

    def sampler_ms(g: LlamaGrammar | None) -> float:
        llm.reset()
        t0 = time.perf_counter()
        n = 0
        for _tok in llm.generate(prompt, temp=0.0, grammar=g, reset=True):
            n += 1
            if n == 1:
                t0 = time.perf_counter()  # skip the prompt batch
            if n > steps:
                break
        return (time.perf_counter() - t0) * 1000 / max(1, n - 1)

    plain_free = sampler_ms(None)
    plain_grammar = sampler_ms(grammar)
    engine.set_registry(registry)  # restore the cached prefix we trampled on
    return {
        "free_ms": round(free, 2),
        "trie_ms": round(trie, 2),
        "trie_overhead": round(trie / free - 1, 3),
        "llama_free_ms": round(plain_free, 2),
        "llama_grammar_ms": round(plain_grammar, 2),
        "llama_grammar_overhead": round(plain_grammar / plain_free - 1, 3),
    }


def run_bench(settings: Settings, path: Path | None, limit: int | None = None) -> int:
    from daemon.app import build_engine

    items: list[Item] = load_set(path or DEFAULT_SET)[:limit]
    t0 = time.monotonic()
    engine: IntentEngine = build_engine(settings)
    model = engine.model
    if not isinstance(model, LlamaEngine):
        raise SystemExit("bench needs the model: set llm.enabled = true")
    print(
        f"model {settings.llm.model_path} ({settings.llm.threads} threads), set {len(items)} items"
    )
    print(f"start-up (model load + cached prompt) {time.monotonic() - t0:.2f} s")
    registry = engine.registry
    counter = _Counter(model.llm)
    rows: list[Row] = []
    plain_json = _plain(model.llm, counter, registry, schema=False)
    plain_schema = _plain(model.llm, counter, registry, schema=True)

    for name, run in (("plain-json", plain_json), ("plain-schema", plain_schema)):
        row = Row(name)
        for it in items:
            t = time.perf_counter()
            d, evaluated, gen = run(it.text)
            ms = (time.perf_counter() - t) * 1000
            ok_valid = d is not None and registry.check(d) is None
            row.add(ok_valid, ok_valid and _same(d, it), ms, evaluated, gen, d is not None)
        rows.append(row)

    # dialogd's rows restore their own prefix: the plain rows moved the KV cache.
    model.set_registry(registry)
    counter.take()
    row = Row("dialogd-model")  # the model path alone, for every item
    for it in items:
        lang = detect_lang(it.text)
        a = model.decide(it.text, lang, engine.fast.hint(it.text))
        row.add(
            registry.check(a.decision) is None,
            _same(a.decision, it),
            a.ms,
            a.evaluated_tokens,
            a.sampled_tokens,
        )
    rows.append(row)
    model_times: dict[str, list[float]] = {}
    model_decided: list[float] = []
    for name, writes in (("dialogd", False), ("dialogd+chat", True)):
        model.chat_replies = writes
        row = Row(name)
        model_times[name] = []
        for it in items:
            t = time.perf_counter()
            u = engine.understand(it.text)
            ms = (time.perf_counter() - t) * 1000
            if u.engine == "model":
                model_times[name].append(ms)
                model_decided.append(u.decided_ms)
            row.add(
                registry.check(u.decision) is None,
                _same(u.decision, it),
                ms,
                u.evaluated_tokens,
                u.sampled_tokens,
            )
        rows.append(row)
    model.chat_replies = settings.llm.chat_replies
    costs = _per_token_costs(model, registry)

    n = len(items)
    print()
    print(
        f"{'engine':<14} {'exact':>9} {'json':>9} {'valid':>9} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'eval tok/req':>12} {'gen tok/req':>11}"
    )
    for r in rows:
        times = r.times or [0.0]
        print(
            f"{r.name:<14} {r.exact:>4}/{n:<4} {r.parsed:>4}/{n:<4} {r.valid:>4}/{n:<4} "
            f"{percentile(times, 50):>8.0f} "
            f"{percentile(times, 95):>8.0f} {r.evaluated / n:>12.1f} {r.generated / n:>11.1f}"
        )
    print()
    print(
        f"per generated token: free {costs['free_ms']} ms, dialogd trie {costs['trie_ms']} ms "
        f"({costs['trie_overhead']:+.1%}); llama.cpp sampler free {costs['llama_free_ms']} ms, "
        f"JSON-schema grammar {costs['llama_grammar_ms']} ms "
        f"({costs['llama_grammar_overhead']:+.1%})"
    )
    chats = sum(1 for it in items if it.action == "chat")
    ours_times, chat_times = model_times["dialogd"], model_times["dialogd+chat"]
    print(
        f"dialogd: {len(ours_times)} of {n} requests went to the model ({chats} of the set "
        f"are small talk); their p50 {percentile(ours_times, 50):.0f} ms with canned "
        f"small-talk replies, {percentile(chat_times, 50):.0f} ms when the model writes them"
    )
    ours, plain, alone = rows[3], rows[1], rows[2]
    ours_p50 = percentile(ours.times or [0], 50)
    summary = {
        "n": n,
        "exact": ours.exact,
        "valid": ours.valid,
        "p50_ms": round(ours_p50, 1),
        "p95_ms": round(percentile(ours.times or [0], 95), 1),
        "model_n": len(ours_times),
        "model_p50_ms": round(percentile(ours_times, 50), 1),
        "model_p50_ms_model_written_chat": round(percentile(chat_times, 50), 1),
        "eval_tokens_per_model_req": round(alone.evaluated / n, 1),
        "gen_tokens_per_model_req": round(alone.generated / n, 1),
        "trie_overhead": costs["trie_overhead"],
        "llama_grammar_overhead": costs["llama_grammar_overhead"],
        "speedup_model_path_vs_plain_schema": round(
            percentile(plain.times or [0], 50) / max(0.01, percentile(alone.times or [0], 50)), 1
        ),
        "speedup_model_path_vs_plain_json": round(
            percentile(rows[0].times or [0], 50) / max(0.01, percentile(alone.times or [0], 50)),
            1,
        ),
    }
    print(json.dumps(summary))
    return 0


def _same(d: Decision | None, it: Item) -> bool:
    return d is not None and (d.action, d.device, d.value) == (it.action, it.device, it.value)


__all__ = ["run_bench"]
