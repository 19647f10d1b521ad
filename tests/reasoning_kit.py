"""Doubles for the cot, pipeline and reasoning-agent tests: a Tree-of-Thought engine that records
its calls, tasks, and a knowledge service over a few passages whose documents can change."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pygent_sdk import ChatMessage, Plugin, Usage, hookimpl
from pygent_sdk.knowledge import DocumentInfo, Passage, RagHooks
from pygent_sdk.plugin import add_hookspecs_once
from pygent_sdk.reasoning import (
    BaseTask, Problem, Proposal, ReasoningHooks, ThoughtNode, TreeResult, TreeSettings,
)
from pygent_sdk.testing import HashEmbedder


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


PASSAGES = [
    ("docs/writing-plugins.md", "Lifecycle", "Plugins start in dependency order: a plugin starts "
     "after the plugins that provide what it requires, and stops in reverse order."),
    ("docs/writing-plugins.md", "Config", "Each plugin declares a Config class; every config key "
     "is validated from its table in plugins.toml."),
    ("docs/events.md", "Publishing", "Events are published on the bus; listeners subscribe to "
     "topic patterns and events are delivered to every matching subscription."),
    ("docs/jobs.md", "Jobs", "Jobs run long background work with progress, cancellation and a "
     "result kept across restarts."),
]


class FakeKnowledge:
    """Retrieves ``passages`` by (twice) their HashEmbedder cosine similarity; ``ingest`` adds one
    (a new document, so the corpus version changes)."""

    def __init__(self) -> None:
        self.embedder = HashEmbedder(4096)
        self.passages = list(PASSAGES)
        self.queries: list[str] = []
        self.ingested_at = time.time()

    def ingest(self, source: str, heading: str, text: str) -> None:
        self.passages.append((source, heading, text))

    async def retrieve(self, query: str, *, k: int = 5, mode: str = "hybrid",
                       collection: str | None = None, filter: Any = None) -> list[Passage]:
        self.queries.append(query)
        q = self.embedder.vector(query)
        scored = []
        for i, (source, heading, text) in enumerate(self.passages):
            v = self.embedder.vector(f"{heading} {text}")
            sim = min(1.0, 2 * sum(a * b for a, b in zip(q, v)))
            scored.append(Passage(f"d{i}:0", f"d{i}", source, 0, 0, len(text), text, sim, heading, sim))
        return sorted(scored, key=lambda p: -p.score)[:k]

    async def documents(self, collection: str | None = None) -> Sequence[DocumentInfo]:
        return [DocumentInfo(f"d{i}", collection or "default", source, 1, len(text), f"h{i}", self.ingested_at)
                for i, (source, _, text) in enumerate(self.passages)]


class FakeRag(Plugin):
    """Provides ``rag`` with ``FakeRag.knowledge`` (set by each test)."""

    provides = ("rag",)
    knowledge: ClassVar[FakeKnowledge] = FakeKnowledge()

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        add_hookspecs_once(pluginmanager, RagHooks)

    @hookimpl
    def pygent_retriever(self, collection: str | None) -> Any:
        return self.knowledge

    @hookimpl
    def pygent_knowledge(self) -> Any:
        return self.knowledge
