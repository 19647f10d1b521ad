"""The embedder and vector-store capabilities: protocols, hooks, errors and the filter rule.

An embedder turns texts into vectors; provider plugins (``embeddings``, ``ollama``, ``openai``)
contribute them through ``pygent_embedders`` and anyone asks the ``embeddings`` registry for one
by name::

    embedder = self.context.service(EMBEDDER, name="st:minilm")   # None: the configured default
    vectors = await embedder.embed(["some text"])                 # (n, dimension), normalized

A vector store keeps vectors in named collections; each store plugin (``faiss``, ``pgvector``,
``chroma``) answers ``pygent_vector_store`` for its own name::

    store = self.context.service(VECTOR_STORE, name="faiss")      # None: the first enabled store
    await store.create_collection("docs", 384)
    await store.upsert("docs", ids, vectors, metadata)
    hits = await store.search("docs", vector, k=5, filter={"doc_id": ["a", "b"]})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from .errors import PygentError
from .health import PluginStatus
from .markers import hookspec
from .services import ServiceKey

Metric = Literal["cosine", "ip", "l2"]
"""How vectors compare: cosine similarity, inner product, or (negated) Euclidean distance."""
Vectors = Sequence[Sequence[float]]
"""Rows of floats: a list of lists, or a 2-D numpy float32 array of shape (n, dimension)."""
Filter = Mapping[str, Any]
"""Metadata filter: every key must match; a scalar value means equal, a list means any of."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-size vectors.

    ``name`` is ``provider:model`` (``st:minilm``); ``dimension`` is the vector size, 0 while
    unknown (a remote model before its first call). ``embed`` returns one row per text, in order,
    L2-normalized where the provider can, and never blocks the event loop.
    """

    name: str
    dimension: int

    async def embed(self, texts: Sequence[str]) -> Vectors: ...


@dataclasses.dataclass(frozen=True, slots=True)
class VectorHit:
    """One search result: the stored id, its similarity score (higher is closer) and metadata.

    Scores: cosine similarity in [-1, 1] for ``cosine``, the inner product for ``ip``, the
    negated squared distance for ``l2``.
    """

    id: str
    score: float
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A collection of a store: its vector size, metric, row count and backend details."""

    name: str
    dimension: int
    metric: Metric = "cosine"
    count: int = 0
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Backend specifics, e.g. ``{"index": "HNSW32,Flat", "trained": True, "device": "cpu"}``."""


@runtime_checkable
class VectorStore(Protocol):
    """Vectors under string ids in named collections, with metadata and nearest-neighbour search.

    Every method is safe to call concurrently and keeps blocking work off the event loop. A
    call that returns has committed (where the backend persists).
    """

    name: str
    """The store's name (``faiss``, ``pgvector``, ``chroma``): what ``VECTOR_STORE`` looks up."""

    async def create_collection(
        self, name: str, dimension: int, *, metric: Metric = "cosine",
        options: Mapping[str, Any] | None = None,
    ) -> CollectionInfo:
        """Create ``name``, or return it when it exists with the same dimension and metric.

        Raises :class:`DimensionMismatch` when it exists with another dimension or metric.
        ``options`` are backend-specific (FAISS: ``{"index": "hnsw"}``); unknown keys are errors.
        """
        ...

    async def collections(self) -> list[CollectionInfo]: ...

    async def get_collection(self, name: str) -> CollectionInfo:
        """The collection, or :class:`UnknownCollection` listing the ones that exist."""
        ...

    async def drop_collection(self, name: str) -> bool:
        """Delete a collection and all its vectors; False when there was none."""
        ...

    async def upsert(
        self, collection: str, ids: Sequence[str], vectors: Vectors,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Store each vector under its id, replacing what an id held before.

        Raises ``ValueError`` when the lengths differ and :class:`DimensionMismatch` when a
        vector's size is not the collection's. Metadata values are JSON scalars or lists.
        """
        ...

    async def search(
        self, collection: str, vector: Sequence[float], k: int = 5, filter: Filter | None = None,
    ) -> list[VectorHit]:
        """The ``k`` nearest vectors, best first, among those matching ``filter``."""
        ...

    async def delete(
        self, collection: str, ids: Sequence[str] | None = None, filter: Filter | None = None,
    ) -> int:
        """Delete the given ids, or every row matching ``filter`` (one of the two); return how
        many went."""
        ...

    async def count(self, collection: str, filter: Filter | None = None) -> int: ...

    async def stats(self) -> dict[str, Any]:
        """Figures for people: collections, rows, bytes on disk, device, ..."""
        ...


def matches(metadata: Mapping[str, Any], filter: Filter | None) -> bool:
    """Whether ``metadata`` satisfies ``filter``: every key present and equal to the filter's
    value, or, when the filter's value is a list, equal to one of its items."""
    if not filter:
        return True
    for key, wanted in filter.items():
        if key not in metadata:
            return False
        value = metadata[key]
        if isinstance(wanted, (list, tuple, set, frozenset)):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def check_rows(
    ids: Sequence[str], vectors: Vectors, metadata: Sequence[Mapping[str, Any]] | None,
    what: str = "upsert()",
) -> None:
    """Raise ``ValueError`` unless ``ids``, ``vectors`` and ``metadata`` (when given) are equally
    long: what every store's ``upsert`` checks first; ``what`` names the call in the message."""
    if len(ids) != len(vectors) or (metadata is not None and len(metadata) != len(ids)):
        raise ValueError(
            f"{what} got {len(ids)} ids, {len(vectors)} vectors and "
            f"{'no' if metadata is None else len(metadata)} metadata entries; they must match"
        )


def own_store(
    store: VectorStore | None, name: str | None, plugin: str, plugins: Sequence[PluginStatus],
) -> VectorStore | None:
    """What a store plugin answers to ``pygent_vector_store(name)``: its ``store`` when ``name``
    is the store's name, or when ``name`` is None and ``plugin`` is :func:`first_store`; else None::

        return own_store(self.store, name, self.context.name, self.context.plugins())
    """
    if store is None:
        return None
    if name is None:  # only the first store answers: pluggy asks the last registered first
        return store if first_store(plugins) == plugin else None
    return store if name == store.name else None


def first_store(plugins: Sequence[PluginStatus]) -> str | None:
    """The plugin that answers ``pygent_vector_store(None)``: the first running ``vector-store``
    provider in the kernel's order (that of plugins.toml: stores need nothing of each other).
    Pluggy calls the newest registration first, so each store checks this (:func:`own_store`)."""
    return next((p.name for p in plugins
                 if VECTOR_STORE.provider in p.provides and p.state == "running"), None)


class VectorError(PygentError):
    """A request a vector store or embedder cannot honour."""


class UnknownCollection(VectorError, LookupError):
    """No collection has this name; the message lists those that exist."""


class DimensionMismatch(VectorError, ValueError):
    """Vectors of one size met a collection (or embedder) of another; the message names both."""


class UnknownEmbedder(VectorError, LookupError):
    """No provider answers to this embedder name; the message lists the available names."""


class EmbeddingHooks:
    """Hooks of the embedder capability; the ``embeddings`` plugin registers them."""

    @hookspec
    def pygent_embedders(self) -> list[Embedder]:
        """Contribute embedders, each named ``provider:model`` (e.g. ``st:minilm``).

        Implemented by provider plugins (``embeddings``, ``ollama``, ``openai``). Return cheap
        objects: load weights or connect on the first ``embed``, never here.

        :return: The provider's embedders.
        """

    @hookspec(firstresult=True)
    def pygent_embedder(self, name: str | None) -> Embedder | None:
        """Return the embedder called ``name`` (None: the configured default).

        :param name: ``provider:model`` or an alias from ``[embeddings] aliases``; None for the
            default.

        Answered by the embeddings plugin; raises :class:`UnknownEmbedder` listing the names.
        """


class VectorStoreHooks:
    """Hooks of the vector-store capability. Several plugins provide it, so each registers these
    specs with :func:`pygent_sdk.plugin.add_hookspecs_once`."""

    @hookspec(firstresult=True)
    def pygent_vector_store(self, name: str | None) -> VectorStore | None:
        """Return this plugin's store when ``name`` is its name or None, else None.

        Implemented by each vector-store plugin (``faiss``, ``pgvector``, ``chroma``); with
        ``name=None`` only the first running store in plugins.toml answers (see
        :func:`first_store`).

        :param name: A store's name, or None for the first one.
        """


EMBEDDER: ServiceKey[Embedder] = ServiceKey("pygent_embedder", Embedder, provider="embedder")
"""An embedder by name: ``context.service(EMBEDDER, name="st:minilm")`` (None: the default)."""
VECTOR_STORE: ServiceKey[VectorStore] = ServiceKey(
    "pygent_vector_store", VectorStore, provider="vector-store"
)
"""A vector store by name: ``context.service(VECTOR_STORE, name="faiss")`` (None: the first)."""
