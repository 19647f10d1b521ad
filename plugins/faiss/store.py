"""The FAISS :class:`~pygent_sdk.vectors.VectorStore`: named collections, each behind a
readers-writer lock, with every faiss call in a worker thread."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import anyio
from pygent_sdk.files import private_dir
from pygent_sdk.vectors import (
    CollectionInfo, DimensionMismatch, Filter, Metric, UnknownCollection, VectorError, VectorHit,
    check_rows,
)

from .collection import Collection, Policy
from .device import Device
from .options import IndexOptions

R = TypeVar("R")
METRICS = ("cosine", "ip", "l2")


class RWLock:
    """Many readers or one writer; a waiting writer holds back new readers."""

    def __init__(self) -> None:
        self._cond = anyio.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        async with self._cond:
            while self._writing or self._writers_waiting:
                await self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                async with self._cond:
                    self._readers -= 1
                    self._cond.notify_all()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        async with self._cond:
            self._writers_waiting += 1
            try:
                while self._writing or self._readers:
                    await self._cond.wait()
            finally:
                self._writers_waiting -= 1
                self._cond.notify_all()  # readers held back by this writer, if it was cancelled
            self._writing = True
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                async with self._cond:
                    self._writing = False
                    self._cond.notify_all()


@dataclasses.dataclass(slots=True)
class _Entry:
    collection: Collection
    lock: RWLock = dataclasses.field(default_factory=RWLock)
    dropped: bool = False


class FaissStore:
    """Collections of vectors in FAISS indexes, saved under ``root``."""

    name = "faiss"

    def __init__(
        self, faiss: Any, root: Path, defaults: IndexOptions, policy: Policy, device: Device,
        threads: int,
    ) -> None:
        self._faiss, self.root = faiss, root
        self.threads = threads
        """OpenMP threads of writes (adding, training, rebuilding); a search uses one."""
        self.defaults, self.policy, self.device = defaults, policy, device
        self._entries: dict[str, _Entry] = {}
        self._broken: dict[str, tuple[Path, str]] = {}
        """Collections whose files failed to load: their directory and why; kept on disk."""
        self._catalog = anyio.Lock()  # creating and dropping collections

    async def load(self, log: Any) -> None:
        """Load every collection saved under ``root``. One that fails to load is kept on disk
        and refuses every call, naming its directory and the reason, until it is dropped."""
        private_dir(self.root)
        for path in sorted(p for p in self.root.iterdir() if p.is_dir()):
            try:
                collection = await self._work(
                    self.threads, Collection.load, self._faiss, path, self.policy, self.device)
            except Exception as e:
                name = unquote(path.name.removeprefix("c-"))
                self._broken[name] = (path, f"{type(e).__name__}: {e}")
                log.exception("faiss: collection %r at %s could not be loaded; its files are "
                              "kept and every call on it fails until it is dropped", name, path)
                continue
            if collection is None:  # created, then killed before its first snapshot
                await _thread(shutil.rmtree, path, True)
                continue
            self._entries[collection.name] = _Entry(collection)

    async def close(self) -> None:
        """Snapshot what the logs hold, so the next start has nothing to replay."""
        async with self._catalog:
            for entry in self._entries.values():
                async with entry.lock.write():
                    wal = entry.collection.wal
                    if wal is not None and wal.size:
                        await self._work(self.threads, entry.collection.save)
                    entry.collection.close()

    # ---- collections --------------------------------------------------------------------------

    async def create_collection(
        self, name: str, dimension: int, *, metric: Metric = "cosine",
        options: Mapping[str, Any] | None = None,
    ) -> CollectionInfo:
        where = f"faiss collection {name!r}"
        chosen = IndexOptions.build(self.defaults, options, where)
        if metric not in METRICS:
            raise ValueError(f"{where}: metric {metric!r} is not one of {list(METRICS)}")
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise ValueError(f"{where}: dimension must be a positive integer, got {dimension!r}")
        if chosen.index == "ivf_pq":
            chosen.pq_subquantizers(dimension)
        async with self._catalog:
            found = self._entries.get(name)
            if found is None:
                path = self._path(name)
                self._refuse_broken(name)
                if path.exists():  # never build over files on disk
                    raise VectorError(f"faiss collection {name!r}: {path} exists but is not a "
                                      "loaded collection; move it away or restart")
                collection = Collection(self._faiss, path, name, dimension, metric,
                                        chosen, self.policy, self.device)
                await self._work(1, collection.save)
                self._entries[name] = found = _Entry(collection)
            elif (found.collection.dimension, found.collection.metric) != (dimension, metric):
                c = found.collection
                raise DimensionMismatch(
                    f"faiss collection {name!r} holds {c.dimension}-dimensional {c.metric} "
                    f"vectors, not {dimension}-dimensional {metric} ones"
                )
        return await self.get_collection(name)

    async def collections(self) -> list[CollectionInfo]:
        return [await self.get_collection(name) for name in sorted(self._entries)]

    async def get_collection(self, name: str) -> CollectionInfo:
        entry = self._entry(name)
        async with entry.lock.read():
            c = entry.collection
            return CollectionInfo(name, c.dimension, c.metric, len(c.ids), c.details())

    async def drop_collection(self, name: str) -> bool:
        async with self._catalog:
            broken = self._broken.pop(name, None)
            if broken is not None:  # the way out for files that cannot be loaded
                await _thread(shutil.rmtree, broken[0], True)
                return True
            entry = self._entries.pop(name, None)
            if entry is None:
                return False
            async with entry.lock.write():
                entry.dropped = True
                entry.collection.close()
                await _thread(shutil.rmtree, entry.collection.root, True)
        return True

    # ---- rows ---------------------------------------------------------------------------------

    async def upsert(
        self, collection: str, ids: Sequence[str], vectors: Any,
        metadata: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        check_rows(ids, vectors, metadata, f"upsert() into faiss collection {collection!r}")
        if not all(isinstance(key, str) for key in ids):
            raise ValueError(f"upsert() into faiss collection {collection!r}: ids must be strings")
        async with self._writing(collection) as c:
            if len(ids):
                rows = metadata if metadata is not None else [{}] * len(ids)
                await self._work(self.threads, c.upsert, ids, vectors, rows)

    async def search(
        self, collection: str, vector: Sequence[float], k: int = 5, filter: Filter | None = None,
    ) -> list[VectorHit]:
        async with self._reading(collection) as c:
            return await self._work(1, c.search, vector, k, filter)

    async def delete(
        self, collection: str, ids: Sequence[str] | None = None, filter: Filter | None = None,
    ) -> int:
        if ids is None and not filter:
            raise ValueError(f"delete() from faiss collection {collection!r} needs ids or a filter")
        async with self._writing(collection) as c:
            return await self._work(self.threads, c.delete, ids, filter)

    async def count(self, collection: str, filter: Filter | None = None) -> int:
        async with self._reading(collection) as c:
            return c.count(filter) if not filter else await _thread(c.count, filter)

    async def stats(self) -> dict[str, Any]:
        collections = {}
        for name in sorted(self._entries):
            with contextlib.suppress(UnknownCollection):
                async with self._reading(name) as c:
                    collections[name] = {
                        "vectors": len(c.ids), "dimension": c.dimension, "metric": c.metric,
                        **c.details(), "bytes_on_disk": await _thread(c.bytes_on_disk),
                    }
        return {
            "store": self.name, "device": str(self.device), "collections": len(collections),
            "vectors": sum(c["vectors"] for c in collections.values()),
            "bytes_on_disk": sum(c["bytes_on_disk"] for c in collections.values()),
            "by_collection": collections, "broken": self.broken(),
        }

    def summary(self) -> tuple[int, int]:
        """Collections and vectors, read without waiting for any lock (for health reports)."""
        return len(self._entries), sum(len(e.collection.ids) for e in self._entries.values())

    def broken(self) -> dict[str, str]:
        """The collections that failed to load, each with its directory and the reason."""
        return {name: f"{path}: {why}" for name, (path, why) in sorted(self._broken.items())}

    # ---- helpers ------------------------------------------------------------------------------

    def _refuse_broken(self, name: str) -> None:
        if name in self._broken:
            path, why = self._broken[name]
            raise VectorError(
                f"faiss collection {name!r} at {path} could not be loaded ({why}); its files are "
                "kept: repair or move them and restart, or drop the collection to delete them")

    def _entry(self, name: str) -> _Entry:
        self._refuse_broken(name)
        entry = self._entries.get(name)
        if entry is None:
            raise UnknownCollection(
                f"no faiss collection {name!r}; there are: {sorted(self._entries) or 'none'}")
        return entry

    @contextlib.asynccontextmanager
    async def _reading(self, name: str) -> AsyncIterator[Collection]:
        entry = self._entry(name)
        async with entry.lock.read():
            self._check(entry, name)
            yield entry.collection

    @contextlib.asynccontextmanager
    async def _writing(self, name: str) -> AsyncIterator[Collection]:
        entry = self._entry(name)
        async with entry.lock.write():
            self._check(entry, name)
            yield entry.collection

    async def _work(self, threads: int, func: Callable[..., R], *args: Any) -> R:
        """``func(*args)`` in a worker thread with ``threads`` OpenMP threads: the OpenMP
        setting is per thread, and one thread per search keeps concurrent searches from
        oversubscribing the cores (and OpenMP from spinning on a busy machine)."""
        def call() -> R:
            self._faiss.omp_set_num_threads(threads)
            return func(*args)

        return await anyio.to_thread.run_sync(call)

    def _check(self, entry: _Entry, name: str) -> None:
        if entry.dropped:  # dropped while this call waited for the lock
            raise UnknownCollection(f"faiss collection {name!r} was dropped")

    def _path(self, name: str) -> Path:
        encoded = quote(name, safe="")
        if not name or len(encoded) > 200 or not re.fullmatch(r"[^\x00-\x1f]+", name):
            raise VectorError(f"faiss collection name {name!r}: 1 to 64 characters (200 once "
                              "URL-encoded), no control characters")
        return self.root / ("c-" + encoded)


async def _thread(func: Callable[..., R], *args: Any) -> R:
    return await anyio.to_thread.run_sync(func, *args)
