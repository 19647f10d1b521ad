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
@click.argument("agent_type", metavar="[TYPE", required=False)
@click.argument("task", metavar="TASK]", required=False)
@click.option("-m", "--model", help="Chat model, e.g. llamacpp:smollm2 (default: [models] default).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Agent config, e.g. -o max_steps=3 (JSON values allowed); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON, for scripts.")
@click.pass_obj
def run(config_path: Path, agent_type: str | None, task: str | None, model: str | None,
        options: tuple[str, ...], as_json: bool) -> None:
    """Run the kernel until interrupted, or with TYPE and TASK run one agent task and exit.

    Without arguments the kernel runs from plugins.toml until Ctrl-C or SIGTERM. With them, an
    agent of TYPE works on TASK, streams its answer and prints its steps; the exit status is 0
    when it succeeded, 1 when it did not.
    """
    import anyio

    if agent_type is None:
        from .runner import run_kernel

        anyio.run(run_kernel, config_path)
        return
    if not task:
        raise click.UsageError("TASK is missing: pygent run TYPE \"what to do\"")
    from .agents_cli import parse_options, run_once

    config = parse_options(options)
    if not anyio.run(run_once, config_path, agent_type, task, model, config, as_json):
        raise SystemExit(1)


@cli.command()
@click.option("-a", "--agent", default="general", show_default=True,
              help="An agent type (a new agent) or the id of an existing agent.")
@click.option("-m", "--model", help="Chat model for a new agent (default: [models] default).")
@click.pass_obj
def chat(config_path: Path, agent: str, model: str | None) -> None:
    """Talk to an agent: streamed answers, one kept conversation. /exit or Ctrl-D ends."""
    import anyio

    from .agents_cli import chat as run_chat

    anyio.run(run_chat, config_path, agent, model)


@cli.group()
def agents() -> None:
    """Create, list and delete agents."""


@agents.command("list")
@click.pass_obj
def agents_list(config_path: Path) -> None:
    """List agents and the agent types on offer."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.agents_list, config_path)


@agents.command("create")
@click.argument("agent_type", metavar="TYPE")
@click.option("--name", help="A name to know it by.")
@click.option("-m", "--model", help="Chat model (default: [models] default).")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Agent config (JSON values allowed); repeatable.")
@click.pass_obj
def agents_create(config_path: Path, agent_type: str, name: str | None, model: str | None,
                  options: tuple[str, ...]) -> None:
    """Create an agent of TYPE; it is kept in the data directory."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.agents_create, config_path, agent_type, name, model,
              agents_cli.parse_options(options))


@agents.command("delete")
@click.argument("agent_id", metavar="ID")
@click.pass_obj
def agents_delete(config_path: Path, agent_id: str) -> None:
    """Delete agent ID (its conversation stays in memory)."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.agents_delete, config_path, agent_id)


@cli.command()
@click.option("--host", help="Address to listen on (default: [http] host, 127.0.0.1).")
@click.option("--port", type=int, help="Port (default: [http] port, 8080).")
@click.pass_obj
def serve(config_path: Path, host: str | None, port: int | None) -> None:
    """Run the kernel with the HTTP/WebSocket API (the [http] plugin, enabled or not), until Ctrl-C."""
    import anyio

    from .runner import run_kernel, serving_kernel

    anyio.run(run_kernel, config_path, serving_kernel(config_path, host, port))


@cli.group()
def auth() -> None:
    """Manage API keys of the auth plugin."""


@auth.command("create-key")
@click.option("--role", type=click.Choice(["viewer", "operator", "admin"]), required=True)
@click.option("--name", default="", help="A name to know the key by.")
@click.option("--rate", type=int, help="Requests per minute for this key (default: [auth] setting).")
@click.pass_obj
def auth_create_key(config_path: Path, role: str, name: str, rate: int | None) -> None:
    """Create an API key; it is printed once and stored only as an argon2 hash."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.auth_create_key, config_path, role, name, rate)


@auth.command("list")
@click.pass_obj
def auth_list(config_path: Path) -> None:
    """List API keys (ids, names, roles; never the keys)."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.auth_list, config_path)


@auth.command("revoke")
@click.argument("key_id", metavar="ID")
@click.pass_obj
def auth_revoke(config_path: Path, key_id: str) -> None:
    """Revoke API key ID."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.auth_revoke, config_path, key_id)


@cli.group()
def models() -> None:
    """List and pull chat models."""


@models.command("list")
@click.pass_obj
def models_list(config_path: Path) -> None:
    """List the chat models the enabled provider plugins offer."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.models_list, config_path)


@models.command("pull")
@click.argument("name")
@click.pass_obj
def models_pull(config_path: Path, name: str) -> None:
    """Download model NAME (e.g. ollama:llama3.2), with progress."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.models_pull, config_path, name)


@cli.group()
def conversations() -> None:
    """List and export stored conversations."""


@conversations.command("list")
@click.option("--agent", "agent_id", help="Only this agent's conversations.")
@click.pass_obj
def conversations_list(config_path: Path, agent_id: str | None) -> None:
    """List conversations with their message counts."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.conversations_list, config_path, agent_id)


@conversations.command("export")
@click.argument("conversation_id", metavar="ID")
@click.option("-f", "--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown",
              show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file.")
@click.pass_obj
def conversations_export(config_path: Path, conversation_id: str, fmt: str,
                         output: Path | None) -> None:
    """Print (or write) conversation ID as Markdown or JSON."""
    import anyio

    from . import agents_cli

    anyio.run(agents_cli.conversations_export, config_path, conversation_id, fmt, output)


def main() -> None:
    """Entry point of the ``pygent`` script."""
    cli(prog_name="pygent")
