"""`dialogd run`: build the parts, wire them, keep them running, handle signals.

Channels turn their input into requests for the dispatcher; the dispatcher's outcomes go
to every output that subscribed (MQTT, the speaker, actuation, metrics, Hermes). One
named, long-lived task per external resource, each looping on its own, so one failing
resource never takes the others down. SIGTERM/SIGINT drain and stop; SIGHUP reloads the
config (devices, replies, topics) without reloading the models.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from daemon import __version__
from daemon.channels.mqtt_text import MqttInbox
from daemon.channels.serial import SerialChannel
from daemon.channels.speech.setup import Speech, start_speech
from daemon.channels.wyoming import WyomingServer
from daemon.config.settings import Settings
from daemon.core.vocabulary import Source
from daemon.home.catalog import Home
from daemon.home.hass.source import token_or_config_error
from daemon.home.live import HomeLive
from daemon.home.registry import Registry
from daemon.mqtt.broker import start_broker
from daemon.mqtt.link import MqttLink, Topics
from daemon.ops import reload as reloading
from daemon.ops.notify import Notifier, healthy, watchdog_task
from daemon.ops.signing import key_for
from daemon.outputs.bus import HassPresence, HermesBridge
from daemon.outputs.metrics import Metrics
from daemon.outputs.mqtt import MqttOutputs
from daemon.outputs.speech.speaking import SpeechOutputs
from daemon.outputs.speech.tts import MuteGate, TtsWorker
from daemon.outputs.status import Status
from daemon.pipeline.dispatcher import Ack, Dispatcher, Limits, Via, run_stages
from daemon.pipeline.engines import EngineSwap, build_dialogue, build_engine, home_registry
from daemon.pipeline.journal import Journal
from daemon.pipeline.outbox import Outbox
from daemon.pipeline.workers import ThreadWorker

_LOG = logging.getLogger(__name__)
# How long one engine call may run before the watchdog stops pinging: a stuck model
# call (or a stuck template match) gets the daemon restarted by systemd.
STUCK_AFTER_S = {"rules": 30.0, "model": 120.0}


class Daemon:
    def __init__(self, settings: Settings, config_path: Path | None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.topics = Topics(settings.mqtt.prefix, settings.site_id)
        self.notifier = Notifier()
        self.stop_event = asyncio.Event()
        self.model_worker = ThreadWorker("llm")
        self.metrics = Metrics()
        self.started = time.monotonic()
        self._requests: set[asyncio.Task[None]] = set()
        self.speech: Speech | None = None
        # One gate for the speaker and the microphones: dialogd does not hear itself.
        self.mute_gate = MuteGate(settings.tts.mute_tail_s)
        self.hass: HassPresence | None = None

    async def run(self) -> int:
        s = self.settings
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
        sign_key = key_for(s.request, s.state_dir)
        self.metrics.serve(s.metrics)
        self.notifier.status("loading the model")
        engine = await self.model_worker.run(build_engine, s)
        host, self.broker = await start_broker(s)
        credentials = self.broker.credentials if self.broker is not None else None
        self.link = link = MqttLink(s.mqtt, self.topics, host, s.mqtt.port,
                                    outbox=Outbox(s.state_dir / "outbox.jsonl"),
                                    credentials=credentials,
                                    on_connection=self._broker_connected)  # fmt: skip
        r = s.request
        journal = Journal(
            s.state_dir / "journal.jsonl", r.dedupe_window, window_s=r.dedupe_window_s
        )
        limits = Limits(r.max_chars, r.queue_size, r.max_age_s)
        dialogue = build_dialogue(s, engine)
        self.dispatcher = d = Dispatcher(
            s.site_id, engine, journal, limits, s.area, self.model_worker, dialogue
        )
        self.swap = EngineSwap(d, self.model_worker)
        self.home = home = HomeLive(s, link, self._apply_home, lambda: d.engine.replies)
        self.status = Status(link, lambda: self.topics, lambda: self.settings, d, self.metrics)
        self.metrics.open_requests = lambda: d.depth["open"]
        inbox = MqttInbox(link, lambda: self.topics, lambda: self.settings,
                          self._answer_mqtt, d.refuse, home.device_topics)  # fmt: skip
        tts = None
        if s.tts.enabled and s.tts.output != "off":
            tts = TtsWorker(s.tts, gate=self.mute_gate, on_audio=self._publish_tts_audio)
        speaker = SpeechOutputs(tts, lambda: self.settings, home.reaches, dialogue,
                                self._spawn, time.time())  # fmt: skip
        inbox.say = lambda payload: speaker.say(payload, d.refuse)
        mqtt_out = MqttOutputs(link, lambda: self.topics, sign_key)
        # Every outcome goes to each output that subscribed; none is called by hand.
        d.refiners.append(home.refine)
        d.subscribe(mqtt_out.outcome, self.metrics.outcome, speaker.outcome, home.output)
        d.replay_outputs.append(mqtt_out.replay)
        d.timer_outputs.extend([mqtt_out.timer, speaker.timer])
        home.result_outputs.extend([mqtt_out.result, speaker.result])
        home.start()
        hass = s.homeassistant
        if hass.discovery:
            self.hass = HassPresence(link, s.site_id, s.mqtt.prefix, hass.discovery_prefix)
        if s.hermes.enabled:  # before the link starts: its subscriptions go with the connect
            hermes = HermesBridge(link, self._answer_hermes, speaker.speak, self._spawn)
            d.subscribe(hermes.output)
        link.start()
        tasks = [_task(inbox.run(), "mqtt-inbox"), _task(self.status.run(), "status")]
        tasks.append(
            _task(
                watchdog_task(
                    self.notifier, lambda: healthy(tasks, lambda: d.stuck(STUCK_AFTER_S))
                ),
                "watchdog",
            )
        )
        for req in journal.pending():  # accepted before a restart and never answered
            self._spawn(d.enqueue(req))
        if self.broker is not None:
            tasks.append(_task(self.broker.supervise(), "private-broker"))
        if tts is not None:
            tasks.append(_task(tts.run(), "tts"))
        if s.asr.enabled:
            tasks.extend(await self._start_speech(engine.registry, inbox, speaker))
        if s.homeassistant.url:  # HA's own entities, over its websocket API
            token = token_or_config_error(s.homeassistant.token_file)
            source = home.use_hass(s.homeassistant.url, token)
            tasks.append(_task(source.run(), "homeassistant"))
        if s.serial.enabled:
            serial = SerialChannel(s.serial, d.answer_line, self._serial_state)
            home.result_outputs.append(serial.result_output)
            tasks.append(_task(serial.run(), "serial"))
        await home.known_at_start(link.connected, self.notifier.status, s.home.startup_wait_s)
        tasks.extend(await run_stages(d))  # requests taken so far waited; now they are decided
        if s.wyoming.enabled:  # Home Assistant's voice pipeline (channels/wyoming.py)
            tasks.append(_task(WyomingServer(s, d, tts, home.reaches).run(), "wyoming"))
        self.status.serving = True
        link.serve()
        self.status.publish()
        self.notifier.ready(f"serving on {self.topics.text}")
        ready_s = time.monotonic() - self.started
        _LOG.info("dialogd %s ready in %.1f s (site %s)", __version__, ready_s, s.site_id)
        await self.stop_event.wait()
        await self._stop(tasks)
        return 0

    async def _stop(self, tasks: list[asyncio.Task[None]]) -> None:
        self.notifier.stopping("draining requests")
        await self.dispatcher.drain(self.settings.request.drain_timeout_s)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.speech is not None:
            await self.speech.close()
        if not await self.link.flush(5.0):
            _LOG.warning("the broker did not confirm every answer before the link closed")
        self.status.publish("offline")
        await self.link.stop()
        if self.broker is not None:
            await self.broker.stop()
        self.dispatcher.close()
        self.swap.close()
        self.metrics.stop()
        _LOG.info("dialogd stopped")

    async def _start_speech(
        self, registry: Registry, inbox: MqttInbox, speaker: SpeechOutputs
    ) -> list[asyncio.Task[None]]:
        async def utterance(text: str) -> None:
            self._spawn(self.dispatcher.answer(text.encode("utf-8"), "voice"))

        asr = self.settings.asr
        speech = await start_speech(asr, registry, self._publish_partial, utterance, self.mute_gate)
        inbox.audio, inbox.speech_on = (speech.voice.feed, speech.voice.end_of_utterance), True
        speaker.mic = speech.mic
        self.speech = speech
        return speech.tasks

    def _answer_mqtt(self, payload: bytes, ack: Ack, via: Via) -> None:
        self._spawn(self.dispatcher.answer(payload, "mqtt", ack, via))

    async def _answer_hermes(self, payload: bytes, source: Source) -> None:
        await self.dispatcher.answer(payload, source)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    def _request_stop(self, sig: signal.Signals) -> None:
        _LOG.info("%s received: finishing requests in flight, then stopping", sig.name)
        self.stop_event.set()

    def _serial_state(self, up: bool) -> None:
        """The ESP32's port in status/detail: a hub sees when it is unplugged."""
        self.status.serial_connected = up
        self.status.publish()

    def _broker_connected(self, up: bool) -> None:
        """`systemctl status dialogd` says whether the broker is there."""
        self.metrics.broker_connected(up)
        if not up:
            self.notifier.status(
                f"MQTT broker {self.link.host}:{self.link.port} lost; reconnecting"
            )
        elif self.status.serving:
            self.notifier.status(f"serving on {self.topics.text}")

    async def _publish_partial(self, text: str) -> None:
        self.link.publish(self.topics.asr_partial, text.encode("utf-8"), qos=0)

    async def _publish_tts_audio(self, wav: bytes) -> None:
        self.link.publish(self.topics.tts_audio, wav, qos=0)

    async def _apply_home(self, home: Home, registry: Registry) -> bool:
        """A new home from the broker: the engine learns it, all or nothing."""
        try:
            await self.swap(registry, dict(self.settings.replies))
        except Exception as exc:
            _LOG.error("the home from the broker cannot be used: %s; keeping the old one", exc)
            return False
        if self.speech is not None:
            self.speech.set_phrases(registry)  # the recognizers' grammar follows the home
        self.status.publish()
        return True

    async def reload(self) -> None:
        """SIGHUP: re-read the config; apply devices, replies and topics, keep the models."""
        await reloading.reload(self)


def _task(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    return asyncio.create_task(coro, name=name)


async def run(settings: Settings, config_path: Path | None) -> int:
    return await Daemon(settings, config_path).run()


__all__ = ["Daemon", "build_engine", "home_registry", "run"]
