"""The PyGent kernel: plugins from plugins.toml, hooks (pluggy), an event bus (anyio), lifecycle.

Re-exports only; see the modules for the implementation.
"""

from .bus import BusStats, EventBus, Subscription, SubscriptionStats
from .config import ConfigFile, KernelSettings, PluginEntry, parse_config, read_config
from .discovery import NAMESPACE, Installed, installed
from .kernel import Kernel, KernelHealth, PluginRecord, State

__all__ = [
    "NAMESPACE", "BusStats", "ConfigFile", "EventBus", "Installed", "Kernel", "KernelHealth",
    "KernelSettings", "PluginEntry", "PluginRecord", "State", "Subscription", "SubscriptionStats",
    "installed", "parse_config", "read_config",
]
