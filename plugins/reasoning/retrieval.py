"""Answers from retrieved passages: which passages count, the answer prompt, and the confidence
their similarity to the query gives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pygent_sdk import ChatMessage
from pygent_sdk.knowledge import CITED_ANSWER_SYSTEM, Passage, cite, numbered_context

from .run import Run


def similarity(passages: Sequence[Passage]) -> float:
    """The mean known cosine similarity of ``passages`` to the query, clamped to [0, 1] (0 when
    none is known)."""
    known = [p.similarity for p in passages if p.similarity is not None]
    return min(1.0, max(0.0, sum(known) / len(known))) if known else 0.0


def passage_dicts(passages: Sequence[Passage], answer: str = "") -> tuple[dict[str, Any], ...]:
    """The passages as the result lists them, numbered as in the prompt; ``cited`` where the
    answer refers to them (every one, when it cites none)."""
    citations = cite(answer, passages)
    return tuple(
        {"number": c.number, "id": p.id, "document_id": p.document_id, "source": p.source,
         "heading": p.heading, "chunk": p.chunk, "start": p.start, "end": p.end,
         "similarity": p.similarity, "excerpt": c.excerpt, "cited": c.cited}
        for c, p in zip(citations, passages)
    )


def nothing_relevant(run: Run, best: float | None) -> str:
    where = f"collection {run.collection!r}" if run.collection else "the knowledge base"
    seen = f" (best similarity {best:.2f}, below {run.config.min_similarity:.2f})" if best is not None else ""
    return f"I found nothing relevant to {run.query!r} in {where}{seen}, so I cannot answer it from the documents."


async def answer(run: Run, passages: Sequence[Passage]) -> str:
    """The model's answer to the run's query from ``passages`` (fitted: see :func:`fit`),
    citing them by number."""
    sources = numbered_context(passages, max_chars=2 * run.config.context_chars)
    messages = [ChatMessage("system", CITED_ANSWER_SYSTEM), ChatMessage(
        "user", f"Sources:\n{sources}\n\nQuestion: {run.query}\nAnswer, citing the sources like [1]:")]
    return await run.ask(messages, run.config.max_tokens, answer=True)
