"""Deterministic doubles of the knowledge and tool capabilities, for tests without models.

- :class:`HashEmbedder`: texts -> normalized vectors by feature hashing of their words; texts
  sharing words are close, the same text always gives the same vector.
- :class:`InMemoryVectorStore`: exact cosine search over a dict, with upsert and metadata filters.
- :class:`FakeTool`: a tool whose answer you choose, recording every call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..chat import ToolSpec
from ..tools import ToolResult
from ..vectors import (
    CollectionInfo, DimensionMismatch, Filter, Metric, UnknownCollection, VectorHit, check_rows,
    matches,
)

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
    """A :class:`~pygent_sdk.VectorStore` in dicts: exact search (ties by id), upsert and metadata
    filters per collection; what a store plugin's contract tests compare against."""

    name = "memory"

    def __init__(self) -> None:
        self._collections: dict[str, CollectionInfo] = {}
        self._rows: dict[str, dict[str, tuple[list[float], dict[str, Any]]]] = {}

    async def create_collection(
        self, name: str, dimension: int, *, metric: Metric = "cosine",
        options: Mapping[str, Any] | None = None,
    ) -> CollectionInfo:
        if options:
            raise ValueError(f"the memory store takes no options, got {sorted(options)}")
        found = self._collections.get(name)
        if found is not None:
            if (found.dimension, found.metric) != (dimension, metric):
                raise DimensionMismatch(
                    f"collection {name!r} holds {found.dimension}-dimensional {found.metric} "
                    f"vectors, not {dimension}-dimensional {metric} ones"
                )
            return await self.get_collection(name)
        self._collections[name] = CollectionInfo(name, dimension, metric)
        self._rows[name] = {}
        return self._collections[name]

    async def collections(self) -> list[CollectionInfo]:
        return [await self.get_collection(n) for n in sorted(self._collections)]

    async def get_collection(self, name: str) -> CollectionInfo:
        if name not in self._collections:
            raise UnknownCollection(f"no collection {name!r}; there are: {sorted(self._collections)}")
        return dataclasses.replace(self._collections[name], count=len(self._rows[name]))

    async def drop_collection(self, name: str) -> bool:
        self._rows.pop(name, None)
        return self._collections.pop(name, None) is not None

    async def upsert(
        self, collection: str, ids: Sequence[str], vectors: Sequence[Sequence[float]],
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        info = await self.get_collection(collection)
        check_rows(ids, vectors, metadata)
        for vector in vectors:
            if len(vector) != info.dimension:
                raise DimensionMismatch(
                    f"a {len(vector)}-dimensional vector cannot go into collection {collection!r} "
                    f"of {info.dimension} dimensions"
                )
        rows = self._rows[collection]
        for i, (key, vector) in enumerate(zip(ids, vectors)):
            rows[key] = ([float(x) for x in vector], dict(metadata[i]) if metadata is not None else {})

    def _score(self, metric: str, a: Sequence[float], b: Sequence[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b))
        if metric == "ip":
            return dot
        if metric == "l2":
            return -sum((x - y) ** 2 for x, y in zip(a, b))
        norms = (math.sqrt(sum(x * x for x in a)) or 1.0) * (math.sqrt(sum(y * y for y in b)) or 1.0)
        return dot / norms

    async def search(
        self, collection: str, vector: Sequence[float], k: int = 5, filter: Filter | None = None,
    ) -> list[VectorHit]:
        info = await self.get_collection(collection)
        hits = [
            VectorHit(key, self._score(info.metric, vector, stored), meta)
            for key, (stored, meta) in self._rows[collection].items() if matches(meta, filter)
        ]
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:k]

    async def delete(
        self, collection: str, ids: Sequence[str] | None = None, filter: Filter | None = None,
    ) -> int:
        await self.get_collection(collection)
        rows = self._rows[collection]
        if ids is None and not filter:
            raise ValueError("delete() needs ids or a filter")
        doomed = [k for k in (ids if ids is not None else list(rows)) if k in rows and matches(rows[k][1], filter)]
        for key in doomed:
            del rows[key]
        return len(doomed)

    async def count(self, collection: str, filter: Filter | None = None) -> int:
        await self.get_collection(collection)
        return sum(1 for _, meta in self._rows[collection].values() if matches(meta, filter))

    async def stats(self) -> dict[str, Any]:
        return {"store": self.name, "collections": len(self._collections),
                "vectors": sum(len(r) for r in self._rows.values())}


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
