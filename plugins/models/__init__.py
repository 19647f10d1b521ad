"""models: the chat-model registry. Providers contribute models; agents ask for one by name.

Providers (llamacpp, ollama, openai, replay, scripted) implement ``pygent_chat_models`` and
``pygent_model_provider``; anyone asks ``pygent_model(name=...)`` and gets the model wrapped so
that each exchange publishes an ``llm.usage`` event with its token counts and latency. The
plugin keeps per-model figures from those events and manages models over REST and the CLI
through each model's provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import ChatModel, Health, Listener, Plugin, PluginConfig, hookimpl
from pygent_sdk.models import ModelHooks, ModelNotFound, ModelProvider

from .metered import MeteredModel

if TYPE_CHECKING:
    from .metrics import ModelMetrics

__all__ = ["ModelsPlugin"]


class ModelsConfig(PluginConfig):
    """Configuration of the ``[models]`` table."""

    default: str = Field("llamacpp:smollm2", description="The model used when none is named.")
    aliases: dict[str, str] = Field(
        default_factory=dict, description='Short names for models, e.g. {fast = "ollama:llama3.2"}.'
    )
    metrics_window: int = Field(
        1000, ge=1, le=100_000,
        description="Exchanges per model that GET /api/v1/models/{name}/metrics summarises (the "
        "most recent; at most 256 models are tracked, the least recently used dropped first).",
    )


class ModelsPlugin(Plugin):
    """Finds chat models by name across provider plugins, meters every exchange and manages
    models through their providers."""

    Config = ModelsConfig
    provides = ("models",)
    config: ModelsConfig

    async def start(self) -> None:
        from .metrics import ModelMetrics

        self.metrics = ModelMetrics(self.config.metrics_window)

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(ModelHooks)

    @hookimpl
    def pygent_listeners(self) -> list[Listener]:
        return [Listener("llm.usage", self.metrics.record, name="metrics")]

    def available(self) -> dict[str, ChatModel]:
        """Every contributed model by name."""
        found: dict[str, ChatModel] = {}
        for models in self.context.hook.pygent_chat_models():
            for model in models:
                found.setdefault(model.name, model)
        return found

    def providers(self) -> dict[str, ModelProvider]:
        """Every contributed provider by the prefix of its models."""
        return {p.name: p for p in self.context.hook.pygent_model_provider() if p is not None}

    def resolve(self, name: str | None) -> str:
        """The model name ``name`` stands for: an alias resolved, None the default."""
        wanted = self.config.aliases.get(name or "", name) or self.config.default
        return self.config.aliases.get(wanted, wanted)

    @hookimpl
    def pygent_model(self, name: str | None) -> ChatModel:
        wanted = self.resolve(name)
        models = self.available()
        if wanted not in models:
            listed = ", ".join(sorted(models)) or "none (enable a provider such as [llamacpp])"
            raise ModelNotFound(
                f"No chat model {wanted!r}. Available: {listed}. Models come from the provider "
                "plugins enabled in plugins.toml (llamacpp, ollama, openai, replay, scripted)."
            )
        return MeteredModel(models[wanted], self.context.bus, self.context.name)

    @hookimpl(optionalhook=True)
    def pygent_http_routes(self) -> list[Any]:
        from .http import routes

        return routes(self)

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
