"""`dialogd bench`: plain llama-cpp-python against dialogd's engine, same model, one run.

Rows (over the set's single requests; `turns` conversations are skipped):
  plain-json     the tutorial way: system prompt listing the devices, temperature 0.7,
                 free text, parse the first JSON object or list
  plain-schema   llama.cpp's JSON-schema grammar with device and action enums, temp 0
  dialogd-model  dialogd's model path for every request (cached prefix, token trie, the
                 engine's hint of what the request names), no rules and no policy
  dialogd        the full engine: rules first, the model for the rest (canned small talk)
  dialogd+chat   the same, with small-talk replies written by the model
Columns: exact = the same (action, device, value) triples as `expect` (FORMAT.md);
json = a JSON object or list came back; valid = every command inside the registry.
All rows share one llama.cpp model in this process, so machine noise hits them alike.

Then, from the same run: the fast path's and the model path's latency, compound requests
against their clauses asked one by one, the cost per generated token, and start-up time
and memory (each in a fresh process, twice: a cold KV cache, then a warm one) for the
config's home and for a generated home of 150 devices.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np

from daemon.config.settings import Settings, load_settings
from daemon.core.messages import Request
from daemon.home.registry import Command, Decision, Registry
from daemon.outputs.metrics import percentile
from daemon.tools.evaluate import Item, LabelledTurn, expected_triples, load_set
from daemon.tools.homegen import synthetic_home_toml
from daemon.understanding.engine import IntentEngine, Understood
from daemon.understanding.lang import detect_lang, grammar, normalize
from daemon.understanding.llm import LlamaEngine
from daemon.understanding.prompt import device_lines

DEFAULT_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "dev.jsonl"
BIG_HOME = 150

PLAIN_SYSTEM = """You control a smart home. Devices (id: names; actions):
{devices}
Reply with JSON only: {{"action": ..., "device": ..., "value": ...}}, or a list of such \
objects when the request asks for several things.
action is one of the device's actions, or "query" for a question about a device, \
"chat" for small talk, "unknown" for a device the home does not have. device is a \
device id, a list of ids, or null. value is a number for set_ and change_ actions \
(percent, degrees, fan level), a colour name for set_color, the item for add_item, \
else null."""


@dataclass
class Row:
    name: str
    exact: int = 0
    valid: int = 0  # every command inside the registry
    parsed: int = 0  # at least a JSON object or list of them
    times: list[float] = field(default_factory=list)
    evaluated: int = 0
    generated: int = 0

    def add(
        self,
        d: Decision | None,
        turn: LabelledTurn,
        registry: Registry,
        ms: float,
        evaluated: int,
        gen: int,
    ) -> None:
        self.parsed += d is not None
        self.valid += d is not None and registry.check_decision(d) is None
        self.exact += d is not None and d.triples() == expected_triples(turn.expect)
        self.times.append(ms)
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
        {a for d in registry.devices for a in d.actions} | {"query", "chat", "unknown", "cancel"}
    )
    ids = {"type": "string", "enum": list(registry.by_id)}
    command = {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": actions},
            "device": {"anyOf": [ids, {"type": "array", "items": ids}, {"type": "null"}]},
            "value": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
        },
        "required": ["action", "device", "value"],
    }
    return {"anyOf": [command, {"type": "array", "items": command, "minItems": 1}]}


def _parse_json(text: str) -> Decision | None:
    """What can be read from the first JSON object or list in `text`, as a decision."""
    m = re.search(r"[\[{]", text)
    if not m:
        return None
    try:
        obj, _ = json.JSONDecoder().raw_decode(text[m.start() :])
    except ValueError:
        return None
    commands = []
    for c in obj if isinstance(obj, list) else [obj]:
        if not isinstance(c, dict) or "action" not in c:
            continue
        dev = c.get("device")
        devices = dev if isinstance(dev, list) else [] if dev is None else [dev]
        value = c.get("value")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int | str) or isinstance(value, bool):
            value = None
        commands.append(Command(str(c["action"]), tuple(str(d) for d in devices), value))
    return Decision(tuple(commands)) if commands else None


def _plain(
    llm: llama_cpp.Llama, counter: _Counter, registry: Registry, schema: bool
) -> Callable[[LabelledTurn], tuple[Decision | None, int, int]]:
    system = PLAIN_SYSTEM.format(devices=device_lines(registry))
    fmt: Any = {"type": "json_object", "schema": _schema(registry)} if schema else None

    def run(turn: LabelledTurn) -> tuple[Decision | None, int, int]:
        area = registry.area_by_id.get(turn.area or "")
        text = turn.text + (f" (I am in the {area.name})" if area else "")
        out: Any = llm.create_chat_completion(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
            temperature=0.0 if schema else 0.7,
            max_tokens=80,
            response_format=fmt,
            seed=1,
        )
        evaluated, _ = counter.take()
        return (
            _parse_json(out["choices"][0]["message"]["content"] or ""),
            evaluated,
            int(out["usage"]["completion_tokens"]),
        )

    return run


def _model_path(
    engine: IntentEngine,
    model: LlamaEngine,
    text: str,
    area: str | None,
) -> Understood:
    """The engine's model path alone (no templates), as understand() takes it: a compound
    request clause by clause, each with its hint, then the policy."""
    del model  # the engine's own
    return engine.understand_model(text, area)


def _clauses(text: str, lang: str) -> list[str]:
    seps = grammar("zh" if lang == "zh" else "en").separators
    return [c.strip() for c in seps.split(text) if c and c.strip()]


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

    grammar_ = LlamaGrammar.from_json_schema(json.dumps(_schema(registry)), verbose=False)
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
    plain_grammar = sampler_ms(grammar_)
    engine.set_registry(registry)  # restore the cached prefix we trampled on
    return {
        "free_ms": round(free, 2),
        "trie_ms": round(trie, 2),
        "trie_overhead": round(trie / free - 1, 3),
        "llama_free_ms": round(plain_free, 2),
        "llama_grammar_ms": round(plain_grammar, 2),
        "llama_grammar_overhead": round(plain_grammar / plain_free - 1, 3),
    }


def _compound(
    engine: IntentEngine, model: LlamaEngine, turns: list[LabelledTurn]
) -> dict[str, Any]:
    """Compound requests on the model path: the request as the engine takes it (its
    clauses read side by side, LlamaEngine.decide_each), against each of its clauses
    asked as a request of its own, one after the other."""
    registry = engine.registry
    whole_ms = parts_ms = 0.0
    whole_tok = parts_tok = commands = whole_exact = parts_exact = 0
    compound = [t for t in turns if isinstance(t.expect, list)]
    for turn in compound:
        want = expected_triples(turn.expect)
        t0 = time.perf_counter()
        a = _model_path(engine, model, turn.text, turn.area)
        ms = (time.perf_counter() - t0) * 1000
        lang = detect_lang(turn.text)
        got: set[Any] = set()
        p_ms = 0.0
        p_tok = 0
        clauses = _clauses(normalize(turn.text, lang), lang)
        for clause in clauses:
            t0 = time.perf_counter()
            p = _model_path(engine, model, clause, turn.area)
            p_ms += (time.perf_counter() - t0) * 1000
            p_tok += p.evaluated_tokens
            got |= p.decision.triples()
        hit, p_hit = a.decision.triples() == want, got == want
        print(
            f"  {turn.text!r}: side by side {ms:.0f} ms, {a.evaluated_tokens} tok"
            f"{'' if hit else ' (miss)'}; {len(clauses)} clauses one by one "
            f"{p_ms:.0f} ms, {p_tok} tok"
            f"{'' if p_hit else ' (miss)'}; valid {registry.check_decision(a.decision) is None}"
        )
        whole_ms, parts_ms = whole_ms + ms, parts_ms + p_ms
        whole_tok, parts_tok = whole_tok + a.evaluated_tokens, parts_tok + p_tok
        commands += len(turn.expect)
        whole_exact, parts_exact = whole_exact + hit, parts_exact + p_hit
    n = len(compound)
    return {
        "compound_n": n,
        "compound_exact": whole_exact,
        "compound_clauses_exact": parts_exact,
        "compound_ms": round(whole_ms / max(1, n), 1),
        "compound_clauses_ms": round(parts_ms / max(1, n), 1),
        "compound_cost_ratio": round(whole_ms / parts_ms, 2) if parts_ms else None,
        "compound_eval_tokens_per_command": round(whole_tok / max(1, commands), 1),
        "compound_clauses_eval_tokens_per_command": round(parts_tok / max(1, commands), 1),
    }


# ------------------------------------------------------------------- start-up


def _dialogue_row(
    settings: Settings, engine: IntentEngine, items: list[Item], reference: bool
) -> dict[str, Any]:
    """Conversations played through a session, as `dialogd eval` does: the set's own and,
    for the reference home's dev set, tests/data/conversations.jsonl (a regression set
    written with the dialogue, about that home)."""
    from daemon.pipeline.engines import build_dialogue
    from daemon.pipeline.turns import play

    more = DEFAULT_SET.parent / "conversations.jsonl"
    if reference and more.is_file():
        items = items + load_set(more)
    dialogue = build_dialogue(settings, engine, persist=False)
    times: list[float] = []
    turns_exact = convs_exact = n_turns = 0
    for i, it in enumerate(items):
        hit_all = True
        for turn in it.turns:
            req = Request(text=turn.text, source="cli", id=f"bench-{i}", session=f"bench-{i}")
            t = time.perf_counter()
            played = play(dialogue, req, turn.area)
            times.append((time.perf_counter() - t) * 1000)
            hit = played.understood.decision.triples() == expected_triples(turn.expect)
            turns_exact += hit
            hit_all = hit_all and hit
            n_turns += 1
        convs_exact += hit_all
    return {
        "dialogue_conversations": len(items),
        "dialogue_conversations_exact": convs_exact,
        "dialogue_turns": n_turns,
        "dialogue_turns_exact": turns_exact,
        "dialogue_p50_ms": round(percentile(times or [0.0], 50), 1),
        "dialogue_p95_ms": round(percentile(times or [0.0], 95), 1),
    }


def _startup_probe() -> None:
    """In a fresh process: build the engine from the settings on stdin; print one JSON line."""
    logging.disable(logging.WARNING)
    settings = Settings.model_validate_json(sys.stdin.read())
    from daemon.pipeline.engines import build_engine

    t0 = time.perf_counter()
    engine = build_engine(settings)
    build_s = time.perf_counter() - t0
    model = engine.model
    assert isinstance(model, LlamaEngine)
    status = Path("/proc/self/status").read_text()

    def kb(key: str) -> int:
        m = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
        return int(m.group(1)) if m else 0

    out = {
        "devices": len(engine.registry.devices),
        "build_s": round(build_s, 2),
        "model_load_ms": round(model.load_ms),
        "templates_ms": round(engine.fast.load_ms),
        "prompt_tokens": model.prefix_tokens,
        "n_ctx": model.llm.n_ctx(),
        "rss_mb": round(kb("VmRSS") / 1024),
        "peak_rss_mb": round(kb("VmHWM") / 1024),
    }
    print(json.dumps(out))


def _startup(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """build_engine() for the config's home and a generated big one, each in a fresh
    process, twice: cold (empty KV cache dir: the prompt is evaluated and its state
    written), then warm (the state restored). The model file is in the page cache."""
    out: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="dialogd-bench-") as tmp:
        big_path = Path(tmp) / "home.toml"
        big_path.write_text(synthetic_home_toml(BIG_HOME), encoding="utf-8")
        big = load_settings(big_path)  # validates the generated registry
        big_llm = settings.llm.model_copy(
            update={"n_ctx": None, "max_ctx": max(settings.llm.max_ctx, 8192)}
        )
        homes = {
            "reference": settings,
            f"generated-{BIG_HOME}": big.model_copy(update={"llm": big_llm}),
        }
        for name, s in homes.items():
            llm = s.llm.model_copy(update={"state_dir": Path(tmp) / f"state-{name}"})
            payload = s.model_copy(update={"llm": llm}).model_dump_json()
            out[name] = []
            for _ in ("cold", "warm"):
                proc = subprocess.run(
                    [sys.executable, "-m", "daemon.tools.bench", "--startup-probe"],
                    input=payload,
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                if proc.returncode != 0:
                    raise SystemExit(f"start-up probe failed for {name}:\n{proc.stderr}")
                out[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


# ------------------------------------------------------------------------ run


def run_bench(settings: Settings, path: Path | None, limit: int | None = None) -> int:
    from daemon.pipeline.engines import build_engine

    items = load_set(path or DEFAULT_SET)[:limit]
    turns = [it.turns[0] for it in items if not it.conversation]
    skipped = len(items) - len(turns)
    t0 = time.monotonic()
    engine: IntentEngine = build_engine(settings)
    model = engine.model
    if not isinstance(model, LlamaEngine):
        raise SystemExit("bench needs the model: set llm.enabled = true")
    print(
        f"model {settings.llm.model_path} ({settings.llm.threads} threads), set {len(turns)} "
        f"requests ({skipped} conversation lines skipped)"
    )
    print(f"start-up (model load + cached prompt + templates) {time.monotonic() - t0:.2f} s")
    registry = engine.registry
    # The plain rows put the whole device list in their prompt, which a big home's
    # context (sized for dialogd's own prompt) may not hold: give them the room a plain
    # llama.cpp user would.
    plain_need = len(model._tok(PLAIN_SYSTEM.format(devices=device_lines(registry)))) + 256
    if plain_need > model.llm.n_ctx():
        print(f"the plain rows' prompt needs n_ctx {plain_need}: loading the model with it")
        model.close()
        settings = settings.model_copy(
            update={"llm": settings.llm.model_copy(update={"n_ctx": plain_need})}
        )
        engine = build_engine(settings)
        model = engine.model
        assert isinstance(model, LlamaEngine)
    counter = _Counter(model.llm)
    rows: list[Row] = []
    plain_json = _plain(model.llm, counter, registry, schema=False)
    plain_schema = _plain(model.llm, counter, registry, schema=True)

    for name, run in (("plain-json", plain_json), ("plain-schema", plain_schema)):
        row = Row(name)
        for turn in turns:
            t = time.perf_counter()
            d, evaluated, gen = run(turn)
            row.add(d, turn, registry, (time.perf_counter() - t) * 1000, evaluated, gen)
        rows.append(row)

    # dialogd's rows restore their own prefix: the plain rows moved the KV cache.
    model.set_registry(registry)
    counter.take()
    row = Row("dialogd-model")  # the model path alone, for every request
    for turn in turns:
        t = time.perf_counter()
        a = _model_path(engine, model, turn.text, turn.area)
        ms = (time.perf_counter() - t) * 1000
        row.add(a.decision, turn, registry, ms, a.evaluated_tokens, a.sampled_tokens)
    rows.append(row)
    model_times: dict[str, list[float]] = {}
    rules_times: list[float] = []
    for name, writes in (("dialogd", False), ("dialogd+chat", True)):
        model.chat_replies = writes
        row = Row(name)
        model_times[name] = []
        for turn in turns:
            t = time.perf_counter()
            u = engine.understand(turn.text, turn.area)
            ms = (time.perf_counter() - t) * 1000
            if u.engine == "model":
                model_times[name].append(ms)
            elif name == "dialogd":
                rules_times.append(ms)
            row.add(u.decision, turn, registry, ms, u.evaluated_tokens, u.sampled_tokens)
        rows.append(row)
    model.chat_replies = settings.llm.chat_replies
    convs = [it for it in items if it.conversation]
    talk = _dialogue_row(
        settings, engine, convs, reference=path is None or path.resolve() == DEFAULT_SET.resolve()
    )

    n = len(turns)
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
    chats = sum(1 for t in turns if ("chat", None, None) in expected_triples(t.expect))
    ours_times, chat_times = model_times["dialogd"], model_times["dialogd+chat"]
    print(
        f"dialogd: {len(rules_times)} of {n} requests decided by the rules, p50 "
        f"{percentile(rules_times, 50):.1f} ms, p95 {percentile(rules_times, 95):.1f} ms"
    )
    print(
        f"dialogd: {len(ours_times)} of {n} requests went to the model ({chats} of the set "
        f"are small talk); p50 {percentile(ours_times, 50):.0f} ms, p95 "
        f"{percentile(ours_times, 95):.0f} ms with canned small-talk replies; p50 "
        f"{percentile(chat_times, 50):.0f} ms, p95 {percentile(chat_times, 95):.0f} ms "
        "when the model writes them"
    )

    print(
        f"dialogue: {talk['dialogue_conversations']} conversations, {talk['dialogue_turns']} "
        f"turns through a session: exact turns {talk['dialogue_turns_exact']}/"
        f"{talk['dialogue_turns']}, conversations {talk['dialogue_conversations_exact']}/"
        f"{talk['dialogue_conversations']}; per turn p50 {talk['dialogue_p50_ms']} ms, "
        f"p95 {talk['dialogue_p95_ms']} ms"
    )
    print("compound requests on the model path, clauses side by side vs one by one:")
    compound = _compound(engine, model, turns)
    if compound["compound_n"]:
        print(
            f"  {compound['compound_n']} compound: side by side "
            f"{compound['compound_ms']} ms/request, "
            f"{compound['compound_eval_tokens_per_command']} eval tok/command, exact "
            f"{compound['compound_exact']}; one by one "
            f"{compound['compound_clauses_ms']} ms/request, "
            f"{compound['compound_clauses_eval_tokens_per_command']} eval tok/command, exact "
            f"{compound['compound_clauses_exact']}; side by side/one by one cost "
            f"{compound['compound_cost_ratio']}"
        )
    else:
        print("  none in this set")

    costs = _per_token_costs(model, registry)
    print(
        f"per generated token: free {costs['free_ms']} ms, dialogd trie {costs['trie_ms']} ms "
        f"({costs['trie_overhead']:+.1%}); llama.cpp sampler free {costs['llama_free_ms']} ms, "
        f"JSON-schema grammar {costs['llama_grammar_ms']} ms "
        f"({costs['llama_grammar_overhead']:+.1%})"
    )
    model.close()  # the start-up probes get the machine to themselves

    print("start-up, each in a fresh process: build_engine() = model load + prompt + templates")
    print(
        f"  {'home':<14} {'devices':>7} {'prompt tok':>10} {'n_ctx':>6} {'run':<5} "
        f"{'build s':>8} {'load ms':>8} {'templ ms':>8} {'RSS MB':>7} {'peak MB':>7}"
    )
    startup = _startup(settings)
    for home, runs in startup.items():
        for label, s in zip(("cold", "warm"), runs, strict=True):
            print(
                f"  {home:<14} {s['devices']:>7} {s['prompt_tokens']:>10} {s['n_ctx']:>6} "
                f"{label:<5} {s['build_s']:>8.2f} {s['model_load_ms']:>8} "
                f"{s['templates_ms']:>8} {s['rss_mb']:>7} {s['peak_rss_mb']:>7}"
            )
    print("  cold: empty KV cache dir, the prompt is evaluated and saved; warm: restored")

    ours, plain, alone = rows[3], rows[1], rows[2]
    ref, big = startup["reference"], startup[f"generated-{BIG_HOME}"]
    alone_p50 = max(0.01, percentile(alone.times, 50))
    summary = {
        "n": n,
        "skipped_conversations": skipped,
        "exact": ours.exact,
        "valid": ours.valid,
        "p50_ms": round(percentile(ours.times, 50), 1),
        "p95_ms": round(percentile(ours.times, 95), 1),
        "rules_n": len(rules_times),
        "rules_p50_ms": round(percentile(rules_times, 50), 1),
        "rules_p95_ms": round(percentile(rules_times, 95), 1),
        "model_n": len(ours_times),
        "model_p50_ms": round(percentile(ours_times, 50), 1),
        "model_p95_ms": round(percentile(ours_times, 95), 1),
        "model_p50_ms_model_written_chat": round(percentile(chat_times, 50), 1),
        "model_path_exact": alone.exact,
        "plain_schema_exact": plain.exact,
        "plain_json_exact": rows[0].exact,
        "eval_tokens_per_model_req": round(alone.evaluated / n, 1),
        "gen_tokens_per_model_req": round(alone.generated / n, 1),
        "trie_overhead": costs["trie_overhead"],
        "llama_grammar_overhead": costs["llama_grammar_overhead"],
        "speedup_model_path_vs_plain_schema": round(percentile(plain.times, 50) / alone_p50, 1),
        "speedup_model_path_vs_plain_json": round(percentile(rows[0].times, 50) / alone_p50, 1),
        **compound,
        **talk,
        "startup_cold_s": ref[0]["build_s"],
        "startup_warm_s": ref[1]["build_s"],
        "startup_rss_mb": ref[1]["rss_mb"],
        "prompt_tokens": ref[1]["prompt_tokens"],
        f"startup_{BIG_HOME}_cold_s": big[0]["build_s"],
        f"startup_{BIG_HOME}_warm_s": big[1]["build_s"],
        f"startup_{BIG_HOME}_rss_mb": big[1]["rss_mb"],
        f"prompt_tokens_{BIG_HOME}": big[1]["prompt_tokens"],
    }
    print(json.dumps(summary))
    return 0


__all__ = ["run_bench"]

if __name__ == "__main__" and sys.argv[1:] == ["--startup-probe"]:
    _startup_probe()
