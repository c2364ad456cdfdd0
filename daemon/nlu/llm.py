"""The language model, driven token by token: a plain blocking class, no asyncio.

Two things make it cheap on a Pi:
- The fixed prompt prefix is evaluated once; its KV state is saved to disk and restored
  at start-up, and every request truncates back to it. Per request the model evaluates
  only the user's turn.
- Decoding is constrained by a token trie of every valid answer line. Where the trie
  branches, the model's logits pick among the allowed tokens only (a few array reads,
  no GBNF sampler over 152k tokens); where it does not branch, the forced tokens are
  appended without sampling and evaluated together in one batch at the next branch.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import numpy as np
import numpy.typing as npt

from daemon.nlu.prompt import ChatML, answer_lines, build_prefix, parse_answer
from daemon.registry import Decision, Hint, Registry
from daemon.vocabulary import CHAT

_LOG = logging.getLogger(__name__)


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    end: bool = False  # a complete answer line ends here
    free: bool = False  # "chat:" — the reply that follows is generated freely
    # What the answers reachable from here name, for filtering by a Hint.
    devices: set[str | None] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    values: set[int | None] = field(default_factory=set)

    def fits(self, hint: Hint, dimension: str) -> bool:
        if dimension == "devices":
            return hint.devices is None or bool(self.devices & hint.devices)
        if dimension == "actions":
            return hint.actions is None or bool(self.actions & hint.actions)
        return hint.values is None or None in self.values or bool(self.values & hint.values)


@dataclass(frozen=True)
class ModelAnswer:
    decision: Decision
    reply: str | None
    prompt_tokens: int  # the user's turn, evaluated in one batch
    evaluated_tokens: int  # all tokens the model evaluated for this request
    sampled_tokens: int  # positions where the model chose (constrained or free)
    forced_tokens: int  # tokens the trie dictated, evaluated in batches
    ms: float  # all of it, a chat reply included
    decided_ms: float  # until action, device and value were known


class LlamaEngine:
    """Loads a GGUF once and maps request texts to decisions."""

    def __init__(
        self,
        model_path: Path,
        registry: Registry,
        *,
        threads: int = 4,
        n_ctx: int = 1024,
        state_dir: Path | None = None,
        max_reply_tokens: int = 40,
        chat_replies: bool = True,
    ) -> None:
        t0 = time.monotonic()
        self.model_path = model_path
        self.max_reply_tokens = max_reply_tokens
        self.chat_replies = chat_replies
        # n_batch bounds the per-batch logits buffer that llama-cpp-python allocates
        # (n_batch x 152k floats): 512 would cost 300 MB of RAM for nothing here.
        self.llm = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_batch=128,
            n_ubatch=128,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self._n_vocab = self.llm.n_vocab()
        self._im_end = self._tok("<|im_end|>")[0]
        self._newline = set(self._tok("\n"))
        self.load_ms = (time.monotonic() - t0) * 1000
        self.state_dir = state_dir
        self.registry = registry
        self.prefix_tokens = 0
        self.set_registry(registry)

    # ------------------------------------------------------------------ set-up

    def set_registry(self, registry: Registry) -> None:
        """(Re)build the prompt prefix and the answer trie for a device registry."""
        t0 = time.monotonic()
        self.registry = registry
        prefix = build_prefix(registry)
        tokens = self._tok(prefix)
        if len(tokens) + 128 > self.llm.n_ctx():
            raise ValueError(
                f"the prompt for this registry takes {len(tokens)} tokens; "
                f"raise llm.n_ctx above {len(tokens) + 128}"
            )
        self._root = self._build_trie(answer_lines(registry))
        restored = self._restore_prefix(tokens)
        if not restored:
            self.llm.reset()
            self.llm.eval(tokens)
            self._save_prefix(tokens)
        self.prefix_tokens = len(tokens)
        _LOG.info(
            "prompt prefix: %d tokens, %s in %.0f ms",
            len(tokens),
            "restored from cache" if restored else "evaluated",
            (time.monotonic() - t0) * 1000,
        )

    def _tok(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _build_trie(self, lines: list[str]) -> _Node:
        root = _Node()
        for line in lines:
            d = parse_answer(line)
            free = line == "chat:"
            node = root
            # The root, each token of the line, and the end token (unless the reply
            # that follows "chat:" is free text) all lead to this answer.
            for t in [None, *self._tok(line), *([] if free else [self._im_end])]:
                if t is not None:
                    node = node.children.setdefault(t, _Node())
                node.devices.add(d.device)
                node.actions.add(d.action)
                node.values.add(d.value)
            node.free = free
            node.end = not free
        return root

    def _state_file(self, tokens: list[int]) -> Path | None:
        if self.state_dir is None:
            return None
        st = self.model_path.stat()
        key = hashlib.sha256(
            f"{self.model_path.resolve()}|{st.st_size}|{st.st_mtime_ns}|"
            f"{self.llm.n_ctx()}|{llama_cpp.__version__}|".encode()
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

    def decide(self, text: str, lang: str = "en", hint: Hint | None = None) -> ModelAnswer:
        """Map `text` to a decision; with a hint, only answers that fit it.

        The hint comes from the request's own words (the devices it names, its verb, its
        numbers): a 0.5B model otherwise answers "unknown" for a plainly named device,
        or copies "10" as "100".
        """
        t0 = time.perf_counter()
        self.llm.n_tokens = self.prefix_tokens  # eval() drops the KV cells after it
        turn = self._tok(ChatML.turn(text))
        room = self.llm.n_ctx() - self.prefix_tokens - self.max_reply_tokens - 16
        if len(turn) > room:
            # Keep the end of the turn: it holds the template's assistant header.
            turn = turn[: room - 8] + turn[-8:]
        self.llm.eval(turn)
        evaluated = len(turn)
        node = self._root
        out: list[int] = []
        pending: list[int] = []
        sampled = forced = 0
        while not node.end and not node.free:
            children = node.children
            if hint is not None:
                for dimension in ("devices", "actions", "values"):
                    allowed = {t: n for t, n in children.items() if n.fits(hint, dimension)}
                    children = allowed or children
            if len(children) == 1:
                tok = next(iter(children))
                forced += 1
            else:
                if pending:
                    self.llm.eval(pending)
                    evaluated += len(pending)
                    pending = []
                logits = self._logits()
                ids = list(children)
                tok = ids[int(np.argmax(logits[ids]))]
                sampled += 1
            out.append(tok)
            pending.append(tok)
            node = node.children[tok]
        line = self.llm.detokenize([t for t in out if t != self._im_end]).decode(
            "utf-8", errors="replace"
        )
        decision = parse_answer(line)
        decided_ms = (time.perf_counter() - t0) * 1000
        reply = None
        if node.free and self.chat_replies:
            # The language tag is forced, not sampled: a 0.5B model otherwise drifts
            # into Chinese for English small talk.
            tag = self._tok(f" [{lang}]")
            self.llm.eval(pending + tag)
            forced += len(tag)
            evaluated += len(pending) + len(tag)
            reply, n = self._free_reply(lang)
            sampled += n
            evaluated += max(0, n - 1)
        assert decision.action == CHAT or self.registry.check(decision) is None, line
        return ModelAnswer(
            decision=decision,
            reply=reply,
            prompt_tokens=len(turn),
            evaluated_tokens=evaluated,
            sampled_tokens=sampled,
            forced_tokens=forced,
            ms=(time.perf_counter() - t0) * 1000,
            decided_ms=decided_ms,
        )

    def _free_reply(self, lang: str) -> tuple[str, int]:
        """Greedy reply up to the first full stop: one short sentence, few tokens.

        The language is enforced on the few best candidates only (no vocabulary-wide
        mask): English replies stay ASCII, Chinese replies start with a Chinese token.
        """
        out: list[int] = []
        started = False  # a leading space is not the start of the sentence
        for _ in range(self.max_reply_tokens):
            tok, piece = self._pick_in_language(self._logits(), lang, first=not started)
            if tok == self._im_end or tok in self._newline or self.llm.token_eos() == tok:
                break
            out.append(tok)
            started = started or bool(piece.strip())
            if len(out) >= 2 and any(c in piece for c in ".!?。！？"):
                break  # one sentence is the reply: no need to evaluate its last token
            self.llm.eval([tok])
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

    def close(self) -> None:
        self.llm.close()
