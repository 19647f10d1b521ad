"""What a plugin's ``pygent`` commands use: the command context, a started kernel, the consoles.

A plugin adds commands through the ``pygent_cli_commands`` hook::

    class Greeter(Plugin):
        @staticmethod
        @hookimpl
        def pygent_cli_commands(cli: click.Group) -> None:
            @cli.command()
            @pass_cli
            def greet(ctx: CliContext) -> None:
                async def main() -> None:
                    async with ctx.kernel() as kernel:
                        store = kernel.service(MEMORY_STORE)
                        out.print(await store.stats())
                run(main)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import click
from rich.console import Console

from .bus import Bus
from .health import KernelHealth
from .services import ServiceKey, T

R = TypeVar("R")

out = Console(highlight=False)
"""Standard output, for tables and answers."""
err = Console(stderr=True, highlight=False)
"""Standard error, for progress and notes."""


class KernelView(Protocol):
    """A started kernel as a command sees it."""

    bus: Bus
    hook: Any

    def service(self, key: ServiceKey[T], **kwargs: Any) -> T: ...
    def optional_service(self, key: ServiceKey[T], **kwargs: Any) -> T | None: ...
    async def health(self) -> KernelHealth: ...


@dataclasses.dataclass(frozen=True, slots=True)
class CliContext:
    """The ``pygent`` command's context object: which config, and how to start a kernel from it."""

    config_path: Path | None
    """The plugins.toml in use; None when running on the built-in defaults."""
    kernel: Callable[..., AbstractAsyncContextManager[KernelView]]
    """``async with ctx.kernel() as kernel``: the configured plugins started, except those that
    open network listeners (``Plugin.listens``). Keyword arguments override tables, e.g.
    ``ctx.kernel(http={"enabled": True, "port": 9000})``."""
    run_kernel: Callable[..., None]
    """Run the kernel (tables overridden as for ``kernel``) until Ctrl-C or SIGTERM, showing each
    plugin start and stop: what ``pygent run`` and ``pygent serve`` do."""


pass_cli = click.make_pass_decorator(CliContext)
"""Decorator: pass the :class:`CliContext` as a command's first argument."""


def run(main: Callable[..., Awaitable[R]], *args: Any) -> R:
    """Run an async command body to completion (``anyio.run``)."""
    return anyio.run(main, *args)


