"""OpenAIClient: the ``/v1/chat/completions`` and ``/v1/models`` calls, over httpx."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from pygent_sdk import (
    BaseChatModel, ChatChunk, ChatMessage, ChatOptions, Health, ModelProfile, PygentError, ToolCall,
    Usage,
)
from pygent_sdk.models import BaseModelProvider, ModelEntry

if TYPE_CHECKING:
    from . import OpenAIConfig

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls"}


class OpenAIError(PygentError):
    """The server is unreachable or refused a request."""


def _message(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in m.tool_calls
        ]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out


class OpenAIClient(BaseModelProvider):
    """One HTTP connection pool to the server; the ``openai`` provider of the models registry."""

    name = "openai"

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.profile = ModelProfile(context_length=config.context_length, tools=config.tools,
                                    json_schema=True)
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.http = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/"), headers=headers,
            timeout=httpx.Timeout(config.timeout, connect=5.0),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def model(self, name: str) -> OpenAIModel:
        return OpenAIModel(self, name)

    async def _check(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        body = (await response.aread()).decode(errors="replace")[:500]
        raise OpenAIError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {body}"
        )

    def _unreachable(self, error: httpx.HTTPError) -> OpenAIError:
        return OpenAIError(
            f"OpenAI-compatible server at {self.config.base_url} is unreachable: "
            f"{type(error).__name__}: {error or 'no answer'}"
        )

    async def status(self) -> Health:
        try:
            served = await self.served()
        except OpenAIError as error:
            return Health.down(str(error))
        return Health.ok(f"{self.config.base_url}: {len(served)} model(s)")

    async def list_models(self) -> list[ModelEntry]:
        return [ModelEntry(f"openai:{name}") for name in await self.served()]

    async def served(self) -> list[str]:
        """The ids the server's ``/models`` lists."""
        try:
            response = await self.http.get("/models")
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None
        await self._check(response)
        try:
            return [str(m["id"]) for m in response.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise OpenAIError(f"{response.request.url} answered without an OpenAI model list: "
                              f"{response.text[:200]!r}") from None

    def embedder(self, name: str) -> OpenAIEmbedder:
        return OpenAIEmbedder(self, name)

    async def embed(self, model: str, texts: list[str]) -> tuple[list[list[float]], bool]:
        """Normalized vectors of ``texts`` from ``model`` (``/embeddings``), in input order, and
        whether the server sent one vector per token (mean-pooled here) instead of per text."""
        where = f"OpenAI-compatible server at {self.config.base_url}, model {model!r}"
        try:
            response = await self.http.post("/embeddings", json={"model": model, "input": texts})
        except httpx.HTTPError as error:
            raise OpenAIError(f"{where}: unreachable: {type(error).__name__}: {error or 'no answer'}") from None
        if not response.is_success:
            raise OpenAIError(f"{where}: embeddings answered {response.status_code}: {response.text[:500]}")
        try:
            data = sorted(response.json()["data"], key=lambda d: d.get("index", 0))
            per_token = any(d["embedding"] and isinstance(d["embedding"][0], list) for d in data)
            rows = [normalized(_pooled(d["embedding"])) for d in data]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise OpenAIError(f"{where}: answered without an embeddings list: {response.text[:200]!r}") from None
        if len(rows) != len(texts) or len({len(r) for r in rows}) > 1:
            raise OpenAIError(f"{where}: answered {len(rows)} embedding(s) of sizes "
                              f"{sorted({len(r) for r in rows})} for {len(texts)} text(s)")
        return rows, per_token

    def request(self, model: str, messages: Sequence[ChatMessage], options: ChatOptions) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model, "messages": [_message(m) for m in messages], "stream": True,
            "stream_options": {"include_usage": True},
        }
        for key, value in [("max_tokens", options.max_tokens), ("temperature", options.temperature),
                           ("seed", options.seed)]:
            if value is not None:
                body[key] = value
        if options.stop:
            body["stop"] = list(options.stop)
        if options.tools:
            body["tools"] = [
                {"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in options.tools
            ]
        if options.tool_choice in ("auto", "none", "required"):
            body["tool_choice"] = options.tool_choice
        elif options.tool_choice:
            body["tool_choice"] = {"type": "function", "function": {"name": options.tool_choice}}
        if options.json_schema is not None:
            body["response_format"] = (
                {"type": "json_schema",
                 "json_schema": {"name": "reply", "schema": options.json_schema,
                                 "strict": strict_schema(options.json_schema)}}
                if self.config.json_mode == "json_schema"
                else {"type": "json_object", "schema": options.json_schema}
            )
        return body

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[ChatChunk]:
        calls: dict[int, dict[str, str]] = {}
        finish, usage, pieces = "stop", None, 0
        try:
            async with self.http.stream("POST", "/chat/completions", json=body) as response:
                await self._check(response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    if chunk.get("usage"):
                        u = chunk["usage"]
                        usage = Usage(u.get("prompt_tokens", 0), u.get("completion_tokens", 0))
                    for choice in chunk.get("choices", []):
                        delta = choice.get("delta") or {}
                        for call in delta.get("tool_calls") or []:
                            slot = calls.setdefault(call.get("index", 0), {"id": "", "name": "", "args": ""})
                            slot["id"] = call.get("id") or slot["id"]
                            function = call.get("function") or {}
                            slot["name"] = slot["name"] or function.get("name") or ""
                            slot["args"] += function.get("arguments") or ""
                            pieces += 1
                        if delta.get("content"):
                            pieces += 1
                            yield ChatChunk(text=delta["content"])
                        if choice.get("finish_reason"):
                            finish = _FINISH.get(choice["finish_reason"], "stop")
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None
        tool_calls = tuple(_tool_call(i, slot) for i, slot in sorted(calls.items()))
        # Servers that report no usage when streaming (llama.cpp's) send one token per chunk.
        usage = usage or Usage(0, pieces)
        yield ChatChunk(tool_calls=tool_calls, finish_reason=finish, usage=usage)


def _pooled(embedding: list[Any]) -> list[float]:
    """A text's vector: the embedding itself, or the mean of its per-token vectors."""
    if embedding and isinstance(embedding[0], list):
        return [math.fsum(column) / len(embedding) for column in zip(*embedding, strict=True)]
    return [float(x) for x in embedding]


def normalized(row: Sequence[float]) -> list[float]:
    """``row`` scaled to unit length (a zero row stays zero)."""
    norm = math.sqrt(math.fsum(x * x for x in row))
    return [x / norm for x in row] if norm else [float(x) for x in row]


class OpenAIEmbedder:
    """One embedding model of the server (``/v1/embeddings``) as an Embedder named
    ``openai:NAME``; its dimension is 0 until the first call."""

    batch = 64
    """Texts per request."""

    def __init__(self, client: OpenAIClient, name: str) -> None:
        self.client = client
        self.remote = name
        self.name = f"openai:{name}"
        self.dimension = 0

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        rows: list[list[float]] = []
        start = 0
        while start < len(texts):
            part = list(texts[start:start + self.batch])
            got, per_token = await self.client.embed(self.remote, part)
            if per_token and len(part) > 1:
                # llama-cpp-python's server, on a model without pooling, returns one vector per
                # token and mixes up every input after the first of a batch: one text per request.
                self.batch = 1
                continue
            rows += got
            start += len(part)
        if rows:
            self.dimension = len(rows[0])
        return rows


def _tool_call(index: int, slot: dict[str, str]) -> ToolCall:
    try:
        arguments = json.loads(slot["args"] or "{}")
    except json.JSONDecodeError as error:
        raise OpenAIError(
            f"tool call {slot['name']!r} came with arguments that are not JSON ({error}): "
            f"{slot['args'][:200]!r}"
        ) from None
    return ToolCall(slot["id"] or f"call_{index}", slot["name"], arguments)


class OpenAIModel(BaseChatModel):
    """One model of the server, as a ChatModel named ``openai:NAME``."""

    def __init__(self, client: OpenAIClient, name: str) -> None:
        self.client = client
        self.remote = name
        self.name = f"openai:{name}"
        self.description = f"OpenAI-compatible, {client.config.base_url}"
        self.profile = client.profile

    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        return self.client.stream(self.client.request(self.remote, messages, options or ChatOptions()))


def strict_schema(schema: Any) -> bool:
    """Whether OpenAI's strict structured outputs accept ``schema``: an object at the root whose
    objects all forbid extra properties and require every property (else it is sent unstrict)."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or "anyOf" in schema:
        return False

    def ok(node: Any) -> bool:
        if isinstance(node, dict):
            if node.get("type") == "object" and (
                node.get("additionalProperties") is not False
                or set(node.get("required", ())) != set(node.get("properties", {}))
            ):
                return False
            return all(ok(v) for v in node.values())
        if isinstance(node, list):
            return all(ok(v) for v in node)
        return True

    return ok(schema)
