"""``pygent run`` and ``pygent serve``: start the kernel, show plugins coming up, run until a
signal, stop cleanly."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
from pygent_kernel import Kernel, Subscription
from pygent_sdk.errors import PygentError
from pygent_sdk.events import PluginFailed, PluginStarted, PluginStopped
from rich.markup import escape

from .render import err, out
from .session import load, with_overrides


def kernel_runner(config_path: Path | None) -> Callable[..., None]:
    """``CliContext.run_kernel``: run the configured kernel (tables overridden) until stopped."""

    def run(**tables: Mapping[str, Any]) -> None:
        kernel = Kernel(with_overrides(load(config_path), tables))
        kernel.raise_fatal()
        anyio.run(run_kernel, str(config_path or "the built-in defaults"), kernel)

    return run


async def run_kernel(source: str, kernel: Kernel) -> None:
    out.print(f"Starting {len(kernel.order)} plugins from {escape(source)} …")
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
