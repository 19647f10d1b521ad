"""The models plugin's commands: ``pygent models list|pull``."""

from __future__ import annotations


import click
from pygent_sdk import ModelProfile
from pygent_sdk.cli import CliContext, out, pass_cli, run
from pygent_sdk.errors import PygentError
from pygent_sdk.models import CHAT_MODEL, pull_stream
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
            table = Table("name", "description", "context", "tools", "default", title="Chat models")
            for m in sorted(found, key=lambda m: m.name):
                profile = getattr(m, "profile", None) or ModelProfile()
                table.add_row(m.name, escape(getattr(m, "description", "")),
                              f"{profile.context_length:,}" if profile.context_length else "?",
                              "✓" if profile.tools else "", "✓" if m.name == default else "")
            out.print(table)

        run(main)

    @models.command("pull")
    @click.argument("name")
    @pass_cli
    def models_pull(ctx: CliContext, name: str) -> None:
        """Download model NAME (e.g. ollama:llama3.2), with progress."""
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        async def main() -> None:
            prefix, colon, model = name.partition(":")
            async with ctx.kernel() as kernel:
                providers = {p.name: p for p in kernel.hook.pygent_model_provider() if p is not None}
                if not colon or prefix not in providers:
                    raise PygentError(
                        f"No enabled provider can pull {name!r}: name it provider:model, with "
                        f"provider one of: {', '.join(sorted(providers)) or 'none enabled'}"
                    )
                with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                              console=out) as bar:
                    task = bar.add_task(f"pulling {name}", total=None)
                    async for p in pull_stream(providers[prefix], model):
                        bar.update(task, description=f"{name}: {p.status}", completed=p.completed,
                                   total=p.total or None)
            out.print(f"[green]Pulled {escape(name)}[/]")

        run(main)
