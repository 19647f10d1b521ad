"""The Embedder and VectorStore capabilities."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into fixed-size vectors."""

    name: str
    dimension: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class VectorHit:
    """One search result: the stored id, its similarity score (higher is closer) and metadata."""

    id: str
    score: float
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    """Stores vectors under ids and finds the nearest ones."""

    async def add(
        self, ids: Sequence[str], vectors: Sequence[Sequence[float]],
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Store each vector under its id, replacing what an id held before (upsert)."""
        ...

    async def search(
        self, vector: Sequence[float], k: int = 5, filter: Mapping[str, Any] | None = None
    ) -> list[VectorHit]:
        """The ``k`` nearest vectors, best first, among those whose metadata matches ``filter``
        (every key equal)."""
        ...

    async def delete(self, ids: Sequence[str]) -> None: ...

    async def count(self) -> int: ...
