"""Events the agents plugin publishes."""

from __future__ import annotations

from typing import Any

from pygent_sdk import Event, event


@event("agent.created")
class AgentCreated(Event):
    """Agent ``agent_id`` of ``type`` was created on ``model``."""

    agent_id: str
    type: str
    name: str
    model: str


@event("agent.status")
class AgentStatusChanged(Event):
    """Agent ``agent_id`` went from ``previous`` to ``status`` (idle, running, waiting, completed, error)."""

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
