"""The catalog: collections, documents and chunks in SQLite under the plugin's data directory.

A collection records the embedder, store and dimension it is bound to and a ``revision`` that
every change bumps (the keyword index rebuilds when it lags). A document is identified by its
collection and source (a file's resolved path) and carries the sha256 of its content, so an unchanged file is skipped and
a changed one replaced. Chunk texts live here (the vector store keeps vectors and ids only).
Methods block: call them from a worker thread. One connection, serialized by a lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from pygent_sdk.files import touch_private
from pygent_sdk.knowledge import DocumentInfo

from .chunking import Chunk

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY, embedder TEXT NOT NULL, store TEXT NOT NULL,
    dimension INTEGER NOT NULL, created_at REAL NOT NULL, revision INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, source TEXT NOT NULL, sha256 TEXT NOT NULL,
    chunks INTEGER NOT NULL, chars INTEGER NOT NULL, ingested_at REAL NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS documents_collection ON documents (collection);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, collection TEXT NOT NULL, document_id TEXT NOT NULL, idx INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, heading TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks (document_id);
CREATE INDEX IF NOT EXISTS chunks_collection ON chunks (collection);
"""


@dataclasses.dataclass(frozen=True, slots=True)
class CollectionRow:
    """A collection as recorded: what it is bound to, and its change counter."""

    name: str
    embedder: str
    store: str
    dimension: int
    created_at: float
    revision: int


@dataclasses.dataclass(frozen=True, slots=True)
class ChunkRow:
    """A stored chunk with its document's source."""

    id: str
    document_id: str
    source: str
    index: int
    start: int
    end: int
    heading: str
    text: str


def document_id(collection: str, source: str) -> str:
    """The id of the document ``source`` in ``collection`` (stable across re-ingests)."""
    return hashlib.sha256(f"{collection}\0{source}".encode()).hexdigest()[:24]


def chunk_id(doc_id: str, index: int) -> str:
    return f"{doc_id}:{index}"


class Catalog:
    """The rag plugin's SQLite catalog (``catalog.db``)."""

    def __init__(self, path: Path) -> None:
        touch_private(path)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, statements: Iterable[tuple[str, Sequence[Any] | Iterable[Sequence[Any]], bool]]) -> None:
        """Run ``(sql, params, many)`` statements in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params, many in statements:
                    (self._db.executemany if many else self._db.execute)(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # Collections ------------------------------------------------------------------------------

    def collection(self, name: str) -> CollectionRow | None:
        rows = self._read("SELECT * FROM collections WHERE name = ?", (name,))
        return CollectionRow(*rows[0]) if rows else None

    def create_collection(self, name: str, embedder: str, store: str, dimension: int) -> CollectionRow:
        self._write([("INSERT OR IGNORE INTO collections VALUES (?, ?, ?, ?, ?, 0)",
                      (name, embedder, store, dimension, time.time()), False)])
        row = self.collection(name)
        assert row is not None
        return row

    def collections(self) -> list[tuple[CollectionRow, int, int]]:
        """Each collection with its document and chunk counts."""
        rows = self._read(
            "SELECT c.*, (SELECT COUNT(*) FROM documents d WHERE d.collection = c.name), "
            "(SELECT COALESCE(SUM(chunks), 0) FROM documents d WHERE d.collection = c.name) "
            "FROM collections c ORDER BY c.name"
        )
        return [(CollectionRow(*r[:6]), r[6], r[7]) for r in rows]

    def drop_collection(self, name: str) -> bool:
        found = self.collection(name) is not None
        self._write([("DELETE FROM chunks WHERE collection = ?", (name,), False),
                     ("DELETE FROM documents WHERE collection = ?", (name,), False),
                     ("DELETE FROM collections WHERE name = ?", (name,), False)])
        return found

    def revision(self, name: str) -> int:
        rows = self._read("SELECT revision FROM collections WHERE name = ?", (name,))
        return rows[0][0] if rows else -1

    # Documents --------------------------------------------------------------------------------

    def hashes(self, collection: str) -> dict[str, str]:
        """Document id -> content sha256 of every document in ``collection``."""
        return dict(self._read("SELECT id, sha256 FROM documents WHERE collection = ?", (collection,)))

    def chunk_counts(self, collection: str, ids: Sequence[str]) -> dict[str, int]:
        """Document id -> chunk count, for those of ``ids`` stored in ``collection``."""
        found: dict[str, int] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            found.update(self._read(f"SELECT id, chunks FROM documents WHERE collection = ? AND id IN "
                                    f"({','.join('?' * len(part))})", (collection, *part)))
        return found

    def put_documents(self, collection: str, documents: Sequence[tuple[DocumentInfo, Sequence[Chunk]]]) -> None:
        """Store documents with their chunks, replacing any older version, in one transaction."""
        ids = [(d.id,) for d, _ in documents]
        rows = [(chunk_id(d.id, c.index), collection, d.id, c.index, c.start, c.end, c.heading, c.text)
                for d, chunks in documents for c in chunks]
        docs = [(d.id, collection, d.source, d.sha256, d.chunks, d.chars, d.ingested_at,
                 json.dumps(dict(d.metadata))) for d, _ in documents]
        self._write([
            ("DELETE FROM chunks WHERE document_id = ?", ids, True),
            ("INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)", docs, True),
            ("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows, True),
            ("UPDATE collections SET revision = revision + 1 WHERE name = ?", (collection,), False),
        ])

    def document(self, collection: str, doc_id: str) -> DocumentInfo | None:
        rows = self._read("SELECT * FROM documents WHERE collection = ? AND id = ?", (collection, doc_id))
        return _document(rows[0]) if rows else None

    def documents(self, collection: str) -> list[DocumentInfo]:
        return [_document(r) for r in self._read(
            "SELECT * FROM documents WHERE collection = ? ORDER BY source", (collection,))]

    def delete_document(self, collection: str, doc_id: str) -> bool:
        found = self.document(collection, doc_id) is not None
        if found:
            self._write([
                ("DELETE FROM chunks WHERE document_id = ?", (doc_id,), False),
                ("DELETE FROM documents WHERE id = ?", (doc_id,), False),
                ("UPDATE collections SET revision = revision + 1 WHERE name = ?", (collection,), False),
            ])
        return found

    # Chunks -----------------------------------------------------------------------------------

    def chunks(self, ids: Sequence[str]) -> dict[str, ChunkRow]:
        """The chunks with these ids (missing ones left out)."""
        found: dict[str, ChunkRow] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            marks = ",".join("?" * len(part))
            for row in self._read(
                f'SELECT c.id, c.document_id, d.source, c.idx, c.start, c."end", c.heading, c.text '
                f"FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})", part,
            ):
                found[row[0]] = ChunkRow(*row)
        return found

    def corpus(self, collection: str) -> tuple[int, list[str], list[str]]:
        """The collection's revision, and its chunk ids and texts for the keyword index: each
        chunk's text after its document's file name and its heading path, which name its subject."""
        with self._lock:
            rev = self._db.execute("SELECT revision FROM collections WHERE name = ?", (collection,)).fetchall()
            rows = self._db.execute(
                "SELECT c.id, d.source, c.heading, c.text FROM chunks c "
                "JOIN documents d ON d.id = c.document_id WHERE c.collection = ? ORDER BY c.rowid",
                (collection,)).fetchall()
        texts = [f"{PurePath(source).name} {heading} {text}" for _, source, heading, text in rows]
        return (rev[0][0] if rev else -1), [r[0] for r in rows], texts

    def metadata(self, collection: str) -> dict[str, Mapping[str, Any]]:
        """Document id -> the metadata given at ingest, with ``source`` and ``document_id``."""
        return {
            r[0]: {**json.loads(r[2]), "document_id": r[0], "source": r[1]}
            for r in self._read("SELECT id, source, metadata FROM documents WHERE collection = ?", (collection,))
        }


def _document(row: tuple[Any, ...]) -> DocumentInfo:
    id_, collection, source, sha, chunks, chars, at, meta = row
    return DocumentInfo(id_, collection, source, chunks, chars, sha, at, json.loads(meta))
