"""The agent-facing commands: chat, run TYPE TASK, agents, models, conversations.

Each starts the kernel from plugins.toml, does its work through the plugins' public hooks, and
stops the kernel again.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import click
from pygent_kernel import Kernel
from pygent_kernel.config import ConfigFile, read_config
from pygent_sdk.errors import PygentError
from rich.markup import escape
from rich.table import Table

from .render import err, out


def without(config: ConfigFile, *names: str) -> ConfigFile:
    """``config`` with the named plugins disabled (a command never needs the HTTP server)."""
    return dataclasses.replace(config, plugins=tuple(
        dataclasses.replace(e, enabled=False) if e.name in names else e for e in config.plugins
    ))


@asynccontextmanager
async def session(config_path: Path) -> AsyncIterator[Kernel]:
    """A running kernel built from ``config_path``, without the http transport."""
    kernel = Kernel(without(read_config(config_path), "http"))
    kernel.raise_fatal()
    async with kernel:
        yield kernel


def need(kernel: Kernel, hook: str, plugin: str, **kwargs: Any) -> Any:
    """What ``hook`` answers, or a clear error naming the plugin to enable."""
    ask = getattr(kernel.hook, hook, None)
    answer = ask(**kwargs) if ask is not None else None
    if answer is None:
        raise PygentError(
            f"This needs the {plugin!r} plugin: add a [{plugin}] table to plugins.toml "
            f"(`pygent plugins info {plugin}` shows its keys)"
        )
    return answer


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


def show_result(result: Any) -> None:
    """Print an agent's steps and verdict."""
    for step in result.steps:
        if step.get("kind") == "tool":
            mark = "[red]✗[/]" if step["is_error"] else "[green]✓[/]"
            out.print(f"  {mark} tool [bold]{escape(step['tool'])}[/]({escape(step['input'])}) → "
                      f"{escape(step['output'])}")
        elif "attempt" in step:
            mark = "[green]✓[/]" if step.get("ok") else "[red]✗[/]"
            out.print(f"  {mark} attempt {step['attempt']}: {escape(step['status'])}")
            tail = (step.get("stderr") or "").strip().splitlines()[-1:]
            if tail and not step.get("ok"):
                out.print(f"      [dim]{escape(tail[0][:160])}[/]")
    verdict = "[green]success[/]" if result.success else "[red]not successful[/]"
    out.print(f"[dim]{verdict} · {result.usage.prompt_tokens} prompt + "
              f"{result.usage.completion_tokens} completion tokens[/]")


async def run_once(
    config_path: Path, agent_type: str, task: str, model: str | None, options: dict[str, Any],
    as_json: bool,
) -> bool:
    """``pygent run TYPE TASK``: one agent, one task; the agent goes, its conversation stays."""
    async with session(config_path) as kernel:
        registry = need(kernel, "pygent_agent_registry", "agents")
        info = await registry.create(agent_type, model=model, config=options)
        try:
            if not as_json:
                out.print(f"[dim]{escape(info.type)} agent on {escape(info.model)}[/]")
            result = await registry.run(info.id, task, on_token=None if as_json else _print_token)
        finally:
            await registry.delete(info.id)
    if as_json:
        print(json.dumps({
            "agent": info.type, "model": info.model, "conversation_id": info.conversation_id,
            "output": result.output, "success": result.success, "steps": list(result.steps),
            "usage": dataclasses.asdict(result.usage),
        }, indent=2))
    else:
        out.print()
        show_result(result)
        if agent_type != "general":
            out.print(escape(result.output))
    return result.success


async def chat(config_path: Path, agent: str, model: str | None) -> None:
    """``pygent chat``: read lines, stream answers, keep one conversation."""
    async with session(config_path) as kernel:
        registry = need(kernel, "pygent_agent_registry", "agents")
        known = {a.id: a for a in registry.list()}
        info = known.get(agent) or await registry.create(agent, name="chat", model=model)
        out.print(f"[bold]{escape(info.name)}[/] ({escape(info.type)} on {escape(info.model)}). "
                  "Type a message; /exit or Ctrl-D to leave.")
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                out.print("[bold cyan]you ›[/] ", end="")
            line = sys.stdin.readline()
            if not line or line.strip() in ("/exit", "/quit"):
                break
            if not line.strip():
                continue
            out.print("[bold magenta]agent ›[/] ", end="")
            result = await registry.run(info.id, line.strip(), on_token=_print_token)
            out.print()
            for step in result.steps:
                if step.get("kind") == "tool":
                    out.print(f"  [dim]used {escape(step['tool'])}({escape(step['input'])}) → "
                              f"{escape(step['output'])}[/]")
        if info.id not in known:
            await registry.delete(info.id)
    out.print(f"[dim]Conversation {info.conversation_id} kept; "
              f"`pygent conversations export {info.conversation_id}` shows it.[/]")


async def agents_list(config_path: Path) -> None:
    async with session(config_path) as kernel:
        registry = need(kernel, "pygent_agent_registry", "agents")
        types = registry.types()
        agents = registry.list()
    table = Table("id", "name", "type", "model", "status", "conversation", title="Agents")
    for a in agents:
        table.add_row(a.id, escape(a.name), a.type, a.model, a.status, a.conversation_id or "")
    out.print(table if agents else "[dim]No agents yet: `pygent agents create TYPE`.[/]")
    out.print("Types: " + ", ".join(f"[bold]{t.name}[/] ({escape(t.description)})" for t in types))


async def agents_create(config_path: Path, agent_type: str, name: str | None, model: str | None,
                        options: dict[str, Any]) -> None:
    async with session(config_path) as kernel:
        info = await need(kernel, "pygent_agent_registry", "agents").create(
            agent_type, name=name, model=model, config=options
        )
    out.print(f"Created [bold]{info.id}[/] ({escape(info.name)}, {info.type} on {info.model})")


async def agents_delete(config_path: Path, agent_id: str) -> None:
    async with session(config_path) as kernel:
        await need(kernel, "pygent_agent_registry", "agents").delete(agent_id)
    out.print(f"Deleted {agent_id} (its conversation stays in memory)")


async def models_list(config_path: Path) -> None:
    async with session(config_path) as kernel:
        default = need(kernel, "pygent_model", "models", name=None).name
        models = [m for found in kernel.hook.pygent_chat_models() for m in found]
    table = Table("name", "provider", "default", title="Chat models")
    for m in sorted(models, key=lambda m: m.name):
        table.add_row(m.name, escape(getattr(m, "description", "")), "✓" if m.name == default else "")
    out.print(table)


async def models_pull(config_path: Path, name: str) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    async with session(config_path) as kernel:
        need(kernel, "pygent_model", "models", name=None)
        pulled = False
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                      console=out) as bar:
            task = bar.add_task(f"pulling {name}", total=None)

            def progress(p: Any) -> None:
                bar.update(task, description=f"{name}: {p.status}", completed=p.completed,
                           total=p.total or None)

            for answer in kernel.hook.pygent_model_pull(name=name, progress=progress):
                pulled = (await answer if inspect.isawaitable(answer) else answer) or pulled
    if not pulled:
        raise PygentError(f"No enabled plugin can pull {name!r}; pulling works for ollama:NAME")
    out.print(f"[green]Pulled {escape(name)}[/]")


async def conversations_list(config_path: Path, agent_id: str | None) -> None:
    async with session(config_path) as kernel:
        rows = await need(kernel, "pygent_memory_store", "memory").conversations(agent_id)
    table = Table("id", "agent", "title", "messages", "created", title="Conversations")
    for c in rows:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(c.created_at))
        table.add_row(c.id, c.agent_id or "", escape(c.title), str(c.messages), created)
    out.print(table)


async def conversations_export(config_path: Path, conversation_id: str, fmt: str,
                               output: Path | None) -> None:
    async with session(config_path) as kernel:
        text = await need(kernel, "pygent_memory_store", "memory").export(conversation_id, fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        err.print(f"Wrote {output}")


async def auth_create_key(config_path: Path, role: str, name: str, rate: int | None) -> None:
    async with session(config_path) as kernel:
        info, key = need(kernel, "pygent_auth_keys", "auth").create(role, name, rate)
    out.print(f"Created API key [bold]{info.id}[/] ({escape(info.name)}, role {info.role}). "
              "It is shown only this once; store it now:")
    print(key)


async def auth_list(config_path: Path) -> None:
    async with session(config_path) as kernel:
        store = need(kernel, "pygent_auth_keys", "auth")
    table = Table("id", "name", "role", "rate/min", "created", "revoked", title="API keys")
    for k in store.keys.values():
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created_at))
        table.add_row(k.id, escape(k.name), k.role, str(k.rate_per_minute or "default"), created,
                      "yes" if k.revoked else "")
    out.print(table if store.keys else "[dim]No API keys: `pygent auth create-key --role admin`.[/]")


async def auth_revoke(config_path: Path, key_id: str) -> None:
    async with session(config_path) as kernel:
        info = need(kernel, "pygent_auth_keys", "auth").revoke(key_id)
    out.print(f"Revoked {info.id} ({escape(info.name)}); a running server refuses it from its next request.")

