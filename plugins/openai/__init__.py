"""openai: chat models of any OpenAI-compatible ``/v1/chat/completions`` server.

Works with OpenAI, vLLM, llama.cpp's server (``python -m llama_cpp.server``), LM Studio and the
like: streaming, usage, tool calls and JSON-schema output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field
from pygent_sdk import ChatModel, Health, Plugin, PluginConfig, hookimpl
from pygent_sdk.models import ModelProvider
from pygent_sdk.vectors import Embedder

if TYPE_CHECKING:
    from .client import OpenAIClient


class OpenAIConfig(PluginConfig):
    """Configuration of the ``[openai]`` table."""

    base_url: str = Field("http://127.0.0.1:8000/v1", description="The server's /v1 URL.")
    api_key: str = Field("", description='API key; take it from the environment: "${OPENAI_API_KEY}".')
    models: list[str] = Field(
        default_factory=list,
        description="Models to offer as openai:NAME (empty: ask the server's /models at start).",
    )
    embed_models: list[str] = Field(
        default_factory=list,
        description="Embedding models to offer as openai:NAME embedders (/v1/embeddings), e.g. "
        '["text-embedding-3-small"]; needs the [embeddings] plugin to be asked for by name.',
    )
    json_mode: str = Field(
        "json_schema", pattern="^(json_schema|json_object)$",
        description='How to ask for schema-constrained JSON: OpenAI\'s "json_schema", or '
        '"json_object" with a schema (llama.cpp\'s server).',
    )
    timeout: float = Field(120.0, gt=0, description="Seconds to wait for a reply (connect: 5 s).")
    context_length: int | None = Field(
        None, ge=256,
        description="The served models' context window in tokens (e.g. vLLM's --max-model-len, "
        "llama.cpp's --n_ctx); agents trim history to it. Unset: unknown, nothing is trimmed.",
    )
    tools: bool = Field(True, description="Whether the served models take tool definitions.")


class OpenAIPlugin(Plugin):
    """Offers an OpenAI-compatible server's models as ``openai:NAME``."""

    Config = OpenAIConfig
    provides = ("chat-model",)
    config: OpenAIConfig
    client: OpenAIClient | None = None

    async def start(self) -> None:
        from .client import OpenAIClient

        self.client = OpenAIClient(self.config)
        self.embedders = [self.client.embedder(name) for name in self.config.embed_models]
        self.names = list(self.config.models)
        if not self.names:
            try:
                self.names = await self.client.served()
            except Exception as error:  # the server may come up later; health tells
                self.context.log.warning("%s", error)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        if self.client is None:
            return []
        return [self.client.model(name) for name in self.names]

    @hookimpl(optionalhook=True)
    def pygent_embedders(self) -> list[Embedder]:
        return list(getattr(self, "embedders", ()))

    @hookimpl
    def pygent_model_provider(self) -> ModelProvider | None:
        return self.client

    @hookimpl
    async def pygent_health(self) -> Health:
        assert self.client is not None
        return await self.client.status()
