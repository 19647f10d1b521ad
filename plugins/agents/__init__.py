"""agents: the agent factory and registry. Agent types and tools are plugins of their own.

Agent type plugins (general, coding, ...) implement ``pygent_agent_types``; tool plugins
implement ``pygent_tools``; anyone gets the registry from ``pygent_agent_registry``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field
from pygent_sdk import ChatModel, Health, Plugin, PluginConfig, PygentError, Tool, hookimpl
from pygent_sdk.agents import AgentHooks, AgentMatch, AgentRegistry, AgentType
from pygent_sdk.memory import MEMORY_STORE
from pygent_sdk.models import CHAT_MODEL

if TYPE_CHECKING:
    from .registry import Limits, Registry

__all__ = ["AgentsPlugin"]


class AgentsConfig(PluginConfig):
    """Configuration of the ``[agents]`` table."""

    default_model: str | None = Field(
        None, description="Model for agents created without one (unset: the models plugin's default)."
    )
    context_tokens: int = Field(
        2048, ge=256, description="Context window, in tokens, of a model whose profile does not say."
    )
    runs_kept: int = Field(1000, ge=1, description="Finished runs kept in memory for the runs API.")
    ephemeral_max: int = Field(
        256, ge=1, description="Most idle ephemeral agents (chat-created, one-shot, built) kept; "
        "the least recently used goes first. Busy ones are never dropped."
    )
    ephemeral_ttl_s: float = Field(
        3600.0, gt=0, description="Seconds an unused ephemeral agent is kept."
    )


class AgentsPlugin(Plugin):
    """Creates agents from registered types, runs them, publishes every status change."""

    Config = AgentsConfig
    provides = ("agents",)
    requires = ("models",)
    uses = ("memory",)
    config: AgentsConfig
    registry: Registry | None = None

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(AgentHooks)

    def _types(self) -> list[AgentType]:
        return [t for types in self.context.hook.pygent_agent_types() for t in types]

    def _tools(self) -> dict[str, Tool]:
        found: dict[str, Tool] = {}
        for tools in self.context.hook.pygent_tools():
            for tool in tools:
                if tool.spec.name in found:
                    self.context.log.warning("tool %r is contributed twice; the first wins", tool.spec.name)
                found.setdefault(tool.spec.name, tool)
        return found

    def _model(self, name: str | None) -> ChatModel:
        return self.context.service(CHAT_MODEL, name=name)

    def _matches(self, message: str) -> list[AgentMatch | None]:
        return self.context.hook.pygent_agent_for_message(message=message)

    def _memory(self) -> Any:
        return self.context.optional_service(MEMORY_STORE)

    async def start(self) -> None:
        from .registry import Limits, Registry

        self.registry = Registry(
            bus=self.context.bus, source=self.context.name,
            path=self.context.data_dir / "agents", types=self._types, tools=self._tools,
            model=self._model, memory=self._memory, default_model=self.config.default_model,
            matches=self._matches, limits=Limits(
                context_tokens=self.config.context_tokens, runs_kept=self.config.runs_kept,
                ephemeral_max=self.config.ephemeral_max, ephemeral_ttl_s=self.config.ephemeral_ttl_s,
            ),
        )
        self.registry.load()

    @hookimpl
    def pygent_agent_registry(self) -> AgentRegistry | None:
        return self.registry

    @hookimpl(optionalhook=True)
    def pygent_http_routes(self) -> list[Any]:
        from .http import routes

        return routes(self._started())

    @hookimpl(optionalhook=True)
    def pygent_ws_handlers(self) -> dict[str, Any]:
        from .http import ws_handlers

        return ws_handlers(self._started())

    def _started(self) -> Registry:
        if self.registry is None:
            raise PygentError("the agents plugin has not started (it failed or is disabled)")
        return self.registry

    @hookimpl
    def pygent_health(self) -> Health:
        types = sorted(t.name for t in self._types())
        if not types:
            return Health.degraded("no agent type plugin is enabled")
        count = len(self.registry) if self.registry else 0
        return Health.ok(f"{count} agent(s); types: {', '.join(types)}")

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
