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
    import click
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


@hookspec
def pygent_startup() -> None:
    """Finish setting up once every enabled plugin has started (may be a coroutine function).

    Called once per kernel, in start order, after the last plugin reported ready and before
    ``kernel.started`` is published; every service other plugins offer is available now. The
    HTTP transport assembles its application here, from the routes every plugin contributes,
    so the order of tables in plugins.toml does not matter. An exception fails the plugin under
    its ``on_error`` policy, like a failed start.
    """


@hookspec
def pygent_cli_commands(cli: click.Group) -> None:
    """Add commands or groups to the ``pygent`` command (datasette's ``register_commands``).

    :param cli: The top-level click group; call ``cli.add_command(...)``.

    Called on the class of every installed plugin, enabled or not, before any plugin is
    instantiated: implement it as a ``@staticmethod`` placed above ``@hookimpl``. A command
    reaches the kernel through :class:`pygent_sdk.cli.CliContext` (``@pass_cli``), whose
    ``kernel()`` starts the kernel from the user's plugins.toml.
    """
