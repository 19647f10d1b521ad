"""Deterministic doubles of the knowledge and tool capabilities, for tests without models.

- :class:`HashEmbedder`: texts -> normalized vectors by feature hashing of their words; texts
  sharing words are close, the same text always gives the same vector.
- :class:`InMemoryVectorStore`: exact cosine search over a dict, with upsert and metadata filters.
- :class:`FakeTool`: a tool whose answer you choose, recording every call.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..chat import ToolSpec
from ..tools import ToolResult
from ..vectors import VectorHit

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """An :class:`~pygent_sdk.Embedder` with no model: word counts hashed into ``dimension`` signed
    buckets, L2-normalized (an empty text gives the zero vector)."""

    def __init__(self, dimension: int = 64, *, name: str = "hash") -> None:
        if dimension < 1:
            raise ValueError(f"HashEmbedder dimension must be >= 1, got {dimension}")
        self.name, self.dimension = name, dimension
        self.calls: list[list[str]] = []

    def vector(self, text: str) -> list[float]:
        """The vector of one text."""
        vec = [0.0] * self.dimension
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimension
            vec[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in vec))
        return [x / norm for x in vec] if norm else vec

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [self.vector(t) for t in texts]


class InMemoryVectorStore:
    """A :class:`~pygent_sdk.VectorStore` in a dict: ``add`` upserts, ``search`` ranks by cosine
    similarity (ties by id) and keeps hits whose metadata has every ``filter`` key equal."""

    def __init__(self, dimension: int | None = None) -> None:
        self.dimension = dimension
        self._rows: dict[str, tuple[list[float], dict[str, Any]]] = {}

    async def add(
        self, ids: Sequence[str], vectors: Sequence[Sequence[float]],
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if len(ids) != len(vectors) or (metadata is not None and len(metadata) != len(ids)):
            raise ValueError(
                f"add() got {len(ids)} ids, {len(vectors)} vectors and "
                f"{'no' if metadata is None else len(metadata)} metadata entries; they must match"
            )
        for i, (key, vector) in enumerate(zip(ids, vectors)):
            if self.dimension is None:
                self.dimension = len(vector)
            if len(vector) != self.dimension:
                raise ValueError(f"vector for {key!r} has {len(vector)} dimensions, the store {self.dimension}")
            self._rows[key] = (list(vector), dict(metadata[i]) if metadata is not None else {})

    async def search(
        self, vector: Sequence[float], k: int = 5, filter: Mapping[str, Any] | None = None
    ) -> list[VectorHit]:
        query_norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        hits = []
        for key, (stored, meta) in self._rows.items():
            if filter and any(meta.get(f) != v for f, v in filter.items()):
                continue
            norm = math.sqrt(sum(x * x for x in stored)) or 1.0
            score = sum(a * b for a, b in zip(vector, stored)) / (norm * query_norm)
            hits.append(VectorHit(key, score, meta))
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:k]

    async def delete(self, ids: Sequence[str]) -> None:
        for key in ids:
            self._rows.pop(key, None)

    async def count(self) -> int:
        return len(self._rows)


class FakeTool:
    """A :class:`~pygent_sdk.Tool` answering ``reply`` (a string, a ToolResult, or a function of the
    arguments); ``calls`` records every call's arguments."""

    def __init__(
        self, name: str, reply: str | ToolResult | Callable[[Mapping[str, Any]], str | ToolResult] = "ok",
        *, description: str = "A test tool.", parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self.spec = ToolSpec(name, description, dict(parameters or {
            "type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"],
        }))
        self.calls: list[dict[str, Any]] = []
        self._reply = reply

    async def __call__(self, arguments: Mapping[str, Any]) -> ToolResult:
        self.calls.append(dict(arguments))
        reply = self._reply(arguments) if callable(self._reply) else self._reply
        return reply if isinstance(reply, ToolResult) else ToolResult(str(reply))
