"""The models plugin's HTTP routes: list, status, show, pull, delete, chat, generate, metrics.

Each route reaches a model's provider by the prefix of its name (``ollama`` in
``ollama:llama3.2``); changes (pull, delete) need the admin permission, generation ``write``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from litestar import delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent, ServerSentEventMessage
from pygent_sdk import ChatChunk, ChatMessage, ChatModel, ChatOptions, collect
from pygent_sdk.models import ModelNotFound, ModelProvider, pull_events

from .metered import metered
from .metrics import Percentiles

if TYPE_CHECKING:
    from . import ModelsPlugin

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=r"^[^\x00-\x20\x7f]+$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]


class ModelOut(msgspec.Struct):
    name: str
    description: str
    default: bool


class ProfileOut(msgspec.Struct):
    context_length: int | None
    tools: bool
    json_schema: bool
    streaming: bool
    embeddings: bool


class ModelDetailsOut(msgspec.Struct):
    name: str
    description: str
    default: bool
    provider: str | None
    profile: ProfileOut
    details: dict[str, Any]
    """What the provider tells of the model (for Ollama: modelfile, template, parameters)."""


class ProviderOut(msgspec.Struct):
    name: str
    status: str
    detail: str
    models: int | None
    """How many models the provider's backend holds (None: it could not say)."""


class StatusOut(msgspec.Struct):
    default: str
    models: list[str]
    providers: list[ProviderOut]


class PullIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    """The model to download, ``provider:model`` (e.g. ``ollama:qwen3``)."""


class OptionsIn(msgspec.Struct, forbid_unknown_fields=True):
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=32_768)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    stop: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]],
                    msgspec.Meta(max_length=8)] = []
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] | None = None
    json_schema: dict[str, Any] | None = None

    def options(self) -> ChatOptions:
        return ChatOptions(max_tokens=self.max_tokens, temperature=self.temperature,
                           stop=tuple(self.stop), seed=self.seed, json_schema=self.json_schema)


class GenerateIn(msgspec.Struct, forbid_unknown_fields=True):
    prompt: Text
    options: OptionsIn = msgspec.field(default_factory=OptionsIn)


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str, msgspec.Meta(max_length=100_000)]


class ChatIn(msgspec.Struct, forbid_unknown_fields=True):
    messages: Annotated[list[MessageIn], msgspec.Meta(min_length=1, max_length=200)]
    options: OptionsIn = msgspec.field(default_factory=OptionsIn)


class UsageOut(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int


class ToolCallOut(msgspec.Struct):
    id: str
    name: str
    arguments: dict[str, Any]


class ReplyOut(msgspec.Struct):
    model: str
    text: str
    finish_reason: str
    usage: UsageOut
    tool_calls: list[ToolCallOut]


class PercentilesOut(msgspec.Struct):
    p50: float
    p95: float
    p99: float


class MetricsOut(msgspec.Struct):
    model: str
    window: int
    """The most exchanges summarised (``[models] metrics_window``)."""
    count: int
    errors: int
    cancelled: int
    prompt_tokens: int
    completion_tokens: int
    latency_s: PercentilesOut | None
    first_token_s: PercentilesOut | None
    tokens_per_s: PercentilesOut | None


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _reply_out(model: str, reply: Any) -> ReplyOut:
    return ReplyOut(model, reply.text, reply.finish_reason,
                    UsageOut(reply.usage.prompt_tokens, reply.usage.completion_tokens),
                    [ToolCallOut(c.id, c.name, dict(c.arguments)) for c in reply.tool_calls])


def _events(model: str, chunks: AsyncIterator[ChatChunk]) -> ServerSentEvent:
    """``token`` events as text arrives, then ``done`` (the whole reply) or ``error``."""

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        seen: list[ChatChunk] = []

        async def again() -> AsyncIterator[ChatChunk]:
            for chunk in seen:
                yield chunk

        try:
            async with aclosing(chunks):  # a client that goes away stops the generation
                async for chunk in chunks:
                    seen.append(chunk)
                    if chunk.text:
                        yield ServerSentEventMessage(event="token", data=chunk.text)
        except Exception as error:  # the stream has begun: the error is its last event
            yield ServerSentEventMessage(event="error", data=str(error))
            return
        reply = _reply_out(model, await collect(again(), model))
        yield ServerSentEventMessage(event="done", data=_json(reply))

    return ServerSentEvent(events())


def pull_sse(provider: ModelProvider, model: str, name: str) -> ServerSentEvent:
    """Server-Sent Events of a pull: ``progress`` updates, then ``done`` or ``error``."""
    return ServerSentEvent(
        ServerSentEventMessage(event=event, data=data)
        async for event, data in pull_events(provider, model, name)
    )


def routes(plugin: ModelsPlugin) -> list[Any]:
    """Handlers over the models ``plugin``."""

    def provider_of(name: str) -> tuple[ModelProvider, str]:
        """The provider of model ``name`` and the name without its prefix; 404 when none."""
        prefix, colon, model = name.partition(":")
        providers = plugin.providers()
        if not colon or prefix not in providers:
            raise ModelNotFound(
                f"no model provider answers for {name!r} (names are provider:model; providers: "
                f"{', '.join(sorted(providers)) or 'none'})"
            )
        return providers[prefix], model

    def model_of(name: str) -> ChatModel:
        """Model ``name`` (or alias), metered; 404 listing the models on offer when none."""
        return plugin.context.hook.pygent_model(name=name)

    @get("/models", summary="Chat models on offer", opt={"permission": "read"})
    async def list_models() -> list[ModelOut]:
        default = plugin.resolve(None)
        return [ModelOut(n, getattr(m, "description", ""), n == default)
                for n, m in sorted(plugin.available().items())]

    @get("/models/status", summary="The default model and each provider's status",
         opt={"permission": "read"})
    async def status() -> StatusOut:
        providers = []
        for name, provider in sorted(plugin.providers().items()):
            health = await provider.status()
            try:
                count: int | None = len(await provider.list_models())
            except Exception:  # a provider that is down cannot list; its status says why
                count = None
            providers.append(ProviderOut(name, health.status, health.detail, count))
        return StatusOut(plugin.resolve(None), sorted(plugin.available()), providers)

    @post("/models/pull", summary="Download a model; progress as Server-Sent Events",
          opt={"permission": "admin"}, status_code=200)
    async def pull(data: JSONBody[PullIn]) -> ServerSentEvent:
        provider, model = provider_of(data.name)
        return pull_sse(provider, model, data.name)

    @get("/models/{name:str}", summary="One model: profile and the provider's details",
         opt={"permission": "read"})
    async def show(name: FromPath[str]) -> ModelDetailsOut:
        model = model_of(name)
        prefix, _, remote = model.name.partition(":")
        provider = plugin.providers().get(prefix)
        details = await provider.show(remote) if provider is not None else {}
        p = model.profile
        return ModelDetailsOut(
            model.name, model.description, model.name == plugin.resolve(None),
            provider.name if provider is not None else None,
            ProfileOut(p.context_length, p.tools, p.json_schema, p.streaming, p.embeddings), details,
        )

    @delete("/models/{name:str}", summary="Delete a model from its provider's backend",
            opt={"permission": "admin"})
    async def remove(name: FromPath[str]) -> None:
        provider, model = provider_of(plugin.resolve(name))
        await provider.delete(model)

    @post("/models/{name:str}/chat", summary="Chat with a model; the whole reply",
          opt={"permission": "write"}, status_code=200)
    async def chat(name: FromPath[str], data: JSONBody[ChatIn]) -> ReplyOut:
        model = model_of(name)
        reply = await model.chat(_messages(data), data.options.options())
        return _reply_out(model.name, reply)

    @post("/models/{name:str}/chat/stream",
          summary="Chat with a model, streamed as Server-Sent Events",
          opt={"permission": "write"}, status_code=200)
    async def chat_stream(name: FromPath[str], data: JSONBody[ChatIn]) -> ServerSentEvent:
        model = model_of(name)
        return _events(model.name, model.stream(_messages(data), data.options.options()))

    def generation(name: str, data: GenerateIn) -> tuple[str, AsyncIterator[ChatChunk]]:
        wanted = plugin.resolve(name)
        provider, model = provider_of(wanted)
        chunks = provider.generate(model, data.prompt, data.options.options())
        return wanted, metered(chunks, wanted, plugin.context.bus, plugin.context.name)

    @post("/models/{name:str}/generate", summary="Complete a prompt without the chat template",
          opt={"permission": "write"}, status_code=200)
    async def generate(name: FromPath[str], data: JSONBody[GenerateIn]) -> ReplyOut:
        wanted, chunks = generation(name, data)
        return _reply_out(wanted, await collect(chunks, wanted))

    @post("/models/{name:str}/generate/stream",
          summary="Complete a prompt, streamed as Server-Sent Events",
          opt={"permission": "write"}, status_code=200)
    async def generate_stream(name: FromPath[str], data: JSONBody[GenerateIn]) -> ServerSentEvent:
        return _events(*generation(name, data))

    @get("/models/{name:str}/metrics",
         summary="Latency percentiles, tokens/s and errors of recent exchanges",
         opt={"permission": "read"})
    async def metrics(name: FromPath[str]) -> MetricsOut:
        f = plugin.metrics.figures(plugin.resolve(name))
        if f.count == 0:
            model_of(name)  # 404 for a model no provider offers
        return MetricsOut(f.model, plugin.metrics.window, f.count, f.errors, f.cancelled,
                          f.prompt_tokens, f.completion_tokens, _percentiles(f.latency_s),
                          _percentiles(f.first_token_s), _percentiles(f.tokens_per_s))

    return [list_models, status, pull, show, remove, chat, chat_stream, generate, generate_stream,
            metrics]


def _percentiles(p: Percentiles | None) -> PercentilesOut | None:
    return PercentilesOut(p.p50, p.p95, p.p99) if p is not None else None


def _messages(data: ChatIn) -> list[ChatMessage]:
    return [ChatMessage(m.role, m.content) for m in data.messages]
