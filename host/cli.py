"""The ``pygent`` command: kernel-level commands here; plugins add theirs (``pygent_cli_commands``)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import click
from pygent_sdk.cli import CliContext
from pygent_sdk.errors import PygentError

from . import render

__version__ = "0.1.0"


@functools.cache
def plugin_commands() -> click.Group:
    """Every command that installed plugins contribute, gathered once per process."""
    import pluggy
    from pygent_kernel import discovery, hookspecs
    from pygent_sdk.markers import PROJECT

    gathered = click.Group("plugins")
    classes, _failures = discovery.load(list(discovery.installed()))  # failures: `plugins list`
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name, cls in classes.items():
        pm.register(cls, name=name)
    pm.hook.pygent_cli_commands(cli=gathered)
    return gathered


class _Group(click.Group):
    """The top-level group: built-in commands, then plugins' commands (loaded only when needed);
    a PygentError prints as a readable paragraph and exits with status 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *plugin_commands().list_commands(ctx)})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or plugin_commands().get_command(ctx, name)

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
    default="plugins.toml", show_default=True,
    help="The plugins.toml to use (env PYGENT_CONFIG); without one, the built-in defaults.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning",
    show_default=True, help="Log level of the kernel and plugins.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: Path, log_level: str) -> None:
    """PyGent Factory: a plugin-based runtime kernel for AI agents."""
    from rich.logging import RichHandler

    from .session import kernel_factory, resolve
    from .runner import kernel_runner

    logging.basicConfig(
        level=log_level.upper(), format="%(name)s: %(message)s",
        handlers=[RichHandler(console=render.err, show_path=False, show_time=False)],
    )
    explicit = ctx.get_parameter_source("config_path") is not click.core.ParameterSource.DEFAULT
    path = resolve(config_path, explicit)
    if path is None and ctx.invoked_subcommand not in ("init", None):
        render.err.print(f"[dim]No {config_path} here: using the built-in defaults "
                         "(`pygent init` writes them to a file you can edit).[/]")
    ctx.obj = CliContext(config_path=path, kernel=kernel_factory(path), run_kernel=kernel_runner(path))


@cli.group()
def plugins() -> None:
    """Inspect installed plugins."""


@plugins.command("list")
@click.option("--health", is_flag=True, help="Start the enabled plugins and ask their health.")
@click.pass_obj
def plugins_list(ctx: CliContext, health: bool) -> None:
    """List installed plugins: version, distribution, capabilities, enabled, status."""
    from .inspect import list_plugins

    list_plugins(ctx.config_path, health=health)


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
def config_check(ctx: CliContext, file: Path | None) -> None:
    """Validate FILE (default: --config): tables, keys, env vars, plugins, dependencies."""
    from .inspect import check_config

    if not check_config(file or ctx.config_path):
        raise SystemExit(1)


@cli.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), default="plugins.toml",
              show_default=True, help="Where to write it.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(output: Path, force: bool) -> None:
    """Write a commented plugins.toml with the built-in defaults (the embedded main job)."""
    from .session import defaults_text

    if output.exists() and not force:
        raise PygentError(f"{output} exists already; pass --force to overwrite it")
    output.write_text(defaults_text())
    render.out.print(f"Wrote {output}: edit it, then `pygent config check`.")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[TYPE TASK [OPTIONS]]")
@click.pass_context
def run(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Run the kernel until interrupted; with TYPE and TASK, run one agent task and exit.

    Without arguments the kernel runs until Ctrl-C or SIGTERM. With them this is
    `pygent agents run TYPE TASK ...` (see its --help), offered by the agents plugin.
    """
    if not args:
        ctx.obj.run_kernel()
        return
    group = plugin_commands().get_command(ctx, "agents")
    command = group.get_command(ctx, "run") if isinstance(group, click.Group) else None
    if command is None:
        raise PygentError("`pygent run TYPE TASK` needs the agents plugin, which is not installed")
    with command.make_context("pygent run", list(args), parent=ctx) as sub:
        command.invoke(sub)


def main() -> None:
    """Entry point of the ``pygent`` script."""
    cli(prog_name="pygent")
