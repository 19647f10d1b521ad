"""The auth plugin's commands: ``pygent auth create-key|list|revoke``."""

from __future__ import annotations

import time
from typing import Any

import click
from pygent_sdk.cli import CliContext, out, pass_cli, run
from pygent_sdk.errors import PygentError
from rich.markup import escape
from rich.table import Table


def _store(kernel: Any) -> Any:
    store = kernel.hook.pygent_auth_keys() if hasattr(kernel.hook, "pygent_auth_keys") else None
    if store is None:
        raise PygentError("This needs the 'auth' plugin: add an [auth] table to plugins.toml")
    return store


def register(cli: click.Group) -> None:
    """Add the ``auth`` group to the ``pygent`` command."""

    @cli.group()
    def auth() -> None:
        """Manage API keys of the auth plugin."""

    @auth.command("create-key")
    @click.option("--role", type=click.Choice(["viewer", "operator", "admin"]), required=True)
    @click.option("--name", default="", help="A name to know the key by.")
    @click.option("--rate", type=int,
                  help="Requests per minute for this key (default: [auth] setting).")
    @pass_cli
    def create_key(ctx: CliContext, role: str, name: str, rate: int | None) -> None:
        """Create an API key; it is printed once and stored only as an argon2 hash."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                info, key = _store(kernel).create(role, name, rate)
            out.print(f"Created API key [bold]{info.id}[/] ({escape(info.name)}, role "
                      f"{info.role}). It is shown only this once; store it now:")
            print(key)

        run(main)

    @auth.command("list")
    @pass_cli
    def list_keys(ctx: CliContext) -> None:
        """List API keys (ids, names, roles; never the keys)."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                store = _store(kernel)
            table = Table("id", "name", "role", "rate/min", "created", "revoked", title="API keys")
            for k in store.keys.values():
                created = time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created_at))
                table.add_row(k.id, escape(k.name), k.role, str(k.rate_per_minute or "default"),
                              created, "yes" if k.revoked else "")
            out.print(table if store.keys else
                      "[dim]No API keys: `pygent auth create-key --role admin`.[/]")

        run(main)

    @auth.command("revoke")
    @click.argument("key_id", metavar="ID")
    @pass_cli
    def revoke(ctx: CliContext, key_id: str) -> None:
        """Revoke API key ID."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                info = _store(kernel).revoke(key_id)
            out.print(f"Revoked {info.id} ({escape(info.name)}); a running server refuses it "
                      "from its next request.")

        run(main)
