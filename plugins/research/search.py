"""SearchAgent: retrieve passages, answer from them with numbered citations, or say honestly that
the collection holds no answer (without asking the model).

The output is the answer, then ``Sources:`` with one ``[n] source › heading`` line per cited
passage; it is streamed to ``on_token`` as it is written. A question nothing relevant answers
ends with ``success=False`` and no model call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import Field
from pygent_sdk import AgentResult, ChatMessage, ChatOptions, PluginConfig, Usage
from pygent_sdk.agents import AgentContext, AnswerStep, TokenSink
from pygent_sdk.guard import guarded_reply
from pygent_sdk.knowledge import (
    CITED_ANSWER_SYSTEM, Citation, Passage, Retriever, RetrievalStep, SearchMode, cite,
    fit_passages, numbered_context, relevant,
)

_CHARS_PER_TOKEN = 3  # as pygent_sdk.agents.estimate_tokens counts
STOP = ("\nQuestion:", "\nSources:", "\nSub-question:")
"""Where a small model starts writing the next turn of the prompt instead of answering."""


class SearchConfig(PluginConfig):
    """Settings of a ``search`` agent."""

    collection: str | None = Field(
        None, description="Collection searched (unset: the knowledge service's default, [rag] collection)."
    )
    k: int = Field(5, ge=1, le=50, description="Passages retrieved per question.")
    mode: SearchMode = Field("hybrid", description="Retrieval by vector, keyword (BM25) or hybrid.")
    min_similarity: float = Field(
        0.3, ge=-1, le=1, description="Passages whose cosine similarity to the question is lower "
        "do not count; when none is left the agent says the collection has no answer.",
    )
    max_tokens: int = Field(256, ge=16, description="Tokens of the answer.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the answer.")


def title(passage: Passage | Citation) -> str:
    """``source › heading`` (the source alone when the passage has no heading)."""
    return passage.source + (f" › {passage.heading}" if passage.heading else "")




def context_chars(window_tokens: int, reply_tokens: int) -> int:
    """Characters of sources a prompt may hold in a ``window_tokens`` window, leaving room for
    the instructions, the question and a ``reply_tokens`` reply."""
    return max(600, (window_tokens - reply_tokens - 200) * _CHARS_PER_TOKEN)


def source_lines(citations: Sequence[Citation]) -> str:
    """``[n] source › heading``, one line per cited citation."""
    return "\n".join(f"[{c.number}] {title(c)}" for c in citations if c.cited)


def nothing_found(question: str, collection: str | None) -> str:
    where = f"collection {collection!r}" if collection else "the knowledge base"
    return (f"I found nothing relevant to {question!r} in {where}, so I cannot answer it from the "
            "documents. Ingest documents that cover it (pygent ingest PATH) or rephrase the question.")


async def stream_answer(
    context: AgentContext, messages: list[ChatMessage], options: ChatOptions,
    on_token: TokenSink | None,
) -> tuple[str, Usage]:
    """The model's reply to ``messages``, streamed and cut at the first repeated sentence."""
    return await guarded_reply(context.model, messages, options, on_token)


def answer_prompt(question: str, passages: Sequence[Passage], max_chars: int) -> list[ChatMessage]:
    return [
        ChatMessage("system", CITED_ANSWER_SYSTEM),
        ChatMessage("user", f"Sources:\n{numbered_context(passages, max_chars=max_chars)}\n\n"
                            f"Question: {question}\nAnswer, citing the sources like [1]:"),
    ]


class SearchAgent:
    """See the module docstring."""

    def __init__(
        self, context: AgentContext, config: SearchConfig, retriever: Callable[[], Retriever]
    ) -> None:
        self.context = context
        self.config = config
        self.retriever = retriever
        """The retriever service, looked up at each run (the rag plugin may start later)."""

    async def run(self, task: str, *, on_token: TokenSink | None = None) -> AgentResult:
        config = self.config
        await self.context.set_status("waiting")
        found = await self.retriever().retrieve(
            task, k=config.k, mode=config.mode, collection=config.collection
        )
        await self.context.set_status("running")
        max_chars = context_chars(self.context.context_tokens, config.max_tokens)
        passages = fit_passages(relevant(found, config.min_similarity), max_chars)
        await self.context.step(RetrievalStep(
            query=task, mode=config.mode, hits=len(passages), collection=config.collection,
            sources=tuple(title(p) for p in passages),
        ))
        if not passages:
            output = nothing_found(task, config.collection)
            if on_token is not None:
                await on_token(output)
            await self.context.step(AnswerStep(text=output))
            return AgentResult(output, False)
        options = ChatOptions(max_tokens=config.max_tokens, temperature=config.temperature, stop=STOP)
        text, usage = await stream_answer(
            self.context, answer_prompt(task, passages, max_chars), options, on_token
        )
        citations = cite(text, passages)
        tail = f"\n\nSources:\n{source_lines(citations)}"
        if on_token is not None:
            await on_token(tail)
        output = (text or "(the model gave no answer; the sources below matched the question)") + tail
        await self.context.step(AnswerStep(text=text))
        return AgentResult(output, bool(text), usage=usage)
