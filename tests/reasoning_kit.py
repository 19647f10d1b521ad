"""Doubles for the cot, pipeline and reasoning-agent tests: a Tree-of-Thought engine that records
its calls, tasks, and a knowledge service over a few passages whose documents can change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pygent_sdk import ChatMessage, Plugin, Usage, hookimpl
from pygent_sdk.plugin import add_hookspecs_once
from pygent_sdk.reasoning import (
    BaseTask, Problem, Proposal, ReasoningHooks, ThoughtNode, TreeResult, TreeSettings,
)


class Arithmetic(BaseTask):
    """A task whose verifier knows 17 * 23 = 391 (only the ``Answer:`` line is an answer)."""

    name = "arith"
    description = "Multiply two numbers."

    def propose_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        return [ChatMessage("user", f"Next step for {problem.text}")]

    def parse_proposals(self, problem: Problem, state: str, text: str) -> list[Proposal]:
        return [Proposal(state + text, text)]

    def value_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        return [ChatMessage("user", f"Value {state}")]

    def is_final(self, problem: Problem, state: str) -> bool:
        return True

    def verify(self, problem: Problem, answer: str) -> bool | None:
        return answer == "391"


class Game24(Arithmetic):
    name = "game24"


class Open(Arithmetic):
    name = "open"


class FakeEngine:
    """A TreeSearch that answers ``answer`` with a three-node tree and records each call."""

    def __init__(self, answer: str | None = "42", verified: bool | None = None, confidence: float = 0.8) -> None:
        self.answer, self.verified, self.confidence = answer, verified, confidence
        self.calls: list[dict[str, Any]] = []

    def tasks(self) -> Mapping[str, Any]:
        return {t.name: t for t in (Arithmetic(), Game24(), Open())}

    def settings(self, overrides: Mapping[str, Any] | None = None) -> TreeSettings:
        return TreeSettings(**dict(overrides or {}))

    async def solve(self, problem: str, *, task: str = "open", settings: TreeSettings | None = None,
                    context: str = "", session_id: str | None = None, stop: Any = None) -> TreeResult:
        self.calls.append({"problem": problem, "task": task, "settings": settings, "context": context,
                           "session_id": session_id})
        stopped = "cancelled" if stop is not None and stop() else ("solved" if self.answer else "depth")
        nodes = (ThoughtNode("n0", None, 0, "", ""), ThoughtNode("n1", "n0", 1, "a", "a", "kept", 10.0),
                 ThoughtNode("n2", "n1", 2, "ab", "b", "solution", 20.0, answer=self.answer))
        return TreeResult(session_id or "s", task, problem, self.answer, "n2" if self.answer else None,
                          ("n0", "n1", "n2"), self.verified, nodes, stopped, self.confidence,
                          usage=Usage(10, 5), seconds=0.01)


class FakeTot(Plugin):
    """Provides ``tot``: ``FakeTot.engine`` (set by each test) and its tasks."""

    provides = ("tot",)
    engine: ClassVar[FakeEngine] = FakeEngine()

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        add_hookspecs_once(pluginmanager, ReasoningHooks)

    @hookimpl
    def pygent_tree_search(self) -> Any:
        return self.engine

    @hookimpl
    def pygent_reasoning_tasks(self) -> list[Any]:
        return list(self.engine.tasks().values())


