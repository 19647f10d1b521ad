"""models: the chat-model registry. Providers contribute models; agents ask for one by name.

Providers (llamacpp, ollama, openai, replay) implement ``pygent_chat_models``; anyone asks
``pygent_model(name=...)`` and gets the model wrapped so that each exchange publishes an
``llm.usage`` event with its token counts and latency.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pygent_sdk import ChatModel, Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.models import ModelHooks, ModelNotFound

from .metered import MeteredModel

__all__ = ["ModelsPlugin"]


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

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
