"""Test doubles and a kernel harness for plugin authors. Re-exports only."""

from .harness import HookCall, PluginHarness
from .models import ScriptedChatModel
from .replay import NotRecorded, ReplayModel

__all__ = ["HookCall", "NotRecorded", "PluginHarness", "ReplayModel", "ScriptedChatModel"]
