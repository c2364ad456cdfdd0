"""The requirements of the Home Assistant integrations the tests load (tests/hass_core.py),
read from their manifests, dependencies included. Run with Home Assistant's own Python."""

from __future__ import annotations

import json
from pathlib import Path

import homeassistant  # type: ignore[import-not-found]

LOADED = [
    "frontend",
    "onboarding",
    "api",
    "config",
    "auth",
    "websocket_api",
    "conversation",
    "assist_pipeline",
    "stt",
    "tts",
    "demo",
    "wyoming",
    "mqtt",
    "http",
    "homeassistant",
]


def requirements(names: list[str]) -> list[str]:
    components = Path(homeassistant.__file__).parent / "components"
    seen: set[str] = set()
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        manifest = components / name / "manifest.json"
        if not manifest.is_file():
            continue
        data = json.loads(manifest.read_text())
        found.update(data.get("requirements", []))
        todo += data.get("dependencies", []) + data.get("after_dependencies", [])
    return sorted(found)


if __name__ == "__main__":
    print("\n".join(requirements(LOADED)))
