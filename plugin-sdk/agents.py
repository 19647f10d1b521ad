"""The Agent capability: agent types, the context an agent runs in, and the registry's shape."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from .chat import ChatMessage, Usage
from .errors import PygentError
from .events import Event, event
from .markers import hookspec
from .services import ServiceKey

if TYPE_CHECKING:
    from .chat import ChatModel
    from .memory import MemoryStore
    from .plugin import PluginConfig
    from .tools import Tool

AgentStatus = Literal[
    "idle", "running", "waiting", "input-required", "completed", "canceled", "error"
]
"""An agent's status: ``idle`` before its first run, then the state of its latest run."""
RunStatus = Literal[
    "submitted", "working", "waiting", "input-required", "completed", "canceled", "failed"
]
"""A run's state, A2A's task states plus ``waiting`` (a tool or the sandbox is working)."""
AGENT_STATUS_OF_RUN: Mapping[RunStatus, AgentStatus] = {
    "submitted": "running", "working": "running", "waiting": "waiting",
    "input-required": "input-required", "completed": "completed", "canceled": "canceled",
    "failed": "error",
}
"""The agent status its latest run's status shows as."""
FINAL_RUN_STATUSES: frozenset[RunStatus] = frozenset(
    {"input-required", "completed", "canceled", "failed"}
)
TokenSink = Callable[[str], Awaitable[None]]
"""Receives the answer's text as it is produced, piece by piece."""


# --- steps -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step of a run. Subclass it for a new kind: set ``kind`` and write :meth:`summary`."""

    kind: ClassVar[str] = "step"

    @property
    def ok(self) -> bool:
        """False for a step that failed or was refused (shown with a cross)."""
        return True

    def summary(self) -> str:
        """One line for people: what happened in this step."""
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        """``kind``, the fields and ``summary``, for JSON answers and events."""
        fields = {name: getattr(self, name) for name in _field_names(type(self))}
        return {"kind": self.kind, **fields, "summary": self.summary()}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ToolStep(Step):
    """The agent called ``tool`` with ``input`` and got ``output``."""

    kind: ClassVar[str] = "tool"
    tool: str
    input: str
    output: str
    is_error: bool = False

    @property
    def ok(self) -> bool:
        return not self.is_error

    def summary(self) -> str:
        return f"tool {self.tool}({self.input}) → {self.output}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AnswerStep(Step):
    """The agent gave its answer, ``text``."""

    kind: ClassVar[str] = "answer"
    text: str

    def summary(self) -> str:
        return f"answer: {self.text}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GuardStep(Step):
    """A check refused something the model did: ``reason`` says what, ``detail`` the evidence."""

    kind: ClassVar[str] = "guard"
    reason: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return False

    def summary(self) -> str:
        return f"guard: {self.reason}" + (f" ({self.detail})" if self.detail else "")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AttemptStep(Step):
    """Attempt ``attempt`` ran ``code`` (in a sandbox); ``status`` describes how it ended."""

    kind: ClassVar[str] = "attempt"
    attempt: int
    code: str
    status: str
    passed: bool = False
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    isolation: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.passed

    def summary(self) -> str:
        text = f"attempt {self.attempt}: {self.status}"
        tail = self.stderr.strip().splitlines()[-1:]
        return f"{text} — {tail[0][:160]}" if tail and not self.passed else text


@dataclasses.dataclass(frozen=True, slots=True)
class AgentResult:
    """What a run produced, every step it took, and whether it honestly succeeded.

    An agent returns ``output``, ``success`` and ``usage`` (``steps`` are filled in by the
    registry from what the agent reported through :attr:`AgentContext.step`). ``status`` is the
    run's final status: an agent may set ``"input-required"`` (it asked the user a question);
    otherwise the registry sets ``completed``/``failed`` from ``success``, or ``canceled``.
    """

    output: str
    success: bool
    steps: tuple[Step, ...] = ()
    usage: Usage = Usage()
    status: RunStatus | None = None
    run_id: str | None = None
    """Set by the registry: the run that produced this result."""


@dataclasses.dataclass(frozen=True, slots=True)
class AgentContext:
    """What an agent gets from the registry when it is created."""

    id: str
    model: ChatModel
    tools: Mapping[str, Tool]
    memory: MemoryStore | None
    conversation_id: str | None
    """The agent's conversation in ``memory`` (None without a memory plugin, and for agents built
    with ``registry.build``)."""
    step: Callable[[Step], Awaitable[None]]
    """Report a step: recorded in the result and published as ``agent.step``."""
    set_status: Callable[[AgentStatus], Awaitable[None]]
    """Change the agent's status: ``"waiting"`` while a tool or sandbox runs, ``"running"`` after."""
    context_tokens: int = 2048
    """The model's context window in tokens (its profile's ``context_length``, else ``[agents]
    context_tokens``): fit the prompt to it with :func:`fit_history`."""


def estimate_tokens(text: str) -> int:
    """A cautious token count for ``text`` without a tokenizer (about 3 characters a token)."""
    return len(text) // 3 + 1


def fit_history(messages: Sequence[ChatMessage], budget: int) -> list[ChatMessage]:
    """The newest ``messages`` whose estimated tokens fit ``budget``, oldest dropped first.

    The last message (the task) is always kept; the result never starts with an assistant turn.
    """
    kept: list[ChatMessage] = []
    used = 0
    for message in reversed(messages):
        used += estimate_tokens(message.content) + 4
        if kept and used > budget:
            break
        kept.append(message)
    kept.reverse()
    while len(kept) > 1 and kept[0].role == "assistant":
        kept.pop(0)
    return kept


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
    ephemeral: bool = False
    """Kept in memory only (bounded, expiring), never written to the data directory."""


@dataclasses.dataclass(frozen=True, slots=True)
class RunInfo:
    """One run of an agent: its id, status and, once finished, its result."""

    id: str
    agent_id: str
    task: str
    status: RunStatus
    created_at: float
    finished_at: float | None = None
    result: AgentResult | None = None
    error: str | None = None
    """Why a ``failed`` run failed when the agent raised instead of answering."""


@dataclasses.dataclass(frozen=True, slots=True)
class AgentMatch:
    """An agent type's answer to ``pygent_agent_for_message``: how well ``type`` fits, 0 to 1."""

    type: str
    score: float


RunObserver = Callable[[RunInfo], Awaitable[None]]
"""Told about a run once it is registered (status ``submitted``), before it starts working."""


@runtime_checkable
class AgentRegistry(Protocol):
    """Create, configure, list, run and delete agents (the agents plugin answers this)."""

    def types(self) -> Sequence[AgentType]: ...

    def pick_type(self, message: str) -> str:
        """The agent type that fits a chat ``message`` best (``pygent_agent_for_message``)."""
        ...

    async def create(
        self, type: str, *, name: str | None = None, model: str | None = None,
        config: Mapping[str, Any] | None = None, ephemeral: bool = False,
    ) -> AgentInfo:
        """A new agent with a conversation; ``ephemeral``: kept in memory only (bounded, expiring)."""
        ...

    def build(
        self, type: str, *, model: str | None = None, config: Mapping[str, Any] | None = None,
    ) -> AgentInfo:
        """An ephemeral agent, constructed now (model and tools resolved, config validated) with
        no I/O: no file, no conversation, no event. Run it with :meth:`run`; it expires unused."""
        ...

    def list(self, *, type: str | None = None, status: AgentStatus | None = None) -> list[AgentInfo]: ...

    def get(self, agent_id: str) -> AgentInfo: ...

    async def configure(
        self, agent_id: str, *, model: str | None = None, config: Mapping[str, Any] | None = None
    ) -> AgentInfo: ...

    async def delete(self, agent_id: str) -> None: ...

    async def run(
        self, agent_id: str, task: str, *, on_token: TokenSink | None = None,
        on_run: RunObserver | None = None,
    ) -> AgentResult:
        """Run ``task``; the result carries ``run_id`` and its final ``status`` (a cancelled run
        returns with ``status="canceled"``). ``on_run`` hears the run's id before work starts."""
        ...

    def runs(self, agent_id: str | None = None) -> list[RunInfo]:
        """Recent runs, newest first (a bounded number are kept, in memory)."""
        ...

    def get_run(self, run_id: str) -> RunInfo: ...

    async def cancel(self, run_id: str) -> RunInfo:
        """Cancel a run that has not finished; a finished one is returned unchanged."""
        ...


class AgentError(PygentError):
    """A request the registry cannot honour: unknown type, bad config, busy agent, empty task."""


class UnknownAgent(AgentError, LookupError):
    """No agent has this id."""


class UnknownRun(AgentError, LookupError):
    """No kept run has this id."""


class TaskTooLong(AgentError):
    """A task that cannot fit the model's context window; refused before it is stored."""


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

    @hookspec
    def pygent_agent_for_message(self, message: str) -> AgentMatch | None:
        """Say how well one of your agent types fits a chat ``message`` that names no agent.

        Implemented by agent-type plugins; the registry's ``pick_type`` takes the highest score
        (ties: the first answer), and the first registered type when nobody answers.

        :param message: The user's chat message.
        :return: An :class:`AgentMatch` (type and a score from 0 to 1), or None to abstain.
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
    """Run ``run_id`` of agent ``agent_id`` took step ``index``: its ``kind``, fields and summary."""

    agent_id: str
    run_id: str
    index: int
    kind: str
    summary: str
    detail: dict[str, Any]


@event("agent.run")
class AgentRunStatus(Event):
    """Run ``run_id`` of agent ``agent_id`` went from ``previous`` to ``status`` (a RunStatus)."""

    agent_id: str
    run_id: str
    status: str
    previous: str


@event("agent.deleted")
class AgentDeleted(Event):
    """Agent ``agent_id`` was deleted (its conversation stays in memory)."""

    agent_id: str
    type: str
