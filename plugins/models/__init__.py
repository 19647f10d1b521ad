"""models: the chat-model registry. Providers contribute models; agents ask for one by name.

Providers (llamacpp, ollama, openai, replay) implement ``pygent_chat_models``; anyone asks
``pygent_model(name=...)`` and gets the model wrapped so that each exchange publishes an
``llm.usage`` event with its token counts and latency.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field
from pygent_sdk import (
    ChatModel, Health, Plugin, PluginConfig, PullProgress, PygentError, hookimpl, hookspec,
)

from .metered import LlmUsage, MeteredModel

__all__ = ["LlmUsage", "ModelNotFound", "ModelsPlugin"]


class ModelNotFound(PygentError, LookupError):
    """A model name no provider answers to."""


class ModelHooks:
    """Hooks the models plugin declares."""

    @hookspec
    def pygent_chat_models(self) -> list[ChatModel]:
        """Contribute chat models, each named ``provider:model`` (e.g. ``llamacpp:smollm2``).

        Implemented by model provider plugins. Return cheap objects: load weights or connect
        lazily, on the first request, never here.
        """

    @hookspec(firstresult=True)
    def pygent_model(self, name: str | None) -> ChatModel | None:
        """Return the chat model called ``name`` (None: the configured default), metered.

        Answered by the models plugin; raises ``ModelNotFound`` listing the available names.
        """

    @hookspec
    def pygent_model_pull(
        self, name: str, progress: Callable[[PullProgress], None]
    ) -> bool | None:
        """Download model ``name`` if this provider owns it, reporting ``progress``; may be async.

        Return True when pulled, None when ``name`` is not this provider's. The caller awaits
        every answer.
        """


class ModelsConfig(PluginConfig):
    """Configuration of the ``[models]`` table."""

    default: str = Field("llamacpp:smollm2", description="The model used when none is named.")
    aliases: dict[str, str] = Field(
        default_factory=dict, description='Short names for models, e.g. {fast = "ollama:llama3.2"}.'
    )


class ModelsPlugin(Plugin):
    """Finds chat models by name across provider plugins and meters every exchange."""

    Config = ModelsConfig
    provides = ("models",)
    config: ModelsConfig

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(ModelHooks)

    def available(self) -> dict[str, ChatModel]:
        """Every contributed model by name."""
        found: dict[str, ChatModel] = {}
        for models in self.context.hook.pygent_chat_models():
            for model in models:
                found.setdefault(model.name, model)
        return found

    @hookimpl
    def pygent_model(self, name: str | None) -> ChatModel:
        wanted = self.config.aliases.get(name or "", name) or self.config.default
        wanted = self.config.aliases.get(wanted, wanted)
        models = self.available()
        if wanted not in models:
            listed = ", ".join(sorted(models)) or "none (enable a provider such as [llamacpp])"
            raise ModelNotFound(
                f"No chat model {wanted!r}. Available: {listed}. Models come from the provider "
                "plugins enabled in plugins.toml (llamacpp, ollama, openai, replay)."
            )
        return MeteredModel(models[wanted], self.context.bus, self.context.name)

    @hookimpl(optionalhook=True)
    def pygent_http_routes(self) -> list[Any]:
        from .http import routes

        return routes(self.available, self.config.aliases.get(self.config.default, self.config.default))

    @hookimpl
    def pygent_health(self) -> Health:
        names = sorted(self.available())
        if not names:
            return Health.degraded("no chat model provider is enabled")
        return Health.ok(f"{len(names)} model(s): {', '.join(names)}")
