"""Snips-style NLU beside dialogd's template fast path: an intent classifier and a slot
tagger trained at start-up on sentences sampled from the same templates, for this home.

    .venv/bin/python benchmarks/classifier_nlu.py [--cap 250] [--no-cache] [--misses]

Design (Snips NLU's, without its CRF):
- training data: hassil templates as dialogd loads them (Home Assistant's merged with
  daemon/data/sentences/*.yaml, filtered to the home's domains), walked at random with the
  home's real device, area and floor names in {name}/{area}/{floor}; each sentence is
  labelled with its intent plus the template's fixed slots (domain, sign, all, ...), and
  each token with the slot it came from. A "None" intent of random word sequences from
  the training vocabulary stands for everything else (Snips' noise intent).
- registry names (devices, areas, floors) are found by a longest-match gazetteer and
  replaced by placeholders (<name:light>, <area>, <floor>) before either model sees the
  text, as Snips' entity-aware featurisation does.
- intent: multinomial logistic regression (numpy, Adagrad, L2) over word 1-3-grams and
  character 3-grams; slots: a per-token logistic regression over the token, its
  neighbours and the intent; values from the slot lists (colours, speed words), numbers
  from digits, free text (list items, timer names) as said.
- the result becomes a templates.Match and goes through dialogd's Resolver, so targets,
  actions per device kind and values follow FORMAT.md exactly as on the fast path.
- trained weights are cached in a temp dir keyed by a hash of the registry, the
  templates and these settings.

Reported per home and language, side by side: the fast path alone
(IntentEngine.understand_fast: None = did not decide), the classifier raw, the
classifier through dialogd's safety policy (as the model path is), and "fast path, else
classifier" (raw and with policy).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # another engineer shares the two cores

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hassil.expression import (  # noqa: E402
    Alternative,
    Expression,
    ListReference,
    Permutation,
    RuleReference,
    Sequence,
    TextChunk,
)
from hassil.intents import RangeSlotList, TextSlotList, WildcardSlotList  # noqa: E402

from daemon.config.settings import load_settings  # noqa: E402
from daemon.core.vocabulary import ACTUATING, CHAT, UNKNOWN  # noqa: E402
from daemon.home.registry import Command, Decision, Registry  # noqa: E402
from daemon.pipeline.engines import home_registry  # noqa: E402
from daemon.understanding.engine import IntentEngine  # noqa: E402
from daemon.understanding.lang import (  # noqa: E402
    Lang,
    detect_lang,
    grammar,
    normalize,
    phrase_pattern,
)
from daemon.understanding.templates import HASS_LANG, Match, Slot, domain_of  # noqa: E402

VERSION = "clf-nlu-1"
NONE = "None"
GAZ_SLOTS = ("name", "area", "floor")

# Free-text slots (wildcards) need example fillers to be sampled at all.
WILDCARD_FILL: dict[str, dict[str, list[str]]] = {
    "en": {
        "item": ["milk", "eggs", "bread", "apples", "coffee", "paper towels", "dish soap",
                 "batteries", "olive oil", "dog food", "tomatoes", "rice"],
        "name": ["pasta", "laundry", "eggs", "tea", "pizza", "nap", "oven", "homework"],
    },
    "zh": {
        "item": ["牛奶", "鸡蛋", "面包", "苹果", "咖啡", "纸巾", "洗洁精", "电池", "酱油",
                 "大米", "西红柿", "猫粮"],
        "name": ["面条", "洗衣", "鸡蛋", "泡茶", "披萨", "午睡", "烤箱", "作业"],
    },
}  # fmt: skip
# wildcard list name -> which filler
WILDCARD_KIND = {"shopping_list_item": "item", "todo_list_item": "item", "dialogd_item": "item",
                 "timer_name": "name"}  # fmt: skip

_TOKEN = re.compile(
    r"<[a-z_:]+>|\d+(?:\.\d+)?|[^\W\d_\u3400-\u9fff]+(?:'[^\W\d_\u3400-\u9fff]+)*"
    r"|[\u3400-\u9fff]|%|°"
)


def tokens_of(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


# --------------------------------------------------------------------------- gazetteer


@dataclass(frozen=True)
class Entity:
    kind: str  # name, area, floor
    id: str
    domain: str | None
    text: str

    @property
    def placeholder(self) -> str:
        return f"<name:{self.domain}>" if self.kind == "name" else f"<{self.kind}>"


class Gazetteer:
    """Longest match of the registry's phrases; a device's name wins over a place."""

    def __init__(self, registry: Registry) -> None:
        table: dict[str, tuple[str, str, str | None]] = {}
        for f in registry.floors:
            table.update({p.lower(): ("floor", f.id, None) for p in f.phrases})
        for a in registry.areas:
            table.update({p.lower(): ("area", a.id, None) for p in a.phrases})
        for d in registry.devices:
            table.update({p.lower(): ("name", d.id, domain_of(d.type)) for p in d.phrases})
        self.table = table
        self.longest_first = sorted(table, key=len, reverse=True)

    def segment(self, text: str) -> list[str | Entity]:
        """The text cut into plain strings and entities, in order."""
        low = text.lower()
        taken: list[tuple[int, int, Entity]] = []
        for phrase in self.longest_first:
            stem = phrase.rstrip("s") if phrase.isascii() else phrase
            if stem not in low:
                continue
            for m in phrase_pattern(phrase).finditer(low):
                s, e = m.span()
                if any(s < te and ts < e for ts, te, _ in taken):
                    continue
                kind, ident, dom = self.table[phrase]
                taken.append((s, e, Entity(kind, ident, dom, low[s:e])))
        taken.sort()
        out: list[str | Entity] = []
        pos = 0
        for s, e, ent in taken:
            if s > pos:
                out.append(low[pos:s])
            out.append(ent)
            pos = e
        if pos < len(low):
            out.append(low[pos:])
        return out


# ---------------------------------------------------------------------------- sampling


@dataclass
class Sample:
    label: str  # intent|k=v|... (fixed slots)
    tokens: list[str]
    tags: list[str]  # slot name per token, "O" outside


@dataclass
class SlotInfo:
    """What the sampler learnt about each (non-gazetteer) slot: its kind and values."""

    # "intent:slot" -> the kinds of list seen there (range, text, wildcard)
    kind: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # slot -> text -> value

    def saw(self, intent: str, slot: str, kind: str) -> None:
        kinds = self.kind.setdefault(f"{intent}:{slot}", [])
        if kind not in kinds:
            kinds.append(kind)


# A piece of a sampled sentence: (text, slot or None, value, registry entity or None)
Piece = tuple[str, str | None, Any, Entity | None]


class _Skip(Exception):
    pass


class Sampler:
    """Random walks through hassil's templates, keeping track of which slot each piece
    of text came from."""

    def __init__(self, lang: Lang, gaz: Gazetteer, matcher: Any, rng: random.Random) -> None:
        self.lang = lang
        self.gaz = gaz
        self.rng = rng
        self.intents = matcher._intents[lang]
        self.registry_lists = matcher._slot_lists  # name/area/floor: (phrase, TextSlotValue)
        self.info = SlotInfo()
        self.intent = ""

    def sample(self, cap: int) -> list[Sample]:
        out: list[Sample] = []
        for intent_name, intent in self.intents.intents.items():
            per_label: dict[str, list[Sample]] = {}
            templates = [(d, s) for d in intent.data for s in d.sentences]
            if not templates:
                continue
            k = max(2, math.ceil(cap * 2 / len(templates)))
            seen: set[tuple[str, ...]] = set()
            for data, sentence in templates:
                rules = {**self.intents.expansion_rules, **data.expansion_rules}
                lists = {**self.intents.slot_lists, **data.slot_lists}
                self.intent = intent_name
                label = self._label(intent_name, data)
                for _ in range(k):
                    try:
                        pieces = self._walk(sentence.expression, rules, lists, data)
                    except _Skip:
                        break
                    s = self._to_sample(label, pieces)
                    if s is None or tuple(s.tokens) in seen:
                        continue
                    seen.add(tuple(s.tokens))
                    per_label.setdefault(label, []).append(s)
            # Cap per intent, spread over its labels; intents with few distinct sentences
            # are repeated up to a fifth of the cap so that they are not drowned.
            pooled = [s for group in per_label.values() for s in group]
            self.rng.shuffle(pooled)
            pooled = pooled[:cap]
            if pooled:
                pooled = (pooled * math.ceil(cap / 5 / len(pooled)))[: max(len(pooled), cap // 5)]
            out.extend(pooled)
        return out

    @staticmethod
    def _label(intent: str, data: Any) -> str:
        fixed = {k: v for k, v in (data.slots or {}).items() if k not in GAZ_SLOTS}
        combo = str((data.metadata or {}).get("slot_combination", ""))
        if "all" in combo:
            fixed.setdefault("all", "true")
        parts = [intent] + [f"{k}={str(v).lower()}" for k, v in sorted(fixed.items())]
        return "|".join(parts)

    # A piece: (text, slot or None, value, entity or None)
    def _walk(
        self, e: Expression, rules: dict[str, Any], lists: dict[str, Any], data: Any
    ) -> list[Piece]:
        rng = self.rng
        if isinstance(e, TextChunk):
            return [(e.original_text, None, None, None)]
        if isinstance(e, Alternative):
            return self._walk(rng.choice(e.items), rules, lists, data)
        if isinstance(e, Permutation):
            items = list(e.items)
            rng.shuffle(items)
            out: list[Piece] = []
            for it in items:
                out += [(" ", None, None, None), *self._walk(it, rules, lists, data)]
            return [*out, (" ", None, None, None)]
        if isinstance(e, Sequence):
            out = []
            for it in e.items:
                out += self._walk(it, rules, lists, data)
            return out
        if isinstance(e, RuleReference):
            if e.rule_name not in rules:
                raise _Skip
            return self._walk(rules[e.rule_name].expression, rules, lists, data)
        if isinstance(e, ListReference):
            return [self._list_value(e, lists, data)]
        raise _Skip

    def _list_value(self, ref: ListReference, lists: dict[str, Any], data: Any) -> Piece:
        rng = self.rng
        slot = ref.slot_name
        if ref.list_name in GAZ_SLOTS:
            choices = self.registry_lists[ref.list_name]
            if ref.list_name == "name":
                want = (data.requires_context or {}).get("domain")
                avoid = (data.excludes_context or {}).get("domain")
                want = [want] if isinstance(want, str) else want
                avoid = [avoid] if isinstance(avoid, str) else (avoid or [])
                choices = [
                    c for c in choices
                    if (not want or c[1].context["domain"] in want)
                    and c[1].context["domain"] not in avoid
                ]  # fmt: skip
            if not choices:
                raise _Skip
            phrase, v = rng.choice(choices)
            ent = Entity(ref.list_name, v.value_out, (v.context or {}).get("domain"), phrase)
            return (phrase, slot, v.value_out, ent)
        if ref.is_inline_range:
            lo, hi, step = ref.get_inline_range()  # type: ignore[misc]
            n = rng.randrange(lo, min(hi, lo + 100) + 1, step)
            self.info.saw(self.intent, slot, "range")
            return (str(n), slot, n, None)
        sl = lists.get(ref.list_name)
        if isinstance(sl, RangeSlotList):
            hi = min(sl.stop, sl.start + 100 * sl.step)
            n = rng.randrange(sl.start, hi + 1, sl.step)
            self.info.saw(self.intent, slot, "range")
            return (str(n), slot, n, None)
        if isinstance(sl, TextSlotList):
            if not sl.values:
                raise _Skip
            v = rng.choice(sl.values)
            text = "".join(p[0] for p in self._walk(v.text_in, {}, {}, data))
            self.info.saw(self.intent, slot, "text")
            key = " ".join(tokens_of(normalize(text, self.lang)))
            self.info.values.setdefault(slot, {})[key] = v.value_out
            return (text, slot, v.value_out, None)
        if isinstance(sl, WildcardSlotList) or ref.list_name in WILDCARD_KIND:
            kind = WILDCARD_KIND.get(ref.list_name)
            if kind is None:
                raise _Skip
            text = rng.choice(WILDCARD_FILL[self.lang][kind])
            self.info.saw(self.intent, slot, "wildcard")
            return (text, slot, text, None)
        raise _Skip

    def _to_sample(self, label: str, pieces: list[Piece]) -> Sample | None:
        toks: list[str] = []
        tags: list[str] = []
        merged: list[Piece] = []  # "timer" + "[s]" is one word: join plain text first
        for p in pieces:
            plain = p[3] is None and p[1] is None
            if plain and merged and merged[-1][3] is None and merged[-1][1] is None:
                merged[-1] = (merged[-1][0] + p[0], None, None, None)
            else:
                merged.append(p)
        for text, slot, _value, ent in merged:
            if ent is not None:
                toks.append(ent.placeholder)
                tags.append("O")
                continue
            for seg in self.gaz.segment(normalize(text, self.lang) if text.strip() else ""):
                if isinstance(seg, Entity):
                    toks.append(seg.placeholder)
                    tags.append("O")
                else:
                    t = tokens_of(seg)
                    toks += t
                    tags += [slot or "O"] * len(t)
        return Sample(label, toks, tags) if toks else None


def noise_samples(samples: list[Sample], n: int, rng: random.Random) -> list[Sample]:
    """Snips' "None" intent: random sequences of words from the training vocabulary."""
    vocab = sorted({t for s in samples for t in s.tokens if not t.startswith("<")})
    out = []
    for _ in range(n):
        k = rng.randint(2, 9)
        toks = [rng.choice(vocab) for _ in range(k)]
        out.append(Sample(NONE, toks, ["O"] * k))
    return out


# ------------------------------------------------------------------------- features


def _num(t: str) -> str:
    return "<num>" if t[:1].isdigit() else t


def intent_features(tokens: list[str]) -> list[str]:
    toks = [_num(t) for t in tokens]
    seq = ["<s>", *toks, "</s>"]
    f = ["bias"]
    f += ["u:" + t for t in toks]
    f += ["b:" + seq[i] + " " + seq[i + 1] for i in range(len(seq) - 1)]
    f += ["t:" + " ".join(seq[i : i + 3]) for i in range(len(seq) - 2)]
    for t in toks:
        if t.isascii() and t.isalpha() and len(t) >= 3:
            w = f"#{t}#"
            f += ["c:" + w[i : i + 3] for i in range(len(w) - 2)]
    return f


def _shape(t: str) -> str:
    if t.startswith("<"):
        return "PH"
    if t[:1].isdigit():
        return "D"
    if t.isascii():
        return "A"
    return "Z"


def token_features(tokens: list[str], i: int, label: str) -> list[str]:
    def w(j: int) -> str:
        return _num(tokens[j]) if 0 <= j < len(tokens) else ("<s>" if j < 0 else "</s>")

    intent = label.split("|")[0]
    sh = _shape(tokens[i])
    f = [
        "bias", "w0:" + w(i), "w-1:" + w(i - 1), "w+1:" + w(i + 1), "w-2:" + w(i - 2),
        "w+2:" + w(i + 2), "w-1w0:" + w(i - 1) + " " + w(i), "w0w+1:" + w(i) + " " + w(i + 1),
        "sh:" + sh, "I:" + intent, "Ish:" + intent + " " + sh, "Iw-1:" + intent + " " + w(i - 1),
        "Iw+1:" + intent + " " + w(i + 1), "L:" + label,
    ]  # fmt: skip
    return f


# ---------------------------------------------------------------- logistic regression


class LogReg:
    """Multinomial logistic regression on binary sparse features (numpy only)."""

    def __init__(self, vocab: dict[str, int], classes: list[str], W: np.ndarray) -> None:
        self.vocab = vocab
        self.classes = classes
        self.W = W

    @staticmethod
    def train(
        rows: list[list[str]], y: list[str], epochs: int = 8, lr: float = 0.5,
        l2: float = 1e-5, seed: int = 0, min_count: int = 1,
    ) -> LogReg:  # fmt: skip
        counts: dict[str, int] = {}
        for r in rows:
            for f in set(r):
                counts[f] = counts.get(f, 0) + 1
        vocab = {f: i for i, f in enumerate(sorted(k for k, c in counts.items() if c >= min_count))}
        classes = sorted(set(y))
        cidx = {c: i for i, c in enumerate(classes)}
        idx_rows = [np.array(sorted({vocab[f] for f in r if f in vocab}), np.int64) for r in rows]
        Y = np.array([cidx[c] for c in y], np.int64)
        F, C = len(vocab), len(classes)
        W = np.zeros((F, C), np.float32)
        G2 = np.full((F, C), 1e-6, np.float32)  # Adagrad accumulators
        rng = np.random.default_rng(seed)
        n = len(rows)
        batch = 256
        for _ in range(epochs):
            order = rng.permutation(n)
            for s in range(0, n, batch):
                ids = order[s : s + batch]
                lens = np.array([len(idx_rows[i]) for i in ids])
                flat = np.concatenate([idx_rows[i] for i in ids])
                starts = np.r_[0, np.cumsum(lens)[:-1]]
                Z = np.add.reduceat(W[flat], starts, axis=0)
                Z -= Z.max(1, keepdims=True)
                P = np.exp(Z)
                P /= P.sum(1, keepdims=True)
                P[np.arange(len(ids)), Y[ids]] -= 1.0
                # gradient rows of the features present in the batch
                row_of = np.repeat(np.arange(len(ids)), lens)
                order_f = np.argsort(flat, kind="stable")
                sf = flat[order_f]
                first = np.flatnonzero(np.r_[True, sf[1:] != sf[:-1]])
                uf = sf[first]
                g = np.add.reduceat(P[row_of[order_f]], first, axis=0).astype(np.float32)
                g /= len(ids)
                g += l2 * W[uf]
                G2[uf] += g * g
                W[uf] -= lr * g / np.sqrt(G2[uf])
        return LogReg(vocab, classes, W)

    def scores(self, feats: list[str]) -> np.ndarray:
        idx = [self.vocab[f] for f in set(feats) if f in self.vocab]
        z = self.W[idx].sum(0) if idx else np.zeros(len(self.classes), np.float32)
        z = z - z.max()
        p = np.exp(z)
        out: np.ndarray = p / p.sum()
        return out

    def predict(self, feats: list[str]) -> tuple[str, float]:
        p = self.scores(feats)
        k = int(p.argmax())
        return self.classes[k], float(p[k])

    def save(self, path: Path) -> None:
        np.save(path.with_suffix(".npy"), self.W)
        path.with_suffix(".json").write_text(
            json.dumps({"vocab": self.vocab, "classes": self.classes}, ensure_ascii=False)
        )

    @staticmethod
    def load(path: Path) -> LogReg:
        meta = json.loads(path.with_suffix(".json").read_text())
        return LogReg(meta["vocab"], meta["classes"], np.load(path.with_suffix(".npy")))


# --------------------------------------------------------------------------- the NLU


@dataclass
class LangModel:
    intent: LogReg
    tagger: LogReg
    info: SlotInfo
    n_train: int
    sample_s: float
    train_s: float
    cached: bool


def registry_hash(registry: Registry, cap: int) -> str:
    h = hashlib.sha256()
    h.update(VERSION.encode())
    h.update(str(cap).encode())
    for pkg in ("hassil", "home-assistant-intents"):
        h.update(metadata.version(pkg).encode())
    for code in HASS_LANG.values():
        h.update(
            resources.files("daemon").joinpath("data", "sentences", f"{code}.yaml").read_bytes()
        )
    h.update(Path(__file__).read_bytes())
    for f in sorted((ROOT / "daemon" / "data" / "lang").glob("*.toml")):
        h.update(f.read_bytes())  # normalisation and grammar words shape the tokens
    reg = {
        "floors": [asdict(f) for f in registry.floors],
        "areas": [asdict(a) for a in registry.areas],
        "devices": [asdict(d) for d in registry.devices],
        "fahrenheit": registry.fahrenheit,
    }
    h.update(json.dumps(reg, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


class ClassifierNLU:
    def __init__(self, engine: IntentEngine, cap: int, use_cache: bool = True) -> None:
        self.engine = engine
        self.registry = engine.registry
        self.gaz = Gazetteer(self.registry)
        self.resolver = engine.fast.resolver
        key = registry_hash(self.registry, cap)
        self.cache_dir = Path(tempfile.gettempdir()) / "dialogd-classifier-nlu" / key
        self.models: dict[Lang, LangModel] = {}
        for lang in HASS_LANG:
            self.models[lang] = self._model(lang, cap, use_cache, int(key[:8], 16))

    def _model(self, lang: Lang, cap: int, use_cache: bool, seed: int) -> LangModel:
        d = self.cache_dir
        if use_cache and (d / f"{lang}-intent.npy").exists():
            meta = json.loads((d / f"{lang}-meta.json").read_text())
            info = SlotInfo(meta["kind"], meta["values"])
            return LangModel(
                LogReg.load(d / f"{lang}-intent"), LogReg.load(d / f"{lang}-tagger"), info,
                meta["n_train"], meta["sample_s"], meta["train_s"], True,
            )  # fmt: skip
        t0 = time.perf_counter()
        rng = random.Random(seed)
        sampler = Sampler(lang, self.gaz, self.engine.fast.matcher, rng)
        samples = sampler.sample(cap)
        n_real = len(samples)
        samples += noise_samples(samples, max(cap, n_real // 20), rng)
        t1 = time.perf_counter()
        intent = LogReg.train([intent_features(s.tokens) for s in samples],
                              [s.label for s in samples], seed=seed)  # fmt: skip
        rows, ys = [], []
        for s in samples:
            if s.label == NONE:
                continue
            for i, t in enumerate(s.tokens):
                if t.startswith("<"):
                    continue
                rows.append(token_features(s.tokens, i, s.label))
                ys.append(s.tags[i])
        tagger = LogReg.train(rows, ys, epochs=5, seed=seed)
        t2 = time.perf_counter()
        m = LangModel(intent, tagger, sampler.info, n_real, t1 - t0, t2 - t1, False)
        if use_cache:
            d.mkdir(parents=True, exist_ok=True)
            intent.save(d / f"{lang}-intent")
            tagger.save(d / f"{lang}-tagger")
            (d / f"{lang}-meta.json").write_text(json.dumps({
                "kind": m.info.kind, "values": m.info.values, "n_train": n_real,
                "sample_s": m.sample_s, "train_s": m.train_s,
            }, ensure_ascii=False, default=str))  # fmt: skip
        return m

    # ------------------------------------------------------------------ decoding

    def tokens_and_entities(self, text: str) -> tuple[list[str], list[Entity | None]]:
        toks: list[str] = []
        ents: list[Entity | None] = []
        for seg in self.gaz.segment(text):
            if isinstance(seg, Entity):
                toks.append(seg.placeholder)
                ents.append(seg)
            else:
                t = tokens_of(seg)
                toks += t
                ents += [None] * len(t)
        return toks, ents

    def clause(self, text: str, lang: Lang, area: str | None) -> Command | None:
        """One clause's command; None when the classifier says None (not understood)."""
        lm = self.models[lang]
        toks, ents = self.tokens_and_entities(text)
        if all(e is not None for e in ents):
            return None  # only names ("Dusty, go home"): no request of its own
        label, _p = lm.intent.predict(intent_features(toks))
        if label == NONE:
            return None
        intent, *fixed = label.split("|")
        slots: dict[str, Slot] = {}
        for kv in fixed:
            k, v = kv.split("=", 1)
            slots[k] = Slot(v, "")
        # free slots from the tagger
        spans: list[list[Any]] = []  # [tag, words, index of the last word]
        for i, t in enumerate(toks):
            if ents[i] is not None:
                continue
            tag, _ = lm.tagger.predict(token_features(toks, i, label))
            if tag == "O":
                continue
            if spans and spans[-1][0] == tag and spans[-1][2] == i - 1:
                spans[-1][1].append(t)
                spans[-1][2] = i
            else:
                spans.append([tag, [t], i])
        for tag, words, _last in spans:
            if tag in slots:
                continue
            value = self._value(lm, lang, intent, tag, words)
            if value is not None:
                slots[tag] = Slot(value, (" " if lang == "en" else "").join(words))
        named = [e for e in ents if e is not None]
        devices = list(dict.fromkeys(e for e in named if e.kind == "name"))
        places = [e for e in named if e.kind in ("area", "floor")]
        everything = bool(grammar(lang).everything.search(text.lower()))
        matches: list[Match] = []
        base = dict(slots)
        for p in places[:1]:
            base[p.kind] = Slot(p.id, p.text)
        if devices:
            for dev in devices:
                s = dict(base)
                s["name"] = Slot(dev.id, dev.text)
                matches.append(Match(intent, s, {}, dev.domain, text))
        else:
            matches.append(Match(intent, base, {}, None, text))
        commands = [self.resolver.resolve(m, area, everything).command for m in matches]
        if len(commands) == 1:
            return commands[0]
        # several named devices: one command on all of them when they agree
        acts = {(c.action, c.value) for c in commands}
        if len(acts) == 1:
            c0 = commands[0]
            ids = tuple(dict.fromkeys(d for c in commands for d in c.devices))
            return Command(c0.action, ids, c0.value)
        return Command(UNKNOWN)

    @staticmethod
    def _value(lm: LangModel, lang: Lang, intent: str, tag: str, words: list[str]) -> Any:
        kinds = lm.info.kind.get(f"{intent}:{tag}") or [
            k for key, ks in lm.info.kind.items() if key.endswith(":" + tag) for k in ks
        ]
        if "range" in kinds:
            for w in words:
                if w[:1].isdigit():
                    return float(w) if "." in w else int(w)
        if "text" in kinds:
            table = lm.info.values.get(tag, {})
            key = " ".join(words)
            if key in table:
                return table[key]
            for k, v in table.items():  # the span is part of a known value, or holds one
                if k and (k in key or key in k):
                    return v
        if "wildcard" in kinds:
            return (" " if lang == "en" else "").join(words)
        return None

    def decide(self, text: str, area: str | None) -> tuple[Decision, Lang, bool]:
        """(decision, language, any registry phrase named)."""
        lang = detect_lang(text)
        norm = normalize(text, lang)
        clauses = [c.strip() for c in grammar(lang).separators.split(norm) if c and c.strip()]
        if 2 <= len(clauses) <= 6:
            commands: list[Command] = []
            for cl in clauses:
                c = self.engine.fast.repeat(commands[-1], cl, lang) if commands else None
                if c is None:
                    c = self.clause(cl, lang, area)
                if c is None or c.action == UNKNOWN:
                    commands = []
                    break
                if c not in commands:
                    commands.append(c)
            if commands:
                return Decision(tuple(commands)), lang, True
        c = self.clause(norm, lang, area)
        if c is None:
            named = any(isinstance(s, Entity) for s in self.gaz.segment(norm))
            return Decision.one(UNKNOWN if named else CHAT), lang, named
        return Decision((c,)), lang, True


# ------------------------------------------------------------------------ evaluation

SYSTEMS = ("fast", "clf", "clf+pol", "fast>clf", "fast>clf+pol")


@dataclass
class Cell:
    n: int = 0
    exact: int = 0
    decided: int = 0  # fast path: decided (not None)
    safety_n: int = 0
    safety_wrong: int = 0
    bad_act: int = 0  # any line: actuated, and not what was wanted
    ms: list[float] = field(default_factory=list)


def load_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            if "turns" not in obj:
                out.append(obj)
    return out


def expected(expect: Any) -> set[tuple[str, str | None, Any]]:
    cs = expect if isinstance(expect, list) else [expect]
    out: set[tuple[str, str | None, Any]] = set()
    for c in cs:
        if c["action"] == "clarify":
            out.add(("clarify", None, None))
            continue
        dev = c.get("device")
        for d in dev if isinstance(dev, list) else [dev]:
            out.add((c["action"], d, c.get("value")))
    return out


def actuates(d: Decision) -> bool:
    return any(c.action in ACTUATING for c in d.commands)


def with_policy(engine: IntentEngine, d: Decision, text: str, lang: Lang) -> Decision:
    """dialogd's policy as for the model path (negation, hypotheticals, reported speech,
    questions, ranges, and the sensitive-action guard: the classifier guesses the action
    as a model does), without the model's grounding check: the targets come from the
    Resolver, as on the fast path, and a `clarify` lists candidates nobody named."""
    return engine.policy.apply(d, text, lang, "model", None)


def run_home(
    name: str, toml: Path, jsonl: Path, cap: int, use_cache: bool, misses: bool
) -> dict[str, Any]:
    settings = load_settings(toml)
    registry = home_registry(settings)
    engine = IntentEngine(registry)
    nlu = ClassifierNLU(engine, cap, use_cache)
    cells: dict[tuple[str, str], Cell] = {}
    for obj in load_lines(jsonl):
        text, area = obj["text"], obj.get("area")
        want = expected(obj["expect"])
        safety = "safety" in obj.get("tags", [])
        lang = detect_lang(text)
        t0 = time.perf_counter()
        fast = engine.understand_fast(text, area)
        t_fast = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        raw, _, _ = nlu.decide(text, area)
        t_raw = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        pol = with_policy(engine, raw, text, lang)
        t_pol = t_raw + (time.perf_counter() - t0) * 1000
        fast_d = fast.decision if fast is not None else Decision.one(UNKNOWN)
        results = {
            "fast": (fast_d, t_fast),
            "clf": (raw, t_raw),
            "clf+pol": (pol, t_pol),
            "fast>clf": (fast_d, t_fast) if fast is not None else (raw, t_fast + t_raw),
            "fast>clf+pol": (fast_d, t_fast) if fast is not None else (pol, t_fast + t_pol),
        }
        for sysname, (d, ms) in results.items():
            cell = cells.setdefault((sysname, lang), Cell())
            cell.n += 1
            hit = d.triples() == want
            cell.exact += hit
            cell.decided += sysname != "fast" or fast is not None
            cell.ms.append(ms)
            cell.bad_act += not hit and actuates(d)
            if safety:
                cell.safety_n += 1
                cell.safety_wrong += actuates(d)
            if (
                misses
                and not hit
                and sysname in ("clf+pol",) + (("fast>clf+pol",) if fast is None else ())
            ):
                got, exp = sorted(d.triples(), key=str), sorted(want, key=str)
                where = f"{name}/{sysname}"
                print(f"  MISS[{where}] {text!r} area={area} got={got} want={exp}", file=sys.stderr)
    train = {lang: (m.n_train, m.sample_s, m.train_s, m.cached) for lang, m in nlu.models.items()}
    return {"cells": cells, "train": train, "tagged": any("tags" in o for o in load_lines(jsonl))}


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def _row(home: str, lang: str, system: str, c: Cell, tagged: bool) -> str:
    sw = f"{c.safety_wrong}/{c.safety_n}" if tagged else "-"
    return (
        f"{home:<10}{lang:<5}{system:<14}{c.n:>4}{c.exact:>7}{100 * c.exact / c.n:>5.0f}"
        f"{c.decided:>8}{statistics.median(c.ms):>7.1f}{_pct(c.ms, 95):>7.1f}{sw:>14}"
        f"{c.bad_act:>8}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cap", type=int, default=250, help="sampled sentences per intent")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--misses", action="store_true", help="print the classifier's misses")
    ap.add_argument("--homes", nargs="*", default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("daemon").setLevel(logging.ERROR)
    logging.getLogger("hassil").setLevel(logging.ERROR)

    wide = ROOT / "tests" / "data" / "wide"
    if not wide.is_dir():
        wide = Path("/work/shared/eval/wide")
    homes = [
        (h, wide / f"home-{h}.toml", wide / f"home-{h}.jsonl")
        for h in ("apartment", "house", "cabin")
    ]
    homes.append(
        ("reference", ROOT / "tests" / "data" / "home.toml", ROOT / "tests" / "data" / "dev.jsonl")
    )
    if args.homes:
        homes = [h for h in homes if h[0] in args.homes]

    snap = hashlib.sha256()
    for f in sorted((ROOT / "daemon").rglob("*")):
        if f.is_file() and f.suffix in (".py", ".toml", ".yaml"):
            snap.update(f.read_bytes())
    print(
        f"cap {args.cap} sentences/intent; wide sets from {wide}; single lines only; "
        f"dialogd snapshot {snap.hexdigest()[:10]} at {time.strftime('%H:%M:%S')}"
    )
    print(f"{'home':<10}{'lang':<5}{'train n':>8}{'sample s':>9}{'train s':>8}  cached")
    all_rows = []
    for name, toml, jsonl in homes:
        res = run_home(name, toml, jsonl, args.cap, not args.no_cache, args.misses)
        for lang, (n, ss, ts, cached) in res["train"].items():
            print(f"{name:<10}{lang:<5}{n:>8}{ss:>9.1f}{ts:>8.1f}  {cached}")
        all_rows.append((name, res))
        sys.stdout.flush()

    print()
    hdr = (
        f"{'home':<10}{'lang':<5}{'system':<14}{'n':>4}{'exact':>7}{'%':>5}{'decided':>8}"
        f"{'p50ms':>7}{'p95ms':>7}{'safety wrong':>14}{'bad act':>8}"
    )
    print(hdr)
    print("-" * len(hdr))
    totals: dict[str, Cell] = {s: Cell() for s in SYSTEMS}
    for name, res in all_rows:
        for lang in ("en", "zh"):
            for s in SYSTEMS:
                c = res["cells"].get((s, lang))
                if c is None:
                    continue
                t = totals[s]
                t.n += c.n
                t.exact += c.exact
                t.decided += c.decided
                t.safety_n += c.safety_n
                t.safety_wrong += c.safety_wrong
                t.bad_act += c.bad_act
                t.ms += c.ms
                print(_row(name, lang, s, c, res["tagged"]))
        print()
    for s, t in totals.items():
        print(_row("ALL", "", s, t, True))
    print("\nfast: IntentEngine.understand_fast (undecided counts as unknown); clf: classifier "
          "+ Resolver; +pol: dialogd's Policy as on the model path; fast>clf: classifier "
          "only where the fast path returned None. safety wrong: lines tagged safety on "
          "which anything actuated (ACTUATING); bad act: lines of any kind that actuated "
          "and were not exact.")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
