"""The Game of 24: reach 24 from four numbers with + - * /, each number used once.

A state is the steps so far, one per line, ``a op b = c (left: x y z)``; the engine never sees
numbers. Arithmetic is exact (``fractions.Fraction``); a proposal that uses a number not left,
or gets a result wrong, is rejected; the verifier parses an expression with ``ast`` (numbers,
+ - * / and parentheses only) and never evaluates code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from fractions import Fraction

from pygent_sdk import ChatMessage
from pygent_sdk.reasoning import BaseTask, InvalidProblem, Problem, Proposal, context_block

from . import game24_prompts as prompts

_NUM = r"-?[0-9]+(?:\.[0-9]+)?(?:/[0-9]+)?"
_MARKER = r"(?:[-*•]\s+|\(?[0-9]+[.)]\s+)?(?:step\s*[0-9]*\s*[:.)]\s*)?"
_STEP = re.compile(rf"^\s*{_MARKER}({_NUM})\s*([-+*/xX])\s*({_NUM})\s*=\s*({_NUM})", re.I)
"""A step line: ``a op b = c`` at the line's start, after an optional "1.", "-", "*" or "Step 1:"."""
_LEFT = re.compile(r"\(left:\s*([^)]*)\)")
_HEADER = re.compile(r"^\s*(?:input\s*:.*|(?:possible next )?steps\s*:?)\s*$", re.I)
"""A line of the prompt's format that is no step and no mistake: ``Input: ...``, ``Steps:``."""
NOT_A_STEP = "not a step of the form a op b = c (left: ...)"
MAX_NOT_STEPS = 8
"""At most this many lines of one reply that are not steps become rejected nodes."""
MAX_NOT_STEP_CHARS = 120
_OPS: dict[str, Callable[[Fraction, Fraction], Fraction]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b,
    "*": lambda a, b: a * b, "/": lambda a, b: a / b,
}
_ASCII = str.maketrans({"−": "-", "–": "-", "×": "*", "÷": "/"})
"""Unicode minus, en dash, times and division signs as ASCII operators."""
_AST_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}

Step = tuple[Fraction, str, Fraction, Fraction]
"""One written step: ``a op b = claimed``."""


def fmt(number: Fraction) -> str:
    """An integer as itself, anything else as a reduced fraction (``7/2``)."""
    if number.denominator == 1:
        return str(number.numerator)
    return f"{number.numerator}/{number.denominator}"


def number(token: str) -> Fraction:
    """An integer, fraction or decimal token as an exact number (integers the fast way)."""
    return Fraction(int(token)) if token.lstrip("-").isdigit() else Fraction(token)


def numbers_of(text: str) -> list[Fraction]:
    """The numbers of a space-separated list."""
    return [number(token) for token in text.split()]


def left_text(numbers: list[Fraction]) -> str:
    return " ".join(fmt(n) for n in sorted(numbers))


def read_step(line: str) -> tuple[str, list[Step]]:
    """The step a line writes (its text and its readings), or ``("", [])`` for no step. An
    unspaced ``a/b/c`` has two readings, ``(a/b) / c`` first and ``a / (b/c)`` second."""
    found = _STEP.match(line.translate(_ASCII))
    if found is None:
        return "", []
    first, op, second, claimed = found.group(1, 2, 3, 4)
    op = "*" if op in "xX" else op
    readings = [(number(first), op, number(second), number(claimed))]
    if op == "/" and "/" in first and "/" not in second:
        top, bottom = first.split("/")
        readings.append((number(top), op, number(f"{bottom}/{second}"), readings[0][3]))
    return found.string[found.start(1):found.end()], readings


def apply(op: str, a: Fraction, b: Fraction) -> Fraction:
    """``a op b`` exactly; ZeroDivisionError for a division by zero."""
    return _OPS[op](a, b)


class Game24(BaseTask):
    """The Game of 24 of the Tree-of-Thought paper, with exact arithmetic and a verifier."""

    name = "game24"
    description = "Reach 24 from four numbers 1-13 with + - * / (\"4 9 10 13\"); verified exactly."
    depth = 3

    def problem(self, text: str, context: str = "") -> Problem:
        given = text.strip()
        tokens = [t for t in re.split(r"[\s,]+", given) if t]
        if len(tokens) != 4:
            raise InvalidProblem(f"Task 'game24': expected four numbers from 1 to 13, "
                                 f"got {len(tokens)} ({given!r}).")
        for token in tokens:
            if not (token.isascii() and token.isdigit()) or not 1 <= int(token) <= 13:
                raise InvalidProblem(f"Task 'game24': {token!r} is not an integer from 1 to 13 "
                                     f"(problem {given!r}).")
        return Problem(" ".join(str(int(t)) for t in tokens), context)

    def left(self, problem: Problem, state: str) -> str:
        """The numbers left after ``state`` as written there (the problem's for the empty state)."""
        found = _LEFT.search(state, state.rfind("\n") + 1) if state else None
        return " ".join(found.group(1).split()) if found else problem.text

    def remaining(self, problem: Problem, state: str) -> list[Fraction]:
        """The numbers left after ``state``."""
        return numbers_of(self.left(problem, state))

    # --- proposals -----------------------------------------------------------------------------

    def propose_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        left = self.left(problem, state)
        return [ChatMessage("user", context_block(problem) + prompts.PROPOSE.format(input=left))]

    def parse_proposals(self, problem: Problem, state: str, text: str) -> list[Proposal]:
        """A proposal per step line; the first ``MAX_NOT_STEPS`` other lines (not blank, not a
        header such as ``Input: ...``) are rejected ones, so the tree shows what the model wrote."""
        left = self.remaining(problem, state)
        found, not_steps = [], 0
        for line in text.splitlines():
            thought, readings = read_step(line)
            if readings:
                found.append(self.step(state, left, thought, readings))
            elif not_steps < MAX_NOT_STEPS and line.strip() and not _HEADER.match(line):
                not_steps += 1
                shown = " ".join(line.split())
                if len(shown) > MAX_NOT_STEP_CHARS:
                    shown = shown[:MAX_NOT_STEP_CHARS - 1] + "…"
                found.append(Proposal(state, shown, NOT_A_STEP))
        return found

    def step(self, state: str, left: list[Fraction], thought: str, readings: list[Step]) -> Proposal:
        """The proposal of one ``a op b = c`` line from the numbers ``left`` after ``state``:
        its first legal reading, else the first reading's rejection."""
        tried = [self.check(state, left, thought, reading) for reading in readings]
        return next((p for p in tried if p.rejected is None), tried[0])

    def check(self, state: str, left: list[Fraction], thought: str, reading: Step) -> Proposal:
        """One reading of a step, checked against the numbers ``left``."""
        a, op, b, claimed = reading
        rest, shown = list(left), left_text(left)
        for operand in (a, b):
            if operand not in rest:
                if operand in left:
                    why = f"uses {fmt(operand)} twice; only one is left ({shown})"
                else:
                    why = f"uses {fmt(operand)}, which is not left ({shown})"
                return Proposal(state, thought, why)
            rest.remove(operand)
        try:
            result = apply(op, a, b)
        except ZeroDivisionError:
            return Proposal(state, thought, f"{fmt(a)} / {fmt(b)} divides by zero")
        if result != claimed:
            why = f"{fmt(a)} {op} {fmt(b)} is {fmt(result)}, not {fmt(claimed)}"
            return Proposal(state, thought, why)
        line = f"{fmt(a)} {op} {fmt(b)} = {fmt(result)} (left: {left_text([*rest, result])})"
        return Proposal(f"{state}\n{line}" if state else line, line)

    # --- evaluation ----------------------------------------------------------------------------

    def value_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        left = self.left(problem, state)
        return [ChatMessage("user", context_block(problem) + prompts.VALUE.format(input=left))]

    # --- final states and answers --------------------------------------------------------------

    def is_final(self, problem: Problem, state: str) -> bool:
        return bool(state) and len(self.left(problem, state).split()) == 1

    def final_answer(self, problem: Problem, state: str) -> str | None:
        """The expression the steps build, e.g. ``(13 - 9) * (10 - 4)`` (the last step's
        parentheses dropped); None before the end."""
        if not self.is_final(problem, state):
            return None
        items = [(n, fmt(n)) for n in numbers_of(problem.text)]
        for line in state.strip().splitlines():
            _, readings = read_step(line)  # written by check(): spaced, one reading
            if not readings:
                return None
            a, op, b, result = readings[0]
            _, first = self.take(items, a)
            _, second = self.take(items, b)
            items.append((result, f"({first} {op} {second})"))
        return items[0][1][1:-1]

    @staticmethod
    def take(items: list[tuple[Fraction, str]], value: Fraction) -> tuple[Fraction, str]:
        """Remove and return the item of ``value`` (``step`` built the state: it is there)."""
        index = next(i for i, (v, _) in enumerate(items) if v == value)
        return items.pop(index)

    def answer_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        """The paper's last step: the CoT prompt with the steps so far, to write the expression."""
        steps = f"\nSteps:\n{state.strip()}" if state.strip() else ""
        prompt = prompts.COT.format(input=problem.text)
        return [ChatMessage("user", context_block(problem) + prompt + steps)]

    def verify(self, problem: Problem, answer: str) -> bool:
        """True iff ``answer`` (``expr`` or ``expr = 24``) uses exactly the four numbers and
        is 24; a right-hand side, when written, must be 24 (``−``, ``×``, ``÷`` read as ASCII)."""
        expression, equals, claimed = answer.translate(_ASCII).partition("=")
        if equals and claimed.lstrip("=").strip().rstrip(".").strip() != "24":
            return False
        expression = expression.strip()
        if not expression or len(expression) > 200:
            return False
        try:
            value, used = evaluate(ast.parse(expression, mode="eval").body)
        except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
            return False
        return sorted(used) == sorted(int(n) for n in problem.text.split()) and value == 24

    def direct_messages(self, problem: Problem, *, chain: bool) -> list[ChatMessage]:
        template = prompts.COT if chain else prompts.STANDARD
        return [ChatMessage("user", context_block(problem) + template.format(input=problem.text))]

    def extract_answer(self, problem: Problem, text: str) -> str | None:
        """The expression of the last ``Answer:`` line, left of ``=``, whitespace collapsed."""
        answer = super().extract_answer(problem, text)
        expression = " ".join(answer.split("=")[0].split()) if answer else ""
        return expression or None

    def render(self, state: str) -> str:
        return "; ".join(state.strip().splitlines()) or "(start)"


def evaluate(node: ast.AST) -> tuple[Fraction, list[int]]:
    """The exact value of an expression tree of integers and + - * /, and the integers it uses;
    ValueError for anything else."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Fraction(node.value), [node.value]
    if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
        left, used_left = evaluate(node.left)
        right, used_right = evaluate(node.right)
        return apply(_AST_OPS[type(node.op)], left, right), used_left + used_right
    raise ValueError(f"not allowed in an answer: {type(node).__name__}")
