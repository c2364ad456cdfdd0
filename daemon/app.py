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
from pathlib import Path

from daemon import __version__
from daemon.channels.mqtt_text import MqttInbox
from daemon.channels.serial import SerialChannel
from daemon.channels.speech.setup import Speech, start_speech
from daemon.channels.wyoming import WyomingServer
from daemon.config.settings import Settings
from daemon.home.hass.source import token_or_config_error
from daemon.home.live import HomeLive
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
from daemon.pipeline.dispatcher import Ack, Via, run_stages
from daemon.pipeline.engines import EngineSwap, build_dispatcher, build_engine
from daemon.pipeline.outbox import Outbox
from daemon.pipeline.tasks import Background, named
from daemon.pipeline.workers import ThreadWorker

_LOG = logging.getLogger(__name__)
# How long one engine call may run before the watchdog stops pinging: a stuck model
# call (or a stuck template match) gets the daemon restarted by systemd.
STUCK_AFTER_S = {"rules": 30.0, "model": 120.0}


class Daemon:
    status: Status  # built once the link and the dispatcher are

    def __init__(self, settings: Settings, config_path: Path | None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.topics = Topics(settings.mqtt.prefix, settings.site_id)
        self.notifier = Notifier()
        self.stop_event = asyncio.Event()
        self.model_worker = ThreadWorker("llm")
        self.metrics = Metrics()
        self.started = time.monotonic()
        self.background = Background()
        self.speech: Speech | None = None
        # One gate for the speaker and the microphones: dialogd does not hear itself.
        self.mute_gate = MuteGate(settings.tts.mute_tail_s)
        self.hass: HassPresence | None = None

    async def run(self) -> int:
        s, spawn = self.settings, self.background.spawn
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, lambda: spawn(reloading.reload(self)))
        self.metrics.serve(s.metrics)
        self.notifier.status("loading the model")
        engine = await self.model_worker.run(build_engine, s)
        host, self.broker = await start_broker(s)
        credentials = self.broker.credentials if self.broker is not None else None
        self.link = link = MqttLink(s.mqtt, self.topics, host, s.mqtt.port,
                                    outbox=Outbox(s.state_dir / "outbox.jsonl"),
                                    credentials=credentials,
                                    on_connection=lambda up: self.status.broker_changed(up))  # fmt: skip  # noqa: E501
        self.dispatcher = d = build_dispatcher(s, engine, self.model_worker)
        self.swap = swap = EngineSwap(d, self.model_worker, lambda: dict(self.settings.replies))
        self.home = home = HomeLive(s, link, swap.apply_home, lambda: d.engine.replies)
        self.status = Status(link, lambda: self.topics, lambda: self.settings, d, self.metrics,
                             self.notifier)  # fmt: skip
        swap.followers.append(lambda _: self.status.publish())
        self.metrics.open_requests = lambda: d.depth["open"]

        def answer_mqtt(payload: bytes, ack: Ack, via: Via) -> None:
            spawn(d.answer(payload, "mqtt", ack, via))

        inbox = MqttInbox(link, lambda: self.topics, lambda: self.settings,
                          answer_mqtt, d.refuse, home.device_topics)  # fmt: skip
        mqtt_out = MqttOutputs(link, lambda: self.topics, key_for(s.request, s.state_dir))
        tts = None
        if s.tts.enabled and s.tts.output != "off":
            tts = TtsWorker(s.tts, gate=self.mute_gate, on_audio=mqtt_out.tts_audio)
        speaker = SpeechOutputs(tts, lambda: self.settings, home.reaches, d.dialogue,
                                spawn, time.time())  # fmt: skip
        inbox.say = lambda payload: speaker.say(payload, d.refuse)
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
            d.subscribe(HermesBridge(link, d.answer, speaker.speak, spawn).output)
        link.start()
        tasks = [named(inbox.run(), "mqtt-inbox"), named(self.status.run(), "status")]
        stuck = lambda: d.stuck(STUCK_AFTER_S)  # noqa: E731
        tasks.append(named(watchdog_task(self.notifier, lambda: healthy(tasks, stuck)), "watchdog"))
        for req in d.journal.pending():  # accepted before a restart and never answered
            spawn(d.enqueue(req))
        if self.broker is not None:
            tasks.append(named(self.broker.supervise(), "private-broker"))
        if tts is not None:
            tasks.append(named(tts.run(), "tts"))
        if s.asr.enabled:

            async def utterance(text: str) -> None:
                spawn(d.answer(text.encode("utf-8"), "voice"))

            self.speech = speech = await start_speech(
                s.asr, engine.registry, mqtt_out.asr_partial, utterance, self.mute_gate
            )
            inbox.audio, inbox.speech_on = (speech.voice.feed, speech.voice.end_of_utterance), True
            speaker.mic = speech.mic
            swap.followers.append(speech.set_phrases)  # the grammar follows the home
            tasks.extend(speech.tasks)
        if hass.url:  # HA's own entities, over its websocket API
            source = home.use_hass(hass.url, token_or_config_error(hass.token_file))
            tasks.append(named(source.run(), "homeassistant"))
        if s.serial.enabled:
            serial = SerialChannel(s.serial, d.answer_line, self.status.serial_changed)
            home.result_outputs.append(serial.result_output)
            tasks.append(named(serial.run(), "serial"))
        await home.known_at_start(link.connected, self.notifier.status, s.home.startup_wait_s)
        tasks.extend(await run_stages(d))  # requests taken so far waited; now they are decided
        if s.wyoming.enabled:  # Home Assistant's voice pipeline (channels/wyoming.py)
            tasks.append(named(WyomingServer(s, d, tts, home.reaches).run(), "wyoming"))
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

    def _request_stop(self, sig: signal.Signals) -> None:
        _LOG.info("%s received: finishing requests in flight, then stopping", sig.name)
        self.stop_event.set()


async def run(settings: Settings, config_path: Path | None) -> int:
    return await Daemon(settings, config_path).run()
