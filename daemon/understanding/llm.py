"""The language model, driven token by token: a plain blocking class, no asyncio.

Two things make it cheap on a Pi:
- The fixed prompt prefix is evaluated once; its KV state is saved to disk and restored
  at start-up, and every request truncates back to it. Per request the model evaluates
  only the user's turn.
- Decoding is constrained: a token trie of every command head ("turn_on kitchen_light",
  "query tv", "chat:", "unknown"), then a shared trie of the values that head's action
  takes, then the choice between the end of the answer and another command line. Where a
  trie branches, the model's logits pick among the allowed tokens only (a few array
  reads, no GBNF sampler over 152k tokens); where it does not, the forced tokens are
  appended without sampling and evaluated together in one batch at the next branch.
- Each batch also evaluates a guess of the token after the branch when that token leads
  to another branch ("turn" before "_on"/"_off"). An evaluation costs about the same
  whatever its length (the weights are read once), so a right guess saves a whole one
  and a wrong guess costs one token in a batch.
- Every prompt token costs attention on every request: a home whose device list makes
  the prompt longer than `prompt_budget` gets a prompt without the list. The decoder
  offers only the devices the request's words (and the site's area) make plausible, so
  the model still answers with real ids.

The context is sized from the registry unless `n_ctx` is given.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

from daemon.core.vocabulary import (
    ABSOLUTE_TO_RELATIVE,
    CANCEL,
    CHAT,
    COLORS,
    OPPOSITE,
    QUERY,
    UNKNOWN,
    Value,
    value_kind,
)
from daemon.home.registry import Command, Decision, Hint, Registry
from daemon.understanding.lang import marks
from daemon.understanding.prompt import ChatML, build_prefix

_LOG = logging.getLogger(__name__)

# Room in the context for a request's turn and its answer, beyond the fixed prompt.
TURN_ROOM = 256
MAX_ITEM_TOKENS = 12
# Tokens of the request drafted after a list item's last token (LlamaEngine._free_item).
ITEM_DRAFT = 4
# Candidate command heads scored side by side in one batch; more go to the greedy walk.
# (llama.cpp slows down by two orders of magnitude with 32 sequences; 16 cost nothing.)
MAX_CANDIDATES = 15
# Lines whose first token is among this many best first tokens are scored whole.
FIRST_TOKENS = 3
# ... and no less likely than the best first token by more than this (nats): a line
# whose first token is 20 times less likely is out whatever follows it.
FIRST_TOKEN_SPAN = 3.0


class ContextTooSmall(ValueError):
    """The registry's prompt does not fit the context the config allows."""


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    end: bool = False  # a complete head or value ends here
    free: bool = False  # "chat:": the reply that follows is generated freely
    line: str = ""  # at an end: the text of the head or value
    devices: set[str | None] = field(default_factory=set)  # reachable from here
    refusal: bool = False  # "unknown" is reachable from here
    # What the heads below need the request to say: "number" (set_brightness has no
    # default), "color" (set_color), or "" (nothing). A branch is open only if one of
    # its heads needs nothing the request lacks.
    needs: set[str] = field(default_factory=set)
    size: int = 0  # answers (heads or values) that end below here


_END = _Node(end=True)


@dataclass(frozen=True)
class ModelAnswer:
    decision: Decision
    reply: str | None
    prompt_tokens: int  # the user's turn, evaluated in one batch
    evaluated_tokens: int  # all tokens the model evaluated for this request
    sampled_tokens: int  # positions where the model chose (constrained or free)
    forced_tokens: int  # tokens the trie dictated, evaluated in batches
    ms: float  # all of it, a chat reply included
    decided_ms: float  # until the commands were known
    # How much likelier the chosen command was than the runner-up (mean log-probability
    # per token); None when it was not scored against others.
    margin: float | None = None
    runner_up: str | None = None


@dataclass
class _Run:
    """One request's decoding state: tokens chosen but not yet evaluated, and counts."""

    pending: list[int] = field(default_factory=list)
    text: str = ""  # the request's words: a list item is drafted from them
    evaluated: int = 0
    sampled: int = 0
    forced: int = 0
    # A guessed token evaluated ahead, in the batch of the choice before it, and the
    # logits that follow it: the next choice needs no evaluation of its own.
    ahead: npt.NDArray[np.float32] | None = None


# A candidate answer line: its head, its value when the line spells one, its tokens.
_Line = tuple[_Node, Value, list[int]]
# The line chosen: head, value, margin over the runner-up, the runner-up's text.
_Scored = tuple[_Node, Value, float, str]


@dataclass
class _Group:
    """One turn's lines to score (LlamaEngine._score_groups), and their scores."""

    run: _Run
    lines: list[list[int]]
    first: npt.NDArray[np.float64]  # the log-probabilities of the token after the turn
    tails: list[tuple[int, int]]
    at: int  # the position of the lines' first token
    seq: int  # the sequence that holds the prompt and the turn
    scores: list[float] | None = None


def _packed(groups: list[_Group], seqs: int, reserved: int) -> Iterator[list[_Group]]:
    """Groups in batches that need at most `seqs` sequences, counting the `reserved`
    ones that hold turns: a line needs a sequence of its own, beyond its turn's."""
    batch: list[_Group] = []
    used = reserved
    for g in groups:
        need = len(g.lines) - 1
        if reserved + need > seqs:
            continue  # not even alone: unscored, the greedy walk decides
        if batch and used + need > seqs:
            yield batch
            batch, used = [], reserved
        batch.append(g)
        used += need
    if batch:
        yield batch


class LlamaEngine:
    """Loads a GGUF once and maps request texts to decisions."""

    def __init__(
        self,
        model_path: Path,
        registry: Registry,
        *,
        threads: int = 4,
        n_ctx: int | None = None,
        max_ctx: int = 8192,
        state_dir: Path | None = None,
        max_reply_tokens: int = 40,
        chat_replies: bool = True,
        prompt_budget: int = 2048,
    ) -> None:
        t0 = time.monotonic()
        self.prompt_budget = prompt_budget
        self.model_path = model_path
        self.threads = threads
        self.fixed_ctx = n_ctx
        self.max_ctx = max_ctx
        self.max_reply_tokens = max_reply_tokens
        self.chat_replies = chat_replies
        self.state_dir = state_dir
        self.llm = self._load(n_ctx or self.ctx_for(registry))
        self._n_vocab = self.llm.n_vocab()
        self._im_end = self._tok("<|im_end|>")[0]
        self._nl = self._tok("\n")[0]
        self._newline = set(self._tok("\n"))
        self._yes_no = (
            {self._tok(w)[0] for w in ("yes", "Yes", " yes")},
            {self._tok(w)[0] for w in ("no", "No", " no")},
        )
        self._value_tries: dict[tuple[str, ...], _Node] = {}
        self.load_ms = (time.monotonic() - t0) * 1000
        self.registry = registry
        self.prefix_tokens = 0
        self._action_lens: dict[str, int] = {}  # answer line -> tokens of its action
        self.reevaluated = 0  # prefix tokens the last registry change evaluated
        self.set_registry(registry)

    def _load(self, n_ctx: int) -> llama_cpp.Llama:
        # n_batch bounds the per-batch logits buffer that llama-cpp-python allocates
        # (n_batch x 152k floats): 512 would cost 300 MB of RAM for nothing here.
        with _plain_weights():
            return llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_batch=128,
                n_ubatch=128,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )

    def ctx_for(self, registry: Registry) -> int:
        """The context a registry needs: its prompt plus room for a turn, in 256s."""
        n = prompt_tokens(self.model_path, registry, self.prompt_budget)
        return -(-(n + TURN_ROOM) // 256) * 256

    # ------------------------------------------------------------------ set-up

    def set_registry(self, registry: Registry) -> None:
        """(Re)build the prompt prefix and the answer trie for a device registry.

        Only the prefix's tokens from the first one that differs are evaluated: the device
        list comes last, so a device added or renamed costs its part of the list, not the
        whole prompt (`reevaluated` says how many). Raises ContextTooSmall, leaving the
        engine as it was, when the registry's prompt cannot fit the configured (or largest
        allowed) context.
        """
        t0 = time.monotonic()
        tokens, listed = self._prefix_for(registry)
        need = self._need(tokens)
        if need > self.llm.n_ctx():
            _LOG.info("registry needs a %d-token context; reloading the model", need)
            self.llm.close()
            self.llm = self._load(-(-need // 256) * 256)
        self.registry = registry
        self.listed = listed
        self._root = self._build_heads(registry)
        self._chat_head = self._find_head("chat:")
        # What the KV cache holds now (the old prefix, and the last turn after it).
        held = self.llm.input_ids[: self.llm.n_tokens].tolist()
        kept = _common_prefix(held, tokens)
        how, evaluated = "kept", 0
        if kept == 0 and self._restore_prefix(tokens):
            how = "restored from cache"
        elif kept < len(tokens):
            evaluated = len(tokens) - kept
            self.llm.n_tokens = kept  # eval() drops the KV cells from here on
            self.llm.eval(tokens[kept:])
            how = f"{len(tokens) - kept} evaluated"
            if kept == 0:
                self._save_prefix(tokens)
        self.reevaluated = evaluated
        self.prefix_tokens = len(tokens)
        _LOG.info(
            "prompt prefix: %d tokens in a %d-token context, %s in %.0f ms",
            len(tokens),
            self.llm.n_ctx(),
            how,
            (time.monotonic() - t0) * 1000,
        )

    def use(self, registry: Registry) -> None:
        """Decide with `registry` from now on (a no-op when it is the current one). An
        engine built for a new registry calls this on the model's thread before asking."""
        if registry is not self.registry:
            self.set_registry(registry)

    def fits(self, registry: Registry) -> None:
        """Raise ContextTooSmall if the registry's prompt cannot fit; evaluates nothing,
        so a new engine is checked before it replaces the old one."""
        self._need(self._prefix_for(registry)[0])

    def _prefix_for(self, registry: Registry) -> tuple[list[int], bool]:
        """The prefix's tokens, and whether it lists the devices."""
        tokens = self._tok(build_prefix(registry))
        listed = len(tokens) <= self.prompt_budget
        if not listed:
            # Every token of the prefix costs attention on every request: a big home's
            # list would slow each decision by half (benchmarks/big_home_latency.py).
            full = len(tokens)
            tokens = self._tok(build_prefix(registry, list_devices=False))
            _LOG.info(
                "%d devices make a %d-token prompt, over llm.prompt_budget = %d: the "
                "prompt lists none (%d tokens); each request's words pick its devices",
                len(registry.devices),
                full,
                self.prompt_budget,
                len(tokens),
            )
        return tokens, listed

    def _need(self, tokens: list[int]) -> int:
        need = len(tokens) + TURN_ROOM
        limit = self.fixed_ctx or self.max_ctx
        if need > max(limit, self.llm.n_ctx()):
            key = "llm.n_ctx" if self.fixed_ctx else "llm.max_ctx"
            raise ContextTooSmall(
                f"the prompt for this registry takes {len(tokens)} tokens; "
                f"{key} = {limit} leaves no room for requests (needs {need})"
            )
        return need

    def _tok(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _build_heads(self, registry: Registry) -> _Node:
        heads: list[tuple[str, str | None]] = [("chat:", None), (UNKNOWN, None), (CANCEL, None)]
        for dev in registry.devices:
            heads.append((f"{QUERY} {dev.id}", dev.id))
            heads.extend((f"{action} {dev.id}", dev.id) for action in dev.actions)
        root = _Node()
        for line, device in heads:
            node = root
            node.devices.add(device)
            action = line.partition(" ")[0]
            rule = registry.rule(action, device) if device else None
            if value_kind(action) == "color":
                need = "color"
            elif rule is not None and rule.default_step is None:
                need = "number"
            elif rule is not None:
                need = "step"
            else:
                need = ""
            root.size += 1
            for t in self._tok(line):
                node = node.children.setdefault(t, _Node())
                node.size += 1
                node.devices.add(device)
                node.refusal = node.refusal or line == UNKNOWN
                node.needs.add(need)
            node.free = line == "chat:"
            node.end = not node.free
            node.line = line
        return root

    def _find_head(self, line: str) -> _Node:
        node = self._root
        for t in self._tok(line):
            node = node.children[t]
        return node

    def _value_trie(self, values: tuple[str, ...]) -> _Node:
        """A trie of " <value>" strings, shared by every head that takes them."""
        root = self._value_tries.get(values)
        if root is None:
            root = _Node()
            for v in values:
                node = root
                for t in self._tok(f" {v}"):
                    node = node.children.setdefault(t, _Node())
                    node.size += 1
                node.end = True
                node.line = v
            if len(self._value_tries) > 64:
                self._value_tries.clear()
            self._value_tries[values] = root
        return root

    def _state_file(self, tokens: list[int]) -> Path | None:
        if self.state_dir is None:
            return None
        st = self.model_path.stat()
        key = hashlib.sha256(
            f"{self.model_path.resolve()}|{st.st_size}|{st.st_mtime_ns}|"
            f"{self.llm.n_ctx()}|{llama_cpp.__version__}|seq{MAX_CANDIDATES + 1}|".encode()
            + np.asarray(tokens, dtype=np.int32).tobytes()
        ).hexdigest()[:20]
        return self.state_dir / f"prefix-{key}.kv"

    def _restore_prefix(self, tokens: list[int]) -> bool:
        path = self._state_file(tokens)
        if path is None or not path.is_file():
            return False
        buf = (llama_cpp.llama_token * len(tokens))()
        n_out = ctypes.c_size_t(0)
        self.llm.reset()
        ok = llama_cpp.llama_state_load_file(
            self.llm._ctx.ctx, str(path).encode(), buf, len(tokens), ctypes.byref(n_out)
        )
        if not ok or n_out.value != len(tokens) or list(buf) != tokens:
            _LOG.warning("KV cache %s is stale or damaged; evaluating the prompt again", path)
            self.llm.reset()
            return False
        self.llm.input_ids[: len(tokens)] = tokens
        self.llm.n_tokens = len(tokens)
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: kept when old caches are pruned
        return True

    def _save_prefix(self, tokens: list[int]) -> None:
        path = self._state_file(tokens)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Keep a few (a SIGHUP may switch back); the rest would only fill the SD card.
            old = sorted(path.parent.glob("prefix-*.kv"), key=lambda p: p.stat().st_mtime)
            for stale in old[:-3]:
                stale.unlink()
            buf = (llama_cpp.llama_token * len(tokens))(*tokens)
            tmp = path.with_suffix(".tmp")
            if llama_cpp.llama_state_save_file(
                self.llm._ctx.ctx, str(tmp).encode(), buf, len(tokens)
            ):
                tmp.replace(path)
        except OSError as exc:
            # A read-only state dir costs start-up time, not correctness.
            _LOG.warning("cannot cache the prompt's KV state in %s: %s", path.parent, exc)

    # ---------------------------------------------------------------- requests

    def _logits(self) -> npt.NDArray[np.float32]:
        ptr = llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))

    def decide(
        self, text: str, lang: str = "en", hint: Hint | None = None, max_commands: int = 1
    ) -> ModelAnswer:
        """Map `text` to a decision; with a hint, only answers that fit it.

        The hint comes from the request's own words (the devices and places it names, its
        numbers and colours): a 0.5B model otherwise answers "unknown" for a plainly named
        device, or copies "10" as "100". `max_commands` caps the command lines (a request
        with no conjunction asks for one thing).
        """
        t0 = time.perf_counter()
        self.llm.n_tokens = self.prefix_tokens
        turn = self._turn(text)
        # The turn is evaluated at the first choice, together with the forced tokens
        # before it and a guess of the token after it.
        run = _Run(pending=list(turn), text=text)
        scored = self._score_heads(run, hint) if max_commands == 1 else None
        return self._answer(run, scored, hint, lang, max_commands, t0, len(turn))

    def decide_each(
        self, clauses: list[tuple[str, Hint | None]], lang: str = "en"
    ) -> list[ModelAnswer]:
        """The clauses of one request, each asked as a turn of its own (as `decide` would,
        one command each), read side by side: every turn in one batch, each in its own
        sequence over the cached prompt, then every turn's candidate lines in another.
        A decode costs about the weights whatever the batch (a few dozen ms here), and
        each turn carries the chat template's eight tokens around its words, so two
        clauses read together cost little more than one. What a clause still has to
        generate (a list item, a value among many) follows, clause by clause."""
        turns = [self._turn(text) for text, _ in clauses]
        if len(clauses) < 2 or not self._fits_side_by_side(turns):
            return [self.decide(text, lang, hint) for text, hint in clauses]
        t0 = time.perf_counter()
        base = self.prefix_tokens
        try:
            read = self._read_turns(turns)
            if read is None:
                return [self.decide(text, lang, hint) for text, hint in clauses]
            runs = [
                _Run(evaluated=len(turn), text=text)
                for turn, (text, _) in zip(turns, clauses, strict=True)
            ]
            scored: list[_Scored | None] = [None] * len(clauses)
            ballots: list[tuple[int, list[_Line], _Group]] = []
            for i, (_, hint) in enumerate(clauses):
                lines = self._candidates(hint)
                if lines is None:
                    continue  # the greedy walk decides, from this turn's logits
                first = read[i][0]
                kept = self._kept(lines, first)
                if len(kept) == 1:
                    scored[i] = self._alone(runs[i], lines, kept[0], first)
                    continue
                group = _Group(
                    runs[i],
                    [t for _, _, t in kept],
                    first,
                    self._tails(kept, first),
                    base + len(turns[i]),
                    i,
                )
                ballots.append((i, kept, group))
            for batch in _packed([g for _, _, g in ballots], MAX_CANDIDATES + 1, len(turns)):
                self._score_groups(batch, len(turns))
            for i, kept, group in ballots:
                if group.scores is not None:
                    scored[i] = self._best(runs[i], kept, group.scores)
            shared = (time.perf_counter() - t0) / len(clauses)
            answers = []
            for i, (_, hint) in enumerate(clauses):
                t_i = time.perf_counter() - shared
                self._resume(i, turns[i], read[i][1], runs[i])
                answers.append(self._answer(runs[i], scored[i], hint, lang, 1, t_i, len(turns[i])))
            return answers
        finally:
            for seq in range(1, MAX_CANDIDATES + 1):
                self.llm._ctx.kv_cache_seq_rm(seq, -1, -1)

    def _turn(self, text: str) -> list[int]:
        turn = self._tok(ChatML.turn(text))
        room = self.llm.n_ctx() - self.prefix_tokens - self.max_reply_tokens - 16
        if len(turn) > room:
            # Keep the end of the turn: it holds the template's assistant header.
            turn = turn[: room - 8] + turn[-8:]
        return turn

    def _fits_side_by_side(self, turns: list[list[int]]) -> bool:
        """Room for every turn at once, in the batch and in the KV cache beside the
        prompt, with the lines to score after them (TURN_ROOM is what one turn has)."""
        n = sum(len(t) for t in turns)
        free = self.llm.n_ctx() - self.prefix_tokens - self.max_reply_tokens
        return len(turns) <= MAX_CANDIDATES + 1 and n <= self.llm.n_batch and 2 * n <= free

    def _read_turns(
        self, turns: list[list[int]]
    ) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]] | None:
        """Evaluate every turn in one batch, turn i in sequence i at the positions after
        the prompt: for each, the log-probabilities of the token after it, and its raw
        logits (a greedy walk starts from them). None when llama.cpp found no room."""
        llm = self.llm
        base = self.prefix_tokens
        llm.n_tokens = base
        llm._ctx.kv_cache_seq_rm(-1, base, -1)
        for seq in range(1, len(turns)):
            llm._ctx.kv_cache_seq_cp(0, seq, 0, base)
        n = sum(len(t) for t in turns)
        batch = llama_cpp.llama_batch_init(n, 0, 1)
        try:
            ends: list[int] = []
            i = 0
            for seq, turn in enumerate(turns):
                for d, tok in enumerate(turn):
                    _put(batch, i, tok, base + d, [seq], d == len(turn) - 1)
                    i += 1
                ends.append(i - 1)
            batch.n_tokens = n
            if llama_cpp.llama_decode(llm._ctx.ctx, batch) != 0:
                return None
            out = []
            for i in ends:
                raw = np.ctypeslib.as_array(
                    llama_cpp.llama_get_logits_ith(llm._ctx.ctx, i), shape=(self._n_vocab,)
                ).copy()
                out.append((_log_softmax(raw), raw))
            return out
        finally:
            llama_cpp.llama_batch_free(batch)

    def _resume(self, i: int, turn: list[int], logits: npt.NDArray[np.float32], run: _Run) -> None:
        """Sequence 0 as if turn `i` had been the only one: the prompt and that turn."""
        llm = self.llm
        base = self.prefix_tokens
        if i == 0:
            llm._ctx.kv_cache_seq_rm(0, base + len(turn), -1)
        else:
            llm._ctx.kv_cache_seq_rm(0, base, -1)
            llm._ctx.kv_cache_seq_cp(i, 0, base, base + len(turn))
        llm.input_ids[base : base + len(turn)] = turn
        llm.n_tokens = base + len(turn)
        if not run.pending:
            run.ahead = logits  # the next choice is made from the turn's own logits

    def _answer(
        self,
        run: _Run,
        scored: _Scored | None,
        hint: Hint | None,
        lang: str,
        max_commands: int,
        t0: float,
        prompt_tokens: int,
    ) -> ModelAnswer:
        """The rest of an answer after its first line was scored (or not): its value,
        further command lines, a chat reply."""
        commands: list[Command] = []
        reply = None
        free = False
        margin: float | None = None
        runner_up: str | None = None
        while True:
            chosen: Value = None
            if scored is not None and not commands:
                head, chosen, margin, runner_up = scored
            else:
                head = self._walk(self._root, run, hint, first=not commands)
            if head.free:
                free = True
                if not commands:
                    commands.append(Command(CHAT))
                break
            if not head.line:
                break  # no further command fits the hint
            action, _, device = head.line.partition(" ")
            value: int | str | None = None
            kind = value_kind(action) if device else "none"
            if chosen is not None:
                value = chosen
            elif kind == "item":
                value = self._free_item(run)
            elif kind != "none":
                picked = self._walk(self._value_trie(self._values(action, device, hint)), run)
                value = int(picked.line) if kind == "number" else picked.line
            cmd = Command(action, (device,) if device else (), value)
            if cmd in commands:
                break
            commands.append(cmd)
            if not device or len(commands) >= max_commands:
                break
            if self._choose(run, {self._im_end: _END, self._nl: _END}) != self._nl:
                break
        decided_ms = (time.perf_counter() - t0) * 1000
        if free and self.chat_replies:
            # The language tag is forced, not sampled: a 0.5B model otherwise drifts
            # into Chinese for English small talk.
            tag = self._tok(f" [{lang}]")
            self._eval(run.pending + tag)
            run.forced += len(tag)
            run.evaluated += len(run.pending) + len(tag)
            run.pending = []
            reply, n = self._free_reply(lang)
            run.sampled += n
            run.evaluated += max(0, n - 1)
        return ModelAnswer(
            decision=Decision(tuple(commands)),
            reply=reply,
            prompt_tokens=prompt_tokens,
            evaluated_tokens=run.evaluated,
            sampled_tokens=run.sampled,
            forced_tokens=run.forced,
            ms=(time.perf_counter() - t0) * 1000,
            decided_ms=decided_ms,
            margin=margin,
            runner_up=runner_up,
        )

    def _eval(self, tokens: list[int]) -> None:
        """Evaluate `tokens` after what sequence 0 holds, as Llama.eval does, but without
        touching the other sequences (decide_each keeps later clauses' turns there)."""
        llm = self.llm
        llm._ctx.kv_cache_seq_rm(0, llm.n_tokens, -1)
        for i in range(0, len(tokens), llm.n_batch):
            chunk = tokens[i : i + llm.n_batch]
            llm._batch.set_batch(batch=chunk, n_past=llm.n_tokens, logits_all=False)
            llm._ctx.decode(llm._batch)
            llm.input_ids[llm.n_tokens : llm.n_tokens + len(chunk)] = chunk
            llm.n_tokens += len(chunk)

    # ---------------------------------------------------------- whole heads

    def _heads(self, hint: Hint | None) -> list[_Node]:
        """Every command head the hint allows (as the first command of an answer)."""
        out: list[_Node] = []
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node.end or node.free:
                out.append(node)
                continue
            stack.extend(self._allowed(node, hint, True).values())
            if len(out) > MAX_CANDIDATES:
                break
        return out

    def _score_heads(self, run: _Run, hint: Hint | None) -> _Scored | None:
        """The likeliest whole answer line (a head, with its value when the request
        leaves few to choose from), its margin over the runner-up, and the runner-up;
        None (the greedy walk decides) when there are too many lines to score.

        Each line is scored by its mean log-probability per token, up to the end of the
        answer: committing token by token favours short, frequent first tokens ("mute"
        over "un"+"mute", "10" over "-"+"10")."""
        lines = self._candidates(hint)
        if lines is None:
            return None
        # The turn first: its last logits rank every line's first token (_kept).
        self._eval(run.pending)
        run.evaluated += len(run.pending)
        run.pending = []
        first = _log_softmax(self._logits())
        kept = self._kept(lines, first)
        if len(kept) == 1:
            return self._alone(run, lines, kept[0], first)
        group = _Group(
            run, [t for _, _, t in kept], first, self._tails(kept, first), self.llm.n_tokens, 0
        )
        self._score_groups([group])
        if group.scores is None:
            return None
        return self._best(run, kept, group.scores)

    def _candidates(self, hint: Hint | None) -> list[_Line] | None:
        """The answer lines to score for a request with this hint; None when there are
        too many (or too few) and the greedy walk decides. "chat:" is always a
        candidate: a request that asks for nothing should be able to win over every
        command."""
        heads = _said(self._heads(hint), hint)
        if not any(h.free for h in heads):
            heads.append(self._chat_head)
        lines = self._lines(heads, hint, expand=True)
        if len(lines) > MAX_CANDIDATES:
            lines = self._lines(heads, hint, expand=False)
        return lines if 2 <= len(lines) <= MAX_CANDIDATES else None

    def _kept(self, lines: list[_Line], first: npt.NDArray[np.float64]) -> list[_Line]:
        """The lines that start with one of the best few first tokens: only they go on
        to be scored whole. Each token of a batch costs time, and most lines are out
        at their first token."""
        starts = sorted({t[0] for _, _, t in lines}, key=lambda t: -first[t])[:FIRST_TOKENS]
        best = [t for t in starts if first[t] >= first[starts[0]] - FIRST_TOKEN_SPAN]
        return [ln for ln in lines if ln[2][0] in best]

    def _alone(
        self, run: _Run, lines: list[_Line], line: _Line, first: npt.NDArray[np.float64]
    ) -> _Scored:
        """The one line left after the first token. Out at their first token, the others
        trail it by at least that token's difference, over its length."""
        node, value, toks = line
        if not (value is None and not node.free and toks[-1] == self._im_end):
            run.pending.extend(toks)
        run.sampled += 1
        runner = max(
            (t[0] for _, _, t in lines if t[0] != toks[0]), key=lambda t: first[t], default=None
        )
        if runner is None:
            return node, value, float("inf"), ""
        other = next(ln for ln in lines if ln[2][0] == runner)
        return node, value, (first[toks[0]] - first[runner]) / len(toks), other[0].line

    def _best(self, run: _Run, lines: list[_Line], scores: list[float]) -> _Scored:
        order = sorted(range(len(lines)), key=lambda i: -scores[i])
        best, second = order[0], order[1]
        node, value, toks = lines[best]
        if value is None and not node.free and toks[-1] != self._im_end:
            run.pending.extend(toks)  # its value is chosen next, from here
        elif node.free:
            run.pending.extend(toks)
        run.sampled += 1
        second_line = lines[second][0].line
        if lines[second][1] is not None:
            second_line += f" {lines[second][1]}"
        return node, value, scores[best] - scores[second], second_line

    def _lines(
        self, heads: list[_Node], hint: Hint | None, expand: bool
    ) -> list[tuple[_Node, Value, list[int]]]:
        """Candidate answer lines: (head, value or None, tokens). With `expand`, a head
        whose action leaves at most four values is one line per value."""
        out: list[tuple[_Node, Value, list[int]]] = []
        for node in heads:
            toks = self._tok(node.line)
            action, _, device = node.line.partition(" ")
            kind = value_kind(action) if device else "none"
            if node.free:
                out.append((node, None, toks))
            elif kind == "none":
                out.append((node, None, [*toks, self._im_end]))
            elif hint is not None and hint.absolute and action.startswith("change_"):
                continue  # "to 10%" is where to go, not how far: a set_* action says it
            elif hint is not None and hint.relative and action in ABSOLUTE_TO_RELATIVE:
                continue  # "up by two" is how far: the change_* action says it
            elif expand and kind in ("number", "color"):
                values = self._values(action, device, hint)
                if len(values) > 4:
                    out.append((node, None, toks))
                    continue
                for v in values:
                    value: Value = int(v) if kind == "number" else v
                    out.append((node, value, [*self._tok(f"{node.line} {v}"), self._im_end]))
            else:
                out.append((node, None, toks))
        return out

    def _tails(
        self, lines: list[tuple[_Node, Value, list[int]]], first: npt.NDArray[np.float64]
    ) -> list[tuple[int, int]]:
        """For each line, (where its action's tokens end, the line whose tokens after
        that it borrows: its own index when none). Commands without a value that differ
        only in their action ("turn_on tv", "turn_off tv") go on with the same tokens,
        the device's id, which the model copies from the request whatever the action:
        they are evaluated once, after the action whose first token the model prefers
        (each costs a batch token, and a Pi reads about 24 a second)."""
        spans = [self._action_len(node) for node, _, _ in lines]
        # Not a value: "50" is likelier after set_volume than after change_volume.
        tails = [
            tuple(toks[n:]) if 0 < n < len(toks) - 1 and value is None else None
            for n, (_, value, toks) in zip(spans, lines, strict=True)
        ]
        lender: dict[tuple[int, ...], int] = {}
        for i, tail in enumerate(tails):
            if tail is not None:
                j = lender.get(tail)
                if j is None or first[lines[i][2][0]] > first[lines[j][2][0]]:
                    lender[tail] = i
        return [
            (n, i if tail is None else lender[tail])
            for i, (n, tail) in enumerate(zip(spans, tails, strict=True))
        ]

    def _action_len(self, node: _Node) -> int:
        """How many of a line's tokens spell its action; 0 when they do not end there.
        Kept per line: the tokenizer does not change, and this runs on every request."""
        if node.free or not node.line:
            return 0
        n = self._action_lens.get(node.line)
        if n is None:
            action = self._tok(node.line.partition(" ")[0])
            n = len(action) if self._tok(node.line)[: len(action)] == action else 0
            self._action_lens[node.line] = n
        return n

    def _score_groups(self, groups: list[_Group], turns: int = 1) -> None:
        """Mean log-probability of each group's lines, in one batch (sets each group's
        `scores`; None when llama.cpp has no room). A group is one turn's lines after
        its turn, which sequence `seq` holds; its lines share the tokens they start with
        (a trie), each line in a sequence of its own: the first in `seq`, the others in
        copies of it. `tails` (LlamaEngine._tails): a line that borrows another's tokens
        after its action is evaluated up to there. Sequences below `turns` hold turns:
        the copies are made in the others."""
        llm = self.llm
        ctx = llm._ctx.ctx
        spare = iter(range(turns, MAX_CANDIDATES + 1))
        # Only a line's proper prefixes go in the batch: a token's logits score the
        # token after it, so a line's last token is never evaluated.
        plans = []
        n = 0
        for g in groups:
            seqs = [g.seq] + [next(spare) for _ in g.lines[1:]]
            index: dict[tuple[int, ...], int] = {}
            nodes: list[tuple[int, int, set[int]]] = []  # token, depth, sequences
            for c, toks in enumerate(g.lines):
                upto, lender = g.tails[c]
                for d in range(len(toks) - 1 if lender == c else upto - 1):
                    key = tuple(toks[: d + 1])
                    if key not in index:
                        index[key] = n + len(nodes)
                        nodes.append((toks[d], d, set()))
                    nodes[index[key] - n][2].add(seqs[c])
            plans.append((g, seqs, index, nodes))
            n += len(nodes)
        if n > llm.n_batch:
            return
        batch = llama_cpp.llama_batch_init(max(n, 1), 0, MAX_CANDIDATES + 1)
        try:
            i = 0
            for g, seqs, _, nodes in plans:
                llm._ctx.kv_cache_seq_rm(g.seq, g.at, -1)
                for seq in seqs[1:]:
                    llm._ctx.kv_cache_seq_rm(seq, -1, -1)
                    llm._ctx.kv_cache_seq_cp(g.seq, seq, 0, g.at)
                for tok, depth, on in nodes:
                    _put(batch, i, tok, g.at + depth, sorted(on), True)
                    i += 1
            batch.n_tokens = n
            if n and llama_cpp.llama_decode(ctx, batch) != 0:
                return
            for g, _, index, nodes in plans:
                g.scores = self._read_scores(g, index)
                g.run.evaluated += len(nodes)
        finally:
            for g, seqs, _, _ in plans:
                llm._ctx.kv_cache_seq_rm(g.seq, g.at, -1)
                for seq in seqs[1:]:
                    llm._ctx.kv_cache_seq_rm(seq, -1, -1)
            llama_cpp.llama_batch_free(batch)

    def _read_scores(self, g: _Group, index: dict[tuple[int, ...], int]) -> list[float]:
        """The mean log-probability of each of the group's lines, from the batch just
        decoded (`index`: where each proper prefix of a line sits in it)."""
        ctx = self.llm._ctx.ctx
        logprob: dict[int, npt.NDArray[np.float64]] = {}

        def row(i: int) -> npt.NDArray[np.float64]:
            if i not in logprob:
                logprob[i] = _log_softmax(
                    np.ctypeslib.as_array(
                        llama_cpp.llama_get_logits_ith(ctx, i), shape=(self._n_vocab,)
                    )
                )
            return logprob[i]

        def each(toks: list[int], upto: int) -> list[float]:
            return [
                float(g.first[tok]) if d == 0 else float(row(index[tuple(toks[:d])])[tok])
                for d, tok in enumerate(toks[:upto])
            ]

        whole = {c: each(toks, len(toks)) for c, toks in enumerate(g.lines) if g.tails[c][1] == c}
        scores = []
        for c, toks in enumerate(g.lines):
            n_action, lender = g.tails[c]
            own = whole.get(c)
            if own is None:
                own = each(toks, n_action) + whole[lender][g.tails[lender][0] :]
            scores.append(sum(own) / len(toks))
        return scores

    def _values(self, action: str, device: str, hint: Hint | None) -> tuple[str, ...]:
        """What may follow a head: the action's values, narrowed to those the request says.

        A number the request says is allowed even out of range, so that the policy can
        refuse it and name the range, instead of the decoder turning 50 into 5.
        """
        if value_kind(action) == "color":
            colors = [c for c in COLORS if hint and hint.colors and c in hint.colors]
            return tuple(colors or COLORS)
        rule = self.registry.rule(action, device)
        assert rule is not None
        allowed = [v for v in range(rule.lo, rule.hi + 1) if rule.accepts(v)]
        said = set(hint.values) if hint and hint.values else set()
        sign = hint.sign if hint is not None and rule.lo < 0 else None
        if said and rule.lo < 0:
            said |= {-v for v in said}
        if not said and hint is not None and rule.default_step:
            # No amount said: the action's default step, up or down (FORMAT.md).
            said = {rule.default_step, -rule.default_step}
        if said and sign is not None:
            # "a touch quieter": the words say which way, whatever the model prefers.
            said = {v for v in said if v * sign > 0} or said
        if said:
            return tuple(str(v) for v in sorted(said))
        return tuple(str(v) for v in allowed)

    def _walk(self, root: _Node, run: _Run, hint: Hint | None = None, first: bool = True) -> _Node:
        node = root
        while not node.end and not node.free:
            children = self._allowed(node, hint, first)
            if len(children) > 1:
                tok = self._choose(run, children, hint, first)
            else:
                tok = next(iter(children))
                run.forced += 1
                run.pending.append(tok)
            node = children[tok]
        return node

    def _allowed(self, node: _Node, hint: Hint | None, first: bool) -> dict[int, _Node]:
        """The children of `node` that fit the hint."""
        children = node.children
        if hint is not None:
            # No number said: no "set_brightness 100" out of thin air; no colour
            # said: no set_color. Judged per branch on all the heads below it.
            said = {""} | ({"number"} if hint.values else set())
            said |= {"color"} if hint.colors else set()
            if _steps(hint):
                said.add("step")
            children = {t: n for t, n in children.items() if n.needs & said} or children
        if hint is not None and hint.devices is not None:
            refusal_ok = first and not hint.named_directly
            fits = {
                t: n
                for t, n in children.items()
                if n.devices & hint.devices or (refusal_ok and n.refusal)
            }
            # Another command line is for a named device only.
            children = fits or children if first else fits
            if not children:
                children = {self._im_end: _END}
        return children

    def _choose(
        self,
        run: _Run,
        children: dict[int, _Node],
        hint: Hint | None = None,
        first: bool = True,
    ) -> int:
        """The model's pick among `children` at the current position.

        Pending tokens are evaluated in one batch, with a guess of the pick appended
        when the guess leads straight to another choice ("turn" before "_on"/"_off"):
        a right guess saves that choice a whole evaluation (about the cost of the
        weights, whatever the batch), a wrong one costs one token more in this batch.
        """
        ids = list(children)
        if run.pending:
            run.ahead = None
            guess = self._guess(children, hint, first)
            if guess is not None and len(run.pending) < self.llm.n_batch:
                logits, after = self._eval_with_guess([*run.pending, guess])
                run.evaluated += len(run.pending) + 1
                run.pending = []
                tok = ids[int(np.argmax(logits[ids]))]
                run.sampled += 1
                if tok == guess:
                    run.ahead = after
                else:
                    self.llm.n_tokens -= 1  # the guess's KV cell goes at the next eval
                    run.pending.append(tok)
                return tok
            self._eval(run.pending)
            run.evaluated += len(run.pending)
            run.pending = []
            logits = self._logits()
        elif run.ahead is not None:
            logits, run.ahead = run.ahead, None
        else:
            logits = self._logits()
        tok = ids[int(np.argmax(logits[ids]))]
        run.sampled += 1
        run.pending.append(tok)
        return tok

    def _guess(self, children: dict[int, _Node], hint: Hint | None, first: bool) -> int | None:
        """The child most likely to be picked (the most answers below it) among those
        after which the model must choose again; None when no child leads to a choice."""
        best, best_size = None, 0
        for tok, node in children.items():
            if node.end or node.free or len(self._allowed(node, hint, first)) < 2:
                continue
            if node.size > best_size:
                best, best_size = tok, node.size
        return best

    def _eval_with_guess(
        self, tokens: list[int]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Evaluate `tokens` in one batch (as Llama.eval does), keeping the logits of the
        last two positions: before the guess, and after it."""
        llm = self.llm
        llm._ctx.kv_cache_seq_rm(0, llm.n_tokens, -1)
        n_past, n = llm.n_tokens, len(tokens)
        llm._batch.set_batch(batch=tokens, n_past=n_past, logits_all=False)
        llm._batch.batch.logits[n - 2] = True
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past : n_past + n] = tokens
        llm.n_tokens += n
        ctx = llm._ctx.ctx
        before = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits_ith(ctx, n - 2), shape=(self._n_vocab,)
        )
        after = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits_ith(ctx, n - 1), shape=(self._n_vocab,)
        )
        return before, after.copy()

    def _free_item(self, run: _Run) -> str:
        """A list item: words of the request, copied (FORMAT.md: the item as the user
        said it). Each token continues a span of the request or ends the line, so a
        small model can neither translate "xijiejing" (dish soap) nor write "mow_the_lawn".

        The tokens that follow the span in the request are drafted and checked in the
        same batch (prompt lookup decoding): each one the model agrees with saves a
        decode."""
        out: list[int] = []
        # No bare space before it: the model writes " paper" after the line, but "1"
        # after "add_item shopping_list " (a space token is where numbers go).
        self._eval(run.pending)
        run.evaluated += len(run.pending)
        run.pending = []
        source = self._tok(" " + run.text)
        ends = {self._im_end, *self._newline}
        logits = self._logits()
        while len(out) < MAX_ITEM_TOKENS:
            tok = _best_of(logits, _copies(source, out, ends))
            run.sampled += 1
            if tok in ends:
                break
            out.append(tok)
            draft = _draft(source, out, min(ITEM_DRAFT, MAX_ITEM_TOKENS - len(out)))
            rows = self._eval_rows([tok, *draft])
            run.evaluated += 1 + len(draft)
            taken = 0
            for j, d in enumerate(draft):
                if _best_of(rows[j], _copies(source, out, ends)) != d:
                    break
                out.append(d)
                run.sampled += 1
                taken += 1
            self.llm.n_tokens -= len(draft) - taken  # the next eval drops their cells
            logits = rows[taken]
        return self.llm.detokenize(out).decode("utf-8", errors="ignore").strip()

    def _eval_rows(self, tokens: list[int]) -> list[npt.NDArray[np.float32]]:
        """Evaluate `tokens` in one batch after sequence 0, keeping the logits after each."""
        llm = self.llm
        llm._ctx.kv_cache_seq_rm(0, llm.n_tokens, -1)
        llm._batch.set_batch(batch=tokens, n_past=llm.n_tokens, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[llm.n_tokens : llm.n_tokens + len(tokens)] = tokens
        llm.n_tokens += len(tokens)
        ctx = llm._ctx.ctx
        return [
            np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(ctx, i), shape=(self._n_vocab,)
            ).copy()
            for i in range(len(tokens))
        ]

    def _free_reply(self, lang: str) -> tuple[str, int]:
        """Greedy reply up to the first full stop: one short sentence, few tokens.

        The language is enforced on the few best candidates only (no vocabulary-wide
        mask): English replies stay ASCII, Chinese replies start with a Chinese token.
        """
        out: list[int] = []
        started = False  # a leading space is not the start of the sentence
        ends = marks("stop", "exclamation", "question")
        for _ in range(self.max_reply_tokens):
            tok, piece = self._pick_in_language(self._logits(), lang, first=not started)
            if tok == self._im_end or tok in self._newline or self.llm.token_eos() == tok:
                break
            out.append(tok)
            started = started or bool(piece.strip())
            if len(out) >= 2 and any(c in piece for c in ends):
                break  # one sentence is the reply: no need to evaluate its last token
            self._eval([tok])
        text = self.llm.detokenize(out).decode("utf-8", errors="ignore").strip()
        return text, len(out)

    def _pick_in_language(
        self, logits: npt.NDArray[np.float32], lang: str, first: bool
    ) -> tuple[int, str]:
        top = np.argpartition(logits, -64)[-64:]
        for tok in (int(t) for t in top[np.argsort(-logits[top])]):
            if tok == self._im_end:
                return tok, ""
            raw = self.llm.detokenize([tok])
            piece = raw.decode("utf-8", errors="ignore")
            if lang == "en" and raw.isascii() and piece:
                return tok, piece
            if lang == "zh" and (
                not first or not piece.strip() or any("\u3400" <= c <= "\u9fff" for c in piece)
            ):
                return tok, piece
        return self._im_end, ""  # nothing fitting among the best: end the reply here

    # ------------------------------------------------------------ the check

    def check(self, text: str, asked: str, answer: str) -> float:
        """How much more the model thinks `text` asks for `asked` now than not: log P(yes)
        - log P(no) to "Is the speaker asking you to <asked> now?", asked after the
        request and the chosen answer line, from the cached prompt. About one evaluation
        of a few dozen tokens."""
        self.llm.n_tokens = self.prefix_tokens
        follow = (
            f"{answer}<|im_end|>\n<|im_start|>user\n"
            f"Is the speaker asking you to {asked} right now? Answer yes or no."
            "<|im_end|>\n<|im_start|>assistant\n"
        )
        tokens = self._tok(ChatML.turn(text) + follow)
        room = self.llm.n_ctx() - self.prefix_tokens - 8
        if len(tokens) > room:
            return 0.0
        self.llm.eval(tokens)
        logp = _log_softmax(self._logits())
        yes = max(float(logp[t]) for t in self._yes_no[0])
        no = max(float(logp[t]) for t in self._yes_no[1])
        return yes - no

    def close(self) -> None:
        self.llm.close()


def _said(heads: list[_Node], hint: Hint | None) -> list[_Node]:
    """Without the heads whose opposite action the request's verbs ask for and whose own
    they do not (Home Assistant's verbs, verbs.py): "unmute the tv" is never scored as
    "mute tv", nor "shut the blinds" as "open". Verbs narrow nothing else: the nouns
    around them are too often taken for one action's words."""
    if hint is None or not hint.actions:
        return heads
    said = hint.actions
    return [
        h
        for h in heads
        if (action := h.line.partition(" ")[0]) in said or OPPOSITE.get(action) not in said
    ]


def _copies(source: list[int], out: list[int], ends: set[int]) -> set[int]:
    """The tokens that may follow `out` in an item copied from `source`: any token of
    it to start; then the next token after each place `out` ends in it, or an end."""
    if not out:
        return set(source)
    k = len(out)
    nxt = {source[i + k] for i in range(len(source) - k) if source[i : i + k] == out}
    return nxt | ends


def _best_of(logits: npt.NDArray[Any], allowed: set[int]) -> int:
    ids = list(allowed)
    return ids[int(np.argmax(logits[ids]))]


def _draft(source: list[int], out: list[int], n: int) -> list[int]:
    """Up to `n` tokens that follow the end of `out` in `source`, matched on its last
    two tokens where they occur together, else on its last one."""
    for k in (2, 1):
        tail = out[-k:]
        if len(tail) < k:
            continue
        for i in range(len(source) - k + 1):
            if source[i : i + k] == tail:
                return source[i + k : i + k + n]
    return []


def _steps(hint: Hint) -> bool:
    """Whether a relative change by its default step may answer the request. A step
    needs its own words: an amount, a way ("brighter", "down"), or a verb of the change.
    A request whose words ask for something else ("make the lights red", "turn on the
    chandelier") is no step: scoring one costs batch tokens and sometimes wins."""
    if hint.values or hint.sign is not None:
        return True
    if hint.actions is None:
        return not hint.colors
    return any(a.startswith("change_") for a in hint.actions)


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _log_softmax(logits: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    raw = logits.astype(np.float64)
    top = raw.max()
    out: npt.NDArray[np.float64] = raw - (top + np.log(np.exp(raw - top).sum()))
    return out


def _put(batch: Any, i: int, tok: int, pos: int, seqs: list[int], logits: bool) -> None:
    batch.token[i] = tok
    batch.pos[i] = pos
    batch.n_seq_id[i] = len(seqs)
    for j, seq in enumerate(seqs):
        batch.seq_id[i][j] = seq
    batch.logits[i] = logits


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _plain_weights() -> Iterator[None]:
    """Load without llama.cpp's "extra buffer types" (repacked weights for AMX/AVX2).

    On x86 machines with AMX, batches of more than one token then crash in llama_decode
    (seen with llama-cpp-python 0.3.36 in a sandbox); on a Pi they do not apply to
    Q4_K_M. llama-cpp-python has no argument for it, so the default parameters that its
    constructor reads are adjusted while it runs.
    """
    low_level = llama_cpp.llama_cpp  # the module that Llama.__init__ reads it from
    original = low_level.llama_model_default_params
    original_ctx = low_level.llama_context_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = False
        return p

    def ctx_params() -> Any:
        # Candidate answers are scored side by side, each in its own sequence over the
        # one KV cache that holds the prompt (see LlamaEngine._score).
        p = original_ctx()
        p.n_seq_max = MAX_CANDIDATES + 1
        p.kv_unified = True
        return p

    with _PARAMS_LOCK:
        low_level.llama_model_default_params = params
        low_level.llama_context_default_params = ctx_params
        try:
            yield
        finally:
            low_level.llama_model_default_params = original
            low_level.llama_context_default_params = original_ctx


def prompt_tokens(model_path: Path, registry: Registry, budget: int | None = None) -> int:
    """How many tokens the registry's fixed prompt takes (loads only the vocabulary);
    over `budget`, the prompt without the device list."""
    n = _count_tokens(str(model_path), build_prefix(registry))
    if budget is not None and n > budget:
        n = _count_tokens(str(model_path), build_prefix(registry, list_devices=False))
    return n


@functools.lru_cache(maxsize=4)
def _count_tokens(model_path: str, text: str) -> int:
    # Cached: `dialogd run` counts at its config check and again to size the context.
    vocab = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    try:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))
    finally:
        vocab.close()
