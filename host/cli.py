"""The ``pygent`` command: inspect plugins, check plugins.toml, run the kernel."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from pygent_kernel.config import not_found
from pygent_sdk.errors import PygentError

from . import render

__version__ = "0.1.0"


class _Group(click.Group):
    """A click group that shows PygentError as a readable paragraph and exits with status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PygentError as error:
            render.show_error(error)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pygent", message="%(prog)s %(version)s")
@click.option(
    "-c", "--config", "config_path", type=click.Path(path_type=Path), envvar="PYGENT_CONFIG",
    default="plugins.toml", show_default=True, help="The plugins.toml to use (env PYGENT_CONFIG).",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning",
    show_default=True, help="Log level of the kernel and plugins.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path, log_level: str) -> None:
    """PyGent Factory: a plugin-based runtime kernel for AI agents."""
    from rich.logging import RichHandler

    logging.basicConfig(
        level=log_level.upper(), format="%(name)s: %(message)s",
        handlers=[RichHandler(console=render.err, show_path=False, show_time=False)],
    )
    explicit = ctx.get_parameter_source("config_path") is not click.core.ParameterSource.DEFAULT
    if explicit and not config_path.exists():
        raise not_found(config_path)
    ctx.obj = config_path


@cli.group()
def plugins() -> None:
    """Inspect installed plugins."""


@plugins.command("list")
@click.option("--health", is_flag=True, help="Start the enabled plugins and ask their health.")
@click.pass_obj
def plugins_list(config_path: Path, health: bool) -> None:
    """List installed plugins: version, distribution, capabilities, enabled, status."""
    from .inspect import list_plugins

    list_plugins(config_path, health=health)


@plugins.command("info")
@click.argument("name")
def plugins_info(name: str) -> None:
    """Show a plugin's description, capabilities, hooks and config schema."""
    from .inspect import plugin_info

    plugin_info(name)


@cli.group()
def config() -> None:
    """Work with plugins.toml."""


@config.command("check")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.pass_obj
def config_check(config_path: Path, file: Path | None) -> None:
    """Validate FILE (default: --config): tables, keys, env vars, plugins, dependencies."""
    from .inspect import check_config

    if not check_config(file or config_path):
        raise SystemExit(1)


@cli.command()
@click.pass_obj
def run(config_path: Path) -> None:
    """Start the kernel from plugins.toml and run until interrupted (Ctrl-C or SIGTERM)."""
    import anyio

    from .runner import run_kernel

    anyio.run(run_kernel, config_path)


def main() -> None:
    """Entry point of the ``pygent`` script."""
    cli(prog_name="pygent")
