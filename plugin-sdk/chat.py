"""The ChatModel capability: messages in; text, a token stream, usage, finish reason, tool calls out."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "cancelled", "error"]


@dataclasses.dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to call tool ``name`` with JSON ``arguments``."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as a model sees it: name, description and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclasses.dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    """For ``role == "tool"``: the ToolCall this message answers."""


@dataclasses.dataclass(frozen=True, slots=True)
class ChatOptions:
    """Per-request generation options; ``None`` leaves the model's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | None = None
    """"auto", "none", "required", or the name of the tool the model must call."""
    json_schema: dict[str, Any] | None = None
    """Constrain the output to JSON matching this schema, where the model supports it."""
    seed: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one exchange."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ChatChunk:
    """One piece of a streamed answer; the last chunk carries ``finish_reason`` and ``usage``."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ChatResponse:
    """A whole answer."""

    text: str
    finish_reason: FinishReason
    usage: Usage = Usage()
    tool_calls: tuple[ToolCall, ...] = ()
    model: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class PullProgress:
    """Progress of a model download: ``status`` text, bytes done of ``total`` (0: unknown)."""

    status: str
    completed: int = 0
    total: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class ModelProfile:
    """What a chat model can do, so callers adapt instead of finding out by failing.

    ``context_length`` is the window the model actually runs with (llama.cpp's ``n_ctx``, the
    ``num_ctx`` sent to Ollama, an OpenAI-compatible server's configured length), in tokens;
    ``None`` when the provider cannot tell. Agents trim history to fit it.
    """

    context_length: int | None = None
    tools: bool = False
    """Understands ``ChatOptions.tools`` and answers with ``ToolCall``s."""
    json_schema: bool = False
    """Honours ``ChatOptions.json_schema`` (constrained decoding or the server's JSON mode)."""
    streaming: bool = True
    """Yields text as it is produced (False: one chunk at the end)."""
    embeddings: bool = False
    """The same model can also embed text (through its provider)."""


@runtime_checkable
class ChatModel(Protocol):
    """A chat model. ``stream`` yields chunks as they are produced; cancelling it stops generation.

    Implement it by subclassing :class:`BaseChatModel`, which derives ``chat`` from ``stream``.
    """

    name: str
    profile: ModelProfile

    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]: ...

    async def chat(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> ChatResponse: ...


class BaseChatModel(abc.ABC):
    """Base class of chat models: implement ``stream``; ``chat`` collects it into one response.

    Set ``name`` (``provider:model``), ``description`` (one line for listings) and ``profile``,
    as class attributes or in ``__init__``.
    """

    name: str
    description: str = ""
    profile: ModelProfile = ModelProfile()

    @abc.abstractmethod
    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        """Yield the answer's chunks; the last carries ``finish_reason`` and ``usage``.

        Write it as an ``async def`` generator. Closing the generator (the caller stopped
        reading) must stop generation.
        """

    async def chat(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> ChatResponse:
        """The whole answer to ``messages``: :meth:`stream`, collected."""
        return await collect(self.stream(messages, options), self.name)


async def collect(chunks: AsyncIterator[ChatChunk], model: str = "") -> ChatResponse:
    """Join a chunk stream into one ChatResponse (how most models implement ``chat``)."""
    text: list[str] = []
    calls: list[ToolCall] = []
    finish: FinishReason = "stop"
    usage = Usage()
    async for chunk in chunks:
        text.append(chunk.text)
        calls.extend(chunk.tool_calls)
        if chunk.finish_reason is not None:
            finish = chunk.finish_reason
        if chunk.usage is not None:
            usage = chunk.usage
    return ChatResponse("".join(text), finish, usage, tuple(calls), model)
