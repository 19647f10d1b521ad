"""SelfConsistency: sample chains of thought concurrently and take the majority answer."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import anyio
from pygent_sdk import ChatMessage, ChatOptions, Usage
from pygent_sdk.guard import guarded_reply
from pygent_sdk.models import CHAT_MODEL
from pygent_sdk.reasoning import (
    REPLY_STOPS, BaseTask, ChainResult, CotFinished, InvalidProblem, Problem, Proposal,
    ReasoningError, ReasoningTask, UnknownTask, collect_tasks,
)


class DirectTask(BaseTask):
    """The task of a problem that names none: a generic prompt, the ``Answer:`` line extracted,
    else the reply's last line. It answers in one call only: there is nothing to search."""

    name = "direct"
    description = "Any question, answered in one call (chain-of-thought or direct)."
    depth = 1

    def _no_search(self) -> ReasoningError:
        return ReasoningError("Task 'direct' answers in one call and cannot be searched; use task 'open'.")

    def propose_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        raise self._no_search()

    def parse_proposals(self, problem: Problem, state: str, text: str) -> list[Proposal]:
        raise self._no_search()

    def value_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        raise self._no_search()

    def is_final(self, problem: Problem, state: str) -> bool:
        return True

    def extract_answer(self, problem: Problem, text: str) -> str | None:
        answer = super().extract_answer(problem, text)
        if answer is None:  # small models often forget the "Answer:" line
            lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
            answer = " ".join(lines[-1].split())[:300].strip(" .") if lines else None
        return answer or None


def majority(answers: Sequence[str | None]) -> tuple[str | None, int]:
    """The most frequent answer that is not None and its count; a tie goes to the first seen;
    (None, 0) when no chain gave an answer."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None, 0
    best = max(counts.values())
    winner = next(a for a in answers if a is not None and counts[a] == best)
    return winner, best


def confidence(votes: int, samples: int, verified: bool | None) -> float:
    """The verifier's verdict where it gave one (1 proven, 0 refuted: the rule of a tree's
    answer), else the agreement, votes / samples."""
    return votes / samples if verified is None else float(verified)


class SelfConsistency:
    """The ``CHAIN_OF_THOUGHT`` service (see :class:`pygent_sdk.reasoning.ChainOfThought`)."""

    def __init__(self, context: Any, config: Any) -> None:
        self.context = context
        self.config = config
        self.direct = DirectTask()
        self._tasks: dict[str, ReasoningTask] | None = None

    def task(self, name: str | None) -> ReasoningTask:
        """The task ``name`` from the ``pygent_reasoning_tasks`` hook, collected on first use
        (None: :class:`DirectTask`)."""
        if name is None:
            return self.direct
        if self._tasks is None:
            self._tasks = collect_tasks(self.context.hook, self.context.log)
        tasks = self._tasks
        if name not in tasks:
            known = ", ".join(sorted(tasks)) or "none (enable the tot plugin)"
            raise UnknownTask(f"No reasoning task {name!r}; tasks: {known}.")
        return tasks[name]

    async def solve(
        self, problem: str, *, task: str | None = None, samples: int | None = None,
        chain: bool = True, model: str | None = None, temperature: float | None = None,
        context: str = "",
    ) -> ChainResult:
        """Sample ``samples`` chains (default ``[cot] samples``) and vote; see the protocol."""
        samples = self.config.samples if samples is None else samples
        if samples < 1:
            raise InvalidProblem(f"Chain-of-thought needs at least 1 sample, not {samples}.")
        if not problem or not problem.strip():
            raise InvalidProblem("Chain-of-thought: the problem is empty.")
        solver = self.task(task)
        checked = solver.problem(problem, context)
        chat = self.context.service(CHAT_MODEL, name=model or self.config.model)
        options = ChatOptions(
            max_tokens=self.config.max_tokens, stop=REPLY_STOPS,
            temperature=self.config.temperature if temperature is None else temperature,
        )
        messages = solver.direct_messages(checked, chain=chain)
        replies: list[tuple[str, Usage]] = [("", Usage())] * samples
        limiter = anyio.Semaphore(self.config.concurrency)
        start = time.perf_counter()

        async def sample(index: int) -> None:
            async with limiter:
                replies[index] = await guarded_reply(chat, messages, options)

        async with anyio.create_task_group() as group:
            for index in range(samples):
                group.start_soon(sample, index)
        answers = tuple(solver.extract_answer(checked, text) for text, _ in replies)
        answer, votes = majority(answers)
        usage = sum((u for _, u in replies), Usage())
        seconds = time.perf_counter() - start
        verified = solver.verify(checked, answer) if answer is not None else None
        result = ChainResult(
            problem=checked.text, task=solver.name, answer=answer, votes=votes, samples=samples,
            confidence=confidence(votes, samples, verified), answers=answers,
            chains=tuple(t for t, _ in replies), verified=verified, usage=usage, seconds=seconds,
        )
        await self.context.bus.publish(CotFinished(
            task=solver.name, samples=samples, votes=votes, confidence=result.confidence,
            seconds=seconds, source=self.context.name,
        ))
        return result
