"""The knowledge service: collections bound to an embedder and a store; ingest, search, answer.

Ingest is lean: files are read and chunked in a worker thread, chunks of many files are embedded
together in batches of ``[rag] batch_size``, and each batch goes to the store in one upsert and to
the catalog in one transaction. Retrieval is by vector, by keyword (BM25) or hybrid (weighted
reciprocal rank fusion of both), optionally diversified by MMR.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from pygent_sdk.knowledge import (
    Answer, DocumentInfo, IngestProgress, IngestReport, KnowledgeError, Passage, RagIngested,
    RagIngestProgress, RagSearched, SearchMode, UnknownDocument, UnsupportedDocument,
)
from pygent_sdk.models import CHAT_MODEL
from pygent_sdk.vectors import (
    EMBEDDER, VECTOR_STORE, DimensionMismatch, Embedder, Filter, UnknownCollection, VectorStore, matches,
)

from . import answer as answering
from .catalog import Catalog, CollectionRow, chunk_id, document_id
from .chunking import Chunk, chunk_text
from .fusion import mmr, rrf
from .keyword import KeywordIndex
from .loaders import EmptyDocument, extract, load, walk

if TYPE_CHECKING:
    from . import RagConfig, RagPlugin

NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")
"""A collection name: fits every store's rule for ``rag_<name>`` (chroma's is the strictest)."""
RESERVED = frozenset({"document_id", "source", "chunk"})
"""Chunk metadata keys the plugin sets itself."""
Progress = Callable[[IngestProgress], Awaitable[None] | None]


def store_collection(name: str) -> str:
    """The vector-store collection behind knowledge collection ``name``."""
    return f"rag_{name}"


@dataclasses.dataclass(frozen=True, slots=True)
class Bound:
    """An open collection: its catalog row, embedder and store."""

    row: CollectionRow
    embedder: Embedder
    store: VectorStore

    @property
    def name(self) -> str:
        return self.row.name


@dataclasses.dataclass(slots=True)
class _Pending:
    """Documents read and chunked, waiting to be embedded and stored together."""

    documents: list[tuple[DocumentInfo, list[Chunk]]] = dataclasses.field(default_factory=list)
    chunks: int = 0


class _Run:
    """One ingest: counts, timing and progress reports."""

    def __init__(self, service: KnowledgeService, bound: Bound, total: int, progress: Progress | None) -> None:
        self.service, self.bound, self.total, self.callback = service, bound, total, progress
        self.files_done = self.chunks = 0
        self.started = time.perf_counter()
        self.embed_seconds = 0.0

    async def report(self, source: str) -> None:
        elapsed = time.perf_counter() - self.started
        rate = self.chunks / elapsed if elapsed > 0 else 0.0
        progress = IngestProgress(self.files_done, self.total, self.chunks, rate, source)
        if self.callback is not None:
            result = self.callback(progress)
            if inspect.isawaitable(result):
                await result
        await self.service.publish(RagIngestProgress(
            collection=self.bound.name, files_done=self.files_done, files_total=self.total,
            chunks=self.chunks, vectors_per_s=rate, file=source, source=self.service.context.name,
        ))


class CollectionConflict(KnowledgeError):
    """A collection exists with another binding (embedder or store) than the one asked for."""


class KnowledgeService:
    """Implements :class:`pygent_sdk.knowledge.Knowledge` for the rag plugin."""

    def __init__(self, plugin: RagPlugin) -> None:
        self.plugin = plugin
        self.config: RagConfig = plugin.config
        self.context = plugin.context
        self.catalog = Catalog(self.context.data_dir / "catalog.db")
        self.keyword = KeywordIndex(self.catalog, self.context.data_dir / "bm25")
        self._open: dict[str, Bound] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self.kernel_data = self.context.data_dir.parent.resolve()
        """The kernel's data directory: never ingested from."""

    def close(self) -> None:
        self.catalog.close()

    async def publish(self, event: Any) -> None:
        await self.context.bus.publish(event)

    # Collections ------------------------------------------------------------------------------

    def name(self, collection: str | None) -> str:
        """``collection`` checked, or the default ``[rag] collection``."""
        name = collection or self.config.collection
        if not NAME.fullmatch(name):
            raise KnowledgeError(
                f"bad collection name {name!r}: use 1 to 63 letters, digits, '_' or '-', "
                "starting and ending with a letter or digit"
            )
        return name

    def _writing(self, name: str) -> anyio.Lock:
        """The lock serializing changes to collection ``name`` (store and catalog together)."""
        return self._locks.setdefault(name, anyio.Lock())

    async def _row(self, name: str) -> CollectionRow | None:
        return await anyio.to_thread.run_sync(self.catalog.collection, name)

    async def create_collection(self, collection: str | None = None, *, embedder: str | None = None,
                                store: str | None = None) -> Bound:
        """Open ``collection``, creating it bound to ``embedder`` and ``store`` (None: the
        configured ones) when new. An existing collection keeps its own binding: naming another
        embedder or store for it is a :class:`CollectionConflict`."""
        name = self.name(collection)
        row = await self._row(name)
        if row is not None:
            asked = {"embedder": (embedder and self.context.service(EMBEDDER, name=embedder).name, row.embedder),
                     "store": (store and self._store(store).name, row.store)}
            clash = [f"{what} {mine!r}, not {given!r}" for what, (given, mine) in asked.items()
                     if given and given != mine]
            if clash:
                raise CollectionConflict(f"knowledge collection {name!r} exists, bound to {' and '.join(clash)}; "
                                         "drop it first, or use another name")
            return await self.bound(name)
        model = self.context.service(EMBEDDER, name=embedder or self.config.embedder or None)
        backend = self._store(store or self.config.store or None)
        dimension = model.dimension or len((await model.embed(["dimension"]))[0])
        await self._store_collection(name, model, backend, dimension)
        row = await anyio.to_thread.run_sync(self.catalog.create_collection, name, model.name,
                                             backend.name, dimension)
        bound = self._open[name] = Bound(row, model, backend)
        return bound

    def _store(self, name: str | None) -> VectorStore:
        """The vector store called ``name`` (None: the first enabled), or a clear error."""
        found = self.context.optional_service(VECTOR_STORE, name=name)
        if found is None:
            raise KnowledgeError(
                f"no vector store {name!r} is running: enable its plugin in plugins.toml "
                "([faiss], [pgvector] or [chroma]) or name another in [rag] store"
                if name else "no vector store is running: enable [faiss], [pgvector] or [chroma]")
        return found

    async def bound(self, collection: str | None) -> Bound:
        """The existing ``collection`` with its embedder and store, or :class:`UnknownCollection`."""
        name = self.name(collection)
        found = self._open.get(name)
        if found is not None:
            return found
        row = await self._row(name)
        if row is None:
            known = [r.name for r, _, _ in await anyio.to_thread.run_sync(self.catalog.collections)]
            raise UnknownCollection(
                f"no knowledge collection {name!r} (there are: {', '.join(known) or 'none'}); "
                "ingest documents into it first, e.g. pygent ingest PATH --collection " + name
            )
        model = self.context.service(EMBEDDER, name=row.embedder)
        backend = self.context.service(VECTOR_STORE, name=row.store)
        if model.dimension and model.dimension != row.dimension:
            raise _mismatch(model.name, model.dimension, row)
        await self._store_collection(name, model, backend, row.dimension)
        bound = self._open[name] = Bound(row, model, backend)
        return bound

    async def _store_collection(self, name: str, model: Embedder, backend: VectorStore, dimension: int) -> None:
        try:
            await backend.create_collection(store_collection(name), dimension, metric="cosine")
        except DimensionMismatch as error:
            raise DimensionMismatch(
                f"embedder {model.name!r} gives {dimension}-dimensional vectors but the "
                f"{backend.name} store's collection {store_collection(name)!r} for knowledge "
                f"collection {name!r} holds others: {error}"
            ) from None

    async def collections(self) -> list[dict[str, Any]]:
        rows = await anyio.to_thread.run_sync(self.catalog.collections)
        return [{"name": r.name, "embedder": r.embedder, "store": r.store, "dimension": r.dimension,
                 "documents": docs, "chunks": chunks, "created_at": r.created_at}
                for r, docs, chunks in rows]

    async def drop_collection(self, name: str) -> bool:
        name = self.name(name)
        row = await self._row(name)
        if row is None:
            return False
        async with self._writing(name):
            backend = self.context.optional_service(VECTOR_STORE, name=row.store)
            if backend is not None:
                await backend.drop_collection(store_collection(name))
            await anyio.to_thread.run_sync(self.catalog.drop_collection, name)
            await self.keyword.forget(name)
            self._open.pop(name, None)
        return True

    # Ingest -----------------------------------------------------------------------------------

    async def ingest_paths(self, paths: Sequence[str], *, collection: str | None = None,
                           progress: Progress | None = None) -> IngestReport:
        started = time.perf_counter()
        files, failed, ignored = await anyio.to_thread.run_sync(walk, list(paths), self.kernel_data)
        named = {Path(p).expanduser() for p in paths}  # an empty file named is a failure, not a note
        for path in ignored:
            self.context.log.info("ingest: skipping %s (unsupported type or empty)", path)
        bound = await self.create_collection(collection)
        known = await anyio.to_thread.run_sync(self.catalog.hashes, bound.name)  # to skip unchanged files
        run = _Run(self, bound, len(files), progress)
        added: list[str] = []
        replaced: list[str] = []
        unchanged: list[str] = []
        pending = _Pending()
        max_bytes = int(self.config.max_file_mb * 1_048_576)

        async def flush() -> None:
            for doc, again in await self._flush(bound, pending, run):
                (replaced if again else added).append(doc.source)

        for path in files:
            source = str(path)
            try:
                source, loaded = await anyio.to_thread.run_sync(self._read, bound.name, path, max_bytes, known)
            except EmptyDocument as error:
                if path in named:
                    failed.append((source, str(error)))
                else:
                    ignored.append(source)
            except UnsupportedDocument as error:
                failed.append((source, str(error)))
            else:
                if loaded is None:
                    unchanged.append(source)
                else:
                    pending.documents.append(loaded)
                    pending.chunks += len(loaded[1])
                    if pending.chunks >= self.config.batch_size:
                        await flush()
                        pending = _Pending()
            run.files_done += 1
            await run.report(source)
        if pending.documents:
            await flush()
            await run.report(pending.documents[-1][0].source)
        return IngestReport(bound.name, tuple(added), tuple(replaced), tuple(unchanged), tuple(failed),
                            run.chunks, time.perf_counter() - started, tuple(ignored))

    def _read(self, collection: str, path: Path, max_bytes: int,
              known: Mapping[str, str]) -> tuple[str, tuple[DocumentInfo, list[Chunk]] | None]:
        """Load and chunk one file (in a worker thread): its source, and its entry and chunks,
        None when its content is unchanged. The id comes from the resolved path, so every
        spelling of one file is one document; the source is that path, relative to the working
        directory when given relative and inside it."""
        real = path.resolve()
        source = str(real)
        if not path.is_absolute() and real.is_relative_to(cwd := Path.cwd().resolve()):
            source = str(real.relative_to(cwd))
        doc_id = document_id(collection, str(real))
        loaded = load(path, max_bytes=max_bytes)
        if loaded.sha256 == known.get(doc_id):
            return source, None
        return source, self._document(collection, source, loaded.text, loaded.format, loaded.sha256, {}, doc_id)

    def _document(self, collection: str, source: str, text: str, kind: str, sha: str,
                  metadata: Mapping[str, Any], doc_id: str) -> tuple[DocumentInfo, list[Chunk]]:
        """A document's catalog entry and chunks (blocking: chunking a large text takes time)."""
        chunks = chunk_text(text, size=self.config.chunk_tokens, overlap=self.config.chunk_overlap,
                            markdown=kind in ("markdown", "html"))
        if not chunks:
            raise UnsupportedDocument(f"{source}: no text to index")
        doc = DocumentInfo(doc_id, collection, source, len(chunks), len(text),
                           sha, time.time(), dict(metadata))
        return doc, chunks

    async def _flush(self, bound: Bound, pending: _Pending, run: _Run) -> list[tuple[DocumentInfo, bool]]:
        """Embed the pending documents' chunks in batches, then, holding the collection's lock,
        store the vectors (new first, then the old ones left over) and the catalog rows. Each
        document comes back with whether it replaced an older version."""
        import numpy as np

        documents = pending.documents
        texts = [c.text for _, chunks in documents for c in chunks]
        parts = []
        size = self.config.batch_size
        for i in range(0, len(texts), size):
            vectors = np.asarray(await bound.embedder.embed(texts[i:i + size]), dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != bound.row.dimension:
                raise _mismatch(bound.embedder.name, int(vectors.shape[-1]), bound.row)
            parts.append(vectors)
            run.chunks += len(vectors)
            if i + size < len(texts):
                await run.report(documents[-1][0].source)
        ids: list[str] = []
        metadata: list[dict[str, Any]] = []
        for doc, chunks in documents:
            base = {**doc.metadata, "document_id": doc.id, "source": doc.source}
            ids.extend(chunk_id(doc.id, c.index) for c in chunks)
            metadata.extend({**base, "chunk": c.index} for c in chunks)
        target = store_collection(bound.name)
        async with self._writing(bound.name):
            before = await anyio.to_thread.run_sync(self.catalog.chunk_counts, bound.name,
                                                    [doc.id for doc, _ in documents])
            await bound.store.upsert(target, ids, np.concatenate(parts), metadata)
            left = [chunk_id(doc.id, i) for doc, chunks in documents for i in range(len(chunks), before.get(doc.id, 0))]
            if left:
                await bound.store.delete(target, ids=left)
            await anyio.to_thread.run_sync(self.catalog.put_documents, bound.name, documents)
        for doc, chunks in documents:
            await self.publish(RagIngested(collection=bound.name, document_id=doc.id, document_source=doc.source,
                                           chunks=len(chunks), replaced=doc.id in before, source=self.context.name))
        return [(doc, doc.id in before) for doc, _ in documents]

    async def ingest_text(self, text: str, *, source: str, collection: str | None = None,
                          metadata: Mapping[str, Any] | None = None, format: str = "text") -> DocumentInfo:
        if not source.strip():
            raise KnowledgeError("a document needs a non-empty source (a name for citations)")
        clash = RESERVED & set(metadata or {})
        if clash:
            raise KnowledgeError(f"{source}: metadata keys {sorted(clash)} are reserved (set by the rag plugin)")
        body, sha = await anyio.to_thread.run_sync(_extract, text, format, source)
        bound = await self.create_collection(collection)
        doc_id = document_id(bound.name, source)
        current = await anyio.to_thread.run_sync(self.catalog.document, bound.name, doc_id)
        if current is not None and current.sha256 == sha and dict(current.metadata) == dict(metadata or {}):
            return current
        doc, chunks = await anyio.to_thread.run_sync(self._document, bound.name, source, body, format, sha,
                                                      metadata or {}, doc_id)
        await self._flush(bound, _Pending([(doc, chunks)], len(chunks)), _Run(self, bound, 1, None))
        stored = await anyio.to_thread.run_sync(self.catalog.document, bound.name, doc_id)
        assert stored is not None
        return stored

    async def documents(self, collection: str | None = None) -> list[DocumentInfo]:
        name = self.name(collection)
        return await anyio.to_thread.run_sync(self.catalog.documents, name)

    async def delete_document(self, document_id: str, collection: str | None = None) -> bool:
        name = self.name(collection)
        if await self._row(name) is None:
            return False
        bound = await self.bound(name)
        async with self._writing(name):
            if await anyio.to_thread.run_sync(self.catalog.document, name, document_id) is None:
                return False
            await bound.store.delete(store_collection(name), filter={"document_id": document_id})
            return await anyio.to_thread.run_sync(self.catalog.delete_document, name, document_id)

    async def document_collection(self, document_id: str) -> str:
        """The collection holding document ``document_id``, or :class:`UnknownDocument`."""
        for row in await self.collections():
            if await anyio.to_thread.run_sync(self.catalog.document, row["name"], document_id):
                return row["name"]
        raise UnknownDocument(f"no document {document_id!r} in any knowledge collection")

    # Retrieval --------------------------------------------------------------------------------

    async def retrieve(self, query: str, *, k: int | None = None, mode: SearchMode | None = None,
                       collection: str | None = None, filter: Filter | None = None) -> list[Passage]:
        started = time.perf_counter()
        k = k or self.config.k
        mode = mode or self.config.mode
        if mode not in ("vector", "keyword", "hybrid"):
            raise KnowledgeError(f"unknown search mode {mode!r}: use vector, keyword or hybrid")
        if not query.strip():
            raise KnowledgeError("an empty query finds nothing: give some words to search for")
        bound = await self.bound(collection)
        depth = max(4 * k, 20) if (mode == "hybrid" or self.config.mmr) else k
        similarity: dict[str, float] = {}
        query_vector = None
        rankings: list[tuple[list[str], float]] = []
        scores: dict[str, float] = {}
        if mode in ("vector", "hybrid"):
            query_vector = (await bound.embedder.embed([query]))[0]
            hits = await bound.store.search(store_collection(bound.name), query_vector, depth, filter)
            similarity = {h.id: float(h.score) for h in hits}
            rankings.append(([h.id for h in hits], self.config.vector_weight))
            scores.update(similarity)
        if mode in ("keyword", "hybrid"):
            allowed = None
            if filter:
                metas = await anyio.to_thread.run_sync(self.catalog.metadata, bound.name)
                allowed = {doc for doc, meta in metas.items() if matches(meta, filter)}
            hits = await self.keyword.search(bound.name, query, depth, allowed)
            rankings.append(([key for key, _ in hits], self.config.keyword_weight))
            if mode == "keyword":
                scores.update(hits)
        if mode == "hybrid":
            ranked = rrf(rankings, k=self.config.rrf_k)
            scores = dict(ranked)
            order = [key for key, _ in ranked]
        else:
            order = rankings[0][0]
        rows = await anyio.to_thread.run_sync(self.catalog.chunks, order)
        order = [key for key in order if key in rows]
        if self.config.mmr and len(order) > 1:
            order, similarity = await self._diversify(bound, query, query_vector, order, rows, k, similarity)
        passages = [
            Passage(id=key, document_id=rows[key].document_id, source=rows[key].source, chunk=rows[key].index,
                    start=rows[key].start, end=rows[key].end, text=rows[key].text, score=scores.get(key, 0.0),
                    heading=rows[key].heading, similarity=similarity.get(key))
            for key in order[:k]
        ]
        await self.publish(RagSearched(collection=bound.name, mode=mode, k=k, hits=len(passages),
                                       seconds=time.perf_counter() - started, source=self.context.name))
        return passages

    async def _diversify(self, bound: Bound, query: str, query_vector: Any, order: list[str],
                         rows: Mapping[str, Any], k: int, similarity: dict[str, float]) -> tuple[list[str], dict[str, float]]:
        """MMR over the candidates, re-embedding them (the embedder's cache makes that cheap)."""
        import numpy as np

        vectors = await bound.embedder.embed([query] + [rows[key].text for key in order])
        matrix = np.asarray(vectors, dtype=np.float32)
        if query_vector is None:
            query_vector = matrix[0]
        picked = mmr(query_vector, matrix[1:], k=k, lam=self.config.mmr_lambda)
        cosines = matrix[1:] @ np.asarray(query_vector, dtype=np.float32)
        return [order[i] for i in picked], {**similarity, **{key: float(c) for key, c in zip(order, cosines)}}

    async def similarities(self, bound: Bound, query: str, passages: Sequence[Passage]) -> list[float]:
        """Each passage's cosine similarity to ``query`` (known, or by embedding)."""
        if all(p.similarity is not None for p in passages):
            return [float(p.similarity) for p in passages]  # type: ignore[arg-type]
        import numpy as np

        matrix = np.asarray(await bound.embedder.embed([query] + [p.text for p in passages]), dtype=np.float32)
        return [float(x) for x in matrix[1:] @ matrix[0]]

    # Answers ----------------------------------------------------------------------------------

    async def answer(self, question: str, *, k: int | None = None, mode: SearchMode | None = None,
                     collection: str | None = None, model: str | None = None,
                     on_token: Callable[[str], Awaitable[None]] | None = None) -> Answer:
        bound = await self.bound(collection)
        passages = await self.retrieve(question, k=k, mode=mode, collection=bound.name)
        threshold = self.config.min_similarity
        if not passages:
            return answering.nothing_found(question, bound.name, None, threshold)
        sims = await self.similarities(bound, question, passages)
        if max(sims) < threshold:
            return answering.nothing_found(question, bound.name, max(sims), threshold)
        chat = self.context.service(CHAT_MODEL, name=model or self.config.answer_model or None)
        return await answering.generate(chat, question, passages, max_chars=self.config.context_chars,
                                        max_tokens=self.config.answer_max_tokens, on_token=on_token)

    async def stats(self) -> dict[str, Any]:
        collections = await self.collections()
        stores: dict[str, Any] = {}
        for name in sorted({c["store"] for c in collections}):
            backend = self.context.optional_service(VECTOR_STORE, name=name)
            stores[name] = await backend.stats() if backend is not None else {"error": "store not enabled"}
        return {"collections": collections, "documents": sum(c["documents"] for c in collections),
                "chunks": sum(c["chunks"] for c in collections), "stores": stores}


def _extract(text: str, kind: str, source: str) -> tuple[str, str]:
    """The text to index and the sha256 of ``text`` as given (blocking: texts run to megabytes)."""
    import hashlib

    return extract(text, kind, source), hashlib.sha256(text.encode()).hexdigest()


def _mismatch(embedder: str, dimension: int, row: CollectionRow) -> DimensionMismatch:
    return DimensionMismatch(
        f"embedder {embedder!r} gives {dimension}-dimensional vectors but knowledge collection "
        f"{row.name!r} holds {row.dimension}-dimensional ones (made with embedder {row.embedder!r}); "
        "use that embedder, or ingest into a new collection"
    )


class CollectionRetriever:
    """A :class:`~pygent_sdk.knowledge.Retriever` over one collection (None: the default)."""

    def __init__(self, service: KnowledgeService, collection: str | None) -> None:
        self.service, self.collection = service, collection

    async def retrieve(self, query: str, *, k: int | None = None, mode: SearchMode | None = None,
                       collection: str | None = None, filter: Filter | None = None) -> list[Passage]:
        """Passages for ``query``; k and mode default to ``[rag] k`` and ``[rag] mode``."""
        return await self.service.retrieve(query, k=k, mode=mode, collection=collection or self.collection,
                                           filter=filter)
