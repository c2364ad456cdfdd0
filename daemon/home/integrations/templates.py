"""Home Assistant's Jinja2 templates (`command_template`, `*_value_template`), sandboxed.

Templates come from retained discovery messages, so they are rendered in a sandbox with
bounded output; Home Assistant's own filters and functions (`iif`, `states`) are absent,
and a template that uses them fails: a failed template is a payload dialogd cannot read
(or a command it cannot send).
"""

from __future__ import annotations

import operator
from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2.sandbox import SandboxedEnvironment

# Longer templates and outputs are no device's: refuse rather than spend time on them.
MAX_TEMPLATE = 4096
MAX_OUTPUT = 4096
# Repetition ("x" * n, n ** m) is the sandbox's one cheap way to exhaust memory.
MAX_REPEAT = 10_000


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        for side in (left, right):
            if isinstance(side, int | float) and abs(side) > MAX_REPEAT:
                raise OverflowError("operand too large for a template")
        op = operator.mul if operator_ == "*" else operator.pow
        return op(left, right)


_ENV = _Sandbox(autoescape=False)


@lru_cache(maxsize=256)
def _compile(source: str) -> Template | None:
    try:
        return _ENV.from_string(source)
    except Exception:  # any syntax or sandbox error: the template is unusable
        return None


def render(source: str, **variables: Any) -> str | None:
    """The template's output, stripped; None when it is too long or fails to render."""
    if len(source) > MAX_TEMPLATE:
        return None
    template = _compile(source)
    if template is None:
        return None
    try:
        out = template.render(**variables)
    except Exception:  # a template can raise anything (undefined, type, recursion errors)
        return None
    return out.strip() if len(out) <= MAX_OUTPUT else None
