"""rag: documents in collections, retrieval by vector, keyword or both, answers with citations.

Collections are bound to an embedder (``EMBEDDER``) and a vector store (``VECTOR_STORE``); the
catalog and BM25 indexes live in the plugin's data directory. The plugin declares and answers
``pygent_retriever`` and ``pygent_knowledge``, contributes the ``search_knowledge`` tool, the
``ingest`` job kind, the ``/api/v1/search/...`` routes and the ``ingest``, ``search``, ``ask``
and ``collections`` commands. See docs/knowledge.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator
from pygent_sdk import Health, Plugin, PluginConfig, PygentError, Tool, hookimpl
from pygent_sdk.knowledge import Knowledge, RagHooks, Retriever

if TYPE_CHECKING:
    from pygent_sdk.jobs import JobKind

    from .knowledge import KnowledgeService

__all__ = ["RagConfig", "RagPlugin"]


class RagConfig(PluginConfig):
    """Configuration of the ``[rag]`` table."""

    collection: str = Field("default", description="The collection used when none is named.")
    embedder: str = Field(
        "", description="Embedder a new collection is bound to (e.g. st:minilm); empty: the "
        "[embeddings] default. An existing collection keeps the embedder it was made with.",
    )
    store: str = Field(
        "", description="Vector store a new collection is bound to (faiss, pgvector, chroma); "
        "empty: the first enabled store.",
    )
    chunk_tokens: int = Field(
        160, ge=16, le=4096, description="Most tokens (whitespace-separated words) in a chunk.",
    )
    chunk_overlap: int = Field(24, ge=0, description="Tokens a chunk shares with the one before it.")
    max_file_mb: float = Field(
        20.0, gt=0, le=1024,
        description="Largest file (or upload) ingested, in MB; larger ones are refused unread.",
    )
    batch_size: int = Field(256, ge=1, le=8192, description="Chunks embedded per embedder call.")
    mode: Literal["vector", "keyword", "hybrid"] = Field(
        "hybrid", description="Search mode when none is given: vector, keyword (BM25) or hybrid.",
    )
    k: int = Field(5, ge=1, le=100, description="Passages returned when no k is given.")
    vector_weight: float = Field(1.0, ge=0, description="Weight of the vector ranking in hybrid fusion.")
    keyword_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in hybrid fusion.")
    rrf_k: int = Field(
        60, ge=1, description="The k of reciprocal rank fusion: score = sum of weight / (rrf_k + rank).",
    )
    mmr: bool = Field(False, description="Diversify results by maximal marginal relevance.")
    mmr_lambda: float = Field(
        0.7, ge=0, le=1, description="MMR trade-off: 1 = relevance only, 0 = diversity only.",
    )
    min_similarity: float = Field(
        0.3, ge=-1, le=1,
        description="Below this cosine similarity of the best passage, answers say nothing relevant "
        "was found (and no model is called).",
    )
    answer_model: str = Field("", description="Chat model that writes answers; empty: the [models] default.")
    context_chars: int = Field(
        6000, ge=500, description="Most characters of passages put in an answer's prompt (fewer "
        "when the model's context window is small).",
    )
    answer_max_tokens: int = Field(512, ge=16, le=32_768, description="Most tokens of an answer.")
    ingest_roots: list[str] = Field(
        default_factory=lambda: ["."],
        description="Directories an `ingest` job (started over REST or by another plugin) may read "
        "from; paths outside them (symlinks resolved), hidden below them, or in the kernel's data "
        "directory are refused. Relative to the working directory. `pygent ingest` reads what "
        "its user names (never the kernel's data directory).",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RagConfig:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be below chunk_tokens ({self.chunk_tokens})")
        return self


class RagPlugin(Plugin):
    """Ingests documents into collections and answers from them with citations (hybrid RAG)."""

    Config = RagConfig
    provides = ("rag",)
    requires = ("embedder", "vector-store")
    uses = ("jobs", "agents", "http")
    config: RagConfig
    service: KnowledgeService | None = None

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(RagHooks)

    async def start(self) -> None:
        from .knowledge import KnowledgeService

        self.service = KnowledgeService(self)

    async def stop(self) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None

    def started(self) -> KnowledgeService:
        if self.service is None:
            raise PygentError("the rag plugin has not started (it failed or is disabled)")
        return self.service

    @hookimpl
    def pygent_knowledge(self) -> Knowledge | None:
        return self.service

    @hookimpl
    def pygent_retriever(self, collection: str | None) -> Retriever | None:
        if self.service is None:
            return None
        from .knowledge import CollectionRetriever

        return CollectionRetriever(self.service, collection)

    @hookimpl(optionalhook=True)
    def pygent_tools(self) -> list[Tool]:
        from .tool import SearchKnowledge

        return [SearchKnowledge(self)]

    @hookimpl(optionalhook=True)
    def pygent_job_kinds(self) -> list[JobKind]:
        from .jobs import ingest_kind

        return [ingest_kind(self)]

    @hookimpl(optionalhook=True)
    def pygent_http_routes(self) -> list[Any]:
        from .http import routes

        return routes(self)

    @hookimpl
    def pygent_health(self) -> Health:
        if self.service is None:
            return Health.degraded("not started")
        return Health.ok(f"default collection {self.config.collection!r}; "
                         f"embedder {self.config.embedder or '(default)'}, store {self.config.store or '(first)'}")

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
