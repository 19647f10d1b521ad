"""A persistent cache of vectors keyed by (model identity, sha256 of the text), in SQLite.

A model's identity names the model behind an embedder, not only the embedder's name, so a model
swapped under the same name never serves the old model's vectors: an embedder's own ``identity``
where it has one (``st:`` models: the resolved directory and its files' sizes and modification
times), else its name and dimension. Vectors are stored as float32 bytes. Past ``max_entries`` rows, the oldest written go first.
Every call runs in a worker thread; one connection, serialized by a lock.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from pygent_sdk.files import touch_private

log = logging.getLogger("pygent.plugin.embeddings")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL,
    hash BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, hash)
)
"""


SEPARATOR = "|"
"""Between the embedder's name and the rest of a model identity."""


def identity(embedder: Any) -> str | None:
    """The cache key of the model behind ``embedder``: its own ``identity`` where it has one,
    else its name and dimension; None while the dimension is unknown (a remote model before its
    first call)."""
    own = getattr(embedder, "identity", None)
    if own:
        return f"{embedder.name}{SEPARATOR}{own}"
    dimension = int(embedder.dimension)
    return f"{embedder.name}{SEPARATOR}dim={dimension}" if dimension else None


def digest(text: str) -> bytes:
    """The key of a text: its UTF-8 sha256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class VectorCache:
    """Vectors already computed, by model identity and text hash; survives restarts."""

    def __init__(self, path: Path, max_entries: int) -> None:
        self.path = path
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        for suffix in ("-wal", "-shm"):
            sibling = path.with_name(path.name + suffix)
            if sibling.exists():
                touch_private(sibling)
        self._db = sqlite3.connect(
            touch_private(path), check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._rows = self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        """Rows held, or a little more (a replaced row counts again until the next eviction)."""

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _get(self, model: str, keys: list[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):  # SQLite's bound on host parameters
                part = keys[start:start + 500]
                marks = ",".join("?" * len(part))
                found.update(self._db.execute(
                    f"SELECT hash, vector FROM vectors WHERE model = ? AND hash IN ({marks})",
                    [model, *part],
                ).fetchall())
        return found

    def _put(self, model: str, rows: list[tuple[bytes, bytes]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._write(model, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _write(self, model: str, rows: list[tuple[bytes, bytes]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO vectors (model, hash, vector) VALUES (?, ?, ?)",
            [(model, key, blob) for key, blob in rows],
        )
        self._rows += len(rows)
        if self._rows > self.max_entries:  # counting is a scan: only when the bound may be hit
            self._rows = self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            excess = self._rows - self.max_entries
            if excess > 0:
                self._db.execute(
                    "DELETE FROM vectors WHERE rowid IN "
                    "(SELECT rowid FROM vectors ORDER BY rowid LIMIT ?)", (excess,))
                self._rows = self.max_entries

    def stats(self) -> dict[str, Any]:
        """Rows per embedder name (all its models' identities together), file size, hits and
        misses since start."""
        rows: dict[str, int] = {}
        with self._lock:
            for model, count in self._db.execute("SELECT model, COUNT(*) FROM vectors GROUP BY model"):
                name = model.split(SEPARATOR, 1)[0]
                rows[name] = rows.get(name, 0) + count
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return {"entries": rows, "bytes": size, "hits": self.hits, "misses": self.misses}

    async def get(self, model: str, keys: list[bytes]) -> dict[bytes, bytes]:
        """The cached vectors among ``keys``; none when the file cannot be read (logged)."""
        try:
            return await anyio.to_thread.run_sync(self._get, model, keys)
        except sqlite3.Error as error:
            log.warning("embedding cache %s unreadable, encoding afresh: %s", self.path, error)
            return {}

    async def put(self, model: str, rows: list[tuple[bytes, bytes]]) -> None:
        """Keep ``rows``; a failed write is logged, never the caller's failure."""
        try:
            await anyio.to_thread.run_sync(self._put, model, rows)
        except sqlite3.Error as error:
            log.warning("embedding cache %s not written: %s", self.path, error)


class CachedEmbedder:
    """An embedder whose vectors go through a :class:`VectorCache`: unchanged text is never
    encoded twice. Returns a float32 numpy array of shape (n, dimension)."""

    def __init__(self, inner: Any, cache: VectorCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name: str = inner.name

    @property
    def dimension(self) -> int:  # type: ignore[override]
        return int(self.inner.dimension)

    async def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        keys = [digest(t) for t in texts]
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        found: dict[bytes, bytes] = {}
        model = identity(self.inner)
        if model is None:  # a model of unknown size: one text, encoded, tells it
            probe = np.asarray(await self.inner.embed([texts[0]]), dtype=np.float32)
            model = identity(self.inner) or f"{self.name}{SEPARATOR}dim={probe.shape[-1]}"
            found[keys[0]] = probe[0].tobytes()
            self.cache.misses += 1
            await self.cache.put(model, list(found.items()))
        cached = await self.cache.get(model, list(set(keys) - set(found)))
        if self.dimension:  # a safeguard: rows of another size are never served
            cached = {k: v for k, v in cached.items() if len(v) == 4 * self.dimension}
        self.cache.hits += sum(k in cached for k in keys)
        found.update(cached)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            self.cache.misses += len(missing)
            text_of = dict(zip(keys, texts, strict=True))
            fresh = await self.inner.embed([text_of[k] for k in missing])
            fresh = np.asarray(fresh, dtype=np.float32)
            rows = [(k, fresh[i].tobytes()) for i, k in enumerate(missing)]
            await self.cache.put(model, rows)
            found.update(rows)
        return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys])
