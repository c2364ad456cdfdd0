"""Home Assistant's Jinja2 templates (`command_template`, `*_value_template`), sandboxed.

Templates come from retained discovery messages, so they are rendered in a sandbox with
bounded output; Home Assistant's own filters and functions (`iif`, `states`) are absent,
and a template that uses them fails: a failed template is a payload dialogd cannot read
(or a command it cannot send).
"""

from __future__ import annotations

import operator
import re
from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2.sandbox import SandboxedEnvironment

# Longer templates and outputs are no device's: refuse rather than spend time on them.
MAX_TEMPLATE = 4096
MAX_OUTPUT = 4096
# Repetition ("x" * n, n ** m) is the sandbox's one cheap way to exhaust memory.
MAX_REPEAT = 10_000


MAX_EXPONENT = 64
MAX_RANGE = 256
# Loops and macros let a template run for hours on the event loop: a device's payload
# template needs neither.
_BLOCKS = re.compile(r"\{%-?\s*(for|macro|call|recursive)\b")


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        for side in (left, right):
            if isinstance(side, int | float) and abs(side) > MAX_REPEAT:
                raise OverflowError("operand too large for a template")
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise OverflowError("exponent too large for a template")
            return operator.pow(left, right)
        for seq, n in ((left, right), (right, left)):
            sequence = isinstance(seq, str | bytes | list | tuple) and isinstance(n, int)
            if sequence and len(seq) * max(n, 0) > MAX_OUTPUT:
                raise OverflowError("repetition too long for a template")
        return operator.mul(left, right)


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise OverflowError("range too long for a template")
    return r


_ENV = _Sandbox(autoescape=False)
_ENV.globals["range"] = _range


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template | None:
    """The compiled template (cached: templates come with the home, not per message);
    None when it is refused or does not compile."""
    if len(source) > MAX_TEMPLATE or _BLOCKS.search(source):
        return None
    try:
        return _ENV.from_string(source)
    except Exception:  # any syntax or sandbox error: the template is unusable
        return None


def render(source: str, **variables: Any) -> str | None:
    """The template's output, stripped; None when it is too long or fails to render."""
    template = _compile(source)
    if template is None:
        return None
    try:
        out = template.render(**variables)
    except Exception:  # a template can raise anything (undefined, type, recursion errors)
        return None
    return out.strip() if len(out) <= MAX_OUTPUT else None
