"""MeteredModel: a ChatModel wrapper that publishes usage and latency of every exchange."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

import anyio
from pygent_sdk import (
    BaseChatModel, Bus, ChatChunk, ChatMessage, ChatModel, ChatOptions, ModelProfile,
)
from pygent_sdk.models import LlmUsage


async def metered(
    chunks: AsyncIterator[ChatChunk], model: str, bus: Bus, source: str
) -> AsyncIterator[ChatChunk]:
    """Pass ``chunks`` through; publish ``llm.usage`` for ``model`` when they end, fail or are
    cancelled."""
    start = time.perf_counter()
    first: float | None = None
    finish, usage = "error", None
    try:
        async for chunk in chunks:
            if first is None and (chunk.text or chunk.tool_calls):
                first = time.perf_counter() - start
            if chunk.finish_reason is not None:
                finish = chunk.finish_reason
            if chunk.usage is not None:
                usage = chunk.usage
            yield chunk
    except (GeneratorExit, anyio.get_cancelled_exc_class()):
        finish = "cancelled"
        raise
    finally:
        event = LlmUsage(
            model=model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            first_token_s=first, total_s=time.perf_counter() - start,
            finish_reason=finish, source=source,
        )
        if finish in ("cancelled", "error"):  # on the way out of a cancelled scope: shield it
            with anyio.CancelScope(shield=True):
                await bus.publish(event)
        else:
            await bus.publish(event)


class MeteredModel(BaseChatModel):
    """Delegates to ``inner`` and publishes ``llm.usage`` when each stream ends."""

    def __init__(self, inner: ChatModel, bus: Bus, source: str) -> None:
        self.inner = inner
        self.name = inner.name
        self.description = getattr(inner, "description", "")
        self._bus = bus
        self._source = source

    @property
    def profile(self) -> ModelProfile:  # type: ignore[override]
        """The inner model's profile (an unknown one for a model that predates profiles)."""
        return getattr(self.inner, "profile", None) or ModelProfile()

    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        return metered(self.inner.stream(messages, options), self.name, self._bus, self._source)
