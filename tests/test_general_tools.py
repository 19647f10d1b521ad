"""The built-in tools: the calculator's bounds, its time limit off the event loop, its input pattern."""

from __future__ import annotations

import re
import time

import anyio
import pytest
from pygent_plugins.agents import AgentsPlugin
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.tools import Calculator, ToolsPlugin, evaluate, format_number
from pygent_plugins.tools import calculator as calculator_module
from pygent_plugins.tools.calculator import ARITHMETIC
from pygent_sdk.testing import PluginHarness

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("expression, shown", [
    ("15%*80", "12"), ("80 * 15%", "12"), ("17 % 5", "2"), ("0.1+0.2", "0.3"), ("10/3", "3.33333333333333"),
    ("-5 + 3", "-2"), ("(4+6)/2", "5"), ("2^10", "1024"), ("123456*789", "97406784"), ("7.5*2", "15"),
])
def test_calculator_values_as_a_reader_expects(expression: str, shown: str) -> None:
    assert format_number(evaluate(expression)) == shown


@pytest.mark.parametrize("expression, error", [
    ("(9**9999)**3000", "too large"), ("2**100000", "too large"), ("9**9**9", "too large"),
    ("(10**3000)*(10**3000)*(10**3000)*(10**3000)*(10**3000)", "product is too large"),
    ("round(2, -1000000)", "at most 100 digits"), ("(-8)**0.5", "not a real number"),
    ("True+1", "unsupported element"), ("1+" * 300 + "1", "longer than 500"),
])
def test_calculator_refuses_costly_or_odd_input_at_once(expression: str, error: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError, match=error):
        evaluate(expression)
    assert time.perf_counter() - start < 0.1


def test_evaluation_stops_at_its_deadline() -> None:
    with pytest.raises(TimeoutError, match="took too long"):
        evaluate("1+1", deadline=time.monotonic() - 1)


async def _ticks_while(call) -> tuple[int, object, float]:  # type: ignore[no-untyped-def]
    """Run ``call()`` while a 50 ms ticker runs; (ticks seen, result, seconds taken)."""
    ticks = 0
    outcome: list[object] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.05)
            ticks += 1

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        start = time.perf_counter()
        outcome.append(await call())
        seconds = time.perf_counter() - start
        group.cancel_scope.cancel()
    return ticks, outcome[0], seconds


async def test_the_loop_keeps_ticking_and_a_slow_calculation_ends_at_the_limit(monkeypatch) -> None:
    def slow(expression: str, *, deadline: float | None = None) -> int:
        time.sleep(5)  # stands for work that outlives the limit; it holds a worker thread only
        return 1

    monkeypatch.setattr(calculator_module, "evaluate", slow)
    ticks, result, seconds = await _ticks_while(lambda: Calculator(time_limit=0.5)({"expression": "1+1"}))
    assert result.is_error and "took longer than 0.5 s" in result.output
    assert 0.45 < seconds < 1.0 and ticks >= 7


async def test_issue_power_tower_is_refused_without_freezing_the_loop() -> None:
    # issue 9 item 5: this froze the event loop for 30 s
    ticks, result, seconds = await _ticks_while(
        lambda: Calculator(time_limit=2)({"expression": "(9**9999)**3000"}))
    assert result.is_error and "too large" in result.output and seconds < 0.5


async def test_tools_config_sets_the_calculator_time_limit() -> None:
    plugins = {"models": ModelsPlugin, "agents": AgentsPlugin, "tools": ToolsPlugin}
    async with PluginHarness(plugins, {"tools": {"calculator_time_limit": 0.25}}) as h:
        calculator = next(t for t in h.kernel.hook.pygent_tools()[0] if t.spec.name == "calculator")
        assert calculator.time_limit == 0.25
    with pytest.raises(Exception, match="calculator_time_limit"):
        async with PluginHarness(plugins, {"tools": {"calculator_time_limit": 0}}):
            pass


@pytest.mark.parametrize("text, ok", [
    ("12*12", True), ("-(3-5)", True), ("15%*80", True), ("2**10", True), ("1.5 + 2", True),
    ("(4+6)/2", True), ("12*12 = 132", False), ("sqrt(2)", False), ("12 times 12", False),
    ("144", True), ("", False), ("1.", False),
    ("1+" * 10 + "1", True), ("1+" * 11 + "1", False), ("9" * 15, True), ("9" * 16, False),
])
def test_the_calculator_input_pattern_admits_arithmetic_only(text: str, ok: bool) -> None:
    assert bool(re.fullmatch(ARITHMETIC.strip("^$"), text)) is ok
    if ok:
        evaluate(text)  # whatever the pattern admits, the calculator reads
