"""The Agent capability: something with a lifecycle that takes a task and returns a result."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Protocol, runtime_checkable

from .chat import Usage

AgentStatus = Literal["idle", "running", "waiting", "completed", "error"]


@dataclasses.dataclass(frozen=True, slots=True)
class AgentResult:
    """What a run produced, every step it took, and whether it honestly succeeded."""

    output: str
    success: bool
    steps: tuple[dict[str, Any], ...] = ()
    usage: Usage = Usage()


@runtime_checkable
class Agent(Protocol):
    """An agent instance; status changes are published on the bus by its owner."""

    id: str
    type: str
    status: AgentStatus

    async def run(self, task: str) -> AgentResult: ...
