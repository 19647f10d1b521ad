"""tools: safe built-in tools for agents: ``calculator`` and ``current_time``."""

from __future__ import annotations

import ast
import datetime
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pygent_sdk import Plugin, Tool, ToolResult, ToolSpec, hookimpl

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "min": min, "max": max,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "log": math.log, "exp": math.exp,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_POWER = 10_000


def evaluate(expression: str) -> float | int:
    """Evaluate arithmetic (numbers, + - * / // % **, a few math functions) without ``eval``."""

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > _MAX_POWER:
                raise ValueError(f"exponent {right} is too large")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCTIONS and not node.keywords):
            return _FUNCTIONS[node.func.id](*(walk(a) for a in node.args))
        raise ValueError(f"unsupported element {ast.unparse(node)!r}")

    cleaned = expression.replace("^", "**").replace("×", "*").replace("÷", "/").strip().rstrip("=?")
    return walk(ast.parse(cleaned, mode="eval"))


class Calculator:
    """Evaluates an arithmetic expression."""

    spec = ToolSpec(
        "calculator",
        "Evaluate an arithmetic expression such as 17*23 or sqrt(2)/3. Always use it for arithmetic.",
        {"type": "object", "properties": {"expression": {"type": "string"}},
         "required": ["expression"]},
    )

    async def __call__(self, arguments: Mapping[str, Any]) -> ToolResult:
        expression = str(arguments.get("expression", "")).strip()
        if not expression:
            return ToolResult("calculator needs an expression, e.g. 17*23", is_error=True)
        try:
            value = evaluate(expression)
        except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError) as error:
            return ToolResult(f"cannot evaluate {expression!r}: {error}", is_error=True)
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            value = int(value)
        return ToolResult(str(value))


class CurrentTime:
    """Tells the current date and time."""

    spec = ToolSpec(
        "current_time", "The current date and time, in a time zone such as Europe/Paris (default UTC).",
        {"type": "object", "properties": {"timezone": {"type": "string"}}},
    )

    async def __call__(self, arguments: Mapping[str, Any]) -> ToolResult:
        zone = str(arguments.get("timezone") or "UTC").strip()
        try:
            now = datetime.datetime.now(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            return ToolResult(f"unknown time zone {zone!r}; use a name like Europe/Paris", is_error=True)
        return ToolResult(now.strftime(f"%Y-%m-%d %H:%M:%S {zone}"))


class ToolsPlugin(Plugin):
    """Contributes the built-in tools: calculator and current_time."""

    requires = ("agents",)

    @hookimpl
    def pygent_tools(self) -> list[Tool]:
        return [Calculator(), CurrentTime()]
