"""A complete third-party plugin in one module: a tool, an agent type, routes, a CLI command, an
event and a listener. docs/writing-plugins.md walks through it; tests/test_examples.py runs it.

Register it in your distribution's pyproject.toml::

    [project.entry-points."pygent.plugins"]
    todo = "todo_plugin:TodoPlugin"

and enable it in plugins.toml with a ``[todo]`` table (it needs ``[agents]`` and ``[models]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from pydantic import Field
from pygent_sdk import (
    ChatMessage, Event, Health, Listener, Plugin, PluginConfig, ToolResult, ToolSpec, event,
    hookimpl,
)
from pygent_sdk.agents import AgentContext, AgentResult, AgentType, AnswerStep, TokenSink, ToolStep
from pygent_sdk.cli import CliContext, out, pass_cli, run


@event("todo.added")
class TodoAdded(Event):
    """An item was added to the list."""

    item: str
    count: int


class TodoConfig(PluginConfig):
    """Configuration of the ``[todo]`` table."""

    max_items: int = Field(100, ge=1, description="Items kept; adding more is refused.")


class AddTodo:
    """The tool: ``todo_add(item)`` appends to the plugin's list.

    Its ``spec.parameters`` is the JSON schema of the arguments object it is called with. The
    general agent sends ``{"item": ...}``: with one parameter, the model's ``input`` value is
    that parameter's value (constrained by its schema while decoding).
    """

    def __init__(self, plugin: TodoPlugin) -> None:
        self.plugin = plugin
        self.spec = ToolSpec("todo_add", "Add an item to the to-do list.", {
            "type": "object",
            "properties": {"item": {"type": "string", "minLength": 1, "maxLength": 200}},
            "required": ["item"],
        })

    async def __call__(self, arguments: Mapping[str, Any]) -> ToolResult:
        item = str(arguments.get("item", "")).strip()
        if not item:  # bad arguments are an error result the model sees, not an exception
            return ToolResult("todo_add needs a non-empty item", is_error=True)
        if len(self.plugin.items) >= self.plugin.config.max_items:
            return ToolResult(f"the list is full ({self.plugin.config.max_items} items)", is_error=True)
        self.plugin.items.append(item)
        await self.plugin.context.bus.publish(
            TodoAdded(item=item, count=len(self.plugin.items), source=self.plugin.context.name)
        )
        return ToolResult(f"added {item!r}; {len(self.plugin.items)} item(s)")


class Secretary:
    """The agent type ``secretary``: asks the model for the item to note, then adds it.

    The registry sets the run's status (``working``, then ``completed`` when ``success`` is
    True, ``failed`` when not); the agent reports each step through ``context.step`` and sets
    ``waiting`` while its tool works.
    """

    def __init__(self, context: AgentContext, config: PluginConfig) -> None:
        self.context = context

    async def run(self, task: str, *, on_token: TokenSink | None = None) -> AgentResult:
        reply = await self.context.model.chat([
            ChatMessage("system", "Answer with the to-do item only, in a few words."),
            ChatMessage("user", task),
        ])
        tool = self.context.tools["todo_add"]
        await self.context.set_status("waiting")
        result = await tool({"item": reply.text.strip()})
        await self.context.set_status("running")
        await self.context.step(ToolStep(
            tool="todo_add", input=reply.text.strip(), output=result.output, is_error=result.is_error,
        ))
        answer = result.output if not result.is_error else f"Not added: {result.output}"
        await self.context.step(AnswerStep(text=answer))
        if on_token is not None:
            await on_token(answer)
        return AgentResult(output=answer, success=not result.is_error, usage=reply.usage)


class TodoPlugin(Plugin):
    """A to-do list: a tool, an agent type, REST routes, a CLI command and a listener."""

    Config = TodoConfig
    provides = ("todo",)
    requires = ("agents",)
    config: TodoConfig

    async def start(self) -> None:
        self.items: list[str] = []
        self.runs_seen = 0

    @hookimpl
    def pygent_tools(self) -> list[Any]:
        return [AddTodo(self)]

    @hookimpl
    def pygent_agent_types(self) -> list[AgentType]:
        return [AgentType("secretary", "Notes to-do items.", Secretary, PluginConfig)]

    @hookimpl
    def pygent_listeners(self) -> list[Listener]:
        def count(event: Event) -> None:
            if getattr(event, "status", None) == "completed":
                self.runs_seen += 1

        return [Listener("agent.run", count)]

    @hookimpl(optionalhook=True)  # optional: the plugin still loads when [http] is off
    def pygent_http_routes(self) -> list[Any]:
        from litestar import get, post
        from litestar.exceptions import NotFoundException, ValidationException
        from litestar.params import FromPath, JSONBody

        @get("/todo", opt={"permission": "read"})
        async def list_items() -> list[str]:
            return self.items

        @get("/todo/{index:int}", opt={"permission": "read"})
        async def get_item(index: FromPath[int]) -> dict[str, Any]:
            if not 0 <= index < len(self.items):
                raise NotFoundException(f"no to-do item {index}; there are {len(self.items)}")
            return {"index": index, "item": self.items[index]}

        @post("/todo", opt={"permission": "write"})
        async def add_item(data: JSONBody[dict[str, str]]) -> dict[str, Any]:
            result = await AddTodo(self)({"item": data.get("item", "")})
            if result.is_error:  # 400, as problem+json
                raise ValidationException(result.output)
            return {"count": len(self.items)}

        return [list_items, get_item, add_item]

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: click.Group) -> None:
        @cli.command("todo")
        @click.argument("task")
        @pass_cli
        def todo(ctx: CliContext, task: str) -> None:
            """Let a secretary agent note TASK on the to-do list."""
            from pygent_sdk.agents import AGENT_REGISTRY

            async def main() -> None:
                async with ctx.kernel() as kernel:
                    registry = kernel.service(AGENT_REGISTRY)
                    agent = registry.build("secretary")  # ephemeral: never written to disk
                    result = await registry.run(agent.id, task)
                out.print(result.output)

            run(main)

    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok(f"{len(self.items)} item(s)")
