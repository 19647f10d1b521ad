"""ChromaStore: the VectorStore protocol on an embedded chroma ``PersistentClient``.

A collection is a chroma collection of the same name whose metadata holds ``hnsw:space`` (the
metric) and ``pygent:dimension``; collections made by other chroma programs are used as they
are (metric from their HNSW space, chroma's default being l2; dimension from chroma). Vectors
are always given, never embedded by chroma. Every chroma call runs in a worker thread; writes
one at a time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from pygent_sdk.vectors import (
    CollectionInfo, DimensionMismatch, Filter, Metric, UnknownCollection, VectorError, VectorHit, Vectors,
    check_rows,
)

from .codec import NoMatch, decode, encode, where

METRICS = ("cosine", "ip", "l2")
DIMENSION_KEY = "pygent:dimension"
OPTIONS = {"ef_construction": "hnsw:construction_ef", "ef_search": "hnsw:search_ef", "max_neighbors": "hnsw:M"}
"""Collection options -> chroma's HNSW metadata keys."""
_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{1,510})[a-zA-Z0-9]$")


def score(metric: str, distance: float) -> float:
    """The SDK's score from chroma's distance (cosine and ip: 1 - similarity; l2: squared)."""
    return -distance if metric == "l2" else 1.0 - distance


def _replacing(old: Mapping[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """``new`` plus None for each key only ``old`` has, so that chroma's merge replaces."""
    merged = {**dict.fromkeys(old or {}), **(new or {})}
    return merged or None


def check_name(name: str) -> str:
    """``name`` when chroma accepts it as a collection name, else VectorError saying the rule."""
    if not _NAME.match(name) or ".." in name:
        raise VectorError(
            f"chroma collection names are 3-512 characters of [a-zA-Z0-9._-] starting and ending "
            f"with a letter or digit; {name!r} is not one"
        )
    return name


class ChromaStore:
    """Collections of one chroma ``PersistentClient``; a call that returns has been written."""

    name = "chroma"

    def __init__(self, client: Any, path: Path) -> None:
        self.client = client
        self.path = path
        self._write = anyio.Lock()

    @classmethod
    async def open(cls, path: Path) -> ChromaStore:
        """Open (or create) the chroma database under ``path``, offline, without telemetry."""

        def connect() -> Any:
            import chromadb
            from chromadb.config import Settings

            return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))

        return cls(await anyio.to_thread.run_sync(connect), path)

    # -- collections -------------------------------------------------------------------------

    def _names(self) -> list[str]:
        return sorted(c.name for c in self.client.list_collections())

    def _open(self, name: str) -> Any:
        """The chroma collection, or UnknownCollection listing the names (blocking)."""
        from chromadb.errors import NotFoundError

        try:
            if _NAME.match(name):
                return self.client.get_collection(name, embedding_function=None)
        except NotFoundError:
            pass
        raise UnknownCollection(f"chroma has no collection {name!r}; there are: {self._names()}")

    @staticmethod
    def _shape(collection: Any) -> tuple[int, str]:
        """The collection's dimension (0: not known yet) and metric (chroma's default: l2)."""
        metadata = collection.metadata or {}
        hnsw = (collection.configuration_json or {}).get("hnsw") or {}
        metric = metadata.get("hnsw:space") or hnsw.get("space") or "l2"
        return int(metadata.get(DIMENSION_KEY) or getattr(collection._model, "dimension", None) or 0), metric

    def _describe(self, collection: Any) -> CollectionInfo:
        hnsw = (collection.configuration_json or {}).get("hnsw") or {}
        details = {"id": str(collection.id), "index": "hnsw",
                   **{key: hnsw[key] for key in OPTIONS if key in hnsw}}
        return CollectionInfo(collection.name, *self._shape(collection), collection.count(), details)

    async def create_collection(
        self, name: str, dimension: int, *, metric: Metric = "cosine",
        options: Mapping[str, Any] | None = None,
    ) -> CollectionInfo:
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, not {metric!r}")
        if dimension < 1:
            raise ValueError(f"a collection needs at least 1 dimension, not {dimension}")
        unknown = sorted(set(options or {}) - set(OPTIONS))
        if unknown:
            raise ValueError(f"chroma collection options are {list(OPTIONS)}; unknown: {unknown}")
        metadata = {"hnsw:space": metric, DIMENSION_KEY: dimension,
                    **{OPTIONS[key]: int(value) for key, value in (options or {}).items()}}
        check_name(name)

        def create() -> CollectionInfo:
            collection = self.client.get_or_create_collection(name, metadata=metadata, embedding_function=None)
            info = self._describe(collection)
            if (info.dimension not in (0, dimension)) or info.metric != metric:
                raise DimensionMismatch(
                    f"chroma collection {name!r} holds {info.dimension}-dimensional {info.metric} "
                    f"vectors, not {dimension}-dimensional {metric} ones"
                )
            return info

        async with self._write:
            return await anyio.to_thread.run_sync(create)

    async def collections(self) -> list[CollectionInfo]:
        return await anyio.to_thread.run_sync(
            lambda: [self._describe(c) for c in sorted(self.client.list_collections(), key=lambda c: c.name)]
        )

    async def get_collection(self, name: str) -> CollectionInfo:
        return await anyio.to_thread.run_sync(lambda: self._describe(self._open(name)))

    async def drop_collection(self, name: str) -> bool:
        def drop() -> bool:
            try:
                self._open(name)
            except UnknownCollection:
                return False
            self.client.delete_collection(name)
            return True

        async with self._write:
            return await anyio.to_thread.run_sync(drop)

    # -- rows --------------------------------------------------------------------------------

    async def upsert(
        self, collection: str, ids: Sequence[str], vectors: Vectors,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        check_rows(ids, vectors, metadata)

        def write() -> None:
            import numpy as np

            target = self._open(collection)
            dimension, _ = self._shape(target)
            # Repeated ids: the last wins, as if written one after another.
            latest: dict[str, tuple[Any, dict[str, Any] | None]] = {}
            for i, (key, vector) in enumerate(zip(ids, vectors)):
                row = np.asarray(vector, dtype=np.float32).reshape(-1)
                if dimension and row.shape[0] != dimension:
                    raise DimensionMismatch(
                        f"a {row.shape[0]}-dimensional vector cannot go into chroma collection "
                        f"{collection!r} of {dimension} dimensions"
                    )
                if not np.isfinite(row).all():
                    raise ValueError(f"a vector for chroma collection {collection!r} holds NaN or infinity")
                latest[str(key)] = (row, encode(metadata[i]) if metadata is not None else None)
            keys = list(latest)
            step = self.client.get_max_batch_size()
            for start in range(0, len(keys), step):
                batch = keys[start:start + step]
                # Chroma merges an upsert's metadata into the old; a key set to None goes.
                found = target.get(ids=batch, include=["metadatas"])
                old = {key: meta for key, meta in zip(found["ids"], found["metadatas"]) if meta}
                target.upsert(
                    ids=batch, embeddings=np.stack([latest[k][0] for k in batch]),
                    metadatas=[_replacing(old.get(k), latest[k][1]) for k in batch],
                )

        async with self._write:
            await anyio.to_thread.run_sync(write)

    async def search(
        self, collection: str, vector: Sequence[float], k: int = 5, filter: Filter | None = None,
    ) -> list[VectorHit]:
        def query() -> list[VectorHit]:
            import numpy as np

            target = self._open(collection)
            dimension, metric = self._shape(target)
            row = np.asarray(vector, dtype=np.float32).reshape(-1)
            if dimension and row.shape[0] != dimension:
                raise DimensionMismatch(
                    f"a {row.shape[0]}-dimensional query cannot search chroma collection "
                    f"{collection!r} of {dimension} dimensions"
                )
            try:
                clause = where(filter)
            except NoMatch:
                return []
            if k <= 0:
                return []
            found = target.query(
                query_embeddings=row[None, :], n_results=k, where=clause,
                include=["metadatas", "distances", "documents"],
            )
            return [
                VectorHit(key, score(metric, float(distance)), decode(meta, document))
                for key, distance, meta, document in zip(
                    found["ids"][0], found["distances"][0], found["metadatas"][0], found["documents"][0],
                )
            ]

        return await anyio.to_thread.run_sync(query)

    def _matching(self, target: Any, ids: Sequence[str] | None, filter: Filter | None) -> list[str]:
        """The ids of ``target`` among ``ids`` (None: all) that match ``filter`` (blocking)."""
        try:
            clause = where(filter)
        except NoMatch:
            return []
        if ids is not None and not ids:
            return []
        found = target.get(ids=[str(i) for i in ids] if ids is not None else None, where=clause, include=[])
        return list(found["ids"])

    async def delete(
        self, collection: str, ids: Sequence[str] | None = None, filter: Filter | None = None,
    ) -> int:
        if ids is None and not filter:
            raise ValueError("delete() needs ids or a filter")

        def remove() -> int:
            target = self._open(collection)
            doomed = self._matching(target, ids, filter)
            step = self.client.get_max_batch_size()
            for start in range(0, len(doomed), step):
                target.delete(ids=doomed[start:start + step])
            return len(doomed)

        async with self._write:
            return await anyio.to_thread.run_sync(remove)

    async def count(self, collection: str, filter: Filter | None = None) -> int:
        def tally() -> int:
            target = self._open(collection)
            return target.count() if not filter else len(self._matching(target, None, filter))

        return await anyio.to_thread.run_sync(tally)

    async def stats(self) -> dict[str, Any]:
        import chromadb

        infos = await self.collections()
        size = await anyio.to_thread.run_sync(
            lambda: sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        )
        return {
            "store": self.name,
            "collections": len(infos),
            "vectors": sum(i.count for i in infos),
            "bytes": size,
            "path": str(self.path),
            "chromadb": chromadb.__version__,
            "per_collection": {i.name: {"rows": i.count, "dimension": i.dimension, "metric": i.metric}
                               for i in infos},
        }

    async def ping(self) -> str | None:
        """None when chroma answers, else why not."""
        try:
            await anyio.to_thread.run_sync(self.client.heartbeat)
        except Exception as exc:  # noqa: BLE001 - any failure is the reason to report
            return f"{type(exc).__name__}: {exc}"
        return None
