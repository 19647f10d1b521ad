"""MeteredModel: a ChatModel wrapper that publishes usage and latency of every exchange."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from pygent_sdk import Bus, ChatChunk, ChatMessage, ChatModel, ChatOptions, ChatResponse, collect
from pygent_sdk.models import LlmUsage


class MeteredModel:
    """Delegates to ``inner`` and publishes ``llm.usage`` when each stream ends."""

    def __init__(self, inner: ChatModel, bus: Bus, source: str) -> None:
        self.inner = inner
        self.name = inner.name
        self._bus = bus
        self._source = source

    async def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        start = time.perf_counter()
        first: float | None = None
        finish, usage = "error", None
        try:
            async for chunk in self.inner.stream(messages, options):
                if first is None and (chunk.text or chunk.tool_calls):
                    first = time.perf_counter() - start
                if chunk.finish_reason is not None:
                    finish = chunk.finish_reason
                if chunk.usage is not None:
                    usage = chunk.usage
                yield chunk
        except GeneratorExit:
            finish = "cancelled"
            raise
        finally:
            await self._bus.publish(LlmUsage(
                model=self.name,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                first_token_s=first, total_s=time.perf_counter() - start,
                finish_reason=finish, source=self._source,
            ))

    async def chat(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> ChatResponse:
        return await collect(self.stream(messages, options), self.name)
