"""Doubles for the knowledge tests: an embedder and a vector store provided through the hooks,
and a fake knowledge service (``FakeRag``) for the plugins that retrieve (research, reasoning)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import anyio
from pygent_sdk import Plugin, hookimpl
from pygent_sdk.knowledge import DocumentInfo, Passage, RagHooks
from pygent_sdk.plugin import add_hookspecs_once
from pygent_sdk.testing import HashEmbedder, InMemoryVectorStore
from pygent_sdk.vectors import EmbeddingHooks, VectorStoreHooks


class SpareStore(InMemoryVectorStore):
    """A second in-memory store, named ``spare``."""

    name = "spare"


class Doubles(Plugin):
    """Provides ``embedder`` (HashEmbedder, named ``hash``) and ``vector-store`` (in memory;
    the one named ``spare`` is another).

    ``dimension`` is a class attribute so that a test can restart with another one."""

    provides = ("embedder", "vector-store")
    dimension = 64
    store = InMemoryVectorStore()
    spare = SpareStore()

    def __init__(self, config: Any, context: Any) -> None:
        super().__init__(config, context)
        self.embedder = HashEmbedder(type(self).dimension)

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        add_hookspecs_once(pluginmanager, EmbeddingHooks)
        add_hookspecs_once(pluginmanager, VectorStoreHooks)

    @hookimpl
    def pygent_embedders(self) -> list[Any]:
        return [self.embedder]

    @hookimpl
    def pygent_embedder(self, name: str | None) -> Any:
        return self.embedder

    @hookimpl
    def pygent_vector_store(self, name: str | None) -> Any:
        stores = {"spare": type(self).spare, "memory": type(self).store, None: type(self).store}
        return stores.get(name)


def doubles(dimension: int = 64) -> type[Doubles]:
    """A fresh Doubles class with its own store and embedder dimension."""
    return type("Doubles", (Doubles,), {"dimension": dimension, "store": InMemoryVectorStore(),
                                        "spare": SpareStore()})


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
    """Retrieves ``passages`` (PASSAGES at first) by (twice) their HashEmbedder cosine similarity,
    so a shared word or two passes 0.3. ``queries`` records each query, ``calls`` each
    (query, k, mode, collection); ``ingest`` adds a passage (a new document: the corpus version
    changes); while ``blocking``, each retrieval waits until ``release`` is set."""

    def __init__(self) -> None:
        self.embedder = HashEmbedder(4096)
        self.passages = list(PASSAGES)
        self.queries: list[str] = []
        self.calls: list[tuple[str, int, str, str | None]] = []
        self.ingested_at = time.time()
        self.release = anyio.Event()
        self.blocking = False

    def ingest(self, source: str, heading: str, text: str) -> None:
        self.passages.append((source, heading, text))

    async def retrieve(self, query: str, *, k: int = 5, mode: str = "hybrid",
                       collection: str | None = None, filter: Any = None) -> list[Passage]:
        self.queries.append(query)
        self.calls.append((query, k, mode, collection))
        if self.blocking:
            await self.release.wait()
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
    """Provides ``rag`` with ``FakeRag.knowledge`` (a test sets a fresh one)."""

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
