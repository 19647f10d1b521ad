"""Doubles for the rag plugin's tests: an embedder and a vector store provided through the hooks."""

from __future__ import annotations

from typing import Any

from pygent_sdk import Plugin, hookimpl
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
