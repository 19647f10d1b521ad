"""The agents plugin's commands: ``pygent agents list|create|delete|run`` and ``pygent chat``."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable
from typing import Any

import click
from pygent_sdk.agents import AGENT_REGISTRY, AgentRegistry, AgentResult, Step
from pygent_sdk import PygentError
from pygent_sdk.cli import CliContext, out, pass_cli, run
from rich.markup import escape
from rich.table import Table


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON where they parse as JSON, else strings."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="-o/--option")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


async def _print_token(text: str) -> None:
    out.print(escape(text), end="", soft_wrap=True)
    out.file.flush()


def show_step(step: Step, *, dim: bool = False) -> None:
    """One step as a line: a tick or a cross, then its summary."""
    mark = "[green]✓[/]" if step.ok else "[red]✗[/]"
    text = escape(step.summary())
    out.print(f"  {mark} [dim]{text}[/]" if dim else f"  {mark} {text}")


def show_result(result: AgentResult) -> None:
    """Print an agent's steps and verdict."""
    for step in result.steps:
        if step.kind != "answer":
            show_step(step)
    verdict = "[green]success[/]" if result.success else f"[red]{escape(result.status or 'failed')}[/]"
    out.print(f"[dim]{verdict} · {result.usage.prompt_tokens} prompt + "
              f"{result.usage.completion_tokens} completion tokens[/]")


async def run_once(
    ctx: CliContext, agent_type: str, task: str, model: str | None, options: dict[str, Any],
    as_json: bool,
) -> bool:
    """One agent, one task; the agent goes, its conversation stays."""
    async with ctx.kernel() as kernel:
        registry = kernel.service(AGENT_REGISTRY)
        info = await registry.create(agent_type, model=model, config=options, ephemeral=True)
        streamed: list[str] = []

        async def sink(text: str) -> None:
            streamed.append(text)
            await _print_token(text)

        try:
            if not as_json:
                out.print(f"[dim]{escape(info.type)} agent on {escape(info.model)}[/]")
            result = await registry.run(info.id, task, on_token=None if as_json else sink)
        finally:
            await registry.delete(info.id)
    if as_json:
        print(json.dumps({
            "agent": info.type, "model": info.model, "conversation_id": info.conversation_id,
            "run_id": result.run_id, "status": result.status, "output": result.output,
            "success": result.success, "steps": [step.to_dict() for step in result.steps],
            "usage": dataclasses.asdict(result.usage),
        }, indent=2))
    else:
        out.print()
        show_result(result)
        if "".join(streamed).strip() != result.output.strip():  # the stream was not the answer
            out.print(escape(result.output))
    return result.success


CHAT_HELP = """Commands (not sent to the agent):
  /help          this list
  /new           a new agent of the same type: a fresh conversation
  /agent TYPE|ID talk to a new agent of TYPE, or to the existing agent ID
  /model NAME    switch the model (e.g. scripted, llamacpp:smollm2)
  /exit          leave (also /quit or Ctrl-D)"""


class ChatSession:
    """The agent a ``pygent chat`` talks to; chat-made agents are ephemeral (never kept)."""

    def __init__(self, registry: AgentRegistry, model: str | None) -> None:
        self.registry = registry
        self.model = model
        self.info: Any = None

    def announce(self) -> None:
        info = self.info
        out.print(f"[bold]{escape(info.name)}[/] ({escape(info.type)} on {escape(info.model)}). "
                  "Type a message; /help lists commands.")

    async def switch(self, agent: str) -> None:
        """Talk to agent ``agent`` (an id) or to a new agent of type ``agent``."""
        known = {a.id for a in self.registry.list()}
        if agent in known:
            new = self.registry.get(agent)
        else:
            new = await self.registry.create(agent, name="chat", model=self.model, ephemeral=True)
        await self.leave()
        self.info = new
        self.announce()

    async def set_model(self, name: str) -> None:
        self.info = await self.registry.configure(self.info.id, model=name)
        self.model = name
        out.print(f"[dim]Now on {escape(self.info.model)}.[/]")

    async def leave(self) -> None:
        """Drop the current agent if chat made it; its conversation stays."""
        if self.info is not None and self.info.ephemeral:
            out.print(f"[dim]Conversation {self.info.conversation_id} kept; "
                      f"`pygent conversations export {self.info.conversation_id}` shows it.[/]")
            await self.registry.delete(self.info.id)

    async def command(self, line: str) -> bool:
        """Handle a /command; False to leave."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("/exit", "/quit"):
            return False
        if name == "/help":
            out.print(escape(CHAT_HELP))
        elif name == "/new":
            await self.switch(self.info.type)
        elif name in ("/agent", "/model") and not arg:
            out.print(f"[red]{name} needs an argument[/]; /help lists commands")
        elif name == "/agent":
            await self.switch(arg)
        elif name == "/model":
            await self.set_model(arg)
        else:
            out.print(f"[red]Unknown command {escape(name)}[/]; /help lists commands")
        return True

    async def say(self, text: str) -> None:
        out.print("[bold magenta]agent ›[/] ", end="")
        result = await self.registry.run(self.info.id, text, on_token=_print_token)
        out.print()
        for step in result.steps:
            if step.kind != "answer":
                show_step(step, dim=True)


async def chat_loop(ctx: CliContext, agent: str, model: str | None) -> None:
    """Read lines, stream answers; lines starting with / are commands."""
    async with ctx.kernel() as kernel:
        session = ChatSession(kernel.service(AGENT_REGISTRY), model)
        await session.switch(agent)
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                out.print("[bold cyan]you ›[/] ", end="")
            line = sys.stdin.readline()
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            try:
                if text.startswith("/"):
                    if not await session.command(text):
                        break
                else:
                    await session.say(text)
            except PygentError as error:
                out.print(f"\n[red]{escape(str(error))}[/]")
        await session.leave()


def register(cli: click.Group) -> None:
    """Add ``agents`` and ``chat`` to the ``pygent`` command."""

    @cli.group()
    def agents() -> None:
        """Create, list, delete and run agents."""

    @agents.command("run")
    @click.argument("agent_type", metavar="TYPE")
    @click.argument("task")
    @click.option("-m", "--model", help="Chat model, e.g. llamacpp:smollm2 (default: [models] default).")
    @click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
                  help="Agent config, e.g. -o max_steps=3 (JSON values allowed); repeatable.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON, for scripts.")
    @pass_cli
    def agents_run(ctx: CliContext, agent_type: str, task: str, model: str | None,
                   options: tuple[str, ...], as_json: bool) -> None:
        """A new agent of TYPE works on TASK: the answer streams, then its steps and a verdict.

        Exit status 0 when the agent succeeded, 1 when not. Also `pygent run TYPE TASK`.
        """
        if not task.strip():
            raise click.UsageError("TASK is empty: pygent run TYPE \"what to do\"")
        if not run(run_once, ctx, agent_type, task, model, parse_options(options), as_json):
            raise SystemExit(1)

    @agents.command("list")
    @pass_cli
    def agents_list(ctx: CliContext) -> None:
        """List agents and the agent types on offer."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                registry = kernel.service(AGENT_REGISTRY)
                types, found = registry.types(), registry.list()
            table = Table("id", "name", "type", "model", "status", "conversation", title="Agents")
            for a in found:
                table.add_row(a.id, escape(a.name), a.type, a.model, a.status, a.conversation_id or "")
            out.print(table if found else "[dim]No agents yet: `pygent agents create TYPE`.[/]")
            out.print("Types: " + ", ".join(f"[bold]{t.name}[/] ({escape(t.description)})" for t in types))

        run(main)

    @agents.command("create")
    @click.argument("agent_type", metavar="TYPE")
    @click.option("--name", help="A name to know it by.")
    @click.option("-m", "--model", help="Chat model (default: [models] default).")
    @click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
                  help="Agent config (JSON values allowed); repeatable.")
    @pass_cli
    def agents_create(ctx: CliContext, agent_type: str, name: str | None, model: str | None,
                      options: tuple[str, ...]) -> None:
        """Create an agent of TYPE; it is kept in the data directory."""
        config = parse_options(options)

        async def main() -> None:
            async with ctx.kernel() as kernel:
                info = await kernel.service(AGENT_REGISTRY).create(
                    agent_type, name=name, model=model, config=config
                )
            out.print(f"Created [bold]{info.id}[/] ({escape(info.name)}, {info.type} on {info.model})")

        run(main)

    @agents.command("delete")
    @click.argument("agent_id", metavar="ID")
    @pass_cli
    def agents_delete(ctx: CliContext, agent_id: str) -> None:
        """Delete agent ID (its conversation stays in memory)."""

        async def main() -> None:
            async with ctx.kernel() as kernel:
                await kernel.service(AGENT_REGISTRY).delete(agent_id)
            out.print(f"Deleted {agent_id} (its conversation stays in memory)")

        run(main)

    @cli.command()
    @click.option("-a", "--agent", default="general", show_default=True,
                  help="An agent type (a new agent) or the id of an existing agent.")
    @click.option("-m", "--model", help="Chat model for a new agent (default: [models] default).")
    @pass_cli
    def chat(ctx: CliContext, agent: str, model: str | None) -> None:
        """Talk to an agent: streamed answers, one kept conversation. /help lists the commands
        (/new, /agent TYPE|ID, /model NAME, /exit); Ctrl-D also ends."""
        run(chat_loop, ctx, agent, model)

