"""The deciding parts, built from the settings: the registry, the intent engine (with its
model) and the dialogue around it; and the swap of a new engine when the home changes.

`dialogd run`, `ask`, `eval` and `bench` all build them here, so that each decides the
way the daemon does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from daemon.config.settings import Settings
from daemon.dialogue.manager import Dialogue
from daemon.dialogue.timers import TimerBook
from daemon.home.catalog import Home
from daemon.home.registry import Registry
from daemon.pipeline.dispatcher import Dispatcher, Limits
from daemon.pipeline.journal import Journal
from daemon.pipeline.workers import ThreadWorker
from daemon.understanding.engine import IntentEngine
from daemon.understanding.llm import LlamaEngine

_LOG = logging.getLogger(__name__)


def home_registry(settings: Settings) -> Registry:
    """The registry of the config's own devices, areas and floors."""
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


def build_dispatcher(settings: Settings, engine: IntentEngine, worker: ThreadWorker) -> Dispatcher:
    """The daemon's request path: the journal under the state directory, the limits of
    `[request]`, and the dialogue around the engine."""
    r = settings.request
    journal = Journal(
        settings.state_dir / "journal.jsonl", r.dedupe_window, window_s=r.dedupe_window_s
    )
    limits = Limits(r.max_chars, r.queue_size, r.max_age_s)
    dialogue = build_dialogue(settings, engine)
    return Dispatcher(settings.site_id, engine, journal, limits, settings.area, worker, dialogue)


class EngineSwap:
    """New devices or replies: the engine for them is built on a thread of its own,
    beside the one deciding, and swapped in at once; then the model's prompt follows on
    the model's thread (only the changed end of the device list is evaluated)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        model_worker: ThreadWorker,
        replies: Callable[[], dict[str, dict[str, str]]],
    ) -> None:
        self.dispatcher = dispatcher
        self.model_worker = model_worker
        self.replies = replies  # the running config's: a reload may change them
        self.build_worker = ThreadWorker("rebuild")
        # Told of every registry swapped in (the recognisers' grammar, status/detail).
        self.followers: list[Callable[[Registry], None]] = []

    async def apply_home(self, home: Home, registry: Registry) -> bool:
        """A new home from the broker: the engine learns it, all or nothing (HomeLive's
        ApplyHome); False keeps the old one."""
        try:
            await self(registry, self.replies())
        except Exception as exc:
            _LOG.error("the home from the broker cannot be used: %s; keeping the old one", exc)
            return False
        return True

    async def __call__(self, registry: Registry, replies: dict[str, dict[str, str]]) -> None:
        """Raises, changing nothing, if the new engine cannot be built."""
        t0 = time.monotonic()
        old = self.dispatcher.engine
        new = await self.build_worker.run(old.with_registry, registry, replies)
        self.dispatcher.swap_engine(new)
        for follow in self.followers:
            follow(registry)
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

    def close(self) -> None:
        self.build_worker.close()
