"""The memory plugin's commands: ``pygent conversations list|export``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from pygent_sdk.cli import CliContext, err, out, pass_cli, run
from pygent_sdk.memory import MEMORY_STORE
from rich.markup import escape
from rich.table import Table


def register(cli: click.Group) -> None:
    """Add the ``conversations`` group to the ``pygent`` command."""

    @cli.group()
    def conversations() -> None:
        """List and export stored conversations."""

    @conversations.command("list")
    @click.option("--agent", "agent_id", help="Only this agent's conversations.")
    @pass_cli
    def conversations_list(ctx: CliContext, agent_id: str | None) -> None:
        """List conversations with their message counts."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                rows = await kernel.service(MEMORY_STORE).conversations(agent_id)
            table = Table("id", "agent", "title", "messages", "created", title="Conversations")
            for c in rows:
                created = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.created_at))
                table.add_row(c.id, c.agent_id or "", escape(c.title), str(c.messages), created)
            out.print(table)

        run(main)

    @conversations.command("export")
    @click.argument("conversation_id", metavar="ID")
    @click.option("-f", "--format", "fmt", type=click.Choice(["markdown", "json"]),
                  default="markdown", show_default=True)
    @click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file.")
    @pass_cli
    def conversations_export(ctx: CliContext, conversation_id: str, fmt: str,
                             output: Path | None) -> None:
        """Print (or write) conversation ID as Markdown or JSON."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                text = await kernel.service(MEMORY_STORE).export(conversation_id, fmt)
            if output is None:
                sys.stdout.write(text)
            else:
                output.write_text(text)
                err.print(f"Wrote {output}")

        run(main)
