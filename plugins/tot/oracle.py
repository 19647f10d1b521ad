"""Game24Oracle: a checkable Game of 24 "model" for benchmarks and demos (no language model).

The tot plugin offers two (:func:`offered`): ``oracle:game24``, every legal step and an exact
evaluator (a search always solves: the checkable setup), and ``oracle:game24-noisy``, 8 random
steps and an evaluator wrong with probability 0.2 (the benchmark's BFS setting: b=5 solves about
half the puzzles).

It reads the last ``Input: ...`` line of a ``game24`` prompt and answers like a model would:

- a propose prompt ("Possible next steps:"): ``proposals`` legal next steps drawn at random from
  all of them (all when ``proposals`` is None), one ``a op b = c (left: ...)`` line each;
- a value prompt ("Evaluate if given numbers can reach 24"): ``sure`` when the numbers can truly
  reach 24 (an exact, memoised search with fractions), else ``impossible``, the verdict flipped
  with probability ``noise``;
- a vote prompt (``BaseTask.vote_messages``: "Choice i:" blocks, "The best choice is {s}"):
  ``The best choice is N`` for a choice whose numbers left can still reach 24 (drawn at random
  among those), a wrong choice instead with probability ``noise``;
- a direct prompt with an ``Input:`` line (IO and CoT, "... to obtain 24"): a random legal chain
  of steps ending in ``Answer: <expression> = 24``, right or wrong: random play, an honest baseline.

Any other prompt (another task's) raises :class:`~pygent_sdk.models.ModelOperationUnsupported`:
the oracle serves the ``game24`` task only, and its refusal must not pass for an answer.

Steps subtract the smaller number from the larger (no negative numbers) and may divide either
way; that loses no solution of numbers that are not negative (tests check it on every puzzle).
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import AsyncIterator, Sequence
from fractions import Fraction

from pygent_sdk.agents import estimate_tokens
from pygent_sdk.chat import BaseChatModel, ChatChunk, ChatMessage, ChatOptions, ModelProfile, Usage
from pygent_sdk.models import ModelOperationUnsupported

from .tasks.game24 import fmt

Step = tuple[int, int, str, Fraction]
"""Indexes of the two numbers combined, the written operation ("a op b") and its result."""

EXACT = "oracle:game24"
"""Every legal step, an exact evaluator: a search solves every solvable puzzle."""
NOISY = "oracle:game24-noisy"
"""8 random legal steps, an evaluator wrong with probability 0.2 (the benchmark's setting)."""

_CHOICE = re.compile(r"^Choice (\d+):\n(.*?)(?=^Choice \d+:|\Z)", re.M | re.S)
_LEFT = re.compile(r"\(left:\s*([^)]*)\)")
_PROBLEM = re.compile(r"^Problem:(.*)$", re.M)


@functools.lru_cache(maxsize=65536)
def steps(numbers: tuple[Fraction, ...]) -> tuple[Step, ...]:
    """Every legal step on ``numbers``: each pair with +, *, larger - smaller and / either way
    (not by zero); a step written the same way twice (equal numbers) is listed once."""
    found: dict[str, Step] = {}
    for i in range(len(numbers)):
        for j in range(i + 1, len(numbers)):
            (x, xi), (y, yi) = sorted(((numbers[i], i), (numbers[j], j)), reverse=True)
            candidates = [(xi, yi, "+", x + y), (xi, yi, "*", x * y), (xi, yi, "-", x - y)]
            if y:
                candidates.append((xi, yi, "/", x / y))
            if x and x != y:
                candidates.append((yi, xi, "/", y / x))
            for a, b, op, result in candidates:
                found.setdefault(f"{fmt(numbers[a])} {op} {fmt(numbers[b])}", (a, b, op, result))
    return tuple(found.values())


def left_after(numbers: Sequence[Fraction], step: Step) -> tuple[Fraction, ...]:
    """The numbers left once ``step`` is taken, ascending."""
    a, b, _, result = step
    return tuple(sorted([n for k, n in enumerate(numbers) if k not in (a, b)] + [result]))


def step_line(numbers: Sequence[Fraction], step: Step) -> str:
    """``a op b = c (left: x y z)``, the line the ``game24`` task parses."""
    a, b, op, result = step
    left = " ".join(fmt(n) for n in left_after(numbers, step))
    return f"{fmt(numbers[a])} {op} {fmt(numbers[b])} = {fmt(result)} (left: {left})"


@functools.lru_cache(maxsize=None)
def _solvable(numbers: tuple[Fraction, ...]) -> bool:
    if len(numbers) == 1:
        return numbers[0] == 24
    return any(_solvable(left_after(numbers, step)) for step in steps(numbers))


def solvable(numbers: Sequence[Fraction]) -> bool:
    """Whether ``numbers`` can reach exactly 24, each used once (memoised on the sorted set)."""
    return _solvable(tuple(sorted(n if isinstance(n, Fraction) else Fraction(n) for n in numbers)))


def numbers_in(text: str) -> tuple[Fraction, ...] | None:
    """The integers and fractions of a space-separated ``text``; None when a word is not one."""
    try:
        numbers = tuple(Fraction(word) for word in text.split())
    except (ValueError, ZeroDivisionError):
        return None
    return numbers or None


def choices_of(prompt: str) -> list[tuple[int, tuple[Fraction, ...] | None]]:
    """The choices of a vote prompt: each id and the numbers left in it (its last ``(left: ...)``,
    else the ``Problem:`` line's numbers for the start state; None when unreadable)."""
    problem = _PROBLEM.search(prompt)
    start = numbers_in(problem.group(1)) if problem else None
    found = []
    for choice in _CHOICE.finditer(prompt):
        left = _LEFT.findall(choice.group(2))
        found.append((int(choice.group(1)), numbers_in(left[-1]) if left else start))
    return found


def last_input(text: str) -> tuple[Fraction, ...] | None:
    """The numbers of the last ``Input:`` line of ``text``; None without one or when a word
    of it is not an integer or fraction."""
    at = text.rfind("Input:")
    if at < 0:
        return None
    return numbers_in(text[at + len("Input:"):].split("\n", 1)[0])


class Game24Oracle(BaseChatModel):
    """Answers game24 propose, value, vote and direct prompts exactly (with ``noise`` on values
    and votes); refuses any other prompt."""

    profile = ModelProfile(context_length=None, streaming=False)

    def __init__(self, *, proposals: int | None = None, noise: float = 0.0, seed: int | str | None = None,
                 name: str = EXACT) -> None:
        if proposals is not None and proposals < 1:
            raise ValueError(f"{name}: proposals must be at least 1 or None (all), not {proposals}")
        if not 0 <= noise <= 1:
            raise ValueError(f"{name}: noise is a probability (0 to 1), not {noise}")
        self.name = name
        self.proposals = proposals
        self.noise = noise
        steps_said = "every legal step" if proposals is None else f"{proposals} random legal steps"
        values_said = "an exact evaluator" if not noise else f"an evaluator wrong with probability {noise:g}"
        self.description = (f"Checkable Game of 24 stand-in, no language model: {steps_said}, "
                            f"{values_said} (for benchmarks and demos)")
        self.reseed(seed)

    def reseed(self, seed: int | str | None) -> None:
        """Start the random draws over from ``seed`` (None: unpredictable)."""
        self.rng = random.Random(seed)

    def reply(self, prompt: str) -> str:
        """The answer to one game24 prompt (the text of its last message);
        ModelOperationUnsupported for a prompt of another task."""
        if "The best choice is" in prompt and _CHOICE.search(prompt):
            return self.vote(choices_of(prompt))
        numbers = last_input(prompt)
        if numbers is not None:
            if "Possible next steps:" in prompt[prompt.rfind("Input:"):]:
                return self.propose(numbers)
            if "Evaluate if given numbers can reach 24" in prompt:
                return self.value(numbers)
            if "obtain 24" in prompt:
                return self.play(numbers)
        raise ModelOperationUnsupported(
            f"the model {self.name} serves the game24 task only (a checkable Game of 24 stand-in, "
            "no language model): this prompt is not a game24 propose, value, vote or answer prompt "
            "(no 'Input: <numbers>' line); use --task game24 with four numbers, or another model")

    def propose(self, numbers: Sequence[Fraction]) -> str:
        """``proposals`` random legal next steps (all of them when None), one a line."""
        legal = steps(tuple(numbers))
        chosen = legal if self.proposals is None else self.rng.sample(legal, min(self.proposals, len(legal)))
        return "\n".join(step_line(numbers, step) for step in chosen)

    def value(self, numbers: Sequence[Fraction]) -> str:
        """``sure`` or ``impossible``: the truth, flipped with probability ``noise``."""
        verdict = solvable(numbers)
        if self.noise and self.rng.random() < self.noise:
            verdict = not verdict
        return "sure" if verdict else "impossible"

    def vote(self, choices: Sequence[tuple[int, tuple[Fraction, ...] | None]]) -> str:
        """``The best choice is N``: a choice whose numbers can still reach 24, or with
        probability ``noise`` one that cannot (any choice when all are alike)."""
        good = [i for i, numbers in choices if numbers is not None and solvable(numbers)]
        bad = [i for i, _ in choices if i not in good]
        if self.noise and self.rng.random() < self.noise:
            good, bad = bad, good
        pick = self.rng.choice(good or bad) if choices else 1
        return f"The best choice is {pick}"

    def play(self, numbers: Sequence[Fraction]) -> str:
        """A random legal chain of steps and the expression it builds, as ``Answer: ... = 24``."""
        numbers = list(numbers)
        written = [fmt(n) for n in numbers]
        lines = []
        while len(numbers) > 1:
            step = self.rng.choice(steps(tuple(numbers)))
            lines.append(step_line(numbers, step))
            a, b, op, result = step
            expression = f"({written[a]} {op} {written[b]})"
            numbers = [n for k, n in enumerate(numbers) if k not in (a, b)] + [result]
            written = [w for k, w in enumerate(written) if k not in (a, b)] + [expression]
        answer = written[0][1:-1] if written[0].startswith("(") else written[0]
        return "\n".join(["Steps:", *lines, f"Answer: {answer} = 24"])

    async def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        prompt = messages[-1].content if messages else ""
        text = self.reply(prompt)
        yield ChatChunk(text=text)
        usage = Usage(sum(estimate_tokens(m.content) + 4 for m in messages), estimate_tokens(text))
        yield ChatChunk(finish_reason="stop", usage=usage)


def offered() -> list[Game24Oracle]:
    """The chat models ``[tot] oracle`` offers: ``oracle:game24`` and ``oracle:game24-noisy``."""
    return [Game24Oracle(name=EXACT), Game24Oracle(proposals=8, noise=0.2, name=NOISY)]
