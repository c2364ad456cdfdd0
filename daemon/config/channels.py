"""Settings of the channels and the speaker: [serial], [asr], [tts], [wyoming].

Here, not beside the code that uses them, so that the config package stays a leaf: it
imports no runtime code, and the runtime imports it.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from daemon.config.base import Section
from daemon.core.vocabulary import Source

LineEnding = Literal["lf", "crlf", "cr"]


def norm_lang(lang: str) -> str:
    """A language tag as [tts] voices keys it: "zh_CN" and "zh-cn" are one."""
    return lang.strip().lower().replace("_", "-")


class SerialSettings(Section):
    enabled: bool = Field(default=False, description="Serve requests arriving on a serial port.")
    port: str = Field(
        default="/dev/ttyUSB0",
        min_length=1,
        description=(
            "Serial device. Prefer a /dev/serial/by-id/... path: it survives replugging "
            "and other USB devices coming and going."
        ),
    )
    baud: int = Field(default=115200, gt=0, description="Baud rate; must match the device's.")
    line_ending: LineEnding = Field(
        default="lf",
        description="Terminator written after each reply. Lines read may end in LF, CRLF or CR.",
    )
    encoding: str = Field(default="utf-8", description="Text encoding of the lines on the wire.")
    max_line_bytes: int = Field(
        default=512,
        ge=1,
        description="Longest line kept, bytes; the rest of a longer line is dropped and the "
        "line is flagged as truncated.",
    )
    reconnect_s: float = Field(
        default=0.5,
        gt=0,
        description="How often to look for the port again while it is gone, seconds.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        # Fail at start-up, not on the first line received weeks later.
        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}") from None
        return v


class AsrSettings(Section):
    enabled: bool = Field(False, description="Recognize speech (MQTT audio and/or a local mic).")
    model_path: Path | None = Field(
        None, description="Vosk model directory (one with a dynamic graph for grammar mode)."
    )
    mode: Literal["grammar", "dictation"] = Field(
        "grammar",
        description="grammar: only device names, aliases, actions and numbers (fast, robust); "
        "dictation: the model's full vocabulary.",
    )
    sample_rate: int = Field(
        16000, gt=0, description="Sample rate of the raw PCM chunks on dialogd/<site>/audio."
    )
    source: Literal["none", "sounddevice", "alsa", "file"] = Field(
        "none",
        description="Local microphone backend; 'file' reads asr.file (tests and demos).",
    )
    device: str | None = Field(
        None, description='sounddevice device (name or index) or ALSA PCM, e.g. "plughw:1,0".'
    )
    file: Path | None = Field(None, description="WAV file read when source = 'file'.")
    wake_phrase: str | None = Field(
        None, description="If set, only speech after this phrase is taken as a request."
    )
    extra_words: list[str] = Field([], description="More words or phrases to put in the grammar.")
    max_utterance_s: float = Field(
        15.0, gt=0, description="Force a final result after this much speech without an endpoint."
    )
    mute_tail_s: float = Field(
        0.4, ge=0, description="Keep the mic muted this long after the daemon stops speaking."
    )


class TtsSettings(Section):
    enabled: bool = Field(True, description="Speak replies at all.")
    output: Literal["speaker", "mqtt", "off"] = Field(
        "speaker",
        description=(
            "Where speech goes: the local sound device; 'mqtt' renders a WAV and hands it "
            "over for publishing on dialogd/<site>/tts/audio for a satellite to play; 'off'."
        ),
    )
    rate: int = Field(
        170, ge=80, le=450, description="Speaking rate, words per minute (espeak-ng: 80-450)."
    )
    volume: float = Field(1.0, ge=0.0, le=1.0, description="Volume, 0 to 1.")
    voices: dict[str, str] = Field(
        {"en": "en", "zh": "cmn"},
        description=(
            "espeak-ng voice per reply language: an id ('gmw/en'), file name ('cmn'), "
            "voice name or language code. Unknown ones fall back to the default voice."
        ),
    )
    speak_sources: list[Source] = Field(
        ["voice"],
        description=(
            "Requests from these channels get their reply spoken. Hubs sending text over "
            "MQTT usually answer on their own speakers, so 'mqtt' is off by default."
        ),
    )
    mute_tail_s: float = Field(
        0.4,
        ge=0.0,
        le=10.0,
        description="Keep ignoring the microphone this long after speech ends (room echo).",
    )

    @field_validator("voices")
    @classmethod
    def _normalise_langs(cls, v: dict[str, str]) -> dict[str, str]:
        if any(not name.strip() for name in v.values()):
            raise ValueError("voice names must not be empty")
        return {norm_lang(lang): name.strip() for lang, name in v.items()}


class WyomingSettings(Section):
    enabled: bool = Field(
        False,
        description=(
            "Serve the Wyoming protocol, so that Home Assistant's voice pipeline can use "
            "dialogd for speech to text, text to speech and conversation."
        ),
    )
    host: str = Field(
        "0.0.0.0",
        min_length=1,
        description=(
            "Address the Wyoming server listens on; 0.0.0.0 for every interface (Home "
            "Assistant usually runs on another machine), 127.0.0.1 for this one only."
        ),
    )
    port: int = Field(
        10700,
        ge=1,
        le=65535,
        description=(
            "TCP port of the Wyoming server. wyoming-satellite listens on 10700 too: pick "
            "another port when one runs on the same machine."
        ),
    )
    hand_over: bool = Field(
        False,
        description=(
            "A request decided for devices dialogd does not switch itself is answered with "
            "Home Assistant's intent (HassTurnOn...), which Home Assistant then carries out "
            "on its own entities; off: answered `handled` (the MQTT intent is the action). "
            "Turn on when Home Assistant owns those devices and nothing else acts on "
            "dialogd's intents."
        ),
    )
