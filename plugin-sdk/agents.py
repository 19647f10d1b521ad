"""The Agent capability: agent types, the context an agent runs in, and the registry's shape."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from .chat import Usage
from .errors import PygentError
from .events import Event, event
from .markers import hookspec
from .services import ServiceKey

if TYPE_CHECKING:
    from .chat import ChatModel
    from .memory import MemoryStore
    from .plugin import PluginConfig
    from .tools import Tool

AgentStatus = Literal["idle", "running", "waiting", "completed", "error"]
TokenSink = Callable[[str], Awaitable[None]]
"""Receives the answer's text as it is produced, piece by piece."""


@dataclasses.dataclass(frozen=True, slots=True)
class AgentResult:
    """What a run produced, every step it took, and whether it honestly succeeded."""

    output: str
    success: bool
    steps: tuple[dict[str, Any], ...] = ()
    usage: Usage = Usage()


@dataclasses.dataclass(frozen=True, slots=True)
class AgentContext:
    """What an agent gets from the registry when it is created."""

    id: str
    model: ChatModel
    tools: Mapping[str, Tool]
    memory: MemoryStore | None
    conversation_id: str | None
    """The agent's conversation in ``memory`` (None without a memory plugin)."""
    step: Callable[[str, Mapping[str, Any]], Awaitable[None]]
    """Report a step (``kind``, details): recorded in the result and published as ``agent.step``."""
    set_status: Callable[[AgentStatus], Awaitable[None]]
    """Change the agent's status, e.g. to ``"waiting"`` while a tool or sandbox runs."""


@runtime_checkable
class Agent(Protocol):
    """An agent instance, made by its type's factory; the registry owns its status."""

    async def run(self, task: str, *, on_token: TokenSink | None = None) -> AgentResult:
        """Work on ``task`` and return the result; stream the answer to ``on_token``."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class AgentType:
    """An agent type contributed through the ``pygent_agent_types`` hook."""

    name: str
    description: str
    factory: Callable[[AgentContext, Any], Agent]
    """Build an agent from its context and its validated ``Config``."""
    Config: type[PluginConfig]


@dataclasses.dataclass(frozen=True, slots=True)
class AgentInfo:
    """An agent as the registry lists it."""

    id: str
    type: str
    name: str
    model: str
    config: Mapping[str, Any]
    status: AgentStatus
    created_at: float
    conversation_id: str | None = None


@runtime_checkable
class AgentRegistry(Protocol):
    """Create, configure, list, run and delete agents (the agents plugin answers this)."""

    def types(self) -> Sequence[AgentType]: ...

    async def create(
        self, type: str, *, name: str | None = None, model: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> AgentInfo: ...

    def list(self, *, type: str | None = None, status: AgentStatus | None = None) -> list[AgentInfo]: ...

    def get(self, agent_id: str) -> AgentInfo: ...

    async def configure(
        self, agent_id: str, *, model: str | None = None, config: Mapping[str, Any] | None = None
    ) -> AgentInfo: ...

    async def delete(self, agent_id: str) -> None: ...

    async def run(
        self, agent_id: str, task: str, *, on_token: TokenSink | None = None
    ) -> AgentResult: ...


class AgentError(PygentError):
    """A request the registry cannot honour: unknown type, bad config, busy agent, empty task."""


class UnknownAgent(AgentError, LookupError):
    """No agent has this id."""


class AgentHooks:
    """Hooks of the agents capability; the ``agents`` plugin registers them."""

    @hookspec
    def pygent_agent_types(self) -> list[AgentType]:
        """Contribute agent types: name, description, factory and ``Config``.

        Implemented by agent-type plugins (general, coding, ...). Type names must be unique.

        :return: The plugin's :class:`AgentType` objects.
        """

    @hookspec
    def pygent_tools(self) -> list[Tool]:
        """Contribute tools agents may call. Names must be unique; the first plugin wins.

        :return: Objects following the :class:`pygent_sdk.Tool` protocol.
        """

    @hookspec(firstresult=True)
    def pygent_agent_registry(self) -> AgentRegistry | None:
        """Return the agent registry; the ``agents`` plugin answers.

        Ask for it with ``context.service(AGENT_REGISTRY)``.
        """


AGENT_REGISTRY: ServiceKey[AgentRegistry] = ServiceKey(
    "pygent_agent_registry", AgentRegistry, provider="agents"
)
"""The agent registry service: ``context.service(AGENT_REGISTRY)``."""


@event("agent.created")
class AgentCreated(Event):
    """Agent ``agent_id`` of ``type`` was created on ``model``."""

    agent_id: str
    type: str
    name: str
    model: str


@event("agent.status")
class AgentStatusChanged(Event):
    """Agent ``agent_id`` went from ``previous`` to ``status``."""

    agent_id: str
    type: str
    status: str
    previous: str


@event("agent.step")
class AgentStep(Event):
    """Agent ``agent_id`` took step ``index`` of a run: ``kind`` (e.g. tool, attempt) and details."""

    agent_id: str
    index: int
    kind: str
    detail: dict[str, Any]


@event("agent.deleted")
class AgentDeleted(Event):
    """Agent ``agent_id`` was deleted (its conversation stays in memory)."""

    agent_id: str
    type: str
