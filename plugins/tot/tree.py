"""One search's tree: its nodes and events, the model calls with their budgets, the value cache,
and the layer operations both searches share (expand, evaluate, select, answer).

Every model call runs inside :meth:`Tree.layer`, a cancel scope with the time budget as its
deadline: a budget, a stop request or a verified solution cancels the calls still in flight.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from functools import partial

import anyio
from pygent_sdk import ChatMessage, ChatModel, ChatOptions, Usage
from pygent_sdk.agents import estimate_tokens
from pygent_sdk.bus import Bus
from pygent_sdk.reasoning import (
    NodeStatus, Problem, Proposal, ReasoningTask, StopSignal, Stopped, ThoughtNode,
    TotNodeEvaluated, TotNodeProposed, TotNodePruned, TotSolution, TreeSettings,
)

from .gate import Gate

Job = Callable[[], Awaitable[None]]
STOP_POLL_S = 0.05
"""How often a layer asks the caller's stop signal while calls are in flight."""


@dataclasses.dataclass(slots=True, eq=False)
class Node:
    """A node while the search runs (:class:`ThoughtNode` is its frozen form)."""

    id: str
    parent: Node | None
    depth: int
    state: str
    thought: str
    status: NodeStatus = "proposed"
    value: float | None = None
    reason: str = ""
    answer: str | None = None
    verified: bool | None = None
    final: bool = False

    def frozen(self) -> ThoughtNode:
        return ThoughtNode(self.id, self.parent.id if self.parent else None, self.depth,
                           self.state, self.thought, self.status, self.value, self.reason,
                           self.answer, self.verified)

    def path(self) -> tuple[str, ...]:
        ids: list[str] = []
        node: Node | None = self
        while node is not None:
            ids.append(node.id)
            node = node.parent
        return tuple(reversed(ids))


class Tree:
    """The state of one ``solve``: what the search strategies (search.py) work on."""

    def __init__(self, *, task: ReasoningTask, problem: Problem, settings: TreeSettings,
                 model: ChatModel, bus: Bus, source: str, session_id: str,
                 stop: StopSignal | None) -> None:
        self.task, self.problem, self.settings = task, problem, settings
        self.model, self.bus, self.source = model, bus, source
        self.session_id, self.stop = session_id, stop
        self.options = ChatOptions(max_tokens=settings.max_reply_tokens,
                                   temperature=settings.temperature)
        self.gate = Gate(settings.concurrency)
        self.depth = settings.depth or task.depth
        self.started = time.monotonic()
        self.deadline = self.started + settings.max_seconds if settings.max_seconds else math.inf
        self.nodes: list[Node] = []
        self.root = self._new(None, Proposal("", ""))
        self.usage = Usage()
        self.model_calls = 0
        self.model_seconds = 0.0
        self.cache: dict[tuple[str, ...], float] = {}
        self.cache_hits = 0
        self.halted: Stopped | None = None
        self.solution: Node | None = None
        self.refuted = 0
        self.error: BaseException | None = None
        self._scope: anyio.CancelScope | None = None
        self._seen: set[tuple[str, ...]] = set()
        self.fresh: list[Node] = []

    # --- budgets and halting -------------------------------------------------------------------

    def halt(self, reason: Stopped) -> None:
        """End the search for ``reason`` (the first reason wins), cancelling calls in flight."""
        if self.halted is None:
            self.halted = reason
        if self._scope is not None:
            self._scope.cancel()

    def over(self) -> bool:
        """Whether the search must end: halted already, a stop request, or a budget spent."""
        if self.halted is None:
            limit = self.settings.max_tokens
            if self.stop is not None and self.stop():
                self.halt("cancelled")
            elif limit is not None and self.usage.total_tokens >= limit:
                self.halt("budget_tokens")
            elif time.monotonic() >= self.deadline:
                self.halt("budget_time")
        return self.halted is not None

    async def layer(self, jobs: Sequence[Job]) -> None:
        """Run ``jobs`` on up to ``concurrency`` workers until done or halted; a model or task
        error is raised here. Every checked model call (:meth:`ask`) runs inside one."""
        if not jobs or self.over():
            return
        queue = iter(jobs)
        workers = min(len(jobs), self.settings.concurrency)
        with anyio.CancelScope(deadline=self.deadline) as scope:
            self._scope = scope
            try:
                if self.stop is None and workers == 1:
                    await self._work(queue)
                else:
                    async with anyio.create_task_group() as group:
                        if self.stop is not None:
                            group.start_soon(self._watch)
                        async with anyio.create_task_group() as work:
                            for _ in range(workers):
                                work.start_soon(self._work, queue)
                        group.cancel_scope.cancel()
            finally:
                self._scope = None
        if scope.cancelled_caught and self.halted is None:
            self.halted = "budget_time"
        if self.error is not None:
            raise self.error

    async def _work(self, queue: Iterator[Job]) -> None:
        for job in queue:
            if self.halted is not None or self.error is not None:
                return
            try:
                await job()
            except Exception as error:  # a model or a task failed: end the layer, raise it after
                while isinstance(error, ExceptionGroup):
                    error = error.exceptions[0]
                self.error = self.error or error
                if self._scope is not None:
                    self._scope.cancel()

    async def _watch(self) -> None:
        while not self.over():
            await anyio.sleep(STOP_POLL_S)

    # --- model calls ---------------------------------------------------------------------------

    async def ask(self, messages: list[ChatMessage], *, checked: bool = True) -> str:
        """One model call, timed and counted; ``checked`` (inside a layer) ends the calling job
        instead when the search must stop."""
        async with self.gate:
            if checked and self.over():
                await anyio.sleep_forever()  # the layer's scope is cancelled: this job ends here
            began = time.perf_counter()
            response = await self.model.chat(messages, self.options)
            self.model_seconds += time.perf_counter() - began
        self.model_calls += 1
        usage = response.usage
        if usage.total_tokens == 0:
            prompt = sum(estimate_tokens(m.content) for m in messages)
            usage = Usage(prompt, estimate_tokens(response.text))
        self.usage += usage
        return response.text

    # --- nodes and events ----------------------------------------------------------------------

    def _new(self, parent: Node | None, proposal: Proposal) -> Node:
        node = Node(f"n{len(self.nodes)}", parent, parent.depth + 1 if parent else 0,
                    proposal.state, proposal.thought)
        self.nodes.append(node)
        return node

    async def _proposed(self, node: Node) -> None:
        parent = node.parent.id if node.parent else None
        await self.bus.publish(TotNodeProposed(
            source=self.source, session_id=self.session_id, node_id=node.id, parent_id=parent,
            depth=node.depth, thought=node.thought, state=node.state))

    async def publish_root(self) -> None:
        await self._proposed(self.root)

    async def prune(self, node: Node, reason: str) -> None:
        node.status, node.reason = "pruned", reason
        await self.bus.publish(TotNodePruned(
            source=self.source, session_id=self.session_id, node_id=node.id,
            parent_id=node.parent.id if node.parent else None, depth=node.depth,
            value=node.value, reason=reason))

    async def crown(self, node: Node) -> None:
        """Make ``node`` the solution and publish it."""
        node.status, self.solution = "solution", node
        await self.bus.publish(TotSolution(
            source=self.source, session_id=self.session_id, node_id=node.id,
            parent_id=node.parent.id if node.parent else None, depth=node.depth,
            answer=node.answer or "", verified=node.verified, value=node.value))

    # --- layer operations ----------------------------------------------------------------------

    async def grow(self, parents: Sequence[Node]) -> list[Node]:
        """The new children of ``parents`` to evaluate (identical states merged, rejected and
        settled ones left out)."""
        self.fresh, self._seen = [], set()
        await self.layer([partial(self.expand, parent) for parent in parents])
        return self.fresh

    async def expand(self, parent: Node) -> None:
        """Propose (one call) or sample (``n_generate`` calls) the children of ``parent``."""
        task, problem = self.task, self.problem
        if self.settings.generator == "propose":
            text = await self.ask(task.propose_messages(problem, parent.state))
            for proposal in task.parse_proposals(problem, parent.state, text):
                await self.add(parent, proposal)
            return

        async def sample() -> None:
            text = await self.ask(task.sample_messages(problem, parent.state))
            proposal = task.parse_sample(problem, parent.state, text)
            if proposal is not None:
                await self.add(parent, proposal)

        await self.together([sample] * self.settings.n_generate)

    async def add(self, parent: Node, proposal: Proposal) -> None:
        """A child of ``parent`` unless the layer has it already; rejected ones are pruned, a
        final one is answered and verified when the task can answer without the model."""
        key = (proposal.state,) if proposal.rejected is None else (
            proposal.state, proposal.thought, proposal.rejected)
        if self.halted is not None or key in self._seen:
            return
        if len(self.nodes) > self.settings.max_nodes:
            self.halt("budget_nodes")
            return
        self._seen.add(key)
        node = self._new(parent, proposal)
        await self._proposed(node)
        if proposal.rejected is not None:
            await self.prune(node, proposal.rejected)
            return
        ends = self.task.is_final(self.problem, node.state)
        node.final = ends or node.depth >= self.depth  # the depth limit ends a state too
        answer = self.task.final_answer(self.problem, node.state) if ends else None
        if answer is not None:
            await self.settle(node, answer)
        if node.status == "proposed":
            self.fresh.append(node)

    async def settle(self, node: Node, answer: str) -> None:
        """Verify a final state's ``answer``: proven ends the search, refuted prunes it."""
        node.answer, node.verified = answer, self.task.verify(self.problem, answer)
        if node.verified is False:
            self.refuted += 1
            await self.prune(node, "the verifier refutes it")
        elif node.verified:
            await self.crown(node)
            self.halt("solved")

    async def together(self, jobs: Sequence[Job]) -> None:
        """Run ``jobs`` concurrently inside the current layer (one is awaited directly)."""
        if len(jobs) == 1:
            await jobs[0]()
            return
        async with anyio.create_task_group() as group:
            for job in jobs:
                group.start_soon(job)

    async def evaluate(self, nodes: Sequence[Node]) -> None:
        """Value each node alone (``value``) or by the layer's votes (``vote``). An identical
        value prompt is asked once per search: the others reuse its value (cache hits)."""
        if not nodes:
            return
        if self.settings.evaluator == "vote":
            await self.layer([partial(self.vote, nodes)])
            return
        asked: dict[tuple[str, ...], list[Node]] = {}
        for node in nodes:
            key = tuple(m.content for m in self.task.value_messages(self.problem, node.state))
            if key in self.cache:
                self.cache_hits += 1
                await self.evaluated(node, self.cache[key], cached=True)
            elif key in asked:
                asked[key].append(node)
            else:
                asked[key] = [node]
        await self.layer([partial(self.value, key, same) for key, same in asked.items()])

    async def value(self, key: tuple[str, ...], nodes: list[Node]) -> None:
        """``n_evaluate`` value samples of the state of ``nodes`` (one prompt), summed."""
        first = nodes[0]
        messages = self.task.value_messages(self.problem, first.state)
        samples: list[float] = []

        async def sample() -> None:
            text = await self.ask(messages)
            samples.append(float(self.task.parse_value(self.problem, first.state, text)))

        await self.together([sample] * self.settings.n_evaluate)
        value = self.cache[key] = sum(samples)
        await self.evaluated(first, value)
        for node in nodes[1:]:
            self.cache_hits += 1
            await self.evaluated(node, value, cached=True)

    async def vote(self, nodes: Sequence[Node]) -> None:
        """``n_evaluate`` votes over ``nodes``: each node's value is the votes it got (a lone
        node gets them all without asking)."""
        votes = [0.0] * len(nodes)
        if len(nodes) == 1:
            votes[0] = float(self.settings.n_evaluate)
        else:
            messages = self.task.vote_messages(self.problem, [n.state for n in nodes])

            async def ballot() -> None:
                choice = self.task.parse_vote(await self.ask(messages), len(nodes))
                if choice is not None:
                    votes[choice] += 1

            await self.together([ballot] * self.settings.n_evaluate)
        for node, value in zip(nodes, votes):
            await self.evaluated(node, value)

    async def evaluated(self, node: Node, value: float, *, cached: bool = False) -> None:
        node.status, node.value = "evaluated", value
        await self.bus.publish(TotNodeEvaluated(
            source=self.source, session_id=self.session_id, node_id=node.id,
            parent_id=node.parent.id if node.parent else None, depth=node.depth,
            value=value, cached=cached))

    async def select(self, nodes: Sequence[Node]) -> list[Node]:
        """The best ``breadth`` evaluated nodes, kept (ties: the earlier proposed); the rest
        pruned."""
        ranked = sorted((n for n in nodes if n.value is not None), key=lambda n: -(n.value or 0.0))
        kept, dropped = ranked[: self.settings.breadth], ranked[self.settings.breadth:]
        for node in kept:
            node.status = "kept"
        for node in dropped:
            await self.prune(node, f"not among the best {self.settings.breadth}")
        return kept

    async def answer_finals(self, nodes: Sequence[Node]) -> None:
        """Write and verify the answers of the final ``nodes`` the task cannot answer alone, the
        most valuable first, until one is not refuted: one model call where nothing verifies."""
        waiting = sorted((n for n in nodes if n.final and n.answer is None),
                         key=lambda n: -(n.value or 0.0))
        for node in waiting:
            await self.layer([partial(self.answer_final, node)])
            if self.halted is not None or node.verified is not False:
                return

    async def answer_final(self, node: Node) -> None:
        await self.settle(node, await self.write(node))

    async def write(self, node: Node, *, checked: bool = True) -> str:
        """The answer the model writes from ``node``'s state (``answer_messages``)."""
        text = await self.ask(self.task.answer_messages(self.problem, node.state), checked=checked)
        return self.task.extract_answer(self.problem, text) or text.strip()

    # --- the end -------------------------------------------------------------------------------

    def best(self) -> Node:
        """The best partial result: the deepest, then most valuable, node still in the search."""
        alive = [n for n in self.nodes if n.value is not None and n.status != "pruned"]
        return max(alive, key=lambda n: (n.depth, n.value or 0.0), default=self.root)

    def candidates(self) -> list[Node]:
        """Answered final states that nothing refuted, the most valuable first."""
        found = [n for n in self.nodes
                 if n.answer is not None and n.verified is None and n.status != "pruned"]
        return sorted(found, key=lambda n: -(n.value or 0.0))

    def normalised(self, value: float) -> float:
        """A value on 0-1: a value sum over its maximum (sure = 20 per sample), votes over votes."""
        most = self.settings.n_evaluate * (20.0 if self.settings.evaluator == "value" else 1.0)
        return min(1.0, max(0.0, value / most))

    def confidence(self, node: Node) -> float:
        """0 without an answer, 1 for a verified answer, 0 for a refuted one, else the mean
        normalised value of the path's evaluated nodes."""
        if node.answer is None:
            return 0.0
        if node.verified is not None:
            return 1.0 if node.verified else 0.0
        values: list[float] = []
        walk: Node | None = node
        while walk is not None:
            if walk.value is not None:
                values.append(self.normalised(walk.value))
            walk = walk.parent
        return sum(values) / len(values) if values else 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.started
