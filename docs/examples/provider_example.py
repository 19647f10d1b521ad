"""A model provider plugin: ``reverse:NAME`` models answer with the user's words reversed.

Run it: ``python docs/examples/provider_example.py``. It starts a kernel with the installed
``models`` plugin and this provider, chats through the registry (metered: ``llm.usage``) and
asks the provider what it holds.

What a provider writes:

- a model: subclass ``BaseChatModel``, set ``name`` (``provider:model``), ``description`` and
  ``profile``, and write ``stream`` as an async generator whose last chunk carries
  ``finish_reason`` and ``usage``; ``chat`` comes from ``stream``;
- optionally a ``BaseModelProvider`` for management (status, list, show, pull, delete,
  generate): what it does not override is refused with a clear error;
- a plugin that offers both through ``pygent_chat_models`` and ``pygent_model_provider``.

To ship it, register the plugin class in your package's ``pyproject.toml``::

    [project.entry-points."pygent.plugins"]
    reverse = "my_package:ReversePlugin"

and enable it in plugins.toml with a ``[reverse]`` table.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from pydantic import Field
from pygent_sdk import (
    BaseChatModel, ChatChunk, ChatMessage, ChatModel, ChatOptions, Health, ModelProfile, Plugin,
    PluginConfig, Usage, hookimpl,
)
from pygent_sdk.models import BaseModelProvider, ModelEntry, ModelProvider
from pygent_sdk.testing import PluginHarness


class ReverseModel(BaseChatModel):
    """Answers with the last user message's words in reverse order, one word per chunk."""

    profile = ModelProfile(context_length=4096)  # no tools, no JSON schema; streams

    def __init__(self, name: str) -> None:
        self.name = name
        self.description = "reverses your words"

    async def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        options = options or ChatOptions()
        asked = next((m.content for m in reversed(messages) if m.role == "user"), "")
        words = asked.split()[::-1]
        limit = min(len(words), options.max_tokens or len(words))
        for word in words[:limit]:
            yield ChatChunk(text=word + " ")
        prompt = sum(len(m.content.split()) for m in messages)
        finish = "length" if limit < len(words) else "stop"
        yield ChatChunk(finish_reason=finish, usage=Usage(prompt, limit))


class ReverseProvider(BaseModelProvider):
    """The ``reverse`` provider: lists its models; cannot pull, delete or generate."""

    name = "reverse"

    def __init__(self, models: list[ReverseModel]) -> None:
        self.models = models

    async def status(self) -> Health:
        return Health.ok(f"{len(self.models)} model(s), nothing to load")

    async def list_models(self) -> list[ModelEntry]:
        return [ModelEntry(m.name) for m in self.models]


class ReverseConfig(PluginConfig):
    """Configuration of the ``[reverse]`` table."""

    models: list[str] = Field(default_factory=lambda: ["words"], description="Offered as reverse:NAME.")


class ReversePlugin(Plugin):
    """Offers reverse:NAME chat models."""

    Config = ReverseConfig
    provides = ("chat-model",)
    config: ReverseConfig

    async def start(self) -> None:
        self.models = [ReverseModel(f"reverse:{name}") for name in self.config.models]

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        return list(self.models)

    @hookimpl
    def pygent_model_provider(self) -> ModelProvider | None:
        return ReverseProvider(self.models)


async def main() -> None:
    plugins = {"models": None, "reverse": ReversePlugin}  # None: the installed plugin
    async with PluginHarness(plugins, {"models": {"default": "reverse:words"}}) as h:
        model = h.kernel.hook.pygent_model(name=None)  # the registry's metered model
        reply = await model.chat([ChatMessage("user", "one two three")])
        print(f"{model.name} answered {reply.text.strip()!r} ({reply.finish_reason}, "
              f"{reply.usage.completion_tokens} tokens, context {model.profile.context_length})")
        usage = await h.wait_for("llm.usage")
        print(f"llm.usage: {usage.model}, {usage.completion_tokens} completion tokens")
        [provider] = [p for p in h.kernel.hook.pygent_model_provider() if p is not None]
        print(f"provider {provider.name}: {[m.name for m in await provider.list_models()]}")
        try:
            await provider.pull("bigger", print)
        except Exception as error:
            print(f"pull refused: {error}")


if __name__ == "__main__":
    asyncio.run(main())
