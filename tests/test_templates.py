"""Home Assistant templates from discovery messages are untrusted: bounded, never stalling."""

from __future__ import annotations

import time

import pytest

from daemon.home.protocols.templates import render


@pytest.mark.parametrize(
    "source",
    [
        "{{ ('x' * 9999) * 9999 * 9999 }}",
        "{{ [1] * 10000000 }}",
        "{{ 9 ** 9999 }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ range(10000000) | list | length }}",
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "{{ ''.__class__.__mro__ }}",
    ],
)
def test_hostile_templates_are_refused_quickly(source: str) -> None:
    t0 = time.perf_counter()
    out = render(source)
    assert time.perf_counter() - t0 < 1.0
    assert out is None or len(out) < 5000


def test_ordinary_templates_render() -> None:
    assert render("{{ value_json.state }}", value_json={"state": "ON"}) == "ON"
    assert render('{{ {"brightness": value} | tojson }}', value=128) == '{"brightness": 128}'
    assert render("{{ 'ON' if value == '1' else 'OFF' }}", value="1") == "ON"
