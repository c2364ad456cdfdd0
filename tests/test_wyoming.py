"""The Wyoming server through the real daemon, spoken to by the wyoming package's own
client (as Home Assistant's wyoming integration does): Describe, handle (Transcript),
intent (Recognize), tts (Synthesize) and asr (Transcribe + audio)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info
from wyoming.intent import Intent, NotRecognized, Recognize
from wyoming.tts import Synthesize

from daemon.channels.ha_intents import HaIntent, to_ha_intent
from daemon.config.settings import load_settings
from daemon.home.registry import Command, Decision, Registry
from tests.conftest import (
    ROOT,
    Broker,
    DaemonProcess,
    Listener,
    free_port,
    wait_port,
    write_config,
)
from tests.test_voice_daemon import KOREAN_HOME, _vosk_model

RULES_ONLY = {"DIALOGD_LLM__ENABLED": "false"}  # the templates decide all of these


@dataclass
class Served:
    port: int
    bus: Listener
    daemon: DaemonProcess


def _start(tmp: Path, extra: str, devices: str | None = None) -> tuple[Broker, Served]:
    broker = Broker(tmp)
    broker.start()
    port = free_port()
    wyoming = f'[wyoming]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
    cfg = write_config(
        tmp / "config.toml", port=broker.port, extra=extra + wyoming, devices=devices
    )
    bus = Listener(broker.port)
    d = DaemonProcess(cfg, env=RULES_ONLY)
    bus.online(90)
    wait_port(port, 60)
    return broker, Served(port, bus, d)


def _stop(broker: Broker, s: Served) -> None:
    s.bus.close()
    code = s.daemon.stop()
    broker.stop()
    assert code == 0, s.daemon.output()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The reference home; the daemon's replies rendered for satellites (so the server
    shares the daemon's speech worker)."""
    broker, s = _start(tmp_path_factory.mktemp("wyoming"), '[tts]\noutput = "mqtt"\n')
    try:
        yield s
    finally:
        _stop(broker, s)


def exchange(
    port: int, *events: Event, until: Callable[[Event], bool], timeout: float = 30.0
) -> list[Event]:
    """Send `events` on one connection; the answers up to the first that `until` accepts
    (or until the server closes the connection)."""

    async def talk() -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            for event in events:
                await client.write_event(event)
            got: list[Event] = []
            while True:
                event = await asyncio.wait_for(client.read_event(), timeout)
                if event is None:
                    return got
                got.append(event)
                if until(event):
                    return got

    return asyncio.run(talk())


def one(port: int, event: Event) -> Event:
    """The first answer to `event`."""
    return exchange(port, event, until=lambda e: True)[0]


def published(bus: Listener, timeout: float, **match: object) -> dict[str, Any] | None:
    """An intent on dialogd/test/intent with these fields, from all heard so far."""
    deadline = time.monotonic() + timeout
    while True:
        for topic, payload in list(bus.history):
            if topic != "dialogd/test/intent":
                continue
            obj = json.loads(payload)
            if all(obj.get(k) == v for k, v in match.items()):
                return obj  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def slots(intent: Intent) -> dict[str, Any]:
    return {e.name: e.value for e in intent.entities}


def test_describe_lists_what_is_configured(served: Served) -> None:
    info = Info.from_event(one(served.port, Describe().event()))
    assert [p.name for p in info.handle] == ["dialogd"]
    assert [p.name for p in info.intent] == ["dialogd"]
    assert set(info.handle[0].models[0].languages) == {"en", "zh"}
    assert set(info.intent[0].models[0].languages) == {"en", "zh"}
    assert info.handle[0].installed and info.intent[0].installed
    voices = {v.name: v.languages for v in info.tts[0].voices}
    assert voices == {"en": ["en"], "cmn": ["zh"]}
    assert info.asr == []  # [asr] is not enabled


def test_transcript_is_handled_as_a_request(served: Served) -> None:
    answer = one(served.port, Transcript(text="turn on the tv").event())
    assert Handled.is_type(answer.type), answer
    reply = Handled.from_event(answer).text
    assert reply
    intent = published(served.bus, 30, text="turn on the tv")
    assert intent is not None
    assert intent["source"] == "wyoming"
    assert intent["action"] == "turn_on" and intent["device"] == "tv"
    assert intent["reply"] == reply
    assert intent["session"] == "wyoming:test"  # no conversation id: Wyoming's own


def test_conversation_id_carries_over(served: Served) -> None:
    """Newer Home Assistant sends the conversation id in the context (wyoming 1.5's
    Transcript.event() leaves it out, so it goes as a raw event here)."""
    raw = Event(
        type="transcript",
        data={"text": "turn off the tv", "context": {"conversation_id": "01JQ0CONV"}},
    )
    answer = one(served.port, raw)
    assert Handled.is_type(answer.type)
    assert Handled.from_event(answer).context == {"conversation_id": "01JQ0CONV"}
    intent = published(served.bus, 30, text="turn off the tv")
    assert intent is not None and intent["session"] == "wyoming:01JQ0CONV"


def test_an_unknown_request_is_not_handled(served: Served) -> None:
    answer = one(served.port, Transcript(text="flibber the wotsit gently").event())
    assert NotHandled.is_type(answer.type), answer
    assert NotHandled.from_event(answer).text


def test_recognize_gives_home_assistants_intent_and_does_nothing(served: Served) -> None:
    answer = one(served.port, Recognize(text="turn off the kitchen light").event())
    assert Intent.is_type(answer.type), answer
    intent = Intent.from_event(answer)
    assert intent.name == "HassTurnOff"
    # "kitchen" is part of the light's name, not an area said besides it.
    assert slots(intent) == {"name": "kitchen light"}
    assert intent.text
    # Only recognized: no intent on MQTT.
    assert published(served.bus, 1.5, text="turn off the kitchen light") is None


def test_recognize_every_light_of_an_area(served: Served) -> None:
    answer = one(served.port, Recognize(text="turn on the lights in the study").event())
    intent = Intent.from_event(answer)
    assert intent.name == "HassTurnOn"
    assert slots(intent) == {"area": "study", "domain": "light"}


def test_recognize_a_value(served: Served) -> None:
    intent = Intent.from_event(
        one(served.port, Recognize(text="set the kitchen light to 40 percent").event())
    )
    assert intent.name == "HassLightSet"
    assert slots(intent) == {"name": "kitchen light", "brightness": 40}


def test_recognize_leaves_out_chat_and_sensitive_actions(served: Served) -> None:
    joke = one(served.port, Recognize(text="tell me a joke").event())
    assert NotRecognized.is_type(joke.type), joke
    # A client would unlock without the yes that dialogd asks for.
    unlock = one(served.port, Recognize(text="unlock the front door").event())
    assert NotRecognized.is_type(unlock.type), unlock
    assert NotRecognized.from_event(unlock).text


def test_synthesize_streams_audio(served: Served) -> None:
    events = exchange(
        served.port, Synthesize(text="hello").event(), until=lambda e: AudioStop.is_type(e.type)
    )
    assert AudioStart.is_type(events[0].type) and AudioStop.is_type(events[-1].type)
    start = AudioStart.from_event(events[0])
    assert (start.width, start.channels) == (2, 1)
    chunks = [AudioChunk.from_event(e) for e in events[1:-1]]
    assert chunks and all(AudioChunk.is_type(e.type) for e in events[1:-1])
    assert all(c.samples <= 1024 for c in chunks)
    assert sum(c.seconds for c in chunks) > 0.3


def test_a_bad_event_ends_its_connection_only(served: Served) -> None:
    events = exchange(served.port, Event(type="synthesize", data={}), until=lambda e: False)
    assert [e.type for e in events] == ["error"]  # then the server closed the connection
    assert Error.from_event(events[0]).code == "bad-event"
    # The server still serves.
    assert Info.is_type(one(served.port, Describe().event()).type)


def test_speech_to_text_not_offered_is_an_error(served: Served) -> None:
    events = exchange(served.port, Transcribe().event(), until=lambda e: False)
    assert [Error.from_event(e).code for e in events] == ["not-enabled"]


# ---------------------------------------------------------------- the table, alone


@pytest.fixture(scope="module")
def registry() -> Registry:
    s = load_settings(ROOT / "config.toml")
    return Registry.from_config(s.devices, s.areas, s.floors)


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        # Home Assistant: HassTurnOn locks a lock, HassTurnOff unlocks it.
        (Command("lock", ("front_door_lock",)), "lock the door", HaIntent(
            "HassTurnOn", (("name", "front door lock"),))),
        (Command("close", ("garage_door",)), "close the garage door", HaIntent(
            "HassTurnOff", (("name", "garage door"),))),
        (Command("set_color", ("bedroom_light",)), "", None),  # no value: no colour
        (Command("set_color", ("bedroom_light",), "red"), "make the bedroom light red",
         HaIntent("HassLightSet", (("name", "bedroom light"), ("color", "red")))),
        (Command("turn_on", ("desk_lamp",)), "turn on the lamp in the study", HaIntent(
            "HassTurnOn", (("name", "desk lamp"), ("area", "study")))),
        (Command("start_timer", (), 5430, label="pasta"), "", HaIntent(
            "HassStartTimer",
            (("hours", 1), ("minutes", 30), ("seconds", 30), ("name", "pasta")))),
        (Command("cancel_timer"), "", HaIntent("HassCancelTimer")),
        (Command("add_item", ("shopping_list",), "milk"), "", HaIntent(
            "HassShoppingListAddItem", (("item", "milk"),))),
        # Two of the study's lights out of two: the area's; one of two would not be.
        (Command("turn_off", ("desk_lamp", "study_ceiling_light")), "", HaIntent(
            "HassTurnOff", (("area", "study"), ("domain", "light")))),
        (Command("turn_off", ("desk_lamp", "kitchen_light")), "", None),
        (Command("change_brightness", ("desk_lamp",), 10), "", None),  # no such intent
        (Command("chat"), "", None),
    ],
)  # fmt: skip
def test_actions_map_to_home_assistant_intents(
    registry: Registry, command: Command, text: str, expected: HaIntent | None
) -> None:
    assert to_ha_intent(Decision((command,)), registry, text) == expected


# ---------------------------------------------------------------------- speech to text


def test_transcribe_korean_speech_at_22khz(tmp_path: Path) -> None:
    """espeak-ng's 22050 Hz speech, sent as it is: the server resamples it for Vosk.
    [tts] output = "off": the server then renders with its own speech worker."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    raw = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), "티비 꺼"], check=True)
    with wave.open(str(raw), "rb") as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        speech = w.readframes(w.getnframes())
    assert (width, channels) == (2, 1)
    pcm = b"\0\0" * (rate // 4) + speech + b"\0\0" * rate  # 0.25 s lead-in, 1 s tail
    extra = (
        f'[asr]\nenabled = true\nmodel_path = "{_vosk_model()}"\nmode = "grammar"\n'
        'extra_words = ["꺼", "켜줘"]\n[tts]\noutput = "off"\n'
    )
    broker, s = _start(tmp_path, extra, KOREAN_HOME)
    try:
        info = Info.from_event(one(s.port, Describe().event()))
        assert [m.languages for m in info.asr[0].models] == [["ko"]]
        step = 2048
        audio = [
            AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i : i + step]).event()
            for i in range(0, len(pcm), step)
        ]
        events = exchange(
            s.port,
            Transcribe(language="ko").event(),
            AudioStart(rate=rate, width=2, channels=1).event(),
            *audio,
            AudioStop().event(),
            until=lambda e: Transcript.is_type(e.type),
            timeout=60,
        )
        text = Transcript.from_event(events[-1]).text
        assert "티비" in text and "꺼" in text, text
        # Recognized only: the transcript is no request.
        assert published(s.bus, 1.0) is None
        # Its own speech worker renders.
        spoken = exchange(
            s.port, Synthesize(text="hello").event(), until=lambda e: AudioStop.is_type(e.type)
        )
        assert sum(AudioChunk.from_event(e).seconds for e in spoken[1:-1]) > 0.3
    finally:
        _stop(broker, s)
