"""The knowledge capability (RAG): documents in collections, retrieval, answers with citations.

The ``rag`` plugin answers both services. Agents and the reasoning pipeline retrieve through the
narrow one::

    retriever = self.context.service(RETRIEVER)                 # the default collection
    passages = await retriever.retrieve("how do plugins start?", k=5, mode="hybrid")

and the CLI, REST routes and jobs manage documents through the whole one::

    knowledge = self.context.service(KNOWLEDGE)
    report = await knowledge.ingest_paths(["docs/"], collection="docs")
    answer = await knowledge.answer("How do I write a plugin?")

:func:`numbered_context` and :func:`cite` turn passages into a prompt and the model's answer into
citations, so every answerer numbers and maps sources the same way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from .agents import Step
from .errors import PygentError
from .events import Event, event
from .markers import hookspec
from .services import ServiceKey
from .vectors import Filter

SearchMode = Literal["vector", "keyword", "hybrid"]
"""``vector`` (embeddings), ``keyword`` (BM25) or ``hybrid`` (reciprocal rank fusion of both)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk: where it comes from, its text, and how well it matched.

    ``start`` and ``end`` are character offsets of ``text`` in the document's extracted text.
    ``score`` is the mode's ranking score (cosine, BM25 or fused); ``similarity`` is the cosine
    similarity to the query where known, which the "nothing relevant" threshold reads.
    """

    id: str
    document_id: str
    source: str
    chunk: int
    start: int
    end: int
    text: str
    score: float
    heading: str = ""
    similarity: float | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class Citation:
    """Source ``[number]`` of an answer: the passage's document, chunk, offsets and an excerpt;
    ``cited`` says whether the answer's text refers to it."""

    number: int
    document_id: str
    source: str
    chunk: int
    start: int
    end: int
    heading: str
    excerpt: str
    cited: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """An answer to ``question``; ``found`` is False when no passage was relevant enough, and
    then ``text`` says so and ``citations`` is empty."""

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    found: bool = True
    model: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A stored document: its id, where it came from, its chunks and content hash."""

    id: str
    collection: str
    source: str
    chunks: int
    chars: int
    sha256: str
    ingested_at: float
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class IngestReport:
    """What an ingest did: documents added, replaced (changed), unchanged (skipped) and failed
    (``(source, reason)`` pairs: a bad file never stops the others); ``ignored`` lists the
    unsupported files met while walking a directory (not failures)."""

    collection: str
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    chunks: int = 0
    seconds: float = 0.0
    ignored: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class IngestProgress:
    """Handed to an ingest's ``progress`` callback after each file (and each embedded batch)."""

    files_done: int
    files_total: int
    chunks: int
    vectors_per_s: float
    source: str = ""


@runtime_checkable
class Retriever(Protocol):
    """Finds the passages that answer a query."""

    async def retrieve(
        self, query: str, *, k: int = 5, mode: SearchMode = "hybrid",
        collection: str | None = None, filter: Filter | None = None,
    ) -> list[Passage]:
        """The ``k`` best passages of ``collection`` (None: the default), best first; ``filter``
        applies to chunk metadata (``document_id``, ``source`` and what was given at ingest)."""
        ...


@runtime_checkable
class Knowledge(Retriever, Protocol):
    """Collections of documents bound to an embedder and a vector store (the ``rag`` plugin)."""

    async def collections(self) -> list[dict[str, Any]]:
        """Each collection: name, embedder, store, dimension, documents, chunks."""
        ...

    async def drop_collection(self, name: str) -> bool: ...

    async def ingest_paths(
        self, paths: Sequence[str], *, collection: str | None = None,
        progress: Callable[[IngestProgress], Awaitable[None] | None] | None = None,
    ) -> IngestReport:
        """Ingest files and directories (recursively: txt, md, html, pdf). Unchanged files are
        skipped; a changed file replaces its old chunks; a refused file is reported, not raised."""
        ...

    async def ingest_text(
        self, text: str, *, source: str, collection: str | None = None,
        metadata: Mapping[str, Any] | None = None, format: str = "text",
    ) -> DocumentInfo:
        """Ingest one document given as text (``format``: text, markdown or html); ``source``
        names it (a re-ingest of the same source replaces it when changed)."""
        ...

    async def documents(self, collection: str | None = None) -> list[DocumentInfo]: ...

    async def delete_document(self, document_id: str, collection: str | None = None) -> bool:
        """Delete a document and its chunks; False when there was none."""
        ...

    async def answer(
        self, question: str, *, k: int = 5, mode: SearchMode = "hybrid",
        collection: str | None = None, model: str | None = None,
        on_token: Callable[[str], Awaitable[None]] | None = None,
    ) -> Answer:
        """Retrieve, then answer with the chat model ``model`` citing the passages by number."""
        ...

    async def stats(self) -> dict[str, Any]: ...


def numbered_context(passages: Sequence[Passage], *, max_chars: int | None = None) -> str:
    """The passages as a prompt block, numbered from 1: ``[1] source › heading`` then the text.

    ``max_chars``: stop adding passages once the block would exceed it (the first always fits,
    truncated if need be)."""
    blocks: list[str] = []
    used = 0
    for number, p in enumerate(passages, 1):
        title = p.source + (f" › {p.heading}" if p.heading else "")
        block = f"[{number}] {title}\n{p.text.strip()}"
        if max_chars is not None and used + len(block) > max_chars:
            if blocks:
                break
            block = block[:max_chars]
        blocks.append(block)
        used += len(block) + 2
    return "\n\n".join(blocks)


CITED_ANSWER_SYSTEM = (
    "You answer questions using only the numbered sources you are given. Cite the sources you "
    "use by their numbers in square brackets, like [1]. If the sources do not answer the "
    "question, say so. Be concise."
)
"""The system prompt of an answer written from :func:`numbered_context` (the search agent, the
reasoning pipeline)."""


def relevant(passages: Sequence[Passage], min_similarity: float) -> list[Passage]:
    """The passages at or above ``min_similarity``; none when the best known similarity is below
    it. A passage of unknown similarity (found by keyword only) counts when some passage passed,
    or when no similarity is known at all."""
    known = [p.similarity for p in passages if p.similarity is not None]
    if known and max(known) < min_similarity:
        return []
    return [p for p in passages if p.similarity is None or p.similarity >= min_similarity]


def fit_passages(passages: Sequence[Passage], max_chars: int) -> list[Passage]:
    """The leading passages whose :func:`numbered_context` fits ``max_chars`` (at least one)."""
    kept = list(passages)
    while len(kept) > 1 and len(numbered_context(kept)) > max_chars:
        kept.pop()
    return kept


MARKER = re.compile(r"\[(\d{1,3})\]")
"""A citation marker in an answer, ``[n]``; its group is the number."""
_SPACED_MARKER = re.compile(r"(^|[ \t]*)\[(\d{1,3})\]([ \t]*)", re.MULTILINE)


def drop_unknown_markers(text: str, count: int) -> str:
    """``text`` without the ``[n]`` markers that name no passage of the ``count`` given (a small
    model cites ``[4]`` of 3), so that :func:`cite` sees only real ones: "saved [4]." becomes
    "saved.", a line "[4] jobs.md" becomes "jobs.md"."""
    def keep(match: re.Match[str]) -> str:
        if 1 <= int(match.group(2)) <= count:
            return match.group(0)
        at_line_start = match.start() == 0 or text[match.start() - 1] == "\n"
        return "" if at_line_start and not match.group(1) else match.group(3)
    return _SPACED_MARKER.sub(keep, text)


def cite(text: str, passages: Sequence[Passage], *, excerpt_chars: int = 240) -> tuple[Citation, ...]:
    """Citations for an answer written from :func:`numbered_context` of ``passages``: one per
    passage, numbered as in the prompt, ``cited`` where ``text`` has its ``[n]`` marker. When the
    text cites none, every passage counts as cited (the answer was built from them all)."""
    referenced = {int(n) for n in MARKER.findall(text)}
    any_cited = bool(referenced & set(range(1, len(passages) + 1)))
    return tuple(
        Citation(
            number=n, document_id=p.document_id, source=p.source, chunk=p.chunk, start=p.start,
            end=p.end, heading=p.heading, excerpt=" ".join(p.text.split())[:excerpt_chars],
            cited=(n in referenced) if any_cited else True,
        )
        for n, p in enumerate(passages, 1)
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetrievalStep(Step):
    """An agent searched ``collection`` (None: the default) for ``query`` by ``mode`` and kept
    ``hits`` passages, from ``sources`` (``source › heading`` each, best first)."""

    kind: ClassVar[str] = "retrieval"
    query: str
    mode: str
    hits: int
    sources: tuple[str, ...] = ()
    collection: str | None = None

    def summary(self) -> str:
        found = f"{self.hits} passage(s)" if self.hits else "nothing relevant"
        where = ", ".join(dict.fromkeys(s.partition(" › ")[0] for s in self.sources))
        return f"retrieval {self.query!r} ({self.mode}) → {found}" + (f" from {where}" if where else "")


class KnowledgeError(PygentError):
    """A knowledge request that cannot be honoured."""


class UnsupportedDocument(KnowledgeError, ValueError):
    """A file or text that cannot be ingested (unknown type, empty, binary, too large); the
    message names the file and why."""


class UnknownDocument(KnowledgeError, LookupError):
    """No document has this id in the collection."""


class RagHooks:
    """Hooks of the knowledge capability; the ``rag`` plugin registers and answers them."""

    @hookspec(firstresult=True)
    def pygent_retriever(self, collection: str | None) -> Retriever | None:
        """Return a retriever (None: the default collection's); agents and the reasoning pipeline
        retrieve through it.

        :param collection: A collection name, or None for ``[rag] collection``.
        """

    @hookspec(firstresult=True)
    def pygent_knowledge(self) -> Knowledge | None:
        """Return the knowledge service (ingest, search, answer, documents, collections)."""


RETRIEVER: ServiceKey[Retriever] = ServiceKey("pygent_retriever", Retriever, provider="rag")
"""A retriever: ``context.service(RETRIEVER, collection=None)``."""
KNOWLEDGE: ServiceKey[Knowledge] = ServiceKey("pygent_knowledge", Knowledge, provider="rag")
"""The knowledge service: ``context.service(KNOWLEDGE)``."""


@event("rag.ingest.progress")
class RagIngestProgress(Event):
    """An ingest into ``collection`` advanced: ``files_done`` of ``files_total``, ``chunks``
    embedded so far at ``vectors_per_s``; ``file`` is the file just done. (The event's own
    ``source`` is the publishing plugin, as for every event.)"""

    collection: str
    files_done: int
    files_total: int
    chunks: int
    vectors_per_s: float
    file: str


@event("rag.ingested")
class RagIngested(Event):
    """Document ``document_id`` (named ``document_source``: a path, or the source given with a
    text) was stored in ``collection`` as ``chunks`` chunks; ``replaced``: it replaced an older
    version."""

    collection: str
    document_id: str
    document_source: str
    chunks: int
    replaced: bool


@event("rag.searched")
class RagSearched(Event):
    """A ``mode`` search of ``collection`` for ``k`` passages returned ``hits`` in ``seconds``."""

    collection: str
    mode: str
    k: int
    hits: int
    seconds: float
