"""The files of daemon/data/: words, replies and examples are data, read once each."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any


@cache
def load(name: str) -> dict[str, Any]:
    """The TOML file daemon/data/`name` ("replies.toml", "lang/zh.toml"), parsed once:
    callers share the result, so they read it and never change it."""
    path = resources.files("daemon").joinpath("data", *name.split("/"))
    return tomllib.loads(path.read_text("utf-8"))
