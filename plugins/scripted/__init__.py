"""scripted: chat models that answer from a script, so agents run with no model at all.

``scripted:echo`` answers each request with its last user message. Each entry of
``[scripted] models`` is offered as ``scripted:NAME``: a list of replies, answered in turn, or
the path of a JSONL file holding one reply per line. A reply is a string, or an object with
``text``, ``tool_calls`` (``[{"name", "arguments"}]``) and ``finish_reason``. For plugin
development and CI: ``pygent run general "hi" -m scripted:echo``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pygent_sdk import ChatModel, ChatResponse, Health, Plugin, PluginConfig, PygentError, hookimpl
from pygent_sdk.models import BaseModelProvider, ModelEntry, ModelNotFound, ModelProvider
from pygent_sdk.scripted import ScriptedChatModel, echo, reply_from_json

Reply = str | dict[str, Any]


class ScriptedConfig(PluginConfig):
    """Configuration of the ``[scripted]`` table."""

    models: dict[str, list[Reply] | str] = Field(
        default_factory=dict,
        description='Name -> replies answered in turn, e.g. {demo = ["Hello", '
        '"{\\"action\\": \\"final_answer\\", \\"input\\": \\"4\\"}"]}, or the path of a JSONL '
        "file (one reply per line; relative paths from the working directory). Offered as "
        "scripted:NAME; `echo` is built in.",
    )
    loop: bool = Field(
        False, description="Start a script over when it runs out (otherwise a request past its "
        "end fails, naming the model)."
    )

    @field_validator("models")
    @classmethod
    def _not_echo(cls, models: dict[str, Any]) -> dict[str, Any]:
        if "echo" in models:
            raise ValueError("'echo' is the built-in scripted:echo model; pick another name")
        return models


def load_script(name: str, source: list[Reply] | str) -> list[ChatResponse]:
    """The replies of model ``name``: from the list, or read from the JSONL file ``source``."""
    if isinstance(source, list):
        return [reply_from_json(r, f"[scripted] models.{name}[{i}]") for i, r in enumerate(source)]
    path = Path(source).expanduser()
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise PygentError(f"[scripted] models.{name}: cannot read {path}: {error.strerror}") from None
    replies = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise PygentError(f"{path}:{number}: not JSON ({error.msg})") from None
            replies.append(reply_from_json(value, f"{path}:{number}"))
    if not replies:
        raise PygentError(f"[scripted] models.{name}: {path} holds no reply")
    return replies


class ScriptedProvider(BaseModelProvider):
    """The ``scripted`` provider: lists the scripts and shows how many replies each has."""

    name = "scripted"

    def __init__(self, models: dict[str, ScriptedChatModel], sizes: dict[str, int]) -> None:
        self.models = models
        self.sizes = sizes

    async def list_models(self) -> list[ModelEntry]:
        return [ModelEntry(m.name) for m in self.models.values()]

    async def show(self, model: str) -> dict[str, Any]:
        if model not in self.models:
            raise ModelNotFound(f"scripted has no model {model!r}; scripts: {sorted(self.models)}")
        return {"replies": self.sizes.get(model), "loop": self.models[model].loop}


class ScriptedPlugin(Plugin):
    """Offers scripted:echo and the configured scripts as chat models (no model needed)."""

    Config = ScriptedConfig
    provides = ("chat-model",)
    config: ScriptedConfig

    async def start(self) -> None:
        models = {"echo": ScriptedChatModel(echo, name="scripted:echo",
                                            description="echoes the last user message")}
        sizes: dict[str, int] = {}
        for name, source in self.config.models.items():
            replies = load_script(name, source)
            sizes[name] = len(replies)
            where = source if isinstance(source, str) else "plugins.toml"
            models[name] = ScriptedChatModel(replies, name=f"scripted:{name}", loop=self.config.loop,
                                             description=f"{len(replies)} scripted replies ({where})")
        self.provider = ScriptedProvider(models, sizes)

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        return list(self.provider.models.values()) if hasattr(self, "provider") else []

    @hookimpl
    def pygent_model_provider(self) -> ModelProvider | None:
        return getattr(self, "provider", None)

    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok(f"{len(self.provider.models)} scripted model(s)")
