"""ollama: chat models served by an Ollama server, through the ``ollama`` client.

Chat and generate (streaming), list, pull with progress, delete, show, status. With no Ollama
running, health says so and a request fails fast with a message naming the address.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import ChatModel, Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.models import ModelProvider
from pygent_sdk.vectors import Embedder

if TYPE_CHECKING:  # the ollama client and httpx load on start, keeping `pygent` quick
    from .client import OllamaService


class OllamaConfig(PluginConfig):
    """Configuration of the ``[ollama]`` table."""

    host: str = Field("http://127.0.0.1:11434", description="The Ollama server's address.")
    models: list[str] = Field(
        default_factory=list,
        description="Models to offer as ollama:NAME besides those the server lists at start.",
    )
    embed_models: list[str] = Field(
        default_factory=list,
        description="Embedding models to offer as ollama:NAME embedders (/api/embed), e.g. "
        '["nomic-embed-text"]; needs the [embeddings] plugin to be asked for by name.',
    )
    timeout: float = Field(300.0, gt=0, description="Seconds to wait for a reply (connect: 3 s).")
    keep_alive: str = Field("5m", description="How long Ollama keeps a model loaded after a request.")
    num_ctx: int = Field(
        4096, ge=256,
        description="Context window in tokens, sent with every request (a model trained on less "
        "gets its own length); agents trim history to it.",
    )


class OllamaPlugin(Plugin):
    """Offers the models of an Ollama server as ``ollama:NAME``."""

    Config = OllamaConfig
    provides = ("chat-model",)
    config: OllamaConfig
    service: OllamaService | None = None

    async def start(self) -> None:
        from .client import OllamaError, OllamaService

        self.service = OllamaService(self.config.host, self.config.timeout, self.config.keep_alive,
                                     self.config.num_ctx)
        self.embedders = [self.service.embedder(name) for name in self.config.embed_models]
        names = self.service.names
        names.extend(self.config.models)
        try:
            listed = await self.service.list()
        except OllamaError as error:
            self.context.log.warning("%s", error)
            return
        names.extend(info["name"] for info in listed if info["name"] not in self.config.models)
        await self.service.learn(names)

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        if self.service is None:
            return []
        return [self.service.model(name) for name in self.service.names]

    @hookimpl(optionalhook=True)
    def pygent_embedders(self) -> list[Embedder]:
        return list(getattr(self, "embedders", ()))

    @hookimpl
    def pygent_model_provider(self) -> ModelProvider | None:
        return self.service

    @hookimpl(optionalhook=True)
    def pygent_http_routes(self) -> list[Any]:
        from .http import routes

        assert self.service is not None
        return routes(self.service)

    @hookimpl
    async def pygent_health(self) -> Health:
        assert self.service is not None
        return await self.service.status()
