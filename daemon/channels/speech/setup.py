"""Speech in, wired: one Vosk stream for audio over MQTT, one for a local microphone.

Each utterance becomes a request of source `voice`; partial transcripts go out as they
come. The recognisers' grammar follows the registry (`set_phrases`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from daemon.channels.speech.asr import VoskEngine
from daemon.channels.speech.audio_sources import make_source
from daemon.channels.speech.voice import MuteSignal, VoiceChannel
from daemon.config.channels import AsrSettings
from daemon.home.registry import Registry, spoken_phrases

_LOG = logging.getLogger(__name__)

Text = Callable[[str], Awaitable[None]]


@dataclass
class Speech:
    voice: VoiceChannel  # audio over MQTT
    mic: VoiceChannel | None  # the local microphone, if any
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def channels(self) -> list[VoiceChannel]:
        return [self.voice] if self.mic is None else [self.voice, self.mic]

    def set_phrases(self, registry: Registry) -> None:
        phrases = spoken_phrases(registry)
        for channel in self.channels:
            channel.set_phrases(phrases)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


async def start_speech(
    asr: AsrSettings, registry: Registry, partial: Text, utterance: Text, muter: MuteSignal
) -> Speech:
    phrases = spoken_phrases(registry)

    def factory() -> VoskEngine:
        return VoskEngine.from_settings(asr, phrases)

    voice = VoiceChannel(
        factory, partial, utterance, sample_rate=asr.sample_rate, muter=muter, name="voice-mqtt"
    )
    await voice.start()
    speech = Speech(voice, None)
    source = make_source(asr.source, asr.device, asr.file)
    if source is not None:
        speech.mic = VoiceChannel(factory, partial, utterance, muter=muter, name="mic")
        await speech.mic.start()
        speech.tasks.append(asyncio.create_task(speech.mic.mic_task(source), name="microphone"))
    _LOG.info(
        "speech: %s mode%s",
        asr.mode,
        f", microphone {asr.source}" if source is not None else "",
    )
    return speech
