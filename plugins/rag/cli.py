"""The rag plugin's commands: ``pygent ingest``, ``search``, ``ask`` and ``collections``."""

from __future__ import annotations

import json
import sys

import click
from pygent_sdk.cli import CliContext, err, out, pass_cli, run
from pygent_sdk.knowledge import KNOWLEDGE, IngestProgress, IngestReport, Passage
from rich.markup import escape
from rich.table import Table

SNIPPET = 160
"""Characters of a passage shown per search result."""
SKIPPED_SHOWN = 5
"""Skipped files named after an ingest (the rest counted)."""


def passage_json(rank: int, p: Passage) -> dict[str, object]:
    """One result of ``pygent search --json``."""
    return {"rank": rank, "score": p.score, "source": p.source, "document_id": p.document_id,
            "chunk": p.chunk, "start": p.start, "end": p.end, "heading": p.heading, "text": p.text}


def summary(report: IngestReport) -> Table:
    """The table printed after an ingest."""
    table = Table("collection", "added", "replaced", "unchanged", "failed", "chunks", "seconds",
                  title="Ingested")
    table.add_row(report.collection, str(len(report.added)), str(len(report.replaced)),
                  str(len(report.unchanged)), str(len(report.failed)), f"{report.chunks:,}",
                  f"{report.seconds:.1f}")
    return table


def register(cli: click.Group) -> None:
    """Add ``ingest``, ``search``, ``ask`` and ``collections`` to the ``pygent`` command."""

    @cli.command()
    @click.argument("paths", nargs=-1, required=True, metavar="PATH...")
    @click.option("--collection", "-C", default=None, help="Collection (default: [rag] collection).")
    @pass_cli
    def ingest(ctx: CliContext, paths: tuple[str, ...], collection: str | None) -> None:
        """Ingest files and directories (txt, md, html, pdf) into a knowledge collection."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        async def main() -> IngestReport:
            async with ctx.kernel() as kernel:
                knowledge = kernel.service(KNOWLEDGE)
                with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("files · {task.fields[chunks]:,} chunks · {task.fields[rate]:.0f} vectors/s"),
                              TimeElapsedColumn(), console=err, transient=True) as bar:
                    task = bar.add_task("ingesting", total=None, chunks=0, rate=0.0)

                    def progress(p: IngestProgress) -> None:
                        bar.update(task, completed=p.files_done, total=p.files_total, chunks=p.chunks,
                                   rate=p.vectors_per_s)

                    return await knowledge.ingest_paths(list(paths), collection=collection, progress=progress)

        report = run(main)
        if report.ignored:
            shown = ", ".join(report.ignored[:SKIPPED_SHOWN])
            more = f" and {len(report.ignored) - SKIPPED_SHOWN} more" if len(report.ignored) > SKIPPED_SHOWN else ""
            err.print(f"[dim]skipped {len(report.ignored)} unsupported or empty file(s): {escape(shown)}{more}[/]")
        for _, reason in report.failed:
            err.print(f"[red]failed:[/] {escape(reason)}")
        err.print(summary(report))
        if report.failed:
            sys.exit(1)

    @cli.command()
    @click.argument("query")
    @click.option("--mode", type=click.Choice(["vector", "keyword", "hybrid"]), default=None,
                  help="Search mode (default: [rag] mode).")
    @click.option("-k", "k", type=click.IntRange(1, 100), default=None, help="Passages (default: [rag] k).")
    @click.option("--collection", "-C", default=None, help="Collection (default: [rag] collection).")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list of the passages.")
    @pass_cli
    def search(ctx: CliContext, query: str, mode: str | None, k: int | None, collection: str | None,
               as_json: bool) -> None:
        """Search a knowledge collection: rank, score, source › heading, offsets and a snippet per passage."""

        async def main() -> list[Passage]:
            async with ctx.kernel() as kernel:
                return await kernel.service(KNOWLEDGE).retrieve(query, k=k, mode=mode, collection=collection)  # type: ignore[arg-type]

        passages = run(main)
        if as_json:
            print(json.dumps([passage_json(rank, p) for rank, p in enumerate(passages, 1)], ensure_ascii=False))
            return
        if not passages:
            out.print("[dim]No passage matches.[/]")
            return
        for rank, p in enumerate(passages, 1):
            snippet = " ".join(p.text.split())
            snippet = snippet if len(snippet) <= SNIPPET else snippet[:SNIPPET] + "…"
            where = escape(p.source) + (f" › {escape(p.heading)}" if p.heading else "")
            out.print(f"[bold]{rank:>2}.[/] {p.score:.4f}  {where}  [dim](chunk {p.chunk}, chars {p.start}-{p.end})[/]",
                      soft_wrap=True)
            out.print(f"    {escape(snippet)}", soft_wrap=True)

    @cli.command()
    @click.argument("question")
    @click.option("--collection", "-C", default=None, help="Collection (default: [rag] collection).")
    @click.option("--model", "-m", default=None, help="Chat model (default: [rag] answer_model).")
    @click.option("-k", "k", type=click.IntRange(1, 20), default=None, help="Passages to answer from.")
    @pass_cli
    def ask(ctx: CliContext, question: str, collection: str | None, model: str | None, k: int | None) -> None:
        """Answer QUESTION from a knowledge collection, citing passages by number."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                async def token(text: str) -> None:
                    out.print(text, end="", markup=False, soft_wrap=True)

                answer = await kernel.service(KNOWLEDGE).answer(question, k=k, collection=collection,
                                                                model=model, on_token=token)
            if not answer.found:
                out.print(answer.text, markup=False)
                return
            out.print()
            if answer.citations:
                out.print("\n[bold]Sources[/]")
            for c in answer.citations:
                where = c.source + (f" › {c.heading}" if c.heading else "")
                mark = "" if c.cited else " [dim](not cited)[/]"
                out.print(f"{escape(f'[{c.number}]')} {escape(where)} (chunk {c.chunk}, chars {c.start}-{c.end}){mark}",
                          soft_wrap=True)

        run(main)

    @cli.group()
    def collections() -> None:
        """Knowledge collections: list and delete."""

    @collections.command("list")
    @pass_cli
    def collections_list(ctx: CliContext) -> None:
        """List the collections: embedder, store, dimension, documents and chunks."""

        async def main() -> list[dict[str, object]]:
            async with ctx.kernel() as kernel:
                return await kernel.service(KNOWLEDGE).collections()

        found = run(main)
        if not found:
            out.print("[dim]No collections yet: pygent ingest PATH makes one.[/]")
            return
        table = Table("name", "embedder", "store", "dimension", "documents", "chunks", title="Collections")
        for c in found:
            table.add_row(*(escape(str(c[key])) for key in ("name", "embedder", "store", "dimension",
                                                             "documents", "chunks")))
        out.print(table)

    @collections.command("delete")
    @click.argument("name")
    @pass_cli
    def collections_delete(ctx: CliContext, name: str) -> None:
        """Delete collection NAME: its documents, chunks, vectors and keyword index."""

        async def main() -> bool:
            async with ctx.kernel() as kernel:
                return await kernel.service(KNOWLEDGE).drop_collection(name)

        if not run(main):
            err.print(f"No collection {escape(name)!r}.")
            sys.exit(1)
        out.print(f"Deleted collection {escape(name)!r}.")
