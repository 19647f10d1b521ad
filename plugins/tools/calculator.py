"""The calculator tool: safe arithmetic, bounded in size and time, evaluated off the event loop."""

from __future__ import annotations

import ast
import math
import operator
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from pygent_sdk import ToolResult, ToolSpec

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
MAX_LENGTH = 500
"""Longest expression accepted, in characters."""
MAX_BITS = 13_000
"""Largest integer a step may produce (about 3,900 digits): no single operation is slow."""
ARITHMETIC = (r"^ ?[-+(]{0,4}[0-9]{1,15}([.][0-9]{1,10})?%?\){0,4}"
              r"( ?([-+*/%^]|\*\*) ?[-+(]{0,4}[0-9]{1,15}([.][0-9]{1,10})?%?\){0,4}){0,10} ?$")
"""What the model may write as the calculator's input (a JSON-schema ``pattern``): numbers,
operators, parentheses, a decimal point, ``%`` after a number for a percentage; no ``=``, no words;
at most 11 numbers of 15 digits, so a looping model cannot write on until ``max_tokens``."""
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%(?!\s*[\d.(])")


def _bits(value: Any) -> int:
    return value.bit_length() if isinstance(value, int) else 0


def _check_size(op: ast.operator, left: Any, right: Any) -> None:
    """Refuse an integer operation whose result would exceed ``MAX_BITS``, before computing it."""
    if isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and right > 0:
        if abs(left) > 1 and (_bits(left) - 1) * right > MAX_BITS:
            raise ValueError(f"the result of {left if _bits(left) < 64 else 'a large number'}**{right} "
                             f"is too large (more than {MAX_BITS} bits)")
    elif isinstance(op, ast.Pow) and abs(right) > MAX_BITS:
        raise ValueError(f"exponent {right} is too large")
    elif isinstance(op, ast.Mult) and _bits(left) + _bits(right) > MAX_BITS:
        raise ValueError(f"the product is too large (more than {MAX_BITS} bits)")


def evaluate(expression: str, *, deadline: float | None = None) -> float | int:
    """Evaluate arithmetic (numbers, + - * / // % **, ``N%`` as a percentage, a few math
    functions) without ``eval``; every intermediate integer stays under ``MAX_BITS`` and
    evaluation stops with ``TimeoutError`` once ``time.monotonic()`` passes ``deadline``."""

    def walk(node: ast.AST) -> Any:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("the calculation took too long")
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            _check_size(node.op, left, right)
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCTIONS and not node.keywords):
            args = [walk(a) for a in node.args]
            if node.func.id == "round" and len(args) > 1 and abs(args[1]) > 100:
                raise ValueError("round() keeps at most 100 digits")
            return _FUNCTIONS[node.func.id](*args)
        raise ValueError(f"unsupported element {ast.unparse(node)!r}")

    if len(expression) > MAX_LENGTH:
        raise ValueError(f"the expression is longer than {MAX_LENGTH} characters")
    cleaned = expression.replace("^", "**").replace("×", "*").replace("÷", "/").strip().rstrip("=?")
    cleaned = _PERCENT.sub(r"(\1/100)", cleaned)
    try:
        tree = ast.parse(cleaned, mode="eval")
    except (RecursionError, MemoryError):
        raise ValueError("the expression is nested too deeply") from None
    value = walk(tree)
    if isinstance(value, complex):
        raise ValueError("the result is not a real number")
    return value


def format_number(value: float | int) -> str:
    """``value`` as a reader expects it: 12 rather than 12.0, 0.3 rather than 0.30000000000000004."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.15g}"
    return str(value)


class Calculator:
    """Evaluates an arithmetic expression in a worker thread, within ``time_limit`` seconds."""

    spec = ToolSpec(
        "calculator",
        "Evaluate an arithmetic expression such as 17*23, (4+6)/2 or 15%*80. Always use it for arithmetic.",
        {"type": "object", "properties": {"expression": {
            "type": "string", "pattern": ARITHMETIC,
            "description": "Numbers and + - * / ** ( ); N% is N/100. No words, no '='.",
        }}, "required": ["expression"]},
    )

    def __init__(self, time_limit: float = 2.0) -> None:
        self.time_limit = time_limit

    async def __call__(self, arguments: Mapping[str, Any]) -> ToolResult:
        expression = str(arguments.get("expression", "")).strip()
        if not expression:
            return ToolResult("calculator needs an expression, e.g. 17*23", is_error=True)
        deadline = time.monotonic() + self.time_limit
        value: float | int | None = None
        try:
            with anyio.move_on_after(self.time_limit):
                value = await anyio.to_thread.run_sync(
                    lambda: evaluate(expression, deadline=deadline), abandon_on_cancel=True
                )
        except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError,
                TimeoutError) as error:
            return ToolResult(f"cannot evaluate {expression!r}: {error}", is_error=True)
        if value is None:
            return ToolResult(
                f"cannot evaluate {expression!r}: it took longer than {self.time_limit:g} s",
                is_error=True,
            )
        return ToolResult(format_number(value))
