"""Test doubles and a kernel harness for plugin authors. Re-exports only."""

from .cli import cli_context
from .doubles import FakeTool, HashEmbedder, InMemoryVectorStore
from .harness import HookCall, PluginHarness
from .models import ScriptedChatModel
from .replay import NotRecorded, ReplayModel

__all__ = [
    "FakeTool", "HashEmbedder", "HookCall", "InMemoryVectorStore", "NotRecorded", "PluginHarness",
    "ReplayModel", "ScriptedChatModel", "cli_context",
]
