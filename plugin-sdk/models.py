"""The chat-model capability's contract: the registry's hooks, the usage event and its errors.

Provider plugins (llamacpp, ollama, openai, replay, scripted) implement ``pygent_chat_models``;
anyone asks for a model by name with ``context.service(CHAT_MODEL, name=...)``. The ``models``
plugin registers these hooks and answers ``pygent_model``.
"""

from __future__ import annotations

from collections.abc import Callable

from .chat import ChatModel, PullProgress
from .errors import PygentError
from .events import Event, event
from .markers import hookspec
from .services import ServiceKey


class ModelNotFound(PygentError, LookupError):
    """A model name no provider answers to; the message lists the available names."""


class ModelHooks:
    """Hooks of the models capability; the ``models`` plugin registers them."""

    @hookspec
    def pygent_chat_models(self) -> list[ChatModel]:
        """Contribute chat models, each named ``provider:model`` (e.g. ``llamacpp:smollm2``).

        Implemented by model provider plugins. Return cheap objects: load weights or connect
        lazily, on the first request, never here.

        :return: The provider's models.
        """

    @hookspec(firstresult=True)
    def pygent_model(self, name: str | None) -> ChatModel | None:
        """Return the chat model called ``name`` (None: the configured default), metered.

        :param name: ``provider:model`` or an alias from ``[models] aliases``; None for the default.

        Answered by the models plugin; raises :class:`ModelNotFound` listing the available names.
        """

    @hookspec
    def pygent_model_pull(
        self, name: str, progress: Callable[[PullProgress], None]
    ) -> bool | None:
        """Download model ``name`` if this provider owns it, reporting ``progress``; may be async.

        :param name: The model, ``provider:model``.
        :param progress: Called with each :class:`PullProgress` update.
        :return: True when pulled, None when ``name`` is not this provider's. The caller awaits
            every answer.
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
