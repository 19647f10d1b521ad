"""Scripted models and a plugin stack for the Tree-of-Thought tests: a game24 model that
answers by looking at the prompt (legal steps, exact solvability), and a kernel around it."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable, Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any, ClassVar

import anyio
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.tot import TotPlugin
from pygent_plugins.tot.tasks.game24 import fmt, left_text
from pygent_sdk import ChatChunk, ChatMessage, ChatModel, ChatOptions, Plugin, hookimpl
from pygent_sdk.reasoning import BaseTask, Problem, Proposal, ReasoningTask, context_block
from pygent_sdk.testing import ScriptedChatModel

Script = Callable[[Sequence[ChatMessage], ChatOptions], str]


class Models(Plugin):
    """Offers ``Models.models`` (set by a test) through ``pygent_chat_models``."""

    provides = ("chat-model",)
    models: ClassVar[list[ChatModel]] = []

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        return list(self.models)


def stack(model: ChatModel, **tot: Any) -> tuple[dict[str, type[Plugin]], dict[str, Any]]:
    """Plugins and config of a kernel whose default model is ``model``, [tot] is ``tot``, and a
    third-party plugin contributes the letters tasks."""
    Models.models = [model]
    return ({"models": ModelsPlugin, "scripted": Models, "tot": TotPlugin, "letters": TaskPlugin},
            {"models": {"default": model.name}, "tot": {"oracle": False, **tot}})


def last_input(messages: Sequence[ChatMessage]) -> list[Fraction]:
    found = re.findall(r"Input: (.*)", messages[-1].content)
    return [Fraction(t) for t in found[-1].split()]


@lru_cache(maxsize=None)
def solvable(numbers: tuple[Fraction, ...]) -> bool:
    """Whether ``numbers`` reach 24 exactly."""
    if len(numbers) == 1:
        return numbers[0] == 24
    return any(solvable(tuple(sorted(rest + (c,)))) for _, _, _, c, rest in moves(numbers))


def moves(numbers: tuple[Fraction, ...]) -> list[tuple[Fraction, str, Fraction, Fraction, tuple[Fraction, ...]]]:
    """Every legal step (a, op, b, result, the numbers left besides the result)."""
    found = []
    for i, j in itertools.permutations(range(len(numbers)), 2):
        a, b = numbers[i], numbers[j]
        rest = tuple(n for k, n in enumerate(numbers) if k not in (i, j))
        for op in "+-*/":
            if op in "+*" and i > j or op == "/" and b == 0:
                continue
            c = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0}[op]
            found.append((a, op, b, c, rest))
    return found


def game24_script(*, limit: int = 8, wrong: str = "") -> Script:
    """Proposes up to ``limit`` legal steps (solvable ones first) plus the lines ``wrong``, and
    values states by exact solvability (sure/impossible)."""

    def answer(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
        numbers = tuple(sorted(last_input(messages)))
        if "Possible next steps" in messages[-1].content:
            steps = sorted(moves(numbers), key=lambda m: not solvable(tuple(sorted(m[4] + (m[3],)))))
            lines = [f"{fmt(a)} {op} {fmt(b)} = {fmt(c)} (left: {left_text([*rest, c])})"
                     for a, op, b, c, rest in steps[:limit]]
            return "\n".join([wrong, *lines] if wrong else lines)
        return "sure" if solvable(numbers) else "impossible"

    return answer


def game24_model(**options: Any) -> ScriptedChatModel:
    return ScriptedChatModel(game24_script(**options), name="scripted:game24")


class Letters(BaseTask):
    """A toy task: spell the problem (three of a, b, c) one letter a step. Values, votes and
    answers come from the script, so a test decides where the search goes."""

    name = "letters"
    description = "Spell a word of a, b and c."
    depth = 3

    def propose_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        return [ChatMessage("user", f"propose: {state}")]

    def sample_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        return [ChatMessage("user", f"sample: {state}")]

    def parse_proposals(self, problem: Problem, state: str, text: str) -> list[Proposal]:
        return [Proposal(state + letter, letter, None if letter in "abc" else f"{letter} is not a, b or c")
                for letter in text.split()]

    def value_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        return [ChatMessage("user", f"{context_block(problem)}value: {state}")]

    def is_final(self, problem: Problem, state: str) -> bool:
        return len(state) == 3

    def final_answer(self, problem: Problem, state: str) -> str | None:
        return state

    def verify(self, problem: Problem, answer: str) -> bool | None:
        return answer == problem.text


class Unverified(Letters):
    """Letters with no verifier and answers the model writes (as ``open``)."""

    name = "unverified"

    def final_answer(self, problem: Problem, state: str) -> str | None:
        return None

    def verify(self, problem: Problem, answer: str) -> bool | None:
        return None


class TaskPlugin(Plugin):
    """A third-party plugin contributing tasks."""

    @hookimpl
    def pygent_reasoning_tasks(self) -> list[ReasoningTask]:
        return [Letters(), Unverified()]


def letters_script(values: dict[str, str] | None = None, *, extra: str = "", target: str = "bca") -> Script:
    """Proposes a b c (and ``extra``); values a state by ``values`` (default likely); votes for
    the choice on the way to ``target``; samples a, b, c in turn; answers with the state."""
    turn = itertools.count()

    def answer(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
        text = messages[-1].content
        if text.startswith("propose: "):
            return f"a b c {extra}".strip()
        if text.startswith("sample: "):
            return "abc"[next(turn) % 3]
        if "value: " in text:
            return (values or {}).get(text.rpartition("value: ")[2], "likely")
        if "Choice 1:" in text:
            choices = re.findall(r"Choice (\d+):\n(\w*)", text)
            best = next((i for i, state in choices if target.startswith(state)), "1")
            return f"The best choice is {best}"
        return "Answer: " + text.split("Reasoning so far:\n")[-1].split("\n")[0]

    return answer


class Slow(ScriptedChatModel):
    """A scripted model whose every reply takes ``delay`` seconds; counts calls in flight."""

    def __init__(self, script: Script, delay: float, **options: Any) -> None:
        super().__init__(script, **options)
        self.delay = delay
        self.in_flight = 0
        self.most = 0

    async def stream(self, messages: Sequence[ChatMessage],
                     options: ChatOptions | None = None) -> AsyncIterator[ChatChunk]:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await anyio.sleep(self.delay)
            async for chunk in super().stream(messages, options):
                yield chunk
        finally:
            self.in_flight -= 1
