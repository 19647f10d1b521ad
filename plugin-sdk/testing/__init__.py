"""Test doubles and a kernel harness for plugin authors. Re-exports only."""

from .harness import HookCall, PluginHarness
from .models import ScriptedChatModel

__all__ = ["HookCall", "PluginHarness", "ScriptedChatModel"]
