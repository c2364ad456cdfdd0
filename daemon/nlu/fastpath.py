"""The rule-based fast path: clear commands decided in microseconds, without the model.

It answers only when it is sure (one device, one action that device accepts, a value
in range where one is needed); anything else returns None and goes to the model.
English is matched on words, Chinese on characters. Device names come from the
registry, so a new device needs no new rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from daemon.nlu.numbers import en_words_to_digits, zh_numbers_to_digits
from daemon.registry import Decision, DeviceInfo, Hint, Registry
from daemon.vocabulary import ACTIONS, CHAT, QUERY, UNKNOWN

_CJK = re.compile(r"[\u3400-\u9fff]")
_ZH_FILLERS = (
    "|".join(
        (
            "嗯",
            "呃",
            "啊",
            "那个",
            "这个",
            "请",
            "麻烦你?",
            "帮我",
            "帮忙",
            "把",
            "给",
            "将",
            "一下",
        ),
    )
    + r"|打开|关掉|关闭|关上|启动|开始|的|那|这|\s"
)
_ZH_SPACE = re.compile(r"(?<=[\u3400-\u9fff])\s+|\s+(?=[\u3400-\u9fff])")


def _zh_normal(text: str) -> str:
    """Chinese text without spaces next to Chinese characters ("kitchen light 开一下" keeps
    its English words apart), numbers as digits, and no 的 ("客厅的灯" is "客厅灯")."""
    return zh_numbers_to_digits(_ZH_SPACE.sub("", text.strip())).replace("的", "")


_ZH_APPLIANCE = re.compile(r"[\u4e00-\u9fff]{1,3}(?:器|炉|壶|箱|锅|煲|柜|仪|泵|机器人)")
_ZH_FILLER_HEAD = re.compile(f"^({_ZH_FILLERS})+")
_ZH_FILLER_TAIL = re.compile(f"({_ZH_FILLERS})+$")


def suspicious(text: str) -> bool:
    """Text that talks to the assistant about its rules or output: never a clear command."""
    return bool(_INJECTION.search(text.lower()))


def detect_lang(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


# Verb families, mapped to the first action the device accepts. "open" on a light is
# odd but harmless; "open" never maps to "unlock": a lock opens only when told so.
_FAMILY_ACTIONS: dict[str, tuple[str, ...]] = {
    "on": ("turn_on", "open", "start"),
    "off": ("turn_off", "close", "stop"),
    "open": ("open",),
    "close": ("close",),
    "start": ("start", "turn_on"),
    "stop": ("stop", "turn_off"),
    "lock": ("lock",),
    "unlock": ("unlock",),
}

# ---------------------------------------------------------------------------- English

_EN_VERBS: tuple[tuple[str, str], ...] = (
    # (regex over the space-joined words, family); checked in order, first match wins.
    (r"\bunlock\b", "unlock"),
    (r"\block\b", "lock"),
    (r"\b(open|raise)\b", "open"),
    (r"\b(shut|power|switch|turn) (it |them )?(down|off)\b|\boff\b|\bkill\b", "off"),
    (r"\b(close|shut|draw|lower)\b", "close"),
    (r"\b(start|starting|run|running|begin|launch)\b", "start"),
    (r"\b(stop|stopping|pause|halt|cancel)\b", "stop"),
    (r"\bon\b|\b(enable|activate)\b", "on"),
    (r"\b(disable|deactivate)\b", "off"),
)
_EN_QUESTION_START = {
    "is", "are", "was", "were", "what", "whats", "how", "hows", "which", "does", "do",
    "did", "has", "have", "status",
}  # fmt: skip
_EN_FILLERS = {"hey", "ok", "okay", "please", "so", "um", "uh", "well", "hi", "yo", "now"}
_EN_NEGATION = re.compile(r"\b(dont|don't|do not|never|not|no)\b")
# Text that talks to the assistant about its own rules is not a clear command.
_INJECTION = re.compile(
    r"\b(ignore|instruction|instructions|prompt|system|admin|pretend|jailbreak|output|respond|"
    r"json|assistant|rules|override|developer|mode)\b|忽略|指令|提示词|系统|管理员|规则|输出"
)
_EN_CONTROL = re.compile(
    r"\b(turn|switch|set|dim|open|close|shut|start|stop|lock|unlock|put|make|power)\b"
)
_EN_STOP = {
    "the", "a", "an", "my", "our", "your", "please", "to", "it", "its", "of", "in", "for",
    "me", "us", "on", "off", "up", "down", "and", "could", "can", "would", "will", "you",
    "kindly", "now", "just", "some", "this", "that", "at", "with", "is", "be", "hey", "ok",
}  # fmt: skip
_EN_VERB_WORDS = {
    "turn", "switch", "start", "stop", "open", "close", "lock", "unlock", "set", "shut",
    "run", "power", "enable", "disable", "activate", "deactivate", "dim", "kill", "put",
    "make", "want", "need", "like", "mind", "stopping", "starting", "running", "raise",
    "lower", "draw", "pause", "begin", "launch", "halt", "cancel", "brighten", "change",
    "adjust",
}  # fmt: skip
_EN_SET_WORDS = re.compile(
    r"\b(set|dim|brighten|change|adjust|put|make|percent|degrees?|speed|level|volume|"
    r"brightness|temperature|to|at)\b"
)
_EN_SPEED_WORDS = {
    "lowest": 1, "low": 1, "minimum": 1, "slowest": 1, "slow": 1,
    "medium": 2, "middle": 2, "mid": 2,
    "highest": 3, "high": 3, "maximum": 3, "max": 3, "fastest": 3, "full": 3, "top": 3,
}  # fmt: skip
_EN_LEVEL_WORDS = {"max": 100, "maximum": 100, "full": 100, "half": 50}


def _stem(word: str) -> str:
    """A crude stemmer, applied alike to names and requests: "heater", "heating" and
    "heat" meet at "heat"; "lights" at "light"."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if len(word) >= 6 and word.endswith(("ing", "er")):
        word = word[:-3] if word.endswith("ing") else word[:-2]
    return word


# Multi-word verbs, rewritten to the plain verb before matching.
_EN_PHRASAL = (
    (re.compile(r"\bkick (it |them )?off\b"), "start"),
    (re.compile(r"\b(fire|power|boot) (it |them )?up\b"), "turn on"),
    (re.compile(r"\b(shut|power) (it |them )?down\b"), "turn off"),
    (re.compile(r"\bcut (the )?power (to|on|for)\b"), "turn off"),
)


def _en_words(text: str) -> list[str]:
    t = text.lower().replace("%", " percent ").replace("’", "'")
    t = re.sub(r"(\d+)\s*(°|º)\s*c?\b", r"\1 degrees ", t)
    t = re.sub(r"(\d),(\d)", r"\1\2", t)
    t = re.sub(r"[^a-z0-9' ]+", " ", t.replace("-", " "))
    t = t.replace("'", "")
    for pattern, verb in _EN_PHRASAL:
        t = pattern.sub(verb, t)
    return en_words_to_digits(t.split())


@dataclass(frozen=True)
class _Match:
    device: str
    start: int
    end: int


class FastPath:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._en_phrases: list[tuple[tuple[str, ...], str]] = []
        self._zh_phrases: list[tuple[str, str]] = []
        df: dict[str, set[str]] = {}
        for dev in registry.devices:
            for phrase in dev.phrases:
                if _CJK.search(phrase):
                    self._zh_phrases.append((phrase.replace("的", ""), dev.id))
                else:
                    words = tuple(_stem(w) for w in _en_words(phrase))
                    if words:
                        self._en_phrases.append((words, dev.id))
                        for w in words:
                            df.setdefault(w, set()).add(dev.id)
        # Longest names first, so "living room light" wins over "light".
        self._en_phrases.sort(key=lambda p: -len(p[0]))
        self._zh_phrases.sort(key=lambda p: -len(p[0]))
        self._idf = {w: 1.0 / len(devs) for w, devs in df.items()}
        self._device_words = set(df)
        # Generic nouns: "灯" alone could be any light, so it is never "unknown" outright.
        self._zh_nouns = {"灯", "门", "机", "扇", "帘", "锁", "视"}

    def decide(self, text: str) -> Decision | None:
        if suspicious(text):
            return None
        if detect_lang(text) == "zh":
            return self._decide_zh(text)
        return self._decide_en(text)

    def hint(self, text: str) -> Hint:
        """Devices, verb and numbers the request contains, for when the rules are not
        sure enough to decide: the model then chooses among the answers that fit them."""
        if detect_lang(text) == "zh":
            t = _zh_normal(text)
            named, found = self._zh_devices(t)
            rest = t
            for s, e, _ in sorted(found, reverse=True):
                rest = rest[:s] + " " + rest[e:]
            # The table is in priority order, as in _decide_zh.
            families = [fam for pattern, fam in self._ZH_VERBS if re.search(pattern, rest)][:1]
            numbers = {int(n) for n in re.findall(r"\d+", rest)}
            numbers |= {v for k, v in self._ZH_SPEED.items() if k in rest and len(k) > 1}
            question = bool(self._ZH_QUESTION.search(rest))
        else:
            words = _en_words(text)
            stems = [_stem(w) for w in words]
            matches = self._en_matches(stems)
            named = {m.device for m in matches}
            if not named and (fuzzy := self._en_fuzzy(stems, set())) is not None:
                named = {fuzzy}
            left = [
                w for i, w in enumerate(words) if not any(m.start <= i < m.end for m in matches)
            ]
            found_families = {f for pattern, f in _EN_VERBS if re.search(pattern, " ".join(left))}
            families = list(found_families) if len(found_families) == 1 else []
            numbers = {int(w) for w in left if w.isdigit()}
            numbers |= {_EN_SPEED_WORDS[w] for w in left if w in _EN_SPEED_WORDS}
            numbers |= {_EN_LEVEL_WORDS[w] for w in left if w in _EN_LEVEL_WORDS}
            question = bool(words) and words[0] in _EN_QUESTION_START
        actions: set[str] | None = None
        if question:
            actions = {QUERY, CHAT, UNKNOWN}
        elif families:
            actions = {*_FAMILY_ACTIONS[families[0]], CHAT, UNKNOWN}
        if actions is not None and numbers:
            actions |= {a for a, spec in ACTIONS.items() if spec is not None}
        return Hint(
            devices=frozenset(named) or None,
            actions=frozenset(actions) if actions is not None else None,
            values=frozenset(numbers),
        )

    # ------------------------------------------------------------------------ English

    def _decide_en(self, text: str) -> Decision | None:
        words = [w for w in _en_words(text)]
        while words and words[0] in _EN_FILLERS:
            words.pop(0)
        if not words:
            return None
        joined = " ".join(words)
        if _EN_NEGATION.search(joined):
            return None
        stems = [_stem(w) for w in words]
        matches = self._en_matches(stems)
        rest = [w for i, w in enumerate(words) if not any(m.start <= i < m.end for m in matches)]
        rest_joined = " ".join(rest)
        families = {fam for pattern, fam in _EN_VERBS if re.search(pattern, rest_joined)}
        if {"off", "close"} <= families and re.search(
            r"\bshut (it |them )?(off|down)\b", rest_joined
        ):
            families.discard("close")  # "shut off" is one verb, not "shut" + "off"
        if not families:
            # "the front door, lock it": the verb hid inside the name "front door lock".
            families = {fam for pattern, fam in _EN_VERBS if re.search(pattern, joined)}
        # "can you lock the door?" is a command; "is the door locked?" a question.
        is_question = words[0] in _EN_QUESTION_START or (
            text.rstrip().endswith("?") and not families and not _EN_CONTROL.search(joined)
        )

        devices = {m.device for m in matches}
        if not devices:
            fuzzy = self._en_fuzzy(stems, families)
            if fuzzy is None:
                return self._en_unknown(words, rest, families, is_question)
            devices = {fuzzy}
        if len(devices) != 1:
            return None
        dev = self.registry.by_id[devices.pop()]
        if is_question:
            return Decision(QUERY, dev.id)

        value = self._en_value(dev, rest)
        if value is not None:
            return value
        return _pick_action(dev, families)

    def _en_matches(self, stems: list[str]) -> list[_Match]:
        taken = [False] * len(stems)
        out: list[_Match] = []
        for phrase, dev in self._en_phrases:
            n = len(phrase)
            for i in range(len(stems) - n + 1):
                if tuple(stems[i : i + n]) == phrase and not any(taken[i : i + n]):
                    out.append(_Match(dev, i, i + n))
                    for k in range(i, i + n):
                        taken[k] = True
        return out

    def _en_fuzzy(self, stems: list[str], families: set[str]) -> str | None:
        """The one device the words point to, by distinctive words (IDF-weighted)."""
        present = set(stems)
        scores: dict[str, float] = {}
        for phrase, dev in self._en_phrases:
            weights = [self._idf[w] for w in phrase]
            got = sum(self._idf[w] for w in phrase if w in present)
            if got:
                scores[dev] = max(scores.get(dev, 0.0), got / sum(weights))
        if families:
            # A verb narrows the field: "unlock the door" can only mean the lock.
            accepted = {
                dev
                for dev in scores
                if any(
                    a in self.registry.by_id[dev].actions
                    for f in families
                    for a in _FAMILY_ACTIONS[f]
                )
            }
            scores = {d: s for d, s in scores.items() if d in accepted}
        if not scores:
            return None
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        best, score = ranked[0]
        if len(ranked) > 1 and ranked[1][1] >= score - 0.2:
            return None
        if self._foreign_modifier(stems, self._device_words_of(best)):
            return None
        distinctive = any(self._idf.get(w, 0) == 1.0 for w in present)
        if score >= 0.99 or (score >= 0.5 and distinctive) or len(ranked) == 1:
            return best
        return None

    def _device_words_of(self, dev: str) -> set[str]:
        return {w for phrase, d in self._en_phrases if d == dev for w in phrase}

    @staticmethod
    def _foreign_modifier(stems: list[str], words: set[str]) -> bool:
        """ "coffee machine", "back door": a word we do not know names another thing."""
        for i, w in enumerate(stems):
            if w in words and i > 0:
                prev = stems[i - 1]
                if (
                    prev not in words
                    and prev not in _EN_STOP
                    and not prev.isdigit()
                    and not any(re.fullmatch(p, prev) for p, _ in _EN_VERBS)
                    and prev not in _EN_VERB_WORDS
                ):
                    return True
        return False

    def _en_value(self, dev: DeviceInfo, rest: list[str]) -> Decision | None:
        set_actions = dev.set_actions()
        if len(set_actions) != 1:
            return None
        action = set_actions[0]
        spec = ACTIONS[action]
        assert spec is not None
        numbers = [int(w) for w in rest if w.isdigit()]
        value: int | None = None
        if len(numbers) == 1:
            value = numbers[0]
        elif len(numbers) > 1:
            return None
        else:
            table = _EN_SPEED_WORDS if action == "set_speed" else _EN_LEVEL_WORDS
            hits = {table[w] for w in rest if w in table}
            if len(hits) != 1 or not _EN_SET_WORDS.search(" ".join(rest)):
                return None
            value = hits.pop()
        if not spec.lo <= value <= spec.hi:
            return None
        return Decision(action, dev.id, value)

    def _en_unknown(
        self, words: list[str], rest: list[str], families: set[str], is_question: bool
    ) -> Decision | None:
        # "turn on the sauna": a command for a thing that is not in the home. Only when
        # no word of any device name is present, else a paraphrase might be at play.
        joined = " ".join(words)
        if is_question or not (families or _EN_CONTROL.match(joined)):
            return None
        stems = [_stem(w) for w in words]
        if any(s in self._device_words for s in stems):
            # "the bathroom light", "the back door": a device word, but named as a thing
            # this home does not have.
            if self._foreign_modifier(stems, self._device_words):
                return Decision(UNKNOWN)
            return None
        objects = [w for w in rest if w not in _EN_STOP and not w.isdigit()]
        objects = [w for w in objects if w not in _EN_VERB_WORDS]
        if not objects or not _EN_CONTROL.search(joined):
            return None
        return Decision(UNKNOWN)

    # ------------------------------------------------------------------------ Chinese

    _ZH_VERBS: tuple[tuple[str, str], ...] = (
        ("解锁|开锁|解开", "unlock"),
        ("锁", "lock"),
        ("拉开|升起", "open"),
        ("拉上|合上|降下", "close"),
        ("启动|开始|运行", "start"),
        ("停|暂停|结束", "stop"),
        ("关", "off"),
        ("打开|开", "on"),
    )
    _ZH_QUESTION = re.compile(
        r"吗|么|呢|是否|有没有|没有$|了没|多少|几度|几档|什么|怎么样|状态|是不是|[开关]着|[?？]"
    )
    _ZH_NEGATION = re.compile(r"不要|别|不用|勿")
    _ZH_SPEED: ClassVar[dict[str, int]] = {
        "最低": 1,
        "低": 1,
        "中": 2,
        "最高": 3,
        "高": 3,
        "最大": 3,
    }

    def _decide_zh(self, text: str) -> Decision | None:
        t = _zh_normal(text)
        if self._ZH_NEGATION.search(t):
            return None
        devices, found = self._zh_devices(t)
        rest = t
        for s, e, _ in sorted(found, reverse=True):
            rest = rest[:s] + " " + rest[e:]
        families = [fam for pattern, fam in self._ZH_VERBS if re.search(pattern, rest)]
        if not devices:
            return self._zh_unknown(rest, families)
        if len(devices) != 1:
            return None
        info = self.registry.by_id[devices.pop()]
        if self._ZH_QUESTION.search(rest):
            return Decision(QUERY, info.id)
        set_actions = info.set_actions()
        numbers = [int(n) for n in re.findall(r"\d+", rest)]
        if set_actions and len(set_actions) == 1:
            action = set_actions[0]
            spec = ACTIONS[action]
            assert spec is not None
            value: int | None = None
            if len(numbers) == 1:
                value = numbers[0]
            elif not numbers and action == "set_speed":
                hits = {
                    v for k, v in self._ZH_SPEED.items() if k + "速" in rest or k + "档" in rest
                }
                value = hits.pop() if len(hits) == 1 else None
            if value is not None:
                return Decision(action, info.id, value) if spec.lo <= value <= spec.hi else None
        if numbers:
            return None
        # The verb table is in priority order: "开始" and "开锁" before a bare "开".
        if families[:1] == ["on"] and "unlock" in info.actions and "锁" in t:
            return Decision("unlock", info.id)  # "打开门锁": opening a lock is unlocking it
        return _pick_action(info, set(families[:1]))

    def _zh_devices(self, t: str) -> tuple[set[str], list[tuple[int, int, str]]]:
        """Devices named in normalised Chinese text, and where (longest names first)."""
        found: list[tuple[int, int, str]] = []
        for phrase, dev in self._zh_phrases:
            start = 0
            while (i := t.find(phrase, start)) >= 0:
                if not any(s < i + len(phrase) and i < e for s, e, _ in found):
                    found.append((i, i + len(phrase), dev))
                start = i + 1
        # English names inside Chinese text ("打开TV") count too.
        stems = [_stem(w) for w in _en_words(t)]
        return {d for *_, d in found} | {m.device for m in self._en_matches(stems)}, found

    def _zh_unknown(self, rest: str, families: list[str]) -> Decision | None:
        if not families:
            # No verb we know, but an appliance we do not have ("热水壶烧一下水"): its
            # name ends like one (壶, 炉, 器, ...) and names nothing in the registry.
            m = _ZH_APPLIANCE.search(rest)
            if m and not any(noun in m.group(0) for noun in self._zh_nouns):
                return Decision(UNKNOWN)
            return None
        if self._ZH_QUESTION.search(rest):
            return None
        for noun in self._zh_nouns:
            i = rest.find(noun)
            if i < 0:
                continue
            # "浴室灯", "扫地机器人": a generic noun behind a name this home lacks.
            before = _ZH_FILLER_TAIL.sub("", _ZH_FILLER_HEAD.sub("", rest[:i]))
            return Decision(UNKNOWN) if len(before) >= 2 and _CJK.search(before[-1]) else None
        leftover = re.sub(
            r"打开|开启|关掉|关闭|关上|启动|开始|停止|请|帮我|一下|把|给|吧|了|开|关|锁|[\s\d]",
            "",
            rest,
        )
        return Decision(UNKNOWN) if len(leftover) >= 2 else None


def _pick_action(dev: DeviceInfo, families: set[str]) -> Decision | None:
    if len(families) != 1:
        return None
    for action in _FAMILY_ACTIONS[families.pop()]:
        if action in dev.actions:
            return Decision(action, dev.id)
    return None
