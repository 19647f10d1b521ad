"""The ``ingest`` job kind: a long ingest in the background, with progress."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import PluginConfig
from pygent_sdk.jobs import JobContext, JobKind
from pygent_sdk.knowledge import IngestProgress, KnowledgeError

from .loaders import inside

if TYPE_CHECKING:
    from . import RagPlugin


class IngestParams(PluginConfig):
    """Parameters of an ``ingest`` job."""

    paths: list[str] = Field(..., min_length=1, max_length=1000,
                             description="Files and directories to ingest (as the server sees them).")
    collection: str | None = Field(None, description="Collection (None: [rag] collection).")


def ingest_kind(plugin: RagPlugin) -> JobKind:
    """The kind: ingest ``paths`` into ``collection``; the result is the IngestReport."""

    roots = [Path(r).resolve() for r in plugin.config.ingest_roots]
    data = plugin.context.data_dir.parent.resolve()

    def allowed(path: str) -> bool:
        """Under a root, not hidden below it (no ``.name`` part), not in the kernel's data."""
        real = Path(path).resolve()
        if inside(real, data):
            return False
        return any(inside(real, root) and not any(part.startswith(".") for part in real.relative_to(root).parts)
                   for root in roots)

    async def run(ctx: JobContext) -> dict[str, Any]:
        refused = [p for p in ctx.params["paths"] if not allowed(p)]
        if refused:
            raise KnowledgeError(
                f"ingest job: {', '.join(map(repr, refused))} outside [rag] ingest_roots "
                f"({', '.join(str(r) for r in roots) or 'none'}), hidden, or in the kernel's data "
                f"directory ({data})"
            )
        async def progress(p: IngestProgress) -> None:
            await ctx.progress(p.files_done, p.files_total,
                               f"{p.chunks} chunks, {p.vectors_per_s:.0f} vectors/s: {p.source}")

        report = await plugin.started().ingest_paths(
            list(ctx.params["paths"]), collection=ctx.params.get("collection"), progress=progress)
        return dataclasses.asdict(report)

    return JobKind("ingest", "Ingest files and directories into a knowledge collection (rag).",
                   run, IngestParams)
