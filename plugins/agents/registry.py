"""Registry: creates agents from their types, tracks their status and persists their definitions."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import pydantic
from pygent_sdk import (
    Agent, AgentResult, AgentStatus, Bus, ChatModel, MemoryStore, PygentError, Tool,
)
from pygent_sdk.agents import (
    AgentContext, AgentCreated, AgentDeleted, AgentError, AgentInfo, AgentStatusChanged, AgentStep,
    AgentType, TokenSink, UnknownAgent,
)
from pygent_sdk.chat import ChatMessage
from pygent_sdk.files import private_dir, write_private

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class _Entry:
    info: AgentInfo
    """The definition; its ``status`` field is stale, ``status`` below is current."""
    status: AgentStatus = "idle"
    agent: Agent | None = None
    steps: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def current(self) -> AgentInfo:
        return dataclasses.replace(self.info, status=self.status)


class Registry:
    """The AgentRegistry the agents plugin answers ``pygent_agent_registry`` with."""

    def __init__(
        self, *, bus: Bus, source: str, path: Path, types: Callable[[], Sequence[AgentType]],
        tools: Callable[[], Mapping[str, Tool]], model: Callable[[str | None], ChatModel],
        memory: Callable[[], MemoryStore | None], default_model: str | None,
    ) -> None:
        self._bus, self._source, self._path = bus, source, path
        self._types, self._tools, self._model, self._memory = types, tools, model, memory
        self._default_model = default_model
        self._entries: dict[str, _Entry] = {}

    # --- definitions -------------------------------------------------------------------------

    def load(self) -> None:
        """Read the saved agents (all idle again): one JSON file per agent."""
        for path in sorted(self._path.glob("*.json")):
            row = json.loads(path.read_text())
            info = AgentInfo(**{**row, "status": "idle"})
            self._entries[info.id] = _Entry(info)

    def _save(self, info: AgentInfo) -> None:
        """Write one agent's definition atomically and durably."""
        row = {k: v for k, v in dataclasses.asdict(info).items() if k != "status"}
        private_dir(self._path)
        write_private(self._path / f"{info.id}.json", json.dumps(row, indent=1))

    def types(self) -> list[AgentType]:
        return list(self._types())

    def _type(self, name: str) -> AgentType:
        for agent_type in self._types():
            if agent_type.name == name:
                return agent_type
        known = ", ".join(sorted(t.name for t in self._types())) or "none"
        raise AgentError(
            f"Unknown agent type {name!r}. Available: {known}. Agent types come from plugins "
            "enabled in plugins.toml (general, coding, ...)."
        )

    def _config(self, agent_type: AgentType, config: Mapping[str, Any]) -> Any:
        try:
            return agent_type.Config(**config)
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in error.errors()
            )
            raise AgentError(f"Bad config for a {agent_type.name!r} agent: {problems}") from None

    def _entry(self, agent_id: str) -> _Entry:
        try:
            return self._entries[agent_id]
        except KeyError:
            raise UnknownAgent(f"No agent {agent_id!r}; `pygent agents list` shows them") from None

    async def create(
        self, type: str, *, name: str | None = None, model: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> AgentInfo:
        agent_type = self._type(type)
        valid = self._config(agent_type, config or {})
        chat_model = self._model(model or self._default_model)
        agent_id = uuid.uuid4().hex[:12]
        memory = self._memory()
        conversation = (
            await memory.create_conversation(agent_id, name or f"{type} agent")
            if memory is not None else None
        )
        info = AgentInfo(
            id=agent_id, type=type, name=name or f"{type}-{agent_id[:4]}", model=chat_model.name,
            config=valid.model_dump(), status="idle", created_at=time.time(),
            conversation_id=conversation,
        )
        self._entries[agent_id] = _Entry(info)
        self._save(info)
        await self._bus.publish(AgentCreated(
            agent_id=agent_id, type=type, name=info.name, model=info.model, source=self._source
        ))
        return info

    def __len__(self) -> int:
        return len(self._entries)

    def list(self, *, type: str | None = None, status: AgentStatus | None = None) -> list[AgentInfo]:
        return [
            e.current() for e in self._entries.values()
            if (type is None or e.info.type == type) and (status is None or e.status == status)
        ]

    def get(self, agent_id: str) -> AgentInfo:
        return self._entry(agent_id).current()

    async def configure(
        self, agent_id: str, *, model: str | None = None, config: Mapping[str, Any] | None = None
    ) -> AgentInfo:
        entry = self._entry(agent_id)
        self._idle_or_raise(entry)
        changes: dict[str, Any] = {}
        if config is not None:
            merged = {**entry.info.config, **config}
            changes["config"] = self._config(self._type(entry.info.type), merged).model_dump()
        if model is not None:
            changes["model"] = self._model(model).name
        entry.info = dataclasses.replace(entry.info, **changes)
        entry.agent = None
        self._save(entry.info)
        return entry.current()

    async def delete(self, agent_id: str) -> None:
        entry = self._entry(agent_id)
        self._idle_or_raise(entry)
        del self._entries[agent_id]
        (self._path / f"{agent_id}.json").unlink(missing_ok=True)
        await self._bus.publish(
            AgentDeleted(agent_id=agent_id, type=entry.info.type, source=self._source)
        )

    # --- running -----------------------------------------------------------------------------

    def _idle_or_raise(self, entry: _Entry) -> None:
        if entry.status in ("running", "waiting"):
            raise AgentError(f"Agent {entry.info.id!r} is {entry.status}; try again when done")

    async def _set_status(self, entry: _Entry, status: AgentStatus) -> None:
        previous = entry.status
        if previous == status:
            return
        entry.status = status
        await self._bus.publish(AgentStatusChanged(
            agent_id=entry.info.id, type=entry.info.type, status=status, previous=previous,
            source=self._source,
        ))

    def _build(self, entry: _Entry) -> Agent:
        info = entry.info
        agent_type = self._type(info.type)

        async def step(kind: str, detail: Mapping[str, Any]) -> None:
            entry.steps.append({"kind": kind, **detail})
            await self._bus.publish(AgentStep(
                agent_id=info.id, index=len(entry.steps), kind=kind, detail=dict(detail),
                source=self._source,
            ))

        async def set_status(status: AgentStatus) -> None:
            await self._set_status(entry, status)

        context = AgentContext(
            id=info.id, model=self._model(info.model), tools=self._tools(),
            memory=self._memory(), conversation_id=info.conversation_id, step=step,
            set_status=set_status,
        )
        return agent_type.factory(context, agent_type.Config(**info.config))

    async def run(
        self, agent_id: str, task: str, *, on_token: TokenSink | None = None
    ) -> AgentResult:
        """Run ``task`` on the agent, storing the task and answer in its conversation."""
        entry = self._entry(agent_id)
        self._idle_or_raise(entry)
        if not task.strip():
            raise AgentError("The task is empty: say what the agent should do")
        await self._set_status(entry, "running")
        entry.steps = []
        memory = self._memory()
        try:
            if entry.agent is None:
                entry.agent = self._build(entry)
            if memory is not None and entry.info.conversation_id:
                await memory.append(entry.info.conversation_id, ChatMessage("user", task))
            result = await entry.agent.run(task, on_token=on_token)
            if memory is not None and entry.info.conversation_id:
                await memory.append(entry.info.conversation_id, ChatMessage("assistant", result.output))
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._set_status(entry, "error")
            raise
        await self._set_status(entry, "completed" if result.success else "error")
        return dataclasses.replace(result, steps=tuple(entry.steps)) if not result.steps else result

