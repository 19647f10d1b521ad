"""The chat-model capability's contract: the registry's hooks, providers, the usage event, errors.

Provider plugins (llamacpp, ollama, openai, replay, scripted) implement ``pygent_chat_models``
and, to be managed over REST and the CLI, ``pygent_model_provider``; anyone asks for a model by
name with ``context.service(CHAT_MODEL, name=...)``. The ``models`` plugin registers these hooks
and answers ``pygent_model``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, runtime_checkable

from .chat import ChatChunk, ChatModel, ChatOptions, PullProgress
from .errors import PygentError
from .events import Event, event
from .health import Health
from .markers import hookspec
from .services import ServiceKey


class ModelNotFound(PygentError, LookupError):
    """A model name no provider answers to; the message lists the available names."""


class ModelOperationUnsupported(PygentError):
    """A provider cannot do what was asked (e.g. pull a model into llama.cpp)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ModelEntry:
    """A model a provider holds: ``name`` is ``provider:model``; size in bytes where known."""

    name: str
    size: int | None = None
    modified_at: str | None = None


@runtime_checkable
class ModelProvider(Protocol):
    """A provider's management side: what ``/api/v1/models/...`` and ``pygent models`` call.

    ``name`` is the prefix of its models (``ollama`` for ``ollama:llama3.2``); each ``model``
    argument is the name without that prefix. Subclass :class:`BaseModelProvider`, which
    refuses what a provider cannot do with :class:`ModelOperationUnsupported`.
    """

    name: str

    async def status(self) -> Health:
        """Whether the provider's backend answers (a server is up, a file is readable)."""
        ...

    async def list_models(self) -> list[ModelEntry]:
        """The models the backend holds (for Ollama: what is pulled)."""
        ...

    async def show(self, model: str) -> dict[str, Any]:
        """Backend details of one model (for Ollama: its modelfile, template, parameters)."""
        ...

    async def pull(self, model: str, progress: Callable[[PullProgress], None]) -> None:
        """Download ``model``, calling ``progress`` with each update."""
        ...

    async def delete(self, model: str) -> None:
        """Remove ``model`` from the backend."""
        ...

    def generate(
        self, model: str, prompt: str, options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        """A plain completion of ``prompt``, without the chat template, streamed."""
        ...


class BaseModelProvider:
    """Defaults for :class:`ModelProvider`: no details, and pull, delete and generate refused."""

    name: str

    def _unsupported(self, what: str) -> ModelOperationUnsupported:
        return ModelOperationUnsupported(f"the {self.name} provider cannot {what}")

    async def status(self) -> Health:
        return Health.ok(self.name)

    async def list_models(self) -> list[ModelEntry]:
        return []

    async def show(self, model: str) -> dict[str, Any]:
        return {}

    async def pull(self, model: str, progress: Callable[[PullProgress], None]) -> None:
        raise self._unsupported("pull models")

    async def delete(self, model: str) -> None:
        raise self._unsupported("delete models")

    def generate(
        self, model: str, prompt: str, options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        raise self._unsupported("generate plain completions (use chat)")


async def pull_stream(provider: ModelProvider, model: str) -> AsyncIterator[PullProgress]:
    """Pull ``model`` with ``provider``, yielding its progress as it comes (for SSE and bars).

    Updates that arrive faster than they are read are dropped, never the pull's error, which
    is raised here once the updates before it are read.
    """
    import anyio

    send, receive = anyio.create_memory_object_stream[PullProgress](64)
    failed: list[BaseException] = []

    def progress(update: PullProgress) -> None:
        try:
            send.send_nowait(update)
        except anyio.WouldBlock:
            pass

    async def pull() -> None:
        async with send:
            try:
                await provider.pull(model, progress)
            except Exception as error:  # raised to the reader below, not as an ExceptionGroup
                failed.append(error)

    async with anyio.create_task_group() as tg:
        tg.start_soon(pull)
        async with receive:
            async for update in receive:
                yield update
    if failed:
        raise failed[0]


async def pull_events(provider: ModelProvider, model: str, name: str) -> AsyncIterator[tuple[str, str]]:
    """A pull as ``(event, JSON data)`` pairs for a Server-Sent Events stream: ``progress``
    updates, then ``done`` (``{"name": name}``) or, since the stream has begun, ``error`` with
    the failure's message as its last event."""
    import json

    try:
        async for p in pull_stream(provider, model):
            yield "progress", json.dumps(
                {"status": p.status, "completed": p.completed, "total": p.total}, separators=(",", ":")
            )
    except Exception as error:
        yield "error", str(error)
        return
    yield "done", json.dumps({"name": name}, separators=(",", ":"))


class ModelHooks:
    """Hooks of the models capability; the ``models`` plugin registers them."""

    @hookspec
    def pygent_chat_models(self) -> list[ChatModel]:
        """Contribute chat models, each named ``provider:model`` (e.g. ``llamacpp:smollm2``).

        Implemented by model provider plugins. Return cheap objects: load weights or connect
        lazily, on the first request, never here.

        :return: The provider's models.
        """

    @hookspec
    def pygent_model_provider(self) -> ModelProvider | None:
        """Contribute the provider that manages this plugin's models (status, list, show, pull,
        delete, generate), or None.

        Implemented by model provider plugins; called after start-up by the models plugin,
        whose routes and commands reach a model's provider by its ``provider:`` prefix.

        :return: One :class:`ModelProvider` whose ``name`` is the prefix of its models.
        """

    @hookspec(firstresult=True)
    def pygent_model(self, name: str | None) -> ChatModel | None:
        """Return the chat model called ``name`` (None: the configured default), metered.

        :param name: ``provider:model`` or an alias from ``[models] aliases``; None for the default.

        Answered by the models plugin; raises :class:`ModelNotFound` listing the available names.
        """


CHAT_MODEL: ServiceKey[ChatModel] = ServiceKey("pygent_model", ChatModel, provider="models")
"""A chat model by name: ``context.service(CHAT_MODEL, name="llamacpp:smollm2")``."""


@event("llm.usage")
class LlmUsage(Event):
    """One exchange with ``model`` ended: tokens used, seconds to the first token and in all."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    first_token_s: float | None
    total_s: float
    finish_reason: str
