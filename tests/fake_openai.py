"""A local server speaking OpenAI's streamed /v1/chat/completions with known chunks: tool-call
deltas split the way OpenAI sends them (id and name once, arguments in pieces, by index)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
            "choices": choices, **extra}


def tool_call_chunks(arguments: tuple[str, ...] = ('{"expr', 'ession": "17*', '23"}')) -> list[dict[str, Any]]:
    """Two parallel calls: calculator (arguments in pieces) and clock (no arguments)."""
    first, *rest = arguments
    return [
        _chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": "call_abc", "type": "function",
             "function": {"name": "calculator", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": first}}]}),
        *(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in rest),
        _chunk({"tool_calls": [{"index": 1, "id": "call_def", "type": "function",
                                "function": {"name": "clock", "arguments": "{}"}}]}),
        _chunk({}, "tool_calls"),
        _chunk(None, usage={"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43}),
    ]


class FakeOpenAI:
    """Answers each chat request with ``replies.pop(0)`` (a list of chunks); records requests."""

    def __init__(self) -> None:
        self.replies: list[list[dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []

    async def completions(self, request: Request) -> Response:
        self.requests.append(await request.json())
        chunks = self.replies.pop(0)

        async def body() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "gpt-x", "object": "model"}]})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/chat/completions", self.completions, methods=["POST"]),
            Route("/v1/models", self.models),
        ])
