"""ollama: chat models served by an Ollama server, through the ``ollama`` client.

Chat and generate (streaming), list, pull with progress, delete, show, status. With no Ollama
running, health says so and a request fails fast with a message naming the address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import ChatModel, Health, Plugin, PluginConfig, hookimpl

if TYPE_CHECKING:  # the ollama client and httpx load on start, keeping `pygent` quick
    from .client import OllamaService


class OllamaConfig(PluginConfig):
    """Configuration of the ``[ollama]`` table."""

    host: str = Field("http://127.0.0.1:11434", description="The Ollama server's address.")
    models: list[str] = Field(
        default_factory=list,
        description="Models to offer as ollama:NAME besides those the server lists at start.",
    )
    timeout: float = Field(300.0, gt=0, description="Seconds to wait for a reply (connect: 3 s).")
    keep_alive: str = Field("5m", description="How long Ollama keeps a model loaded after a request.")


class OllamaPlugin(Plugin):
    """Offers the models of an Ollama server as ``ollama:NAME``."""

    Config = OllamaConfig
    provides = ("chat-model",)
    config: OllamaConfig
    service: OllamaService | None = None

    async def start(self) -> None:
        from .client import OllamaError, OllamaService

        self.service = OllamaService(self.config.host, self.config.timeout, self.config.keep_alive)
        self.names = list(self.config.models)
        try:
            for info in await self.service.list():
                if info["name"] not in self.names:
                    self.names.append(info["name"])
        except OllamaError as error:
            self.context.log.warning("%s", error)

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        if self.service is None:
            return []
        return [self.service.model(name) for name in self.names]

    @hookimpl
    async def pygent_model_pull(self, name: str, progress: Callable[[Any], None]) -> bool | None:
        if not name.startswith("ollama:") or self.service is None:
            return None
        model = name.removeprefix("ollama:")
        await self.service.pull(model, progress)
        if model not in self.names:
            self.names.append(model)
        return True

    @hookimpl
    async def pygent_health(self) -> Health:
        from .client import OllamaError

        assert self.service is not None
        try:
            version = await self.service.version()
        except OllamaError as error:
            return Health.down(str(error))
        return Health.ok(f"Ollama {version} at {self.config.host}")
