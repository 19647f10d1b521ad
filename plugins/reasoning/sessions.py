"""Reasoning sessions: each one a ``reasoning`` job that runs the pipeline in the background.

The job's result is the :class:`~pygent_sdk.reasoning.ReasoningResult` as a dict (the whole tree
included), stored by the jobs plugin, so a finished session outlives a restart. While a session
runs, its ``tot.*`` events are followed into a :class:`LiveTree` (the nodes so far, each with its
status and value) for the status and results routes and the job's progress. ``stop`` asks the
search to end with its best partial result (``stopped: "cancelled"``) and cancels the job only
when it does not end within :data:`STOP_GRACE_S` seconds.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import anyio
from pydantic import Field
from pygent_sdk import Event, PluginConfig, PluginContext, PygentError
from pygent_sdk.jobs import JOBS, Job, JobContext, JobKind, Jobs, UnknownJob
from pygent_sdk.models import CHAT_MODEL, ModelNotFound
from pygent_sdk.reasoning import (
    MODES, TREE_SEARCH, InvalidProblem, Mode, ReasoningError, ReasoningFinished, ReasoningPipeline,
    ReasoningStarted, TotFinished, TotNodeEvaluated, TotNodeProposed, TotNodePruned, TotSolution,
    TreeSettings, TreeSearch, UnknownMode, UnknownTask,
)

KIND = "reasoning"
LIVE_SESSIONS = 32
"""Sessions whose live tree is kept in memory (the oldest is forgotten first); the live trees of
completed sessions are dropped when the next session starts (their results hold the whole tree)."""
LIVE_NODES = 5_000
"""Nodes a session's live tree keeps: the first ones (a tree from the root); later nodes are only
counted. So live trees hold at most LIVE_SESSIONS x LIVE_NODES nodes."""
STOP_GRACE_S = 5.0
"""How long ``stop`` waits for the search to end by itself before it cancels the job."""
EVENT_BUFFER = 10_000
"""Events a session's subscription holds before it drops its oldest (a live tree may then miss
nodes; the stored result never does)."""
_PROGRESS_EVERY_S = 0.2


class ReasoningParams(PluginConfig):
    """Params of a ``reasoning`` job (a session)."""

    problem: str = Field(..., min_length=1, max_length=10_000, description="The problem or question.")
    mode: Mode | None = Field(None, description="Pipeline mode (unset: [reasoning] mode).")
    task: str | None = Field(None, description="Reasoning task, e.g. game24 or open (unset: the pipeline's choice).")
    collection: str | None = Field(None, description="Collection the retrieving modes search.")
    model: str | None = Field(None, description="Chat model of the search (unset: the default).")
    settings: dict[str, Any] = Field(default_factory=dict,
                                     description="Tree-of-Thought settings overriding [tot] (breadth, depth, search, ...).")


def check_request(tot: TreeSearch, problem: str, *, mode: str | None, task: str | None,
                  settings: Mapping[str, Any] | None = None, model: str | None = None,
                  described: Mapping[str, str] | None = None) -> TreeSettings | None:
    """The search settings of a request (None: no overrides, the pipeline's defaults), after
    checking it: an empty problem, an unknown mode or task, a problem the task refuses (game24
    with five numbers) or settings out of range raise a ReasoningError naming the field. A mode
    the pipeline describes (``described``: its ``modes()``) but that cannot be requested, such
    as ``cot``, is refused with the pipeline's description of it."""
    if not problem.strip():
        raise InvalidProblem("problem: is empty; say what to reason about")
    if mode is not None and mode not in MODES:
        why = (described or {}).get(mode)
        known = f"{mode!r} is not requestable: {why.rstrip('.')}" if why else f"unknown mode {mode!r}"
        raise UnknownMode(f"mode: {known}; the requestable modes are {', '.join(MODES)}")
    if task is not None:
        tasks = tot.tasks()
        if task not in tasks:
            raise UnknownTask(f"task: unknown task {task!r}; the tasks are {', '.join(sorted(tasks)) or 'none'}")
        try:
            tasks[task].problem(problem)  # InvalidProblem names the task and what is wrong
        except ReasoningError:
            raise
        except (ValueError, TypeError) as error:  # a contributed task's own check: 400, never 500
            raise InvalidProblem(f"task {task!r}: the problem is refused: {error}") from None
    overrides = {**(settings or {}), **({"model": model} if model else {})}
    return tot.settings(overrides) if overrides else None  # InvalidSettings names each key


def check_model(service: Callable[..., Any], settings: TreeSettings | None) -> None:
    """ReasoningError naming the model when ``settings`` names one that ``service`` (a kernel's
    or a plugin context's) does not find."""
    if settings is not None and settings.model:
        try:
            service(CHAT_MODEL, name=settings.model)
        except ModelNotFound as error:
            raise ReasoningError(f"model: {error}") from None


class LiveTree:
    """A session's tree as its events tell it: nodes by id (the fields of a ThoughtNode), the
    requested mode, the latest event as a message, and the search's end once it came. With a
    ``limit``, only the first ``limit`` nodes are kept; ``omitted`` counts the others."""

    def __init__(self, session_id: str, limit: int | None = None) -> None:
        self.session_id = session_id
        self.limit = limit
        self.omitted = 0
        self.changes = 0
        """Events that changed a kept node."""
        self.nodes: dict[str, dict[str, Any]] = {}
        self.mode: str | None = None
        self.message = ""
        self.finished: dict[str, Any] | None = None

    @property
    def size(self) -> int:
        """Nodes seen: those kept and those omitted."""
        return len(self.nodes) + self.omitted

    def _node(self, event: Any) -> dict[str, Any] | None:
        node = self.nodes.get(event.node_id)
        if node is None and self.limit is not None and len(self.nodes) >= self.limit:
            self.omitted += isinstance(event, TotNodeProposed)
            return None
        if node is None:  # its proposal was not seen (dropped, or published before we listened)
            node = self.nodes[event.node_id] = {
                "id": event.node_id, "parent_id": event.parent_id, "depth": event.depth, "state": "",
                "thought": "", "status": "proposed", "value": None, "reason": "", "answer": None,
                "verified": None}
        return node

    def apply(self, event: Event) -> dict[str, Any] | None:
        """Take ``event`` if it is this session's; the node it changed, or None."""
        if getattr(event, "session_id", None) != self.session_id:
            return None
        if isinstance(event, ReasoningStarted):
            self.mode, self.message = event.mode, f"started in mode {event.mode}"
            return None
        if isinstance(event, ReasoningFinished):
            self.message = f"finished: mode {event.mode}, confidence {event.confidence:.2f}"
            return None
        if isinstance(event, TotFinished):
            self.finished = {"stopped": event.stopped, "solved": event.solved, "nodes": event.nodes,
                             "tokens": event.tokens, "seconds": event.seconds}
            self.message = f"search ended ({event.stopped}) after {event.nodes} node(s) (root included)"
            return None
        if not isinstance(event, (TotNodeProposed, TotNodeEvaluated, TotNodePruned, TotSolution)):
            return None
        node = self._node(event)
        if node is None:
            return None
        self.changes += 1
        if isinstance(event, TotNodeProposed):
            node.update(parent_id=event.parent_id, depth=event.depth, thought=event.thought,
                        state=event.state)
            self.message = f"proposed at depth {event.depth}: {_short(event.thought)}"
        elif isinstance(event, TotNodeEvaluated):
            node.update(status="evaluated", value=event.value)
            self.message = f"valued {event.value:g}: {_short(node['thought'])}"
        elif isinstance(event, TotNodePruned):
            node.update(status="pruned", reason=event.reason)
            if event.value is not None:
                node["value"] = event.value
            self.message = f"pruned {_short(node['thought'])}: {event.reason}"
        else:
            node.update(status="solution", answer=event.answer, verified=event.verified)
            if event.value is not None:
                node["value"] = event.value
            verdict = {True: "verified", False: "refuted", None: "unverified"}[event.verified]
            self.message = f"solution ({verdict}): {_short(event.answer)}"
        return node


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Sessions:
    """Starts, follows and stops reasoning sessions (``reasoning`` jobs)."""

    def __init__(self, context: PluginContext, pipeline: ReasoningPipeline) -> None:
        self.context = context
        self.pipeline = pipeline
        self._live: OrderedDict[str, LiveTree] = OrderedDict()
        self._stopping: set[str] = set()

    def kind(self) -> JobKind:
        return JobKind(KIND, "A reasoning session: the unified pipeline (Tree-of-Thought, "
                             "retrieval, or both) on one problem; the result holds the whole tree.",
                       self.run, ReasoningParams)

    @property
    def default_mode(self) -> str:
        return self.pipeline.config.mode  # type: ignore[attr-defined]

    @property
    def jobs(self) -> Jobs | None:
        """The jobs service, or None without the jobs plugin (then there are no sessions)."""
        return self.context.optional_service(JOBS)

    def _jobs(self) -> Jobs:
        jobs = self.jobs
        if jobs is None:
            raise PygentError("reasoning sessions run as jobs: enable the jobs plugin ([jobs] in plugins.toml)")
        return jobs

    def check(self, params: Mapping[str, Any]) -> TreeSettings | None:
        """Check a session's params (:func:`check_request`, and that its model exists, given as
        ``model`` or in ``settings``); its search settings."""
        settings = check_request(self.context.service(TREE_SEARCH), params["problem"],
                                 mode=params.get("mode"), task=params.get("task"),
                                 settings=params.get("settings"), model=params.get("model"),
                                 described=self.pipeline.modes())
        check_model(self.context.service, settings)
        return settings

    async def start(self, params: Mapping[str, Any]) -> Job:
        """Start a session (checked first: ReasoningError naming the field). The mode defaults
        to ``[reasoning] mode``."""
        params = {**params, "mode": params.get("mode") or self.default_mode}
        self.check(params)
        return await self._jobs().start(KIND, params)

    def get(self, session_id: str) -> Job:
        """Session ``session_id``'s job; UnknownJob (404) when there is no such session."""
        try:
            job = self._jobs().get(session_id)
        except UnknownJob as error:
            kept = re.search(r"latest (\d+)", str(error))  # finished jobs the jobs plugin keeps
            raise UnknownJob(f"No reasoning session {session_id!r}" + (
                f" (a session is a job: the latest {kept[1]} finished jobs of any kind are kept, "
                "older ones are gone)" if kept else "")) from None
        if job.kind != KIND:
            raise UnknownJob(f"No reasoning session {session_id!r}: it is a {job.kind!r} job")
        return job

    async def wait(self, session_id: str) -> Job:
        """Session ``session_id``'s job once it has ended."""
        return await self._jobs().wait(session_id)

    def list(self) -> list[Job]:
        """Kept sessions, newest first."""
        return self._jobs().list(kind=KIND)

    def live(self, session_id: str) -> LiveTree | None:
        """The session's live tree while it is remembered (the latest LIVE_SESSIONS)."""
        return self._live.get(session_id)

    async def stop(self, session_id: str) -> Job:
        """Ask the session to stop with its best partial result; cancel its job if it has not
        ended after STOP_GRACE_S seconds. A finished session is returned unchanged."""
        job = self.get(session_id)
        if job.finished:
            return job
        jobs = self._jobs()
        if job.state == "submitted":  # still waiting for a slot: nothing to keep
            return await jobs.cancel(session_id)
        self._stopping.add(session_id)
        try:
            with anyio.move_on_after(STOP_GRACE_S):
                return await jobs.wait(session_id)
            return await jobs.cancel(session_id)
        finally:
            self._stopping.discard(session_id)

    def _keep(self, session_id: str) -> LiveTree:
        for kept in list(self._live):  # a completed session's result holds its whole tree
            try:
                if self._jobs().get(kept).state == "completed":
                    del self._live[kept]
            except UnknownJob:
                del self._live[kept]
        tree = self._live[session_id] = LiveTree(session_id, LIVE_NODES)
        while len(self._live) > LIVE_SESSIONS:
            self._live.popitem(last=False)
        return tree

    async def run(self, ctx: JobContext) -> dict[str, Any]:
        """The work of a ``reasoning`` job: the pipeline on the params, followed live."""
        params = ctx.params
        settings = self.check(params)
        tree = self._keep(ctx.id)
        reported = 0.0

        async def follow(sub: Any) -> None:
            nonlocal reported
            async for event in sub:
                if tree.apply(event) is not None or event.topic in ("tot.finished", "reasoning.started"):
                    now = time.monotonic()
                    if now - reported >= _PROGRESS_EVERY_S:
                        reported = now
                        await ctx.progress(tree.size, None, tree.message + _omitted(tree))

        bus = self.context.bus
        try:
            with bus.subscribe("tot.>", maxsize=EVENT_BUFFER, name=f"reasoning-{ctx.id}") as nodes, \
                    bus.subscribe("reasoning.>", maxsize=100, name=f"reasoning-{ctx.id}") as stages:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(follow, nodes)
                    tasks.start_soon(follow, stages)
                    result = await self.pipeline.run(
                        params["problem"], mode=params.get("mode") or self.default_mode,
                        task=params.get("task"), settings=settings, collection=params.get("collection"),
                        session_id=ctx.id, stop=lambda: ctx.id in self._stopping,
                    )
                    tasks.cancel_scope.cancel()
            for event in nodes.drain() + stages.drain():  # what came after the last read
                tree.apply(event)
        finally:
            self._stopping.discard(ctx.id)
        outcome = result.to_dict()
        stopped = (outcome.get("tree") or {}).get("stopped")
        await ctx.progress(tree.size, tree.size,
                           f"done: mode {result.mode}" + (f", search {stopped}" if stopped else ""))
        return outcome


def _omitted(tree: LiveTree) -> str:
    return f" (the live tree keeps the first {len(tree.nodes)} of {tree.size} nodes)" if tree.omitted else ""
