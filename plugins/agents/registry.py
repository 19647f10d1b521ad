"""Registry: creates agents from their types, runs them with run ids, persists their definitions."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import pydantic
from pygent_sdk import Agent, AgentResult, AgentStatus, Bus, ChatModel, MemoryStore, Tool
from pygent_sdk.agents import (
    AGENT_STATUS_OF_RUN, FINAL_RUN_STATUSES, AgentContext, AgentCreated, AgentDeleted, AgentError,
    AgentInfo, AgentMatch, AgentRunStatus, AgentStatusChanged, AgentStep, AgentType, RunInfo,
    RunObserver, RunStatus, Step, TaskTooLong, TokenSink, UnknownAgent, UnknownRun, estimate_tokens,
)
from pygent_sdk.chat import ChatMessage
from pygent_sdk.files import private_dir, write_private

log = logging.getLogger(__name__)

_ID_PREFIX = os.urandom(4).hex()
_serial = itertools.count(1)


def _local_id() -> str:
    """An id unique in this process and, by its random prefix, across processes (runs and
    built agents, which are never saved; created agents take 48 random bits)."""
    return f"{_ID_PREFIX}{next(_serial):x}"

_RUN_STATUS_OF_AGENT: dict[str, RunStatus] = {"running": "working", "waiting": "waiting"}


@dataclasses.dataclass(slots=True, eq=False)
class _Run:
    id: str
    agent_id: str
    task: str
    created_at: float
    status: RunStatus = "submitted"
    steps: list[Step] = dataclasses.field(default_factory=list)
    scope: anyio.CancelScope = dataclasses.field(default_factory=anyio.CancelScope)
    done: anyio.Event | None = None
    """Made by ``cancel`` to wait for the run to finish."""
    finished_at: float | None = None
    result: AgentResult | None = None
    error: str | None = None

    def info(self) -> RunInfo:
        return RunInfo(self.id, self.agent_id, self.task, self.status, self.created_at,
                       self.finished_at, self.result, self.error)


@dataclasses.dataclass(slots=True, eq=False)
class _Entry:
    info: AgentInfo
    """The definition; its ``status`` field is stale, ``status`` below is current."""
    status: AgentStatus = "idle"
    agent: Agent | None = None
    run: _Run | None = None
    """The current (or latest) run."""
    announced: bool = True
    """Whether ``agent.created`` was published (a built agent's waits for its first run)."""

    def current(self) -> AgentInfo:
        return dataclasses.replace(self.info, status=self.status)

    @property
    def busy(self) -> bool:
        return self.run is not None and self.run.status not in FINAL_RUN_STATUSES


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """The registry's bounds (from ``[agents]``)."""

    context_tokens: int = 2048
    runs_kept: int = 1000
    ephemeral_max: int = 256
    ephemeral_ttl_s: float = 3600.0


class Registry:
    """The AgentRegistry the agents plugin answers ``pygent_agent_registry`` with."""

    def __init__(
        self, *, bus: Bus, source: str, path: Path, types: Callable[[], Sequence[AgentType]],
        tools: Callable[[], Mapping[str, Tool]], model: Callable[[str | None], ChatModel],
        memory: Callable[[], MemoryStore | None], default_model: str | None,
        matches: Callable[[str], Sequence[AgentMatch | None]] = lambda message: (),
        limits: Limits = Limits(),
    ) -> None:
        self._bus, self._source, self._path = bus, source, path
        self._type_hook, self._tool_hook, self._model_hook = types, tools, model
        self._memory_hook, self._matches = memory, matches
        self._default_model = default_model
        self._limits = limits
        self._entries: dict[str, _Entry] = {}
        self._ephemeral: OrderedDict[str, float] = OrderedDict()
        """Ephemeral agent ids, least recently used first, with their last use (monotonic)."""
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._type_map: dict[str, AgentType] | None = None
        self._tool_map: Mapping[str, Tool] | None = None
        self._models: dict[str | None, ChatModel] = {}
        self._windows: dict[str, int] = {}
        """Context window (tokens) by model name."""
        self._store: list[MemoryStore | None] = []
        self._orphans: list[str] = []
        """Conversations of dropped ephemeral agents, deleted at the next async call."""

    # --- what agents are made of (resolved once: plugins do not change after start) ----------

    def _types(self) -> dict[str, AgentType]:
        if self._type_map is None:
            self._type_map = {t.name: t for t in self._type_hook()}
        return self._type_map

    def _tools(self) -> Mapping[str, Tool]:
        if self._tool_map is None:
            self._tool_map = self._tool_hook()
        return self._tool_map

    def _memory(self) -> MemoryStore | None:
        if not self._store:
            self._store.append(self._memory_hook())
        return self._store[0]

    def _model(self, name: str | None) -> ChatModel:
        model = self._models.get(name)
        if model is None:
            model = self._models[name] = self._model_hook(name)
        return model

    def _context_tokens(self, model: ChatModel) -> int:
        tokens = self._windows.get(model.name)
        if tokens is None:
            profile = getattr(model, "profile", None)
            tokens = getattr(profile, "context_length", None) or self._limits.context_tokens
            self._windows[model.name] = tokens
        return tokens

    # --- definitions -------------------------------------------------------------------------

    def load(self) -> None:
        """Read the saved agents (all idle again): one JSON file per agent."""
        for path in sorted(self._path.glob("*.json")):
            try:
                row = json.loads(path.read_text())
                info = AgentInfo(**{**row, "status": "idle"})
            except (OSError, ValueError, TypeError, KeyError) as error:
                log.warning("skipped agent file %s: %s: %s", path, type(error).__name__, error)
                continue
            self._entries[info.id] = _Entry(info)

    def _save(self, info: AgentInfo) -> None:
        """Write one agent's definition atomically and durably."""
        row = {k: v for k, v in dataclasses.asdict(info).items() if k not in ("status", "ephemeral")}
        private_dir(self._path)
        write_private(self._path / f"{info.id}.json", json.dumps(row, indent=1))

    def types(self) -> list[AgentType]:
        return list(self._types().values())

    def pick_type(self, message: str) -> str:
        """The type whose plugin scores ``message`` highest; the first type when none answers."""
        types = self._types()
        if not types:
            raise AgentError("No agent type is enabled: enable one in plugins.toml (general, coding, ...)")
        best: AgentMatch | None = None
        for match in self._matches(message):
            if match is not None and match.type in types and (best is None or match.score > best.score):
                best = match
        return best.type if best else next(iter(types))

    def _type(self, name: str) -> AgentType:
        found = self._types().get(name)
        if found is None:
            known = ", ".join(sorted(self._types())) or "none"
            raise AgentError(
                f"Unknown agent type {name!r}. Available: {known}. Agent types come from plugins "
                "enabled in plugins.toml (general, coding, ...)."
            )
        return found

    def _config(self, agent_type: AgentType, config: Mapping[str, Any]) -> Any:
        try:
            return agent_type.Config.__pydantic_validator__.validate_python(config)  # Config(**config), faster
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in error.errors()
            )
            raise AgentError(f"Bad config for agent type {agent_type.name!r}: {problems}") from None

    def _entry(self, agent_id: str) -> _Entry:
        try:
            entry = self._entries[agent_id]
        except KeyError:
            raise UnknownAgent(f"No agent {agent_id!r}; `pygent agents list` shows them") from None
        if agent_id in self._ephemeral:
            self._ephemeral[agent_id] = time.monotonic()
            self._ephemeral.move_to_end(agent_id)
        return entry

    def _add_ephemeral(self, entry: _Entry) -> None:
        """Keep ``entry`` in memory, dropping expired idle ephemeral agents and, past the
        bound, the least recently used idle ones. A busy agent is never dropped: while more than
        ``ephemeral_max`` run at once, the store holds them all, and shrinks as they finish."""
        now = time.monotonic()
        expired = now - self._limits.ephemeral_ttl_s
        for _ in range(len(self._ephemeral)):  # oldest first; each looked at once at most
            agent_id, used = next(iter(self._ephemeral.items()))
            if used > expired and len(self._ephemeral) < self._limits.ephemeral_max:
                break
            if self._entries[agent_id].busy:  # in use: counts as used now
                self._ephemeral[agent_id] = now
                self._ephemeral.move_to_end(agent_id)
            else:
                del self._ephemeral[agent_id]
                dropped = self._entries.pop(agent_id).info.conversation_id
                if dropped is not None:
                    self._orphans.append(dropped)
        self._entries[entry.info.id] = entry
        self._ephemeral[entry.info.id] = now

    async def _delete_orphans(self) -> None:
        """Delete the conversations of dropped ephemeral agents (best effort: a failure is logged)."""
        memory = self._memory()
        while self._orphans:
            conversation = self._orphans.pop()
            if memory is None:
                continue
            try:
                await memory.delete_conversation(conversation)
            except Exception:
                log.warning("could not delete conversation %s of a dropped ephemeral agent",
                            conversation, exc_info=True)

    async def create(
        self, type: str, *, name: str | None = None, model: str | None = None,
        config: Mapping[str, Any] | None = None, ephemeral: bool = False,
    ) -> AgentInfo:
        agent_type = self._type(type)
        valid = self._config(agent_type, config or {})
        chat_model = self._model(model or self._default_model)
        agent_id = os.urandom(6).hex()
        memory = self._memory()
        conversation = (
            await memory.create_conversation(agent_id, name or f"{type} agent")
            if memory is not None else None
        )
        info = AgentInfo(
            id=agent_id, type=type, name=name or f"{type}-{agent_id[:4]}", model=chat_model.name,
            config=valid.model_dump(), status="idle", created_at=time.time(),
            conversation_id=conversation, ephemeral=ephemeral,
        )
        if ephemeral:
            self._add_ephemeral(_Entry(info))
            await self._delete_orphans()
        else:
            self._entries[agent_id] = _Entry(info)
            self._save(info)
        await self._announce(info)
        return info

    async def _announce(self, info: AgentInfo) -> None:
        await self._bus.publish(AgentCreated(
            agent_id=info.id, type=info.type, name=info.name, model=info.model, source=self._source
        ))

    def build(
        self, type: str, *, model: str | None = None, config: Mapping[str, Any] | None = None,
    ) -> AgentInfo:
        agent_type = self._type(type)
        valid = self._config(agent_type, config or {})
        chat_model = self._model(model or self._default_model)
        agent_id = _local_id()
        info = AgentInfo(agent_id, type, f"{type}-{agent_id[:4]}", chat_model.name,
                         valid.model_dump(), "idle", time.time(), None, True)
        entry = _Entry(info, announced=False)
        entry.agent = self._construct(entry, agent_type, chat_model, valid)
        self._add_ephemeral(entry)
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
        if not entry.info.ephemeral:
            self._save(entry.info)
        return entry.current()

    async def delete(self, agent_id: str) -> None:
        entry = self._entry(agent_id)
        self._idle_or_raise(entry)
        del self._entries[agent_id]
        if self._ephemeral.pop(agent_id, None) is None:
            (self._path / f"{agent_id}.json").unlink(missing_ok=True)
        await self._delete_orphans()  # an explicit delete keeps the agent's own conversation
        if entry.announced:
            await self._bus.publish(
                AgentDeleted(agent_id=agent_id, type=entry.info.type, source=self._source)
            )

    # --- running -----------------------------------------------------------------------------

    def _idle_or_raise(self, entry: _Entry) -> None:
        if entry.busy:
            raise AgentError(f"Agent {entry.info.id!r} is {entry.status}; try again when done")

    async def _set_status(self, entry: _Entry, run: _Run, status: RunStatus) -> None:
        previous, run.status = run.status, status
        if previous != status:
            await self._bus.publish(AgentRunStatus(
                agent_id=entry.info.id, run_id=run.id, status=status, previous=previous,
                source=self._source,
            ))
        shown, before = AGENT_STATUS_OF_RUN[status], entry.status
        if shown != before:
            entry.status = shown
            await self._bus.publish(AgentStatusChanged(
                agent_id=entry.info.id, type=entry.info.type, status=shown, previous=before,
                source=self._source,
            ))

    def _construct(self, entry: _Entry, agent_type: AgentType, model: ChatModel, config: Any) -> Agent:
        info = entry.info

        async def step(taken: Step) -> None:
            run = entry.run
            assert run is not None, "a step outside a run"
            run.steps.append(taken)
            detail = taken.to_dict()
            await self._bus.publish(AgentStep(
                agent_id=info.id, run_id=run.id, index=len(run.steps), kind=taken.kind,
                summary=detail["summary"], detail=detail, source=self._source,
            ))

        async def set_status(status: AgentStatus) -> None:
            if status not in _RUN_STATUS_OF_AGENT:
                raise AgentError(f"an agent may set its status to running or waiting, not {status!r}")
            assert entry.run is not None, "a status change outside a run"
            await self._set_status(entry, entry.run, _RUN_STATUS_OF_AGENT[status])

        context = AgentContext(  # id, model, tools, memory, conversation, step, status, window
            info.id, model, self._tools(), self._memory(), info.conversation_id, step, set_status,
            self._context_tokens(model),
        )
        return agent_type.factory(context, config)

    def _build(self, entry: _Entry) -> Agent:
        agent_type = self._type(entry.info.type)
        return self._construct(
            entry, agent_type, self._model(entry.info.model), agent_type.Config(**entry.info.config)
        )

    def _check_fits(self, entry: _Entry, task: str) -> None:
        """Refuse a task that would take more than half the model's context window."""
        window = self._context_tokens(self._model(entry.info.model))
        size = estimate_tokens(task)
        if size > window // 2:
            raise TaskTooLong(
                f"The message is about {size} tokens; {entry.info.model}'s context window is "
                f"{window} tokens, so a message may take at most {window // 2}. Shorten it."
            )

    def _keep(self, run: _Run) -> None:
        self._runs[run.id] = run
        while len(self._runs) > self._limits.runs_kept:
            oldest = next(iter(self._runs.values()))
            if oldest.status not in FINAL_RUN_STATUSES:
                break
            del self._runs[oldest.id]

    async def run(
        self, agent_id: str, task: str, *, on_token: TokenSink | None = None,
        on_run: RunObserver | None = None,
    ) -> AgentResult:
        """Run ``task`` on the agent, storing the task and answer in its conversation."""
        entry = self._entry(agent_id)
        self._idle_or_raise(entry)
        if not task.strip():
            raise AgentError("The task is empty: say what the agent should do")
        self._check_fits(entry, task)
        run = entry.run = _Run(_local_id(), agent_id, task, time.time())
        self._keep(run)
        try:  # the run is submitted: busy, listed, not yet working
            if not entry.announced:
                entry.announced = True
                await self._announce(entry.info)
            if self._orphans:
                await self._delete_orphans()
            if on_run is not None:
                await on_run(run.info())
            result = await self._work(entry, run, task, on_token)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._finish(entry, run, AgentResult("", False, status="canceled"))
            raise
        return await self._finish(entry, run, result)

    async def _work(self, entry: _Entry, run: _Run, task: str, on_token: TokenSink | None) -> AgentResult:
        """The agent's work inside the run's cancel scope; a failure becomes a failed result."""
        memory = self._memory()
        conversation = entry.info.conversation_id if memory is not None else None
        with run.scope:
            await self._set_status(entry, run, "working")
            try:
                if entry.agent is None:
                    entry.agent = self._build(entry)
                if conversation:
                    await memory.append(conversation, ChatMessage("user", task))  # type: ignore[union-attr]
                result = await entry.agent.run(task, on_token=on_token)
                if conversation:
                    await memory.append(conversation, ChatMessage("assistant", result.output))  # type: ignore[union-attr]
                return result
            except Exception as error:
                log.warning("run %s of agent %s failed", run.id, entry.info.id, exc_info=True)
                run.error = f"{type(error).__name__}: {error}"
                return AgentResult(f"The run failed: {run.error}", False, status="failed")
        return AgentResult("", False, status="canceled")  # reached only when cancel() was called

    async def _finish(self, entry: _Entry, run: _Run, result: AgentResult) -> AgentResult:
        status = result.status or ("completed" if result.success else "failed")
        result = AgentResult(result.output, result.success, tuple(run.steps) or result.steps,
                             result.usage, status, run.id)
        run.result, run.finished_at = result, time.time()
        await self._set_status(entry, run, status)
        if run.done is not None:
            run.done.set()
        return result

    def runs(self, agent_id: str | None = None) -> list[RunInfo]:
        return [r.info() for r in reversed(self._runs.values()) if agent_id in (None, r.agent_id)]

    def get_run(self, run_id: str) -> RunInfo:
        try:
            return self._runs[run_id].info()
        except KeyError:
            raise UnknownRun(f"No run {run_id!r} is kept (the latest {self._limits.runs_kept} are)") from None

    async def cancel(self, run_id: str) -> RunInfo:
        try:
            run = self._runs[run_id]
        except KeyError:
            raise UnknownRun(f"No run {run_id!r} is kept (the latest {self._limits.runs_kept} are)") from None
        run.scope.cancel()
        if run.status not in FINAL_RUN_STATUSES:
            run.done = run.done or anyio.Event()
            with anyio.move_on_after(5):
                await run.done.wait()  # the agent's cleanup (e.g. a sandbox kill) is bounded
        return run.info()
