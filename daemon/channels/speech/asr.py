"""Speech to text with Vosk: the blocking engine, its grammar and its settings.

Everything here is synchronous and single-threaded on purpose: Kaldi decoding is CPU
bound and holds no Python state worth sharing, so `daemon.channels.speech.voice` runs one engine on
one dedicated worker thread and keeps the event loop free.

Grammar mode restricts the decoder to the words of the device registry. On a Pi 4 that
is the difference between keeping up with a microphone and falling behind it, and it
stops the recognizer from turning every sentence into some word of a 500k vocabulary.
Dictation mode (no grammar) is kept for chat-style requests.

The optional wake phrase is spotted by a second, tiny grammar recognizer on the same
audio stream; see `VoskEngine` for the state machine.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from daemon.config.channels import AsrSettings

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
"""The rate every engine in dialogd decodes at; audio at other rates is resampled first."""

# Tokens Vosk models use for out-of-vocabulary speech. Standard Vosk models call it
# "[unk]"; Kaldi recipes (such as the Korean small model) call it "<UNK>".
_UNK_CANDIDATES = ("[unk]", "<UNK>", "<unk>")
_NON_WORDS = frozenset(
    {"[unk]", "<unk>", "[noise]", "<noise>", "[laughter]", "<spoken_noise>", "<sil>", "!sil"}
)

# Past this much audio without a wake phrase the spotter is rebuilt, so that the word
# times Vosk reports (seconds since the recognizer was made, kept in float32) stay
# exact enough to cut the audio after the wake phrase. Vosk itself rebuilds its
# feature pipeline every 10 minutes, so no adaptation is lost that Vosk would keep.
_WAKE_RECYCLE_S = 600.0


@dataclass(frozen=True)
class AsrEvent:
    kind: Literal["partial", "final"]
    text: str


class AsrEngine(Protocol):
    """What `daemon.channels.speech.voice` needs from an engine; `VoskEngine` is the real one."""

    def accept(self, pcm: bytes) -> AsrEvent | None: ...

    def finish(self) -> str: ...

    def reset(self) -> None: ...


# ------------------------------------------------------------------------------ model

_models: dict[Path, Any] = {}
_models_lock = threading.Lock()


def load_model(path: Path) -> Any:
    """The `vosk.Model` at `path`, loaded once per process and shared.

    A small model is ~100-300 MB of RAM; channels (MQTT satellites, local mic) share
    one copy because a Model is read-only once loaded and safe to share across threads.
    """
    import vosk

    key = Path(path).expanduser().resolve()
    with _models_lock:
        model = _models.get(key)
        if model is None:
            if not (key / "am").is_dir() and not (key / "final.mdl").exists():
                raise FileNotFoundError(f"no Vosk model in {key} (expected an am/ folder)")
            # Kaldi logs every recognizer it builds at level 0; keep warnings only.
            vosk.SetLogLevel(-1)
            log.info("loading Vosk model %s", key)
            model = vosk.Model(str(key))
            _models[key] = model
        return model


def _word_finder(model: object) -> Any:
    # vosk 0.3.45 names it vosk_model_find_word; newer releases add find_word.
    finder = getattr(model, "find_word", None) or getattr(model, "vosk_model_find_word", None)
    if finder is None:
        raise TypeError(f"{type(model).__name__} cannot look up words")
    return finder


def knows_word(model: object, word: str) -> bool:
    return int(_word_finder(model)(word)) != -1


def unk_token(model: object) -> str | None:
    """The model's own out-of-vocabulary word, or None if it has none."""
    for tok in _UNK_CANDIDATES:
        if knows_word(model, tok):
            return tok
    return None


def _words(phrase: str) -> list[str]:
    return phrase.lower().split()


def build_grammar(phrases: Iterable[str], model: object, extra: Iterable[str] = ()) -> list[str]:
    """The Vosk grammar (a JSON list of phrases) for the registry's phrases plus `extra`.

    `phrases` are device names, aliases, action words and number words. Vosk builds a
    bigram model from the phrases, so multi-word names are kept whole: their word order
    then counts. Words the model does not know are dropped from their phrase (Vosk would
    drop them too, but with a warning on stderr for every recognizer it builds) and
    reported here once. The model's unknown-word token comes last so that speech
    outside the grammar has somewhere to go other than the nearest device name.
    """
    grammar: list[str] = []
    seen: set[str] = set()
    unknown: dict[str, None] = {}
    for phrase in (*phrases, *extra):
        kept = []
        for word in _words(phrase):
            if knows_word(model, word):
                kept.append(word)
            else:
                unknown[word] = None
        text = " ".join(kept)
        if text and text not in seen:
            seen.add(text)
            grammar.append(text)
    if unknown:
        log.warning(
            "ASR grammar: %d word(s) unknown to the Vosk model, left out: %s",
            len(unknown),
            ", ".join(unknown),
        )
    unk = unk_token(model)
    if unk is not None:
        grammar.append(unk)
    return grammar


def clean_text(text: str) -> str:
    """Recognizer output without unknown-word and noise tokens."""
    return " ".join(w for w in text.split() if w.lower() not in _NON_WORDS)


# ----------------------------------------------------------------------------- engine


class VoskEngine:
    """Streaming recognition of one audio stream (16-bit mono PCM at `sample_rate`).

    Not thread-safe: feed it from one thread. Without a wake phrase every endpoint gives
    a final. With one, a small state machine runs on the same stream:

    - asleep: audio goes to a spotter whose grammar is the wake phrase, the command
      grammar's phrases and the unknown token. The extra phrases are there as decoys:
      with only the wake phrase and "[unk]", small models map most speech to the wake
      phrase. The audio since the spotter's last endpoint is kept.
    - when a spotter final contains the wake phrase and more ("<wake> lamp off" in one
      breath), the rest is the request. In grammar mode the spotter's own words after
      the wake phrase are taken (its grammar holds every command phrase, and it heard
      them in context); in dictation mode the audio after the wake phrase is replayed
      into the command recognizer.
    - a wake phrase alone wakes the engine up.
    - awake: audio goes to the command recognizer; its first non-empty final is the
      request and the engine falls asleep again, as it does after `listen_window_s` of
      audio with no speech.
    """

    def __init__(
        self,
        model: Any,
        *,
        grammar: Sequence[str] | None = None,
        wake_phrase: str | None = None,
        wake_decoys: Sequence[str] = (),
        sample_rate: int = SAMPLE_RATE,
        max_utterance_s: float = 15.0,
        listen_window_s: float = 8.0,
        extra_words: Sequence[str] = (),
    ) -> None:
        """`grammar` None means dictation; `wake_decoys` are usually the grammar's phrases.
        `extra_words` join the grammar when `set_phrases` rebuilds it."""
        self._model = model
        self._extra = tuple(extra_words)
        self._rate = sample_rate
        self._grammar_json = (
            None if grammar is None else json.dumps(list(grammar), ensure_ascii=False)
        )
        self._max_samples = int(max_utterance_s * sample_rate)
        self._listen_samples = int(listen_window_s * sample_rate)

        self._rec = self._new_command_recognizer()
        self._utt_samples = 0
        self._last_partial = ""

        self._wake: list[str] | None = None
        self._wake_json = ""
        self._spotter_transcribes = False
        if wake_phrase is not None and wake_phrase.strip():
            self._wake = _words(wake_phrase)
            missing = [w for w in self._wake if not knows_word(model, w)]
            if missing:
                raise ValueError(
                    f"wake phrase {wake_phrase!r}: the model does not know {', '.join(missing)}"
                )
            wake_text = " ".join(self._wake)
            unk = unk_token(model)
            decoys = [
                p for p in dict.fromkeys(wake_decoys) if p not in (wake_text, unk) and p.strip()
            ]
            self._wake_json = json.dumps(
                [wake_text, *decoys, *([unk] if unk else [])], ensure_ascii=False
            )
            self._spotter_transcribes = grammar is not None and {
                p for p in grammar if p != unk
            } <= set(decoys)
        self._awake = False
        self._listen_left = 0
        self._spotter: Any = None
        self._spot_fed = 0  # samples given to the spotter since it was made
        self._spot_buf = bytearray()  # the spotter's audio since its last endpoint
        self._spot_buf_start = 0  # sample index (spotter time) of _spot_buf[0]
        if self._wake is not None:
            self._new_spotter()

    @classmethod
    def from_settings(cls, settings: AsrSettings, phrases: Iterable[str] = ()) -> VoskEngine:
        """An engine as configured, for the registry's `phrases` (see `build_grammar`)."""
        if settings.model_path is None:
            raise ValueError("asr.model_path must name a Vosk model directory")
        model = load_model(settings.model_path)
        grammar = build_grammar(phrases, model, settings.extra_words)
        return cls(
            model,
            grammar=grammar if settings.mode == "grammar" else None,
            wake_phrase=settings.wake_phrase,
            wake_decoys=grammar,
            max_utterance_s=settings.max_utterance_s,
            extra_words=settings.extra_words,
        )

    @property
    def awake(self) -> bool:
        """True while a request is expected (always, without a wake phrase)."""
        return self._wake is None or self._awake

    # -------------------------------------------------------------------- public API

    def set_phrases(self, phrases: Iterable[str]) -> None:
        """The registry changed (devices found on the broker, a reload): the command
        grammar follows it. Dictation hears every word already."""
        if self._grammar_json is None:
            return
        grammar = build_grammar(phrases, self._model, self._extra)
        self._grammar_json = json.dumps(list(grammar), ensure_ascii=False)
        self._rec = self._new_command_recognizer()
        self._utt_samples = 0
        self._last_partial = ""

    def accept(self, pcm: bytes) -> AsrEvent | None:
        """Feed audio; a partial when the running text changed, a final at an endpoint.

        Finals can have empty text (noise, silence, unknown words only).
        """
        if not pcm:
            return None
        if self._wake is None or self._awake:
            return self._accept_command(pcm)
        hit = self._accept_spotter(pcm)
        if hit is None:
            return None
        rest, tail = hit
        if tail and self._spotter_transcribes:
            return AsrEvent("final", tail)
        self._wake_up()
        return self._accept_command(_lead_in(self._rate) + rest) if rest else None

    def finish(self) -> str:
        """Force the final text now (end of the stream or of a satellite's utterance)."""
        if self._wake is not None and not self._awake:
            hit = self._finish_spotter()
            if hit is None:
                return ""
            rest, tail = hit
            if tail and self._spotter_transcribes:
                return tail
            self._wake_up()
            if rest:
                self._rec.AcceptWaveform(_lead_in(self._rate) + rest)
        text = clean_text(str(json.loads(self._rec.FinalResult()).get("text", "")))
        self._end_utterance()
        return text

    def listen(self, seconds: float) -> None:
        """Awake for `seconds` of audio without the wake phrase (an answer is expected)."""
        if self._wake is None:
            return
        if not self._awake:
            log.info("ASR: listening for an answer for %.0f s", seconds)
            self._wake_up()
        self._listen_left = max(self._listen_left, int(seconds * self._rate))

    def reset(self) -> None:
        """Drop the utterance in progress (e.g. audio was cut while the daemon spoke)."""
        self._rec.Reset()
        self._utt_samples = 0
        self._last_partial = ""
        if self._wake is not None:
            self._awake = False
            self._new_spotter()

    # ------------------------------------------------------------------- command side

    def _new_command_recognizer(self) -> Any:
        import vosk

        if self._grammar_json is None:
            return vosk.KaldiRecognizer(self._model, self._rate)
        return vosk.KaldiRecognizer(self._model, self._rate, self._grammar_json)

    def _accept_command(self, pcm: bytes) -> AsrEvent | None:
        n = len(pcm) // 2
        self._utt_samples += n
        endpoint = self._rec.AcceptWaveform(pcm)
        if not endpoint and self._utt_samples >= self._max_samples:
            # Steady noise (a fan, a TV) can keep Vosk from ever seeing an endpoint.
            log.info("ASR: utterance longer than %.1f s, forcing a result", self._max_s)
            endpoint = True
        if endpoint:
            text = clean_text(str(json.loads(self._rec.Result()).get("text", "")))
            self._utt_samples = 0
            self._last_partial = ""
            if self._awake and not text:
                # A cough after the wake phrase: keep listening for the request.
                self._count_listen(n)
                return None
            self._end_utterance()
            return AsrEvent("final", text)
        partial = clean_text(str(json.loads(self._rec.PartialResult()).get("partial", "")))
        event = None
        if partial and partial != self._last_partial:
            event = AsrEvent("partial", partial)
        self._last_partial = partial
        if self._awake:
            self._count_listen(n)
        return event

    @property
    def _max_s(self) -> float:
        return self._max_samples / self._rate

    def _count_listen(self, n: int) -> None:
        self._listen_left -= n
        # Only silence ends the window: a request in progress runs to its endpoint.
        if self._listen_left <= 0 and not self._last_partial:
            log.debug("ASR: no request after the wake phrase, back to sleep")
            self._rec.Reset()
            self._end_utterance()

    def _end_utterance(self) -> None:
        self._utt_samples = 0
        self._last_partial = ""
        if self._wake is not None and self._awake:
            self._awake = False
            self._new_spotter()

    def _wake_up(self) -> None:
        log.info("ASR: wake phrase heard, listening")
        self._awake = True
        self._listen_left = self._listen_samples
        self._rec.Reset()
        self._utt_samples = 0
        self._last_partial = ""

    # --------------------------------------------------------------------- wake side

    def _new_spotter(self) -> None:
        import vosk

        # A grammar recognizer costs well under a millisecond to build.
        self._spotter = vosk.KaldiRecognizer(self._model, self._rate, self._wake_json)
        self._spotter.SetWords(True)
        self._spot_fed = 0
        self._spot_buf.clear()
        self._spot_buf_start = 0

    def _accept_spotter(self, pcm: bytes) -> tuple[bytes, str] | None:
        """None, or (audio, words) after the wake phrase once a spotter final has it."""
        self._spot_buf += pcm
        self._spot_fed += len(pcm) // 2
        endpoint = self._spotter.AcceptWaveform(pcm)
        if not endpoint and self._spot_fed - self._spot_buf_start < self._max_samples:
            return None
        return self._after_wake(json.loads(self._spotter.Result()))

    def _finish_spotter(self) -> tuple[bytes, str] | None:
        return self._after_wake(json.loads(self._spotter.FinalResult()))

    def _after_wake(self, result: dict[str, Any]) -> tuple[bytes, str] | None:
        assert self._wake is not None
        words = result.get("result") or []
        tokens = [str(w.get("word", "")).lower() for w in words]
        k = len(self._wake)
        hits = [i for i in range(len(tokens) - k + 1) if tokens[i : i + k] == self._wake]
        if not hits:
            self._spot_buf_start = self._spot_fed
            self._spot_buf.clear()
            if self._spot_fed > _WAKE_RECYCLE_S * self._rate:
                self._new_spotter()
            return None
        end_s = float(words[hits[-1] + k - 1]["end"])
        cut = round(end_s * self._rate) - self._spot_buf_start
        cut = min(max(cut, 0), len(self._spot_buf) // 2)
        rest = bytes(self._spot_buf[cut * 2 :])
        tail = clean_text(" ".join(tokens[hits[-1] + k :]))
        self._new_spotter()
        if tail:
            log.info("ASR: wake phrase heard, with a request")
        return rest, tail


def _lead_in(rate: int) -> bytes:
    # Audio cut right at a word onset decodes badly (the first word is often lost):
    # the acoustic model wants some silence before speech, as every utterance has.
    return b"\0\0" * int(0.3 * rate)
