"""Start-up checks that need more than the config: model files, TLS files, and whether
the model's context can hold the registry's prompt (`dialogd check`, `run`, SIGHUP)."""

from __future__ import annotations

from pathlib import Path

from daemon.config.settings import Settings
from daemon.home.registry import Registry
from daemon.mqtt.security import tls_problems
from daemon.understanding.llm import TURN_ROOM, prompt_tokens


def model_problems(s: Settings) -> list[str]:
    """What is wrong with the model files, as config error lines (empty when they look fine)."""
    problems = []
    if s.asr.enabled and (s.asr.model_path is None or not (s.asr.model_path / "am").is_dir()):
        problems.append(
            f"config: asr.model_path: {s.asr.model_path} is not a Vosk model folder "
            "(see models/README.md for small English and Chinese models)"
        )
    if (
        s.asr.enabled
        and s.asr.source == "file"
        and (s.asr.file is None or not s.asr.file.is_file())
    ):
        problems.append(f"config: asr.file: {s.asr.file} does not exist (asr.source = 'file')")
    return problems + tls_problems(s.mqtt) + _llm_problems(s)


def _llm_problems(s: Settings) -> list[str]:
    path = s.llm.model_path
    if path is None or not s.llm.enabled:
        return []
    if not path.is_file():
        return [
            f"config: llm.model_path: {path} does not exist "
            "(run `dialogd models fetch`, or point llm.model_path at a GGUF file)"
        ]
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        return [f"config: llm.model_path: {path} is not a GGUF file (bad header {magic!r})"]
    return _context_problems(s, path)


def _context_problems(s: Settings, path: Path) -> list[str]:
    """A registry whose prompt the model's context cannot hold, before anything starts."""
    registry = Registry.from_config(s.devices, s.areas, s.floors, s.temperature_unit)
    need = prompt_tokens(path, registry, s.llm.prompt_budget) + TURN_ROOM
    limit = s.llm.n_ctx or s.llm.max_ctx
    if need <= limit:
        return []
    key = "llm.n_ctx" if s.llm.n_ctx else "llm.max_ctx"
    return [
        f"config: {key}: the prompt for these {len(s.devices)} devices needs a context of "
        f"{need} tokens, more than {limit} (raise {key}, or unset llm.n_ctx to size it "
        "from the registry)"
    ]
