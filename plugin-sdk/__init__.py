"""Everything a PyGent plugin author imports. Re-exports only.

Test doubles and the kernel harness live in :mod:`pygent_sdk.testing`.
"""

from .agents import (
    Agent, AgentContext, AgentInfo, AgentRegistry, AgentResult, AgentStatus, AgentType, TokenSink,
)
from .bus import Bus, Listener, Overflow, Subscription
from .chat import (
    BaseChatModel, ChatChunk, ChatMessage, ChatModel, ChatOptions, ChatResponse, FinishReason,
    ModelProfile, PullProgress, Role, ToolCall, ToolSpec, Usage, collect,
)
from .errors import ConfigError, ConfigErrors, DependencyError, PluginError, PygentError
from .events import (
    Event, KernelStarted, KernelStopping, PluginFailed, PluginStarted, PluginStopped, event,
)
from .health import Health, KernelHealth, PluginStatus
from .markers import hookimpl, hookspec
from .memory import Conversation, Episode, MemoryStore, StoredMessage
from .plugin import Plugin, PluginConfig, PluginContext
from .tools import Tool, ToolResult
from .vectors import Embedder, VectorHit, VectorStore

__version__ = "0.1.0"

__all__ = [
    "Agent", "AgentContext", "AgentInfo", "AgentRegistry", "AgentResult", "AgentStatus", "AgentType",
    "BaseChatModel", "ModelProfile", "Conversation", "Episode", "TokenSink", "Bus", "ChatChunk", "ChatMessage", "ChatModel",
    "ChatOptions", "ChatResponse", "ConfigError", "ConfigErrors", "DependencyError", "Embedder",
    "Event", "FinishReason", "Health", "KernelHealth", "PluginStatus", "KernelStarted", "KernelStopping", "Listener",
    "MemoryStore", "Overflow", "Plugin", "PluginConfig", "PluginContext", "PluginError",
    "PluginFailed", "PluginStarted", "PluginStopped", "PullProgress", "PygentError", "Role", "StoredMessage",
    "Subscription", "Tool", "ToolCall", "ToolResult", "ToolSpec", "Usage", "VectorHit",
    "VectorStore", "collect", "event", "hookimpl", "hookspec",
]

from .sandbox import SANDBOX, Sandbox, SandboxLimits, SandboxResult, SandboxUnavailable  # noqa: E402

__all__ += ["SANDBOX", "Sandbox", "SandboxLimits", "SandboxResult", "SandboxUnavailable"]
