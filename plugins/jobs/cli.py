"""The jobs plugin's commands: ``pygent jobs list|show``."""

from __future__ import annotations

import dataclasses
import json

import click
from pygent_sdk.cli import CliContext, out, pass_cli, run
from pygent_sdk.jobs import JOBS
from rich.markup import escape
from rich.table import Table


def register(cli: click.Group) -> None:
    """Add ``jobs`` to the ``pygent`` command."""

    @cli.group()
    def jobs() -> None:
        """Background jobs: their state, progress and results."""

    @jobs.command("list")
    @pass_cli
    def jobs_list(ctx: CliContext) -> None:
        """List kept jobs, newest first, and the kinds on offer."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                service = kernel.service(JOBS)
                found, kinds = service.list(), service.kinds()
            table = Table("id", "kind", "state", "progress", "message", title="Jobs")
            for job in found:
                p = job.progress
                shown = f"{p.fraction:.0%}" if p.fraction is not None else f"{p.done:g}"
                table.add_row(job.id, job.kind, job.state, shown, escape(p.message or job.error or ""))
            out.print(table if found else "[dim]No jobs yet.[/]")
            out.print("Kinds: " + (", ".join(f"[bold]{k.name}[/]" for k in kinds) or "none"))

        run(main)

    @jobs.command("show")
    @click.argument("job_id", metavar="ID")
    @pass_cli
    def jobs_show(ctx: CliContext, job_id: str) -> None:
        """Print job ID as JSON: state, progress, result or error."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                job = kernel.service(JOBS).get(job_id)
            print(json.dumps(dataclasses.asdict(job), indent=2, default=str))

        run(main)
