"""Base class for config sections, kept apart so that channel modules can define their own
section without importing `daemon.config.settings` (which imports them)."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # Unknown keys are typos more often than not: refuse them rather than ignore them.
    model_config = ConfigDict(extra="forbid", frozen=True)
