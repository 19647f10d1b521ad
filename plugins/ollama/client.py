"""OllamaService and OllamaModel: the Ollama API through ``ollama.AsyncClient``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import anyio
import httpx
import ollama
from pygent_sdk import (
    BaseChatModel, ChatChunk, ChatMessage, ChatOptions, Health, ModelProfile, PullProgress,
    PygentError, ToolCall, Usage,
)
from pygent_sdk.models import BaseModelProvider, ModelEntry


class OllamaError(PygentError):
    """Ollama is not running, or refused a request."""


class OllamaNotFound(OllamaError, LookupError):
    """Ollama does not hold the model asked for."""


def _options(options: ChatOptions, num_ctx: int) -> dict[str, Any]:
    out: dict[str, Any] = {"num_ctx": num_ctx}
    for key, value in [("num_predict", options.max_tokens), ("temperature", options.temperature),
                       ("seed", options.seed)]:
        if value is not None:
            out[key] = value
    if options.stop:
        out["stop"] = list(options.stop)
    return out


def _message(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
    return out


class OllamaService(BaseModelProvider):
    """One Ollama server: chat, generate, list, pull, delete, show, version; the ``ollama``
    provider of the models registry."""

    name = "ollama"

    def __init__(self, host: str, timeout: float, keep_alive: str = "5m", num_ctx: int = 4096) -> None:
        self.host = host
        self.keep_alive = keep_alive
        self.num_ctx = num_ctx
        self.client = ollama.AsyncClient(host=host, timeout=httpx.Timeout(timeout, connect=3.0))
        self.profiles: dict[str, ModelProfile] = {}
        self.names: list[str] = []
        """The models offered as ollama:NAME: configured, listed at start, pulled since."""

    def model(self, name: str) -> OllamaModel:
        return OllamaModel(self, name)

    def profile(self, name: str) -> ModelProfile:
        """What ``name`` can do, as learnt by :meth:`learn`; until then, its context only."""
        return self.profiles.get(name) or ModelProfile(context_length=self.num_ctx, json_schema=True)

    async def learn(self, names: list[str]) -> None:
        """Ask the server what each model can do (``/api/show``); a model it cannot show keeps
        the default profile."""

        async def one(name: str) -> None:
            try:
                shown = await self.show(name)
            except OllamaError:
                return
            info = shown.get("modelinfo") or shown.get("model_info") or {}
            trained = next((v for k, v in info.items() if k.endswith(".context_length")), None)
            capabilities = set(shown.get("capabilities") or ())
            self.profiles[name] = ModelProfile(
                context_length=min(self.num_ctx, trained) if isinstance(trained, int) else self.num_ctx,
                tools="tools" in capabilities, json_schema=True,
                embeddings="embedding" in capabilities,
            )

        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(one, name)

    def _error(self, error: Exception) -> OllamaError:
        if isinstance(error, httpx.ConnectError | ConnectionError):
            return OllamaError(f"Ollama is not running at {self.host} (is `ollama serve` up?)")
        if isinstance(error, ollama.ResponseError):
            kind = OllamaNotFound if error.status_code == 404 else OllamaError
            return kind(f"Ollama at {self.host} answered {error.status_code}: {error.error}")
        return OllamaError(f"Ollama at {self.host}: {type(error).__name__}: {error}")

    async def status(self) -> Health:
        try:
            return Health.ok(f"Ollama {await self.version()} at {self.host}")
        except OllamaError as error:
            return Health.down(str(error))

    async def list_models(self) -> list[ModelEntry]:
        return [ModelEntry(f"ollama:{m['name']}", m["size"], m["modified_at"]) for m in await self.list()]

    async def version(self) -> str:
        try:
            async with httpx.AsyncClient(base_url=self.host, timeout=3.0) as http:
                response = await http.get("/api/version")
                response.raise_for_status()
        except (httpx.HTTPError, ConnectionError) as error:
            raise self._error(error) from None
        return response.json().get("version", "?")

    async def list(self) -> list[dict[str, Any]]:
        try:
            listing = await self.client.list()
        except (httpx.HTTPError, ConnectionError, ollama.ResponseError) as error:
            raise self._error(error) from None
        return [{"name": m.model, "size": m.size,
                 "modified_at": m.modified_at.isoformat() if m.modified_at else None}
                for m in listing.models]

    async def show(self, name: str) -> dict[str, Any]:
        try:
            return (await self.client.show(name)).model_dump(mode="json", exclude_none=True)
        except (httpx.HTTPError, ConnectionError, ollama.ResponseError) as error:
            raise self._error(error) from None

    async def delete(self, name: str) -> None:
        try:
            await self.client.delete(name)
        except (httpx.HTTPError, ConnectionError, ollama.ResponseError) as error:
            raise self._error(error) from None
        gone = {name, name.removesuffix(":latest")}
        self.names[:] = [n for n in self.names if n not in gone]

    async def pull(self, name: str, progress: Callable[[PullProgress], None]) -> None:
        try:
            async for part in await self.client.pull(name, stream=True):
                progress(PullProgress(part.status or "", part.completed or 0, part.total or 0))
        except (httpx.HTTPError, ConnectionError, ollama.ResponseError) as error:
            raise self._error(error) from None
        if name not in self.names:
            self.names.append(name)
        await self.learn([name])

    def embedder(self, name: str) -> OllamaEmbedder:
        return OllamaEmbedder(self, name)

    async def embed(self, name: str, texts: list[str]) -> list[list[float]]:
        """Normalized vectors of ``texts`` from model ``name`` (``/api/embed``)."""
        try:
            reply = await self.client.embed(name, texts, keep_alive=self.keep_alive)
        except (httpx.HTTPError, ConnectionError, ollama.ResponseError) as error:
            failed = self._error(error)
            raise type(failed)(f"{failed} (embedding with model {name!r})") from None
        rows = [normalized(row) for row in reply.embeddings]
        if len(rows) != len(texts) or len({len(r) for r in rows}) > 1:
            raise OllamaError(f"Ollama at {self.host}: model {name!r} answered {len(rows)} "
                              f"embedding(s) of sizes {sorted({len(r) for r in rows})} for {len(texts)} text(s)")
        return rows

    async def generate(self, name: str, prompt: str, options: ChatOptions | None = None) -> AsyncIterator[ChatChunk]:
        """Plain completion of ``prompt`` (no chat template), streamed."""
        options = options or ChatOptions()
        try:
            parts = await self.client.generate(
                name, prompt, stream=True, options=_options(options, self.num_ctx), keep_alive=self.keep_alive,
                format=options.json_schema or "",
            )
            async for part in parts:
                if part.response:
                    yield ChatChunk(text=part.response)
                if part.done:
                    yield ChatChunk(
                        finish_reason="length" if part.done_reason == "length" else "stop",
                        usage=Usage(part.prompt_eval_count or 0, part.eval_count or 0),
                    )
        except (httpx.HTTPError, ConnectionError, ollama.ResponseError) as error:
            raise self._error(error) from None

    async def chat(
        self, name: str, messages: Sequence[ChatMessage], options: ChatOptions
    ) -> AsyncIterator[ChatChunk]:
        tools = [
            {"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in options.tools
        ] or None
        try:
            parts = await self.client.chat(
                name, [_message(m) for m in messages], stream=True, tools=tools,
                options=_options(options, self.num_ctx), format=options.json_schema or "",
                keep_alive=self.keep_alive,
            )
            calls: list[ToolCall] = []
            async for part in parts:
                message = part.message
                for call in message.tool_calls or ():
                    calls.append(ToolCall(f"call_{len(calls)}", call.function.name,
                                          dict(call.function.arguments)))
                if message.content:
                    yield ChatChunk(text=message.content)
                if part.done:
                    finish = "tool_calls" if calls else (
                        "length" if part.done_reason == "length" else "stop")
                    yield ChatChunk(
                        tool_calls=tuple(calls), finish_reason=finish,
                        usage=Usage(part.prompt_eval_count or 0, part.eval_count or 0),
                    )
        except (httpx.HTTPError, ConnectionError, ollama.ResponseError) as error:
            raise self._error(error) from None


def normalized(row: Sequence[float]) -> list[float]:
    """``row`` scaled to unit length (a zero row stays zero)."""
    norm = math.sqrt(math.fsum(x * x for x in row))
    return [x / norm for x in row] if norm else [float(x) for x in row]


class OllamaEmbedder:
    """One Ollama embedding model (``/api/embed``) as an Embedder named ``ollama:NAME``; its
    dimension is 0 until the first call."""

    batch = 64
    """Texts per request."""

    def __init__(self, service: OllamaService, name: str) -> None:
        self.service = service
        self.remote = name
        self.name = f"ollama:{name}"
        self.dimension = 0

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch):
            rows += await self.service.embed(self.remote, list(texts[start:start + self.batch]))
        if rows:
            self.dimension = len(rows[0])
        return rows


class OllamaModel(BaseChatModel):
    """One Ollama model as a ChatModel named ``ollama:NAME``."""

    def __init__(self, service: OllamaService, name: str) -> None:
        self.service = service
        self.remote = name
        self.name = f"ollama:{name}"
        self.description = f"Ollama, {service.host}"

    @property
    def profile(self) -> ModelProfile:  # type: ignore[override]
        return self.service.profile(self.remote)

    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        return self.service.chat(self.remote, messages, options or ChatOptions())
