"""Plugins and helpers for agent tests: a provider of scripted models and the agent stack."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pygent_plugins.agents import AgentsPlugin
from pygent_plugins.coding import CodingPlugin
from pygent_plugins.general import GeneralPlugin
from pygent_plugins.memory import MemoryPlugin
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.sandbox import SandboxPlugin
from pygent_plugins.tools import ToolsPlugin
from pygent_sdk import ChatModel, Plugin, hookimpl
from pygent_sdk.testing import ScriptedChatModel


def act(action: str, text: str) -> str:
    """A general agent's JSON reply."""
    return json.dumps({"action": action, "input": text})


def actions(schema: dict[str, Any]) -> list[str]:
    """The actions a general agent's reply schema allows, in order."""
    return [v["properties"]["action"]["const"] for v in schema.get("anyOf", [schema])]


class ScriptedProvider(Plugin):
    """Offers ``ScriptedProvider.models`` (set by a test) through ``pygent_chat_models``."""

    provides = ("chat-model",)
    models: ClassVar[list[ChatModel]] = []

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        return list(self.models)


def stack(
    model: ScriptedChatModel | None, *, memory: bool = True
) -> tuple[dict[str, type[Plugin]], dict[str, Any]]:
    """Plugin classes and config of an agent kernel whose default model is ``model`` (None:
    no scripted provider; add a real one)."""
    plugins: dict[str, type[Plugin]] = {
        "models": ModelsPlugin, "agents": AgentsPlugin,
        "tools": ToolsPlugin, "general": GeneralPlugin, "sandbox": SandboxPlugin,
        "coding": CodingPlugin,
    }
    if memory:
        plugins["memory"] = MemoryPlugin
    if model is None:
        return plugins, {}
    ScriptedProvider.models = [model]
    plugins["scripted"] = ScriptedProvider
    return plugins, {"models": {"default": model.name}}
