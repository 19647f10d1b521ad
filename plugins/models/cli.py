"""The models plugin's commands: ``pygent models list|pull``."""

from __future__ import annotations

import inspect
from typing import Any

import click
from pygent_sdk.cli import CliContext, out, pass_cli, run
from pygent_sdk.errors import PygentError
from pygent_sdk.models import CHAT_MODEL
from rich.markup import escape
from rich.table import Table


def register(cli: click.Group) -> None:
    """Add the ``models`` group to the ``pygent`` command."""

    @cli.group()
    def models() -> None:
        """List and pull chat models."""

    @models.command("list")
    @pass_cli
    def models_list(ctx: CliContext) -> None:
        """List the chat models the enabled provider plugins offer."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                default = kernel.service(CHAT_MODEL, name=None).name
                found = [m for answer in kernel.hook.pygent_chat_models() for m in answer]
            table = Table("name", "provider", "default", title="Chat models")
            for m in sorted(found, key=lambda m: m.name):
                table.add_row(m.name, escape(getattr(m, "description", "")),
                              "✓" if m.name == default else "")
            out.print(table)

        run(main)

    @models.command("pull")
    @click.argument("name")
    @pass_cli
    def models_pull(ctx: CliContext, name: str) -> None:
        """Download model NAME (e.g. ollama:llama3.2), with progress."""
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        async def main() -> None:
            pulled = False
            async with ctx.kernel() as kernel:
                kernel.service(CHAT_MODEL, name=None)
                with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                              console=out) as bar:
                    task = bar.add_task(f"pulling {name}", total=None)

                    def progress(p: Any) -> None:
                        bar.update(task, description=f"{name}: {p.status}", completed=p.completed,
                                   total=p.total or None)

                    for answer in kernel.hook.pygent_model_pull(name=name, progress=progress):
                        pulled = (await answer if inspect.isawaitable(answer) else answer) or pulled
            if not pulled:
                raise PygentError(f"No enabled plugin can pull {name!r}; pulling works for ollama:NAME")
            out.print(f"[green]Pulled {escape(name)}[/]")

        run(main)
