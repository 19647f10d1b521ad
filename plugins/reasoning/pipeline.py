"""Pipeline: the ``REASONING`` service. Checks a request, answers from the result cache where it
can, picks the mode (``adaptive`` classifies the query), runs it and publishes
``reasoning.started``/``reasoning.finished``."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping
from typing import Any

from pygent_sdk import ChatModel
from pygent_sdk.knowledge import KNOWLEDGE, RETRIEVER
from pygent_sdk.models import CHAT_MODEL
from pygent_sdk.reasoning import (
    CHAIN_OF_THOUGHT, MODES, TREE_SEARCH, InvalidProblem, ReasoningError, ReasoningFinished,
    ReasoningResult, ReasoningStarted, StopSignal, TreeSettings, UnknownMode,
)

from . import modes
from .adaptive import choose
from .cache import ResultCache, cache_key, corpus_version
from .run import Run

DESCRIPTIONS: Mapping[str, str] = {
    "tot_only": "Tree-of-Thought search on the query alone (the task's prompts, evaluator and verifier).",
    "rag_only": "Retrieve passages and answer from them, citing them by number.",
    "s3_rag": "s3 search: the model writes queries, keeps the useful passages and decides when it "
              "has enough, then answers from them.",
    "tot_enhanced_rag": "Retrieve, then Tree-of-Thought with the passages conditioning proposals and evaluations.",
    "tot_s3_rag": "s3 search, then Tree-of-Thought with the kept passages as context.",
    "adaptive": "Classify the query as simple, moderate, complex or research and run the mode that fits.",
    "cot": "Adaptive only (cannot be requested): chain-of-thought with self-consistency (3 "
           "chains voted) for a simple question when there is no knowledge base.",
}
"""Each mode a result can report: the requestable ones (``MODES``) and ``cot``."""
RETRIEVING = frozenset({"rag_only", "s3_rag", "tot_enhanced_rag", "tot_s3_rag"})


class Pipeline:
    """The unified reasoning pipeline (see :class:`pygent_sdk.reasoning.ReasoningPipeline`)."""

    def __init__(self, context: Any, config: Any) -> None:
        self.context = context
        self.config = config
        self.cache = ResultCache(config.cache_size)

    def modes(self) -> dict[str, str]:
        return dict(DESCRIPTIONS)

    def settings(self, overrides: Mapping[str, Any] | None = None) -> TreeSettings:
        """The ``[tot]`` defaults with ``overrides`` (InvalidSettings names a bad key)."""
        return self.context.service(TREE_SEARCH).settings(overrides)

    def _model_name(self, settings: TreeSettings | None) -> str | None:
        return (settings.model if settings is not None else None) or self.config.model

    async def run(
        self, query: str, *, mode: str | None = None, task: str | None = None,
        settings: TreeSettings | None = None, collection: str | None = None,
        session_id: str | None = None, stop: StopSignal | None = None, use_cache: bool = True,
    ) -> ReasoningResult:
        """Answer ``query`` in ``mode`` (None: ``[reasoning] mode``); see the protocol."""
        requested = mode or self.config.mode
        if requested not in MODES:
            if requested == "cot":
                raise UnknownMode(
                    "Mode 'cot' cannot be requested: cot runs only when adaptive picks it (a simple "
                    f"question with no knowledge base); request adaptive. Modes: {', '.join(MODES)}.")
            raise UnknownMode(f"No reasoning mode {requested!r}; modes: {', '.join(MODES)}.")
        if not query or not query.strip():
            raise InvalidProblem("The reasoning query is empty: give a question or a problem.")
        query = query.strip()
        collection = collection or self.config.collection
        retriever = self.context.optional_service(RETRIEVER, collection=collection)
        if requested in RETRIEVING and retriever is None:
            raise ReasoningError(
                f"Mode {requested!r} retrieves passages, but no plugin provides 'rag': enable [rag] "
                "in plugins.toml (with an embedder and a vector store), or use mode tot_only.")
        session_id = session_id or uuid.uuid4().hex
        started = time.perf_counter()
        await self.context.bus.publish(ReasoningStarted(
            session_id=session_id, query=query, mode=requested, source=self.context.name))

        version, documents = "-", 0
        if retriever is not None and (requested in RETRIEVING or requested == "adaptive"):
            version, documents = await corpus_version(self.context.optional_service(KNOWLEDGE), collection)
        key = cache_key(query, requested, task, settings.model_dump() if settings else None, collection, version)
        hit = self.cache.get(key) if use_cache else None
        if hit is not None:
            tree = None if hit.tree is None else {**hit.tree, "session_id": session_id}
            result = dataclasses.replace(hit, session_id=session_id, tree=tree, cached=True)
            await self._finished(result, time.perf_counter() - started)
            return result

        model_name = self._model_name(settings)
        run = Run(session_id, query, self.config, lambda: self._chat(model_name), settings, collection,
                  retriever, stop)
        tot = self.context.service(TREE_SEARCH)
        if requested == "adaptive":
            with run.timed("classify"):
                cot = self.context.optional_service(CHAIN_OF_THOUGHT)
                counted = version != "none"  # without the knowledge service, documents are not counted
                knowledge = retriever is not None and (documents > 0 or not counted)
                choice = choose(query, task=task, knowledge=knowledge, cot=cot is not None,
                                tasks=frozenset(tot.tasks()))
            chosen, why, complexity, task = choice.mode, choice.why, choice.complexity, choice.task or task
            run.query = choice.problem or query
            if chosen == "cot":
                assert cot is not None  # choose() picks cot only when it is there
                outcome = await modes.chain(run, cot, model_name)
            else:
                outcome = await modes.MODES[chosen](run, tot, task)
        else:
            chosen, why, complexity = requested, f"mode {requested} requested", None
            outcome = await modes.MODES[chosen](run, tot, task)

        result = ReasoningResult(
            session_id=session_id, query=query, requested=requested, mode=chosen,
            why=why + (f"; {outcome.note}" if outcome.note else ""), answer=outcome.answer,
            confidence=outcome.confidence, confidence_source=outcome.source, complexity=complexity,
            timings=dict(run.timings), tree=outcome.tree, passages=outcome.passages,
            searches=outcome.searches, usage=run.usage, found=outcome.found,
        )
        if use_cache and not (run.stopped or outcome.cancelled):
            self.cache.put(key, result)
        await self._finished(result, time.perf_counter() - started)
        return result

    def _chat(self, name: str | None) -> ChatModel:
        return self.context.service(CHAT_MODEL, name=name)

    async def _finished(self, result: ReasoningResult, seconds: float) -> None:
        await self.context.bus.publish(ReasoningFinished(
            session_id=result.session_id, requested=result.requested, mode=result.mode,
            confidence=result.confidence, seconds=seconds, cached=result.cached, source=self.context.name))
