"""`dialogd run`: wire the parts together and keep them running.

One named, long-lived task per external resource (MQTT inbox, serial port, microphone,
status); each loops on its own and logs what happened, so one failing resource never
takes the others down. Signals: SIGTERM/SIGINT drain and stop, SIGHUP reloads the
config (devices, replies) without reloading the models.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from daemon import __version__
from daemon.channels.serial import serial_task
from daemon.channels.speech.asr import VoskEngine
from daemon.channels.speech.audio_sources import make_source
from daemon.channels.speech.voice import VoiceChannel
from daemon.config.settings import ConfigError, Settings, load_settings
from daemon.core.messages import ErrorReply, Intent, Outcome, Request, Source
from daemon.dialogue.manager import Dialogue, TimerEvent
from daemon.dialogue.timers import TimerBook
from daemon.home.actuator import Result
from daemon.home.catalog import Home
from daemon.home.live import HomeLive
from daemon.home.registry import Registry, spoken_phrases
from daemon.mqtt.broker import PrivateBroker, port_open
from daemon.mqtt.link import Inbound, MqttLink, Topics
from daemon.ops.checks import model_problems
from daemon.ops.notify import Notifier, watchdog_task
from daemon.ops.signing import load_or_create_key
from daemon.outputs.bus import HassPresence, HermesBridge
from daemon.outputs.metrics import Metrics
from daemon.outputs.mqtt import MqttOutputs, result_json, safe_response_topic
from daemon.outputs.speech.tts import MuteGate, TtsWorker
from daemon.pipeline.dispatcher import Dispatcher, Limits, Via, run_stages
from daemon.pipeline.journal import Journal
from daemon.pipeline.outbox import Outbox
from daemon.pipeline.workers import ThreadWorker
from daemon.understanding.engine import IntentEngine
from daemon.understanding.lang import detect_lang
from daemon.understanding.llm import LlamaEngine

_LOG = logging.getLogger(__name__)
STATUS_EVERY_S = 30.0
MAX_AUDIO_CHUNK = 256 * 1024  # 8 s of 16 kHz PCM in one message is no satellite's chunk
# How long one engine call may run before the watchdog stops pinging: a stuck model
# call (or a stuck template match) gets the daemon restarted by systemd.
STUCK_AFTER_S = {"rules": 30.0, "model": 120.0}


def home_registry(settings: Settings) -> Registry:
    return Registry.from_config(
        settings.devices, settings.areas, settings.floors, settings.temperature_unit
    )


def build_engine(settings: Settings) -> IntentEngine:
    """Load the model (slow: seconds) and build the intent engine around it."""
    registry = home_registry(settings)
    model = None
    if settings.llm.enabled:
        assert settings.llm.model_path is not None
        model = LlamaEngine(
            settings.llm.model_path,
            registry,
            threads=settings.llm.threads,
            n_ctx=settings.llm.n_ctx,
            max_ctx=settings.llm.max_ctx,
            state_dir=settings.llm.state_dir,
            max_reply_tokens=settings.llm.max_reply_tokens,
            chat_replies=settings.llm.chat_replies,
            prompt_budget=settings.llm.prompt_budget,
        )
        _LOG.info("model %s loaded in %.0f ms", settings.llm.model_path.name, model.load_ms)
    return IntentEngine(
        registry,
        settings.replies,
        model,
        margins=(settings.llm.min_margin, settings.llm.sensitive_margin),
        check=settings.llm.check,
    )


def build_dialogue(settings: Settings, engine: IntentEngine, persist: bool = True) -> Dialogue:
    """Sessions and timers around the engine; timers kept under the state directory."""
    book = TimerBook(
        settings.state_dir / "timers.json" if persist else None,
        max_timers=settings.dialogue.max_timers,
    )
    return Dialogue(engine, settings.dialogue, book, settings.site_id)


class Daemon:
    def __init__(self, settings: Settings, config_path: Path | None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.topics = Topics(settings.mqtt.prefix, settings.site_id)
        self.notifier = Notifier()
        self.stop_event = asyncio.Event()
        self.model_worker = ThreadWorker("llm")
        # New engines are built here, beside the one deciding (neither stage waits).
        self.build_worker = ThreadWorker("rebuild")
        self.broker: PrivateBroker | None = None
        self.link: MqttLink | None = None
        self.dispatcher: Dispatcher | None = None
        self.started = time.monotonic()
        self.started_wall = time.time()
        self._requests: set[asyncio.Task[None]] = set()
        self.mute_gate = MuteGate(settings.tts.mute_tail_s)
        self.tts: TtsWorker | None = None
        self.voice: VoiceChannel | None = None
        self.mic: VoiceChannel | None = None
        self.serving = False  # the home is known and requests are decided
        # Lines for the serial port besides its replies: results of its requests.
        self.serial_later: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        self.reload_error: str | None = None  # shown in status/detail until a good reload
        self.metrics = Metrics()
        self.sign_key: bytes | None = None
        self.home: HomeLive | None = None
        self.hass: HassPresence | None = None

    async def run(self) -> int:
        s = self.settings
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))

        if s.request.sign:
            try:
                self.sign_key = load_or_create_key(
                    s.request.sign_key_file or s.state_dir / "intent.key"
                )
            except (OSError, ValueError) as exc:
                raise ConfigError([f"config: request.sign_key_file: {exc}"]) from None
        if s.metrics.enabled:
            try:
                port = self.metrics.start(s.metrics.host, s.metrics.port)
                _LOG.info("metrics on http://%s:%d/metrics", s.metrics.host, port)
            except OSError as exc:
                _LOG.error("metrics endpoint %s:%d: %s", s.metrics.host, s.metrics.port, exc)
        self.notifier.status("loading the model")
        engine = await self.model_worker.run(build_engine, s)

        host = s.mqtt.host
        if host is None:
            host = "127.0.0.1"
            if port_open(host, s.mqtt.port):
                # Typically Debian's own mosquitto service, started when the package was
                # installed: use it rather than fail.
                _LOG.warning(
                    "no [mqtt] host configured, but a server already listens on %s:%d; "
                    "using it as the broker instead of starting a private one",
                    host,
                    s.mqtt.port,
                )
            else:
                self.broker = PrivateBroker(
                    s.mqtt.port, state_dir=s.state_dir, prefix=s.mqtt.prefix
                )
                await self.broker.start()
        self.link = MqttLink(
            s.mqtt,
            self.topics,
            host,
            s.mqtt.port,
            outbox=Outbox(s.state_dir / "outbox.jsonl"),
            credentials=self.broker.credentials if self.broker is not None else None,
            on_connection=self.metrics.broker_connected,
        )
        self.dispatcher = Dispatcher(
            site=s.site_id,
            engine=engine,
            journal=Journal(
                s.state_dir / "journal.jsonl",
                s.request.dedupe_window,
                window_s=s.request.dedupe_window_s,
            ),
            limits=Limits(s.request.max_chars, s.request.queue_size, s.request.max_age_s),
            area=s.area,
            model_worker=self.model_worker,
            dialogue=build_dialogue(s, engine),
        )
        dispatcher = self.dispatcher
        self.home = HomeLive(s, self.link, self._apply_home, lambda: dispatcher.engine.replies)
        self.dispatcher.refiners.append(self.home.refine)
        mqtt_out = MqttOutputs(self.link, lambda: self.topics, self.sign_key)
        self.dispatcher.outputs.append(mqtt_out.outcome)
        self.dispatcher.replay_outputs.append(mqtt_out.replay)
        self.dispatcher.outputs.append(self._count_outcome)
        self.dispatcher.outputs.append(self._listen_for_answer)
        self.dispatcher.outputs.append(self._actuate_outcome)
        self.dispatcher.timer_outputs.append(mqtt_out.timer)
        self.dispatcher.timer_outputs.append(self._speak_timer)
        self.home.result_outputs.append(mqtt_out.result)
        self.home.result_outputs.append(self._speak_result)
        self.home.result_outputs.append(self._serial_result)
        self.home.start()
        if s.homeassistant.discovery:
            self.hass = HassPresence(
                self.link, s.site_id, s.mqtt.prefix, s.homeassistant.discovery_prefix
            )
        if s.hermes.enabled:
            # Before the link starts: its subscriptions go with the first connect.
            hermes_bridge = HermesBridge(
                self.link,
                lambda payload, source: self._answer(payload, "mqtt"),
                self._speak_text,
                self._spawn,
            )
            self.dispatcher.outputs.append(hermes_bridge.output)
        self.link.start()
        tasks = [
            asyncio.create_task(self._mqtt_task(), name="mqtt-inbox"),
            asyncio.create_task(self._status_task(), name="status"),
        ]
        tasks.append(
            asyncio.create_task(
                watchdog_task(self.notifier, lambda: self._healthy(tasks)), name="watchdog"
            )
        )
        for req in self.dispatcher.journal.pending():
            # Accepted before a restart and never answered: answered now (or expired).
            self._spawn(self._replay(req))
        if self.broker is not None:
            tasks.append(asyncio.create_task(self.broker.supervise(), name="private-broker"))
        if s.tts.enabled and s.tts.output != "off":
            self.tts = TtsWorker(s.tts, gate=self.mute_gate, on_audio=self._publish_tts_audio)
            self.dispatcher.outputs.append(self._speak_outcome)
            tasks.append(asyncio.create_task(self.tts.run(), name="tts"))
        if s.asr.enabled:
            tasks.extend(await self._start_voice(engine.registry))
        if s.serial.enabled:
            tasks.append(
                asyncio.create_task(
                    serial_task(s.serial, self._serial_line, self.serial_later), name="serial"
                )
            )
        try:
            await asyncio.wait_for(self.link.connected.wait(), 10)
        except TimeoutError:
            _LOG.warning(
                "MQTT broker %s:%d not reachable yet; serving once it is", host, s.mqtt.port
            )
        else:
            await self._settle_home()
        # Requests taken so far waited in the queues; from here on they are decided.
        tasks.extend(await run_stages(self.dispatcher))
        self.serving = True
        self.link.serve()
        ready_s = time.monotonic() - self.started
        self.notifier.ready(f"serving on {self.topics.text}")
        _LOG.info("dialogd %s ready in %.1f s (site %s)", __version__, ready_s, s.site_id)

        await self.stop_event.wait()

        self.notifier.stopping("draining requests")
        await self.dispatcher.drain(s.request.drain_timeout_s)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in (self.voice, self.mic):
            if channel is not None:
                await channel.close()
        if not await self.link.flush(5.0):
            _LOG.warning("the broker did not confirm every answer before the link closed")
        self.link.publish(self.topics.state, self.status_payload("offline"), retain=True, qos=1)
        await self.link.stop()
        if self.broker is not None:
            await self.broker.stop()
        self.dispatcher.close()
        self.build_worker.close()
        self.metrics.stop()
        _LOG.info("dialogd stopped")
        return 0

    async def _settle_home(self) -> None:
        """Start with the home complete: the discovery configs the broker kept are applied
        before anything is decided (at most home.startup_wait_s)."""
        assert self.home is not None
        self.notifier.status("reading the home from the broker")
        t0 = time.monotonic()
        bound = self.settings.home.startup_wait_s
        complete = await self.home.settle(bound)
        home = self.home.home
        found = sum(1 for o in home.origins.values() if o != "config")
        if complete:
            _LOG.info(
                "home: %d device(s), %d of them from discovery, known after %.1f s",
                len(home.devices),
                found,
                time.monotonic() - t0,
            )
        else:
            _LOG.warning(
                "home: discovery still changing after home.startup_wait_s = %g s; serving "
                "with the %d device(s) known so far (%d from discovery)",
                bound,
                len(home.devices),
                found,
            )

    async def _speak_text(self, text: str, lang: str | None) -> None:
        if self.tts is not None:
            await self.tts.speak(text, lang)

    def _request_stop(self, sig: signal.Signals) -> None:
        _LOG.info("%s received: finishing requests in flight, then stopping", sig.name)
        self.stop_event.set()

    async def _mqtt_task(self) -> None:
        assert self.link is not None and self.dispatcher is not None
        d = self.dispatcher
        while True:
            msg: Inbound = await self.link.inbox.get()
            site = self.topics.text_site(msg.topic)
            if site == self.topics.site or (site and self.settings.mqtt.share_group):
                # Each request is its own task: acknowledged once the request path has
                # taken it, answered when its turn comes (at the site that asked).
                reply_to = None
                if msg.response_topic is not None:
                    reply_to = safe_response_topic(
                        msg.response_topic, self._closed_prefixes(), self._device_topics()
                    )
                via = Via(site, reply_to, msg.correlation if reply_to else None)
                self._spawn(self._answer(msg.payload, "mqtt", msg.ack, via))
                continue
            msg.ack()
            if self.link.handle(msg):
                continue
            if msg.topic in (self.topics.audio, self.topics.audio_end) and self.voice is None:
                continue
            if msg.topic == self.topics.audio and len(msg.payload) > MAX_AUDIO_CHUNK:
                d.refuse(
                    ErrorReply(
                        id=None,
                        error="too_long",
                        detail=f"audio chunk of {len(msg.payload)} bytes; at most "
                        f"{MAX_AUDIO_CHUNK} per message",
                        source="voice",
                    )
                )
            elif msg.topic == self.topics.audio and self.voice is not None:
                await self.voice.feed(msg.payload)
            elif msg.topic == self.topics.audio_end and self.voice is not None:
                await self.voice.end_of_utterance()
            elif msg.topic == self.topics.say:
                self._say(msg.payload)

    def _closed_prefixes(self) -> list[str]:
        s = self.settings
        return [
            f"{s.mqtt.prefix}/",
            f"{s.home.discovery_prefix}/",
            f"{s.homeassistant.discovery_prefix}/",
            f"{s.home.zigbee2mqtt_base}/",
            "cmnd/",
            "hermes/",
        ]

    def _device_topics(self) -> list[str | None]:
        """Every topic of every device dialogd knows (command, state, availability)."""
        out: list[str | None] = []
        for d in self.settings.devices:
            out += [d.command_topic, d.state_topic, d.availability_topic]
        if self.home is not None:
            for e in self.home.home.endpoints.values():
                out += [e.command_topic, *e.topics()]
                out += [
                    v for k, v in e.options.items() if k.endswith("topic") and isinstance(v, str)
                ]
        return out

    def _say(self, payload: bytes) -> None:
        assert self.dispatcher is not None
        limit = self.settings.request.max_chars
        text = payload.decode("utf-8", errors="replace").strip()
        if len(text) > limit:
            self.dispatcher.refuse(
                ErrorReply(
                    id=None,
                    error="too_long",
                    detail=f"say: {len(text)} characters; the limit is {limit}",
                    source="mqtt",
                )
            )
        elif text and self.tts is not None:
            self._spawn(self.tts.speak(text, detect_lang(text)))

    async def _start_voice(self, registry: Registry) -> list[asyncio.Task[None]]:
        """Speech in: one Vosk stream for MQTT audio, one for the local microphone."""
        asr = self.settings.asr
        phrases = spoken_phrases(registry)

        def factory() -> VoskEngine:
            return VoskEngine.from_settings(asr, phrases)

        async def partial(text: str) -> None:
            assert self.link is not None
            self.link.publish(self.topics.asr_partial, text.encode("utf-8"), qos=0)

        async def utterance(text: str) -> None:
            self._spawn(self._answer(text.encode("utf-8"), "voice"))

        self.voice = VoiceChannel(
            factory,
            partial,
            utterance,
            sample_rate=asr.sample_rate,
            muter=self.mute_gate,
            name="voice-mqtt",
        )
        await self.voice.start()
        tasks = []
        source = make_source(asr.source, asr.device, asr.file)
        if source is not None:
            self.mic = VoiceChannel(factory, partial, utterance, muter=self.mute_gate, name="mic")
            await self.mic.start()
            tasks.append(asyncio.create_task(self.mic.mic_task(source), name="microphone"))
        _LOG.info(
            "speech: %s mode, audio on %s%s",
            asr.mode,
            self.topics.audio,
            f", microphone {asr.source}" if source is not None else "",
        )
        return tasks

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    def _speak_outcome(self, req: Request | None, outcome: Outcome) -> None:
        """Output: the reply spoken, for the sources that want it (for a device dialogd
        switches itself, once the device has answered: see _result_outcome)."""
        if (
            self.tts is not None
            and isinstance(outcome, Intent)
            and outcome.source in self.settings.tts.speak_sources
            and not (self.home is not None and self.home.reaches(outcome))
        ):
            self._spawn(self.tts.speak(outcome.reply, outcome.lang))

    def _actuate_outcome(self, req: Request | None, outcome: Outcome) -> None:
        """Output: devices dialogd can reach are switched (decided/confirmed only)."""
        if self.home is not None and isinstance(outcome, Intent) and self.home.reaches(outcome):
            self._spawn(self.home.actuate(outcome, req))

    def _serial_result(self, result: Result, reply: str) -> None:
        """Result output: a serial request's devices answered; its port gets a second
        line, the result (the first was the intent)."""
        req = result.request
        if req is None or req.source != "serial":
            return
        try:
            self.serial_later.put_nowait(result_json(result, reply))
        except asyncio.QueueFull:
            _LOG.warning("serial port: results are not being read; %s's is dropped", req.id)

    def _speak_result(self, result: Result, reply: str) -> None:
        """Result output: the truthful reply, once the devices answered."""
        intent = result.intent
        if self.tts is not None and intent.source in self.settings.tts.speak_sources:
            self._spawn(self.tts.speak(reply, intent.lang))

    async def _apply_home(self, home: Home, registry: Registry) -> bool:
        """A new home from the broker: the engine (templates, the model's prompt) learns
        it, all or nothing."""
        try:
            await self._swap_engine(registry, dict(self.settings.replies))
        except Exception as exc:
            _LOG.error("the home from the broker cannot be used: %s; keeping the old one", exc)
            return False
        self._new_phrases(registry)
        return True

    async def _swap_engine(self, registry: Registry, replies: dict[str, dict[str, str]]) -> None:
        """Build the engine for `registry` beside the deciding one, swap it in at once,
        then bring the model's prompt up to date on the model's thread (only the changed
        end of the device list is evaluated). Raises, changing nothing, if it cannot."""
        assert self.dispatcher is not None
        t0 = time.monotonic()
        old = self.dispatcher.engine
        new = await self.build_worker.run(old.with_registry, registry, replies)
        self.dispatcher.swap_engine(new)
        built_ms = (time.monotonic() - t0) * 1000
        try:
            await self.model_worker.run(new.warm)
        except Exception:  # the new engine is in; its first model request tries again
            _LOG.exception("the model's prompt for the new home failed; trying again later")
            return
        _LOG.info(
            "engine swapped: %d device(s), built in %.0f ms; the model's prompt followed "
            "in %.0f ms more (%d prompt token(s) evaluated)",
            len(registry.devices),
            built_ms,
            (time.monotonic() - t0) * 1000 - built_ms,
            new.model.reevaluated if new.model is not None else 0,
        )

    def _new_phrases(self, registry: Registry) -> None:
        """The speech recognizers' grammar follows the registry."""
        phrases = spoken_phrases(registry)
        for channel in (self.voice, self.mic):
            if channel is not None:
                channel.set_phrases(phrases)

    def _listen_for_answer(self, req: Request | None, outcome: Outcome) -> None:
        """Output: a question asked at this site's microphone is answered without the
        wake phrase, within the follow-up window."""
        if (
            self.mic is not None
            and isinstance(outcome, Intent)
            and outcome.expect_reply
            and outcome.source == "voice"
        ):
            self.mic.listen(self.settings.dialogue.followup_s)

    def _speak_timer(self, event: TimerEvent) -> None:
        """Timer output: a finished timer is spoken here."""
        t = event.timer
        if event.event == "finished" and self.tts is not None and self.dispatcher is not None:
            dialogue = self.dispatcher.dialogue
            assert dialogue is not None
            missed = t.ends_at < self.started_wall
            text = dialogue.timer_reply("timer_missed" if missed else "timer_finished", t, t.lang)
            self._spawn(self.tts.speak(text, "zh" if t.lang == "zh" else "en"))

    def _count_outcome(self, req: Request | None, outcome: Outcome) -> None:
        """Output: the figures of status/detail and the Prometheus endpoint."""
        latency_s = (time.monotonic() - req.received) if req is not None else 0.0
        if isinstance(outcome, Intent):
            self.metrics.request(outcome.source, "intent", outcome.engine, latency_s)
        else:
            self.metrics.request(outcome.source, outcome.error, None, latency_s)
        if self.dispatcher is not None:
            self.metrics.queue_depth(self.dispatcher.depth["open"])

    def _healthy(self, tasks: list[asyncio.Task[None]]) -> bool:
        """The watchdog pings only while every long-lived task runs and no engine call
        is stuck (the pings come from the event loop, so a blocked loop stops them too)."""
        dead = [t.get_name() for t in tasks if t.done() and t.get_name() != "watchdog"]
        if dead:
            _LOG.error("long-lived task(s) ended: %s", ", ".join(dead))
            return False
        stuck = self.dispatcher.stuck(STUCK_AFTER_S) if self.dispatcher else None
        if stuck:
            _LOG.error("engine stuck: %s", stuck)
            return False
        return True

    async def _replay(self, req: Request) -> None:
        assert self.dispatcher is not None
        await self.dispatcher.enqueue(req)

    async def _publish_tts_audio(self, wav: bytes) -> None:
        assert self.link is not None
        self.link.publish(self.topics.tts_audio, wav, qos=0)

    async def _serial_line(self, line: bytes, truncated: bool) -> bytes:
        """One serial line in, one JSON line (intent or error) back."""
        assert self.dispatcher is not None
        enc = self.settings.serial.encoding
        if enc.lower().replace("-", "") != "utf8":
            # Undecodable lines stay as they are: the dispatcher answers not_utf8.
            with contextlib.suppress(UnicodeDecodeError):
                line = line.decode(enc).encode("utf-8")
        outcome = await self.dispatcher.submit(line, "serial", truncated=truncated)
        assert outcome is not None  # only MQTT redeliveries are dropped as answered
        return outcome.model_dump_json().encode("utf-8")

    async def _answer(
        self,
        payload: bytes,
        source: Source,
        ack: Callable[[], None] | None = None,
        via: Via | None = None,
    ) -> None:
        assert self.dispatcher is not None
        await self.dispatcher.submit(payload, source, ack=ack, via=via)

    def status_payload(self, state: str | None = None) -> bytes:
        assert self.dispatcher is not None
        llm = self.settings.llm
        body = {
            "state": state
            or (
                "stopping"
                if not self.dispatcher.accepting
                else "online"
                if self.serving
                else "starting"
            ),
            "queue": self.dispatcher.depth,
            "reload_error": self.reload_error,
            "metrics": self.metrics.snapshot(),
            "version": __version__,
            "site": self.settings.site_id,
            "model": llm.model_path.name if llm.enabled and llm.model_path else None,
            **self.dispatcher.stats.snapshot(),
        }
        return json.dumps(body).encode()

    async def _status_task(self) -> None:
        assert self.link is not None
        while True:
            self.link.publish(self.topics.state, self.status_payload(), retain=True, qos=1)
            await asyncio.sleep(STATUS_EVERY_S)

    async def reload(self) -> None:
        """SIGHUP: re-read the config; apply devices, replies and topics, keep the models."""
        assert self.dispatcher is not None and self.link is not None
        self.notifier.reloading("reloading the config")
        try:
            new = load_settings(self.config_path)
            problems = model_problems(new)
            if problems:
                raise ConfigError(problems)
        except ConfigError as exc:
            for line in exc.problems:
                _LOG.error("reload refused: %s", line)
            self.reload_error = "; ".join(exc.problems)
            self.notifier.ready("reload refused; serving with the old config")
            return
        old = self.settings
        old_ids = {d.id for d in old.devices}
        new_ids = {d.id for d in new.devices}
        registry = home_registry(new)
        if self.home is not None:
            # The config's devices with those the broker told about.
            self.home.configure(new)
            registry = self.home.registry()
        try:
            await self._swap_engine(registry, dict(new.replies))
        except Exception as exc:  # the engine is unchanged: all or nothing
            if self.home is not None:
                self.home.configure(old)
            _LOG.error("reload refused: %s; serving with the old config", exc)
            self.reload_error = str(exc)
            self.notifier.ready("reload refused; serving with the old config")
            return
        self.reload_error = None
        self._new_phrases(registry)
        self.dispatcher.area = new.area
        update: dict[str, Any] = {
            "devices": new.devices,
            "areas": new.areas,
            "floors": new.floors,
            "area": new.area,
            "temperature_unit": new.temperature_unit,
            "replies": new.replies,
            "home": new.home,
        }
        if (new.site_id, new.mqtt.prefix) != (old.site_id, old.mqtt.prefix):
            if self.broker is not None and new.mqtt.prefix != old.mqtt.prefix:
                await self.broker.set_prefix(new.mqtt.prefix)  # its ACL names the prefix
            self.topics = Topics(new.mqtt.prefix, new.site_id)
            self.dispatcher.site = new.site_id
            await self.link.retopic(self.topics)
            if self.hass is not None:
                self.hass.renamed(new.site_id, new.mqtt.prefix)
            update["site_id"] = new.site_id
            update["mqtt"] = old.mqtt.model_copy(update={"prefix": new.mqtt.prefix})
            _LOG.info("topics are now %s/%s/...", new.mqtt.prefix, new.site_id)
        self.settings = old.model_copy(update=update)
        # What is still as it was: the rest of [mqtt], the models, channels.
        pending = [
            k
            for k in ("mqtt", "llm", "serial", "asr", "tts", "request", "homeassistant", "hermes")
            if getattr(new, k) != getattr(self.settings, k)
        ]
        _LOG.info(
            "config reloaded: %d device(s) (added %s, removed %s)%s",
            len(new_ids),
            sorted(new_ids - old_ids) or "none",
            sorted(old_ids - new_ids) or "none",
            f"; changes to [{'], ['.join(pending)}] need a restart" if pending else "",
        )
        self.notifier.ready(f"reloaded: {len(new_ids)} devices; serving on {self.topics.text}")


async def run(settings: Settings, config_path: Path | None) -> int:
    return await Daemon(settings, config_path).run()
