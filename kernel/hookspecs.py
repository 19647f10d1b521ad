"""The kernel's hook specifications.

A hook is a question the caller wants answered (a contribution, a health report, new hookspecs);
something that already happened is an event on the bus instead. Plugins implement hooks with
``@pygent_sdk.hookimpl`` methods named like the spec; every argument is optional to accept.
A capability that owns an extension point adds its own specs through :func:`pygent_addhooks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pygent_sdk.markers import hookspec

if TYPE_CHECKING:
    import pluggy
    from pygent_sdk.bus import Listener
    from pygent_sdk.health import Health


@hookspec(historic=True)
def pygent_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add hook specifications of a plugin's own, for other plugins to implement.

    :param pluginmanager: The kernel's plugin manager; call
        ``pluginmanager.add_hookspecs(module_or_class)``.

    Historic: called for each plugin as it registers, before any plugin starts.
    Implement it in the plugin that owns the extension point (the agents plugin declares
    ``pygent_agent_types`` this way); the kernel itself never learns those hooks.
    """


@hookspec
def pygent_listeners() -> list[Listener]:
    """Contribute event listeners: callbacks for the events matching a topic pattern.

    Called for each plugin right after it has started; its listeners are subscribed then and
    removed when it stops. Each listener gets its own bounded buffer and task, receives events
    in publish order, and a listener that raises is logged and counted without affecting others.

    :return: Listeners of this plugin (an empty list for none).
    """


@hookspec
def pygent_health() -> Health:
    """Report this plugin's health (may be a coroutine function).

    Called per plugin by ``Kernel.health()``; a plugin without this hook is ``ok`` while running.
    An exception, or taking longer than the kernel's ``health_timeout``, reports the plugin
    ``down`` with the error as detail.

    :return: :class:`pygent_sdk.Health`.
    """
