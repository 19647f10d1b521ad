"""The reasoning capability: Tree-of-Thought search over a task's states, chain-of-thought with
self-consistency, and the unified pipeline that mixes them with retrieval.

A **task** (:class:`ReasoningTask`) knows one kind of problem: how to prompt for next thoughts and
parse them into states, how to prompt for a state's value (or a vote between states) and read the
answer, when a state is final, what its answer is and whether that answer can be proven right.
The search engine (the ``tot`` plugin) knows no task: it calls these methods. Tasks come from the
``pygent_reasoning_tasks`` hook, so a third-party plugin adds its own::

    class Sudoku(BaseTask):
        name = "sudoku"
        ...

    @hookimpl
    def pygent_reasoning_tasks(self) -> list[ReasoningTask]:
        return [Sudoku()]

States are plain strings (the partial solution so far, as in the paper's code): they are cached,
compared, stored and sent over the wire as they are. Services::

    tot = self.context.service(TREE_SEARCH)
    result = await tot.solve("4 9 10 13", task="game24", settings=TreeSettings(breadth=5))
    cot = self.context.service(CHAIN_OF_THOUGHT)
    voted = await cot.solve("What is 17 * 23?", samples=5)
    pipeline = self.context.service(REASONING)
    outcome = await pipeline.run("Why does the bus drop events?", mode="adaptive")
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import Field

from .agents import Step
from .chat import ChatMessage, Usage
from .errors import PygentError
from .events import Event, event
from .markers import hookspec
from .plugin import PluginConfig
from .services import ServiceKey

Generator = Literal["propose", "sample"]
"""``propose``: one call lists several next thoughts; ``sample``: each call writes one."""
Evaluator = Literal["value", "vote"]
"""``value``: each state is valued alone (n samples, mapped and summed); ``vote``: the model
picks the most promising of a layer's states, n times, and each state's value is its votes."""
Search = Literal["bfs", "dfs"]
Stopped = Literal[
    "solved", "exhausted", "depth", "budget_tokens", "budget_time", "budget_nodes", "cancelled",
]
"""Why a search ended: a verified (or final, where nothing verifies) solution; no state left to
expand; the depth limit; a token, time or node budget; or a stop request."""
NodeStatus = Literal["proposed", "evaluated", "kept", "pruned", "solution"]
Mode = Literal["tot_only", "rag_only", "s3_rag", "tot_enhanced_rag", "tot_s3_rag", "adaptive"]
"""The pipeline's modes; ``adaptive`` classifies the query and picks one of the others."""
MODES: tuple[str, ...] = ("tot_only", "rag_only", "s3_rag", "tot_enhanced_rag", "tot_s3_rag", "adaptive")
Complexity = Literal["simple", "moderate", "complex", "research"]
VALUE_WORDS: Mapping[str, float] = {"sure": 20.0, "likely": 1.0, "impossible": 0.001}
"""The paper's map of a value prompt's verdict to a number (summed over samples)."""
REPLY_STOPS: tuple[str, ...] = ("\nProblem:", "\nQuestion:", "\nSources:", "\nPassages:")
"""Stop sequences of a reasoning reply (chain-of-thought, the pipeline's answers and judgements):
where a small model starts writing the prompt's next turn instead of ending its reply."""


# --- problems and tasks ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """What to solve: ``text`` as the task normalised it, and ``context``, retrieved passages as
    a numbered block (see ``pygent_sdk.knowledge.numbered_context``) that prompts should show
    when it is not empty (``tot_enhanced_rag``)."""

    text: str
    context: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Proposal:
    """A next state parsed from a model's output: ``state`` (the whole partial solution so far)
    and ``thought`` (the step that led there). ``rejected`` says why a proposal breaks the task's
    rules (e.g. "uses 7, which is not left"); the engine records it as a pruned node."""

    state: str
    thought: str
    rejected: str | None = None


@runtime_checkable
class ReasoningTask(Protocol):
    """One kind of problem, as the search engine sees it. Subclass :class:`BaseTask`."""

    name: str
    description: str
    depth: int
    """The number of steps a complete solution takes (game24: 4), the default depth limit."""

    def problem(self, text: str, context: str = "") -> Problem:
        """Check and normalise a problem; raise :class:`InvalidProblem` naming what is wrong."""
        ...

    def propose_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        """The prompt that asks for several next thoughts from ``state`` (``propose``)."""
        ...

    def parse_proposals(self, problem: Problem, state: str, text: str) -> list[Proposal]:
        """The next states a ``propose`` answer lists, invalid ones marked ``rejected``."""
        ...

    def sample_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        """The prompt that asks for one next thought from ``state`` (``sample``)."""
        ...

    def parse_sample(self, problem: Problem, state: str, text: str) -> Proposal | None:
        """The next state a ``sample`` answer gives, or None when it gives none."""
        ...

    def value_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        """The prompt that asks how promising ``state`` is."""
        ...

    def parse_value(self, problem: Problem, state: str, text: str) -> float:
        """A value answer as a number (sure/likely/impossible: 20/1/0.001, see VALUE_WORDS)."""
        ...

    def vote_messages(self, problem: Problem, states: Sequence[str]) -> list[ChatMessage]:
        """The prompt that asks which of ``states`` (numbered from 1) is most promising."""
        ...

    def parse_vote(self, text: str, count: int) -> int | None:
        """The 0-based index a vote answer picks among ``count`` states, or None."""
        ...

    def is_final(self, problem: Problem, state: str) -> bool:
        """Whether ``state`` is a complete solution attempt (no further steps)."""
        ...

    def final_answer(self, problem: Problem, state: str) -> str | None:
        """The answer a final state gives without a model (game24: the expression), or None
        when the answer must be written by the model from ``answer_messages``."""
        ...

    def answer_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        """The prompt that writes the answer from a state's reasoning (``open``)."""
        ...

    def verify(self, problem: Problem, answer: str) -> bool | None:
        """True when ``answer`` is proven right, False when proven wrong, None when the task
        cannot check answers. A True verdict ends a search at once."""
        ...

    def direct_messages(self, problem: Problem, *, chain: bool) -> list[ChatMessage]:
        """The single-call prompt: the answer at once (IO, ``chain=False``) or after thinking
        step by step (CoT, ``chain=True``), ending with a line ``Answer: ...``."""
        ...

    def extract_answer(self, problem: Problem, text: str) -> str | None:
        """The answer in a direct reply, normalised so equal answers compare equal; None if none."""
        ...

    def render(self, state: str) -> str:
        """A state for people (one line where it fits)."""
        ...


_ANSWER = re.compile(r"(?:^|\n)\s*(?:final\s+)?answer\s*[:：]\s*(.+)", re.I)
_VOTE = re.compile(r"best (?:choice|state|option) is\s*\(?(\d+)", re.I)


class BaseTask(abc.ABC):
    """Defaults for a task: generic vote prompt and parse, the sure/likely/impossible value map,
    ``Answer:`` extraction, no verifier, the state rendered as it is. Implement the rest."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    depth: ClassVar[int] = 3

    def problem(self, text: str, context: str = "") -> Problem:
        text = " ".join(text.split())
        if not text:
            raise InvalidProblem(f"Task '{self.name}': the problem is empty.")
        return Problem(text, context)

    @abc.abstractmethod
    def propose_messages(self, problem: Problem, state: str) -> list[ChatMessage]: ...

    @abc.abstractmethod
    def parse_proposals(self, problem: Problem, state: str, text: str) -> list[Proposal]: ...

    def sample_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        return self.propose_messages(problem, state)

    def parse_sample(self, problem: Problem, state: str, text: str) -> Proposal | None:
        valid = [p for p in self.parse_proposals(problem, state, text) if p.rejected is None]
        return valid[0] if valid else None

    @abc.abstractmethod
    def value_messages(self, problem: Problem, state: str) -> list[ChatMessage]: ...

    def parse_value(self, problem: Problem, state: str, text: str) -> float:
        return value_of_verdict(text)

    def vote_messages(self, problem: Problem, states: Sequence[str]) -> list[ChatMessage]:
        choices = "\n".join(f"Choice {i}:\n{self.render(s)}" for i, s in enumerate(states, 1))
        return [ChatMessage("user", (
            f"Problem: {problem.text}\n{context_block(problem)}"
            "Given the problem and several partial solutions, decide which choice is most "
            "promising. Analyse each choice in detail, then conclude in the last line "
            f'"The best choice is {{s}}", where s is the integer id of the choice.\n\n{choices}'
        ))]

    def parse_vote(self, text: str, count: int) -> int | None:
        found = _VOTE.findall(text)
        if not found:
            return None
        index = int(found[-1]) - 1
        return index if 0 <= index < count else None

    @abc.abstractmethod
    def is_final(self, problem: Problem, state: str) -> bool: ...

    def final_answer(self, problem: Problem, state: str) -> str | None:
        return None

    def answer_messages(self, problem: Problem, state: str) -> list[ChatMessage]:
        return [ChatMessage("user", (
            f"{context_block(problem)}Problem: {problem.text}\n\nReasoning so far:\n{state}\n\n"
            "Using this reasoning, write the final answer in one short paragraph."
        ))]

    def verify(self, problem: Problem, answer: str) -> bool | None:
        return None

    def direct_messages(self, problem: Problem, *, chain: bool) -> list[ChatMessage]:
        how = ("Think step by step, then give" if chain else "Give")
        return [ChatMessage("user", (
            f"{context_block(problem)}Problem: {problem.text}\n"
            f"{how} the answer on a last line that starts with \"Answer:\"."
        ))]

    def extract_answer(self, problem: Problem, text: str) -> str | None:
        found = _ANSWER.findall(text)
        answer = " ".join(found[-1].split()).strip(" .") if found else ""
        return answer or None

    def render(self, state: str) -> str:
        return state


def context_block(problem: Problem) -> str:
    """``Sources:`` and the problem's retrieved context then a blank line, or "" without any:
    what a task's prompts put first so retrieved passages condition them."""
    return f"Sources:\n{problem.context}\n\n" if problem.context else ""


def value_of_verdict(text: str) -> float:
    """A value answer's number: its last line's sure/likely/impossible word (VALUE_WORDS), else
    the last number in 0-10 scaled to 0-20 ("7/10" → 14), else 0."""
    lines = [line.strip().lower() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        words = re.findall(r"[a-z]+", line)
        for word in reversed(words):
            if word in VALUE_WORDS:
                return VALUE_WORDS[word]
    numbers = re.findall(r"(?<![\d.])(\d+(?:\.\d+)?)(?:\s*/\s*10)?", text)
    if numbers and 0 <= float(numbers[-1]) <= 10:
        return float(numbers[-1]) * 2
    return 0.0


# --- search settings and results ----------------------------------------------------------------


class TreeSettings(PluginConfig):
    """How a Tree-of-Thought search runs (the ``[tot]`` defaults, a request or an agent's config)."""

    generator: Generator = Field("propose", description="propose (one call lists next thoughts) or sample (each call writes one).")
    evaluator: Evaluator = Field("value", description="value (each state alone) or vote (the model picks the best of a layer).")
    search: Search = Field("bfs", description="bfs (keep the best `breadth` per layer) or dfs (depth first, pruning below `value_threshold`, backtracking).")
    breadth: int = Field(5, ge=1, le=50, description="States kept per layer (BFS) or children tried per node (DFS).")
    depth: int | None = Field(None, ge=1, le=12, description="Depth limit in steps (None: the task's own).")
    n_generate: int = Field(1, ge=1, le=20, description="Samples per state for the sample generator (propose asks once).")
    n_evaluate: int = Field(3, ge=1, le=20, description="Value samples per state, or votes per layer.")
    value_threshold: float = Field(1.0, ge=0, description="DFS prunes a state whose value is below this.")
    max_nodes: int = Field(500, ge=1, le=100_000, description="Stop after this many proposed nodes.")
    max_tokens: int | None = Field(None, ge=1, description="Stop once the model calls used this many tokens (None: no limit).")
    max_seconds: float | None = Field(None, gt=0, description="Stop after this many seconds (None: no limit).")
    concurrency: int = Field(4, ge=1, le=64, description="Model calls in flight at once within a layer.")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature of proposals and evaluations.")
    max_reply_tokens: int = Field(256, ge=16, le=4096, description="Longest reply asked of one model call.")
    model: str | None = Field(None, description="Chat model name (None: the default model).")


@dataclasses.dataclass(frozen=True, slots=True)
class ThoughtNode:
    """A node of the tree: ``state`` reached from ``parent_id`` by ``thought`` at ``depth``
    (the root is depth 0 with an empty state). ``value`` is the evaluator's number (None: not
    evaluated); ``reason`` says why a pruned node was pruned; ``answer``/``verified`` are set on
    final states."""

    id: str
    parent_id: str | None
    depth: int
    state: str
    thought: str
    status: NodeStatus = "proposed"
    value: float | None = None
    reason: str = ""
    answer: str | None = None
    verified: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class TreeResult:
    """What a search found: ``answer`` (None: none) from node ``solution_id`` along ``path``
    (node ids from the root), whether it was ``verified``, every node, why it ``stopped``, and
    what it cost. ``confidence`` comes from the path's values (and 1.0 for a verified answer)."""

    session_id: str
    task: str
    problem: str
    answer: str | None
    solution_id: str | None
    path: tuple[str, ...]
    verified: bool | None
    nodes: tuple[ThoughtNode, ...]
    stopped: Stopped
    confidence: float
    usage: Usage = Usage()
    seconds: float = 0.0
    model_seconds: float = 0.0
    """The sum of the model calls' durations (they overlap when concurrent)."""
    model_calls: int = 0
    cache_hits: int = 0
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def solved(self) -> bool:
        return self.answer is not None and self.verified is not False

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["nodes"] = [n.to_dict() for n in self.nodes]
        data["path"] = list(self.path)
        data["usage"] = {"prompt_tokens": self.usage.prompt_tokens,
                         "completion_tokens": self.usage.completion_tokens}
        data["settings"] = dict(self.settings)
        data["solved"] = self.solved
        return data


StopSignal = Callable[[], bool]
"""Polled by a search between and during layers: True asks it to stop with what it has."""


@runtime_checkable
class TreeSearch(Protocol):
    """The Tree-of-Thought engine (the ``tot`` plugin)."""

    def tasks(self) -> Mapping[str, ReasoningTask]:
        """The tasks ``pygent_reasoning_tasks`` contributed, by name."""
        ...

    def settings(self, overrides: Mapping[str, Any] | None = None) -> TreeSettings:
        """The ``[tot]`` defaults with ``overrides`` applied (a request's or an agent's), checked:
        :class:`InvalidSettings` names each bad key and what was expected."""
        ...

    async def solve(
        self, problem: str, *, task: str = "open", settings: TreeSettings | None = None,
        context: str = "", session_id: str | None = None, stop: StopSignal | None = None,
    ) -> TreeResult:
        """Search for a solution of ``problem`` (checked by the task: :class:`InvalidProblem`);
        publishes ``tot.*`` events under ``session_id`` (a new id when None). Budgets and
        ``stop`` end it with the best partial result; cancelling the caller cancels it."""
        ...


# --- chain of thought ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ChainResult:
    """Self-consistency over ``samples`` chains: each chain's extracted answer (None: none),
    the majority ``answer``, its ``votes``, and ``confidence``: votes / samples, or the
    verifier's verdict where it gave one (1.0 proven, 0.0 refuted)."""

    problem: str
    task: str
    answer: str | None
    votes: int
    samples: int
    confidence: float
    answers: tuple[str | None, ...]
    chains: tuple[str, ...]
    verified: bool | None = None
    usage: Usage = Usage()
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["answers"], data["chains"] = list(self.answers), list(self.chains)
        data["usage"] = {"prompt_tokens": self.usage.prompt_tokens,
                         "completion_tokens": self.usage.completion_tokens}
        return data


@runtime_checkable
class ChainOfThought(Protocol):
    """Chain-of-thought with self-consistency (the ``cot`` plugin)."""

    async def solve(
        self, problem: str, *, task: str | None = None, samples: int = 5, chain: bool = True,
        model: str | None = None, temperature: float = 0.7, context: str = "",
    ) -> ChainResult:
        """Sample ``samples`` replies (``chain=False``: direct IO prompting), extract each answer
        with the task (None: a generic ``Answer:`` line) and take the majority."""
        ...


# --- the pipeline -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ReasoningResult:
    """One pipeline run: the ``answer``, the ``mode`` that ran (``requested`` may be
    ``adaptive``; adaptive may report ``cot``) and ``why``, ``confidence`` and where it came
    from (``confidence_source``: evaluator values, agreement, retrieval similarity, or verifier
    whenever a verifier gave a verdict), seconds per stage, the tree (ToT modes), the passages
    used and each s3 search round, and whether it came from the result cache. ``found`` is False
    when no answer was found (nothing relevant retrieved, a search that ended without a final
    state: ``answer`` then says why) or a verifier refuted it; ``confidence`` is then 0."""

    session_id: str
    query: str
    requested: str
    mode: str
    why: str
    answer: str
    confidence: float
    confidence_source: str
    complexity: str | None = None
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)
    tree: Mapping[str, Any] | None = None
    passages: tuple[Mapping[str, Any], ...] = ()
    searches: tuple[Mapping[str, Any], ...] = ()
    cached: bool = False
    usage: Usage = Usage()
    found: bool = True

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["timings"] = dict(self.timings)
        data["tree"] = dict(self.tree) if self.tree is not None else None
        data["passages"] = [dict(p) for p in self.passages]
        data["searches"] = [dict(s) for s in self.searches]
        data["usage"] = {"prompt_tokens": self.usage.prompt_tokens,
                         "completion_tokens": self.usage.completion_tokens}
        return data


@runtime_checkable
class ReasoningPipeline(Protocol):
    """The unified pipeline (the ``reasoning`` plugin)."""

    def modes(self) -> Mapping[str, str]:
        """Each mode and what it does."""
        ...

    async def run(
        self, query: str, *, mode: str = "adaptive", task: str | None = None,
        settings: TreeSettings | None = None, collection: str | None = None,
        session_id: str | None = None, stop: StopSignal | None = None,
        use_cache: bool = True,
    ) -> ReasoningResult:
        """Answer ``query`` in ``mode`` (:class:`UnknownMode` otherwise)."""
        ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningStep(Step):
    """An agent reasoned in ``mode``: ``nodes`` explored (ToT), ``searches`` made (RAG), the
    answer's ``confidence`` and why the mode was chosen."""

    kind: ClassVar[str] = "reasoning"
    mode: str
    why: str
    confidence: float
    nodes: int = 0
    searches: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.nodes} node(s)" if self.nodes else "", f"{self.searches} search(es)" if self.searches else ""]
        done = ", ".join(p for p in parts if p)
        return f"reasoning {self.mode} ({done or 'direct'}) confidence {self.confidence:.2f}: {self.why}"


# --- errors -------------------------------------------------------------------------------------


class ReasoningError(PygentError):
    """A reasoning request that cannot be honoured."""


class InvalidProblem(ReasoningError, ValueError):
    """A problem the task cannot take (empty, wrong numbers); the message names the task."""


class InvalidSettings(ReasoningError, ValueError):
    """Search settings out of range or unknown (breadth 0, depth 1000, a misspelt key)."""


class UnknownTask(ReasoningError, LookupError):
    """No plugin contributed a task of this name; the message lists those there are."""


class UnknownMode(ReasoningError, LookupError):
    """No pipeline mode of this name; the message lists the modes."""


# --- hooks and services -------------------------------------------------------------------------


class ReasoningHooks:
    """Hooks of the reasoning capability. Each reasoning plugin adds them with
    :func:`pygent_sdk.plugin.add_hookspecs_once`."""

    @hookspec
    def pygent_reasoning_tasks(self) -> list[ReasoningTask]:
        """Contribute reasoning tasks (name, prompts and parsers, verifier).

        Implemented by any plugin with a kind of problem to search; the ``tot`` plugin adds
        ``game24`` and ``open``. Names must be unique; the first plugin wins.

        :return: Objects following :class:`ReasoningTask` (subclass :class:`BaseTask`).
        """

    @hookspec(firstresult=True)
    def pygent_tree_search(self) -> TreeSearch | None:
        """Return the Tree-of-Thought engine; the ``tot`` plugin answers."""

    @hookspec(firstresult=True)
    def pygent_chain_of_thought(self) -> ChainOfThought | None:
        """Return chain-of-thought with self-consistency; the ``cot`` plugin answers."""

    @hookspec(firstresult=True)
    def pygent_reasoning(self) -> ReasoningPipeline | None:
        """Return the unified reasoning pipeline; the ``reasoning`` plugin answers."""


def collect_tasks(hook: Any, log: logging.Logger) -> dict[str, ReasoningTask]:
    """Every task the ``pygent_reasoning_tasks`` hook contributes, by name (``hook`` is a
    plugin's ``context.hook``); of two tasks of one name the first plugin's wins, with a
    warning on ``log``."""
    found: dict[str, ReasoningTask] = {}
    for contributed in hook.pygent_reasoning_tasks():
        for task in contributed or ():
            if task.name in found:
                log.warning("reasoning task %r is contributed twice; the first (%s) wins",
                            task.name, type(found[task.name]).__qualname__)
                continue
            found[task.name] = task
    return found


TREE_SEARCH: ServiceKey[TreeSearch] = ServiceKey("pygent_tree_search", TreeSearch, provider="tot")
"""The Tree-of-Thought engine: ``context.service(TREE_SEARCH)``."""
CHAIN_OF_THOUGHT: ServiceKey[ChainOfThought] = ServiceKey(
    "pygent_chain_of_thought", ChainOfThought, provider="cot")
"""Chain-of-thought with self-consistency: ``context.service(CHAIN_OF_THOUGHT)``."""
REASONING: ServiceKey[ReasoningPipeline] = ServiceKey(
    "pygent_reasoning", ReasoningPipeline, provider="reasoning")
"""The unified pipeline: ``context.service(REASONING)``."""


# --- events -------------------------------------------------------------------------------------


@event("tot.node.proposed")
class TotNodeProposed(Event):
    """Search ``session_id`` proposed node ``node_id`` under ``parent_id`` at ``depth``: the
    ``thought`` that leads to ``state``."""

    session_id: str
    node_id: str
    parent_id: str | None
    depth: int
    thought: str
    state: str


@event("tot.node.evaluated")
class TotNodeEvaluated(Event):
    """Node ``node_id`` of ``session_id`` got ``value`` (the sum of its value samples, or its
    votes); ``cached``: an identical evaluation was reused."""

    session_id: str
    node_id: str
    parent_id: str | None
    depth: int
    value: float
    cached: bool = False


@event("tot.node.pruned")
class TotNodePruned(Event):
    """Node ``node_id`` of ``session_id`` left the search: ``reason`` (rejected by the task's
    rules, below the threshold, not among the best ``breadth``, a budget)."""

    session_id: str
    node_id: str
    parent_id: str | None
    depth: int
    value: float | None
    reason: str


@event("tot.solution")
class TotSolution(Event):
    """Node ``node_id`` of ``session_id`` is a final state with ``answer``; ``verified``: the
    task's verifier proved it (True), refuted it (False) or cannot tell (None)."""

    session_id: str
    node_id: str
    parent_id: str | None
    depth: int
    answer: str
    verified: bool | None
    value: float | None = None


@event("tot.finished")
class TotFinished(Event):
    """Search ``session_id`` of ``task`` ended (``stopped``: why) after ``nodes`` nodes and
    ``tokens`` tokens in ``seconds``; ``solved``: it has an answer not refuted."""

    session_id: str
    task: str
    stopped: str
    solved: bool
    nodes: int
    tokens: int
    seconds: float


@event("cot.finished")
class CotFinished(Event):
    """Self-consistency on ``task`` voted ``votes`` of ``samples`` for its answer."""

    task: str
    samples: int
    votes: int
    confidence: float
    seconds: float


@event("reasoning.started")
class ReasoningStarted(Event):
    """Pipeline session ``session_id`` started on ``query`` in ``mode`` (as requested)."""

    session_id: str
    query: str
    mode: str


@event("reasoning.finished")
class ReasoningFinished(Event):
    """Pipeline session ``session_id`` ran ``mode`` (``requested`` may be adaptive) and
    answered with ``confidence`` in ``seconds``; ``cached``: from the result cache."""

    session_id: str
    requested: str
    mode: str
    confidence: float
    seconds: float
    cached: bool = False
