"""``pygent run``: start the kernel, show plugins coming up, run until a signal, stop cleanly."""

from __future__ import annotations

from pathlib import Path

import anyio
from pygent_kernel import Kernel, Subscription
from pygent_sdk.errors import PygentError
from pygent_sdk.events import PluginFailed, PluginStarted, PluginStopped
from rich.markup import escape

from .render import err, out


async def run_kernel(config_path: Path, kernel: Kernel | None = None) -> None:
    kernel = kernel or Kernel.from_config(config_path)
    out.print(f"Starting {len(kernel.order)} plugins from {escape(str(config_path))} …")
    failure: PygentError | None = None
    with kernel.bus.subscribe("kernel.plugin.*", overflow="wait", name="pygent run") as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_report, sub)
            await tg.start(kernel.watch_signals)  # from before start-up, so Ctrl-C is never lost
            try:
                async with kernel:
                    out.print("[green]Kernel running[/]; press Ctrl-C to stop.")
                    reason = await kernel.run_until_stopped(handle_signals=False)
                    out.print(f"Stopping ({escape(reason)}) …")
            except PygentError as error:  # re-raised after the task group, so not wrapped in a group
                failure = error
            finally:
                await anyio.wait_all_tasks_blocked()
                tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    out.print("[green]Stopped cleanly.[/]")


async def _report(sub: Subscription) -> None:
    async for event in sub:
        if isinstance(event, PluginStarted):
            out.print(f"  [green]✓[/] {event.plugin} started")
        elif isinstance(event, PluginStopped):
            out.print(f"  [dim]■ {event.plugin} stopped[/]")
        elif isinstance(event, PluginFailed):
            err.print(f"  [red]✗ {escape(event.error)}[/]")


def serving_kernel(config_path: Path, host: str | None, port: int | None) -> Kernel:
    """The kernel of plugins.toml with the [http] plugin enabled (host/port overridden if given)."""
    import dataclasses

    from pygent_kernel.config import PluginEntry, read_config

    config = read_config(config_path)
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    entries = [e for e in config.plugins if e.name != "http"]
    http = next((e for e in config.plugins if e.name == "http"), PluginEntry("http"))
    http = dataclasses.replace(http, enabled=True, options={**http.options, **overrides})
    kernel = Kernel(dataclasses.replace(config, plugins=(*entries, http)))
    kernel.raise_fatal()
    return kernel

