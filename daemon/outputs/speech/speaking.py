"""What dialogd says out loud: replies, results, finished timers and `say` requests.

One output object for the speaker: it hears every outcome (and the results and timer
events) and decides what is spoken, so that no reply is spoken twice. For a device that
dialogd switches itself, the reply waits for the device (the result tells the truth).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from daemon.channels.speech.voice import VoiceChannel
from daemon.config.settings import Settings
from daemon.core.messages import ErrorReply, Intent, Outcome, Request, new_id
from daemon.dialogue.manager import Dialogue, TimerEvent
from daemon.home.actuator import Result
from daemon.outputs.speech.tts import TtsWorker
from daemon.understanding.lang import detect_lang

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class SpeechOutputs:
    def __init__(
        self,
        tts: TtsWorker | None,
        settings: Callable[[], Settings],
        reaches: Callable[[Intent], bool],
        dialogue: Dialogue | None,
        spawn: Spawn,
        started_wall: float,
    ) -> None:
        self.tts = tts
        self.settings = settings
        self.reaches = reaches  # dialogd switches the intent's devices itself
        self.dialogue = dialogue
        self.spawn = spawn
        self.started_wall = started_wall
        self.mic: VoiceChannel | None = None  # reopened for an answer to a question

    def outcome(self, req: Request | None, outcome: Outcome) -> None:
        """The reply spoken, for the sources that want it; for devices dialogd switches,
        once they answered (see `result`)."""
        if not isinstance(outcome, Intent):
            return
        if outcome.expect_reply and outcome.source == "voice" and self.mic is not None:
            # A question asked at this microphone is answered without the wake phrase.
            self.mic.listen(self.settings().dialogue.followup_s)
        if (
            self.tts is not None
            and outcome.source in self.settings().tts.speak_sources
            and not self.reaches(outcome)
        ):
            self.spawn(self.tts.speak(outcome.reply, outcome.lang))

    def result(self, result: Result, reply: str) -> None:
        """The truthful reply, once the devices answered."""
        intent = result.intent
        if self.tts is not None and intent.source in self.settings().tts.speak_sources:
            self.spawn(self.tts.speak(reply, intent.lang))

    def timer(self, event: TimerEvent) -> None:
        """A finished timer is spoken here (one that ended while dialogd was down, too)."""
        t = event.timer
        if event.event != "finished" or self.tts is None or self.dialogue is None:
            return
        missed = t.ends_at < self.started_wall
        text = self.dialogue.timer_reply("timer_missed" if missed else "timer_finished", t, t.lang)
        self.spawn(self.tts.speak(text, "zh" if t.lang == "zh" else "en"))

    async def speak(self, text: str, lang: str | None) -> None:
        if self.tts is not None:
            await self.tts.speak(text, lang)

    def say(self, payload: bytes, refuse: Callable[[ErrorReply], None]) -> None:
        """`<prefix>/<site>/say`: text to speak as it is, within the request size limit."""
        limit = self.settings().request.max_chars
        text = payload.decode("utf-8", errors="replace").strip()
        if len(text) > limit:
            refuse(
                ErrorReply(
                    id=new_id(),
                    error="too_long",
                    detail=f"say: {len(text)} characters; the limit is {limit}",
                    source="mqtt",
                )
            )
        elif text and self.tts is not None:
            self.spawn(self.tts.speak(text, detect_lang(text)))
