"""replay: wrap any model to record its exchanges to a file once and replay them after.

Offers ``replay:MODEL`` (e.g. ``replay:llamacpp:smollm2``): deterministic, offline runs of
agents for tests and demos. See ``pygent_sdk.replay.ReplayModel``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pygent_sdk import ChatModel, Plugin, PluginConfig, PygentError, hookimpl
from pygent_sdk.replay import ReplayModel


class ReplayConfig(PluginConfig):
    """Configuration of the ``[replay]`` table."""

    model: str = Field("llamacpp:smollm2", description="The model to record (and stand in for).")
    file: str = Field(
        "recording.jsonl", description="JSONL recording; relative paths are in the data directory."
    )
    mode: str = Field(
        "auto", pattern="^(record|replay|auto)$",
        description='"record" (always ask the model), "replay" (only the file), or "auto".',
    )


class ReplayPlugin(Plugin):
    """Offers ``replay:MODEL``, a recording stand-in for another model."""

    Config = ReplayConfig
    provides = ("chat-model",)
    requires = ("models",)
    config: ReplayConfig
    model: ReplayModel | None = None

    async def start(self) -> None:
        path = Path(self.config.file).expanduser()
        if not path.is_absolute():
            path = self.context.data_dir / path
        self.model = ReplayModel(
            self._inner, path,
            mode=self.config.mode,  # type: ignore[arg-type]
            name=f"replay:{self.config.model}",
        )

    def _inner(self) -> ChatModel:
        """The wrapped model, unmetered (the models plugin meters the replay model itself)."""
        for models in self.context.hook.pygent_chat_models():
            for model in models:
                if model.name == self.config.model:
                    return model
        raise PygentError(f"replay: the model to record, {self.config.model!r}, is not available")

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        return [self.model] if self.model is not None else []
