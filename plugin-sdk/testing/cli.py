"""cli_context: test a plugin's ``pygent`` commands with click's CliRunner, on a harness kernel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ..cli import CliContext
from ..plugin import Plugin
from .harness import PluginHarness


def cli_context(
    plugins: Mapping[str, type[Plugin] | None] | Sequence[str],
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> CliContext:
    """A :class:`~pygent_sdk.cli.CliContext` whose ``kernel()`` starts a :class:`PluginHarness` of
    ``plugins`` and ``config`` (tables the command overrides are merged over them)::

        result = CliRunner().invoke(group, ["todo", "milk"], obj=cli_context({"todo": Todo, ...}))

    Each ``kernel()`` is a fresh harness (a new temporary data directory unless ``config``
    names one). ``run_kernel`` (run until Ctrl-C) is refused: test such commands as a subprocess.
    """
    base = {name: dict(table) for name, table in (config or {}).items()}

    @asynccontextmanager
    async def kernel(**tables: Mapping[str, Any]) -> AsyncIterator[Any]:
        merged = {**base, **{name: {**base.get(name, {}), **table} for name, table in tables.items()}}
        async with PluginHarness(plugins, merged) as harness:
            yield harness.kernel

    def run_kernel(**tables: Mapping[str, Any]) -> None:
        raise RuntimeError("cli_context cannot run a kernel until Ctrl-C: test that command as a subprocess")

    return CliContext(None, kernel, run_kernel)
