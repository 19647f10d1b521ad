"""The faiss plugin's command: ``pygent faiss stats``."""

from __future__ import annotations

import click
from pygent_sdk.cli import CliContext, out, pass_cli, run
from pygent_sdk.vectors import VECTOR_STORE
from rich.markup import escape
from rich.table import Table


def register(cli: click.Group) -> None:
    """Add the ``faiss`` group to the ``pygent`` command."""

    @cli.group()
    def faiss() -> None:
        """The FAISS vector store."""

    @faiss.command("stats")
    @pass_cli
    def faiss_stats(ctx: CliContext) -> None:
        """Collections, vectors, index types, training, bytes on disk and the device."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                stats = await kernel.service(VECTOR_STORE, name="faiss").stats()
            table = Table("collection", "vectors", "dim", "metric", "index", "trained", "bytes",
                          title="FAISS collections")
            for name, c in stats["by_collection"].items():
                table.add_row(escape(name), f"{c['vectors']:,}", str(c["dimension"]), c["metric"],
                              c["index"], "yes" if c["trained"] else "no",
                              f"{c['bytes_on_disk']:,}")
            out.print(table)
            out.print(f"{stats['collections']} collection(s), {stats['vectors']:,} vectors, "
                      f"{stats['bytes_on_disk']:,} bytes on disk; device {escape(stats['device'])}")
            for name, why in stats["broken"].items():
                out.print(f"[red]could not load[/red] {escape(name)}: {escape(why)}")

        run(main)
