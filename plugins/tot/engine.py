"""The Tree-of-Thought engine: the ``TREE_SEARCH`` service. It knows no task: tasks come from
the ``pygent_reasoning_tasks`` hook, and a search (search.py) runs over a tree (tree.py)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import anyio
from pydantic import ValidationError
from pygent_sdk.models import CHAT_MODEL
from pygent_sdk.plugin import PluginContext
from pygent_sdk.reasoning import (
    InvalidSettings, ReasoningTask, StopSignal, Stopped, TotFinished, TreeResult, TreeSettings,
    UnknownTask, collect_tasks,
)

from .search import bfs, dfs
from .tree import Node, Tree


class Engine:
    """Solves problems of any contributed task by BFS or DFS over the model's thoughts."""

    def __init__(self, context: PluginContext, defaults: TreeSettings) -> None:
        self.context = context
        self.defaults = defaults
        self._tasks: dict[str, ReasoningTask] | None = None

    def tasks(self) -> Mapping[str, ReasoningTask]:
        """Every contributed task by name, collected on first use (the first plugin wins)."""
        if self._tasks is None:
            self._tasks = collect_tasks(self.context.hook, self.context.log)
        return dict(self._tasks)

    def settings(self, overrides: Mapping[str, Any] | None = None) -> TreeSettings:
        """The ``[tot]`` defaults with ``overrides`` applied and checked."""
        values = {**self.defaults.model_dump(), **dict(overrides or {})}
        try:
            return TreeSettings.model_validate(values)
        except ValidationError as error:
            raise InvalidSettings(describe(error)) from None

    async def solve(
        self, problem: str, *, task: str = "open", settings: TreeSettings | None = None,
        context: str = "", session_id: str | None = None, stop: StopSignal | None = None,
    ) -> TreeResult:
        """Search for a solution of ``problem``; see :class:`pygent_sdk.reasoning.TreeSearch`."""
        tasks = self.tasks()
        if task not in tasks:
            raise UnknownTask(
                f"No reasoning task {task!r}. Known: {', '.join(sorted(tasks)) or 'none'} "
                "(tasks come from plugins implementing pygent_reasoning_tasks)."
            )
        chosen, settings = tasks[task], settings or self.settings()
        parsed = chosen.problem(problem, context)
        tree = Tree(task=chosen, problem=parsed, settings=settings,
                    model=self.context.service(CHAT_MODEL, name=settings.model),
                    bus=self.context.bus, source=self.context.name,
                    session_id=session_id or uuid.uuid4().hex, stop=stop)
        try:
            await tree.publish_root()
            ended = await (bfs if settings.search == "bfs" else dfs)(tree)
            stopped, node = await conclude(tree, tree.halted or ended)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.finished(tree, "cancelled", solved=False)
            raise
        result = TreeResult(
            session_id=tree.session_id, task=chosen.name, problem=parsed.text,
            answer=node.answer, solution_id=node.id if node.answer is not None else None,
            path=node.path(), verified=node.verified, nodes=tuple(n.frozen() for n in tree.nodes),
            stopped=stopped, confidence=tree.confidence(node), usage=tree.usage,
            seconds=tree.elapsed(), model_seconds=tree.model_seconds, model_calls=tree.model_calls,
            cache_hits=tree.cache_hits, settings=settings.model_dump(),
        )
        await self.finished(tree, stopped, solved=result.solved)
        return result

    async def finished(self, tree: Tree, stopped: Stopped, *, solved: bool) -> None:
        await self.context.bus.publish(TotFinished(
            source=self.context.name, session_id=tree.session_id, task=tree.task.name,
            stopped=stopped, solved=solved, nodes=len(tree.nodes),
            tokens=tree.usage.total_tokens, seconds=tree.elapsed()))


async def conclude(tree: Tree, stopped: Stopped) -> tuple[Stopped, Node]:
    """Why the search ended and the node it answers from: the verified solution; else the best
    answered final state (where nothing verifies); else, unless the search was cancelled, saw
    the verifier refute its final states or reached no state beyond the root (an answer from the
    root would be a plain guess, not a tree search), an answer the model writes from the best
    state reached (one call past a budget; past the time budget it gets a quarter of
    ``max_seconds``); else the best state, with no answer."""
    if tree.solution is not None:
        return stopped, tree.solution
    if stopped == "cancelled":
        return stopped, tree.best()
    found = tree.candidates()
    if found:
        await tree.crown(found[0])
        return ("solved" if stopped in ("depth", "exhausted") else stopped), found[0]
    best = tree.best()
    if tree.refuted or best is tree.root:
        return stopped, best
    grace = (tree.settings.max_seconds or 0) / 4 if stopped == "budget_time" else math.inf
    with anyio.move_on_after(grace):
        answer = await tree.write(best, checked=False)
        best.answer, best.verified = answer, tree.task.verify(tree.problem, answer)
    if best.answer is not None and best.verified is not False:
        await tree.crown(best)
    return stopped, best


def describe(error: ValidationError) -> str:
    """Each bad setting and what was expected, in one message."""
    known = ", ".join(TreeSettings.model_fields)
    problems = []
    for issue in error.errors():
        key = ".".join(str(part) for part in issue["loc"]) or "settings"
        if issue["type"] == "extra_forbidden":
            problems.append(f"{key}: unknown setting (known: {known})")
        else:
            problems.append(f"{key}: {issue['msg']} (got {issue['input']!r})")
    return "Invalid Tree-of-Thought settings: " + "; ".join(problems)
