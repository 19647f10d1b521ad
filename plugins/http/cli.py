"""The http plugin's command: ``pygent serve``."""

from __future__ import annotations

from typing import Any

import click
from pygent_sdk.cli import CliContext, pass_cli


def register(cli: click.Group) -> None:
    """Add ``serve`` to the ``pygent`` command."""

    @cli.command()
    @click.option("--host", help="Address to listen on (default: [http] host, 127.0.0.1).")
    @click.option("--port", type=int, help="Port (default: [http] port, 8080).")
    @pass_cli
    def serve(ctx: CliContext, host: str | None, port: int | None) -> None:
        """Run the kernel with the HTTP/WebSocket API ([http], enabled or not), until Ctrl-C."""
        table: dict[str, Any] = {"enabled": True}
        table.update({k: v for k, v in (("host", host), ("port", port)) if v is not None})
        ctx.run_kernel(http=table)
