"""The embeddings plugin's commands: ``pygent embeddings list|embed``."""

from __future__ import annotations

import time

import click
from pygent_sdk.cli import CliContext, out, pass_cli, run
from pygent_sdk.vectors import EMBEDDER, UnknownEmbedder
from rich.markup import escape
from rich.table import Table


def register(cli: click.Group) -> None:
    """Add the ``embeddings`` group to the ``pygent`` command."""

    @cli.group()
    def embeddings() -> None:
        """List embedders and embed text."""

    @embeddings.command("list")
    @pass_cli
    def embeddings_list(ctx: CliContext) -> None:
        """List the embedders the enabled provider plugins offer."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                try:
                    default = kernel.service(EMBEDDER, name=None).name
                except UnknownEmbedder:  # the default is not on offer: list what is
                    default = ""
                found = [e for answer in kernel.hook.pygent_embedders() for e in answer or ()]
            table = Table("name", "dimension", "default", title="Embedders")
            for e in sorted(found, key=lambda e: e.name):
                mark = "✓" if e.name == default else ""
                table.add_row(escape(e.name), str(e.dimension or "?"), mark)
            out.print(table)

        run(main)

    @embeddings.command("embed")
    @click.argument("texts", nargs=-1, required=True)
    @click.option("-e", "--embedder", "name", help="Embedder name (default: [embeddings] default).")
    @pass_cli
    def embeddings_embed(ctx: CliContext, texts: tuple[str, ...], name: str | None) -> None:
        """Embed TEXTS; print each vector's dimension, norm, first values and the time taken."""

        async def main() -> None:
            import numpy as np

            async with ctx.kernel() as kernel:
                embedder = kernel.service(EMBEDDER, name=name)
                started = time.perf_counter()
                vectors = np.asarray(await embedder.embed(list(texts)), dtype=np.float32)
                took = time.perf_counter() - started
            out.print(f"{escape(embedder.name)}: {len(texts)} text(s) in {took * 1000:.1f} ms")
            for text, vector in zip(texts, vectors, strict=True):
                head = ", ".join(f"{x:.4f}" for x in vector[:5])
                out.print(f"dim {vector.shape[0]}  norm {float(np.linalg.norm(vector)):.4f}  "
                          f"[{head}, ...]  {escape(text[:60])}")

        run(main)
