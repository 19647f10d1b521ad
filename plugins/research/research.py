"""ResearchAgent: plan sub-questions, search each, synthesize a report with a reference list.

1. **Plan**: the model lists at most ``max_subquestions`` sub-questions; a reply with no usable
   list (tiny models write junk) falls back to the question itself plus its clauses, and a short
   list is topped up with them.
2. **Search** each sub-question (one ``subquestion`` step each): retrieve, and where something
   relevant is found, a short cited finding. Sources are numbered once for the whole report
   (deduplicated by document and chunk), so ``[3]`` means the same passage everywhere.
3. **Report**: the model writes the report from the findings, streamed; then ``References:``.

Model calls are bounded by ``max_steps`` and tokens (prompt and completion, from usage) by
``max_tokens``, with one call and ``report_tokens`` kept for the report: once a bound is reached,
the remaining sub-questions are still searched (no model call) and keep their passages as their
finding; with no report call left the findings themselves are the report, and the report step
says which bound stopped it. Nothing found at all: an honest answer, no report call,
``success=False``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import Field
from pygent_sdk import AgentResult, ChatMessage, ChatOptions, PluginConfig, Usage
from pygent_sdk.agents import AgentContext, Step, TokenSink, estimate_tokens
from pygent_sdk.knowledge import (
    MARKER, Passage, Retriever, SearchMode, cite, fit_passages, relevant,
)

from .search import (
    STOP, answer_prompt, context_chars, nothing_found, stream_answer, title,
)

PLAN_SYSTEM = (
    "You split a research question into short, self-contained search questions. Reply with a "
    "numbered list, one question per line, nothing else."
)
REPORT_SYSTEM = (
    "You write a short research report that answers the question from the findings given. "
    "Keep the source numbers in square brackets, like [2], after each claim. Use only the findings."
)
_ITEM = re.compile(r"^\s*(?:\d{1,2}\s*[.):]|[-*•]|Q\d{1,2}\s*[.):]?)\s*(.+?)\s*$", re.IGNORECASE)
_LABEL = re.compile(r"^(?:sub-?\s*)?(?:question|query|search)\s*\d*\s*:\s*", re.IGNORECASE)
_CLAUSES = re.compile(r"\?\s+|;\s*|,?\s+and\s+(?=(?:how|what|why|when|where|which|who|does|do|is|are|can)\b)",
                      re.IGNORECASE)


class ResearchConfig(PluginConfig):
    """Settings of a ``research`` agent."""

    collection: str | None = Field(
        None, description="Collection searched (unset: the knowledge service's default, [rag] collection)."
    )
    max_subquestions: int = Field(3, ge=1, le=10, description="Sub-questions planned and searched.")
    k: int = Field(4, ge=1, le=50, description="Passages retrieved per sub-question.")
    mode: SearchMode = Field("hybrid", description="Retrieval by vector, keyword (BM25) or hybrid.")
    min_similarity: float = Field(
        0.3, ge=-1, le=1, description="Passages whose cosine similarity to a sub-question is "
        "lower do not count.",
    )
    max_steps: int = Field(
        8, ge=2, le=50, description="Model calls per run: the plan, one finding per sub-question "
        "where something was found, and the report.",
    )
    max_tokens: int = Field(
        6000, ge=256, description="Tokens per run (prompt and completion, as the model reports "
        "usage); once spent, the agent stops and reports what it has.",
    )
    answer_tokens: int = Field(192, ge=16, description="Tokens of each finding and of the plan.")
    report_tokens: int = Field(384, ge=16, description="Tokens of the report.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PlanStep(Step):
    """The sub-questions to search; ``fallback``: the model's plan was unusable, so these are the
    question itself and its clauses."""

    kind: ClassVar[str] = "plan"
    subquestions: tuple[str, ...]
    fallback: bool = False

    def summary(self) -> str:
        how = " (fallback: no usable plan from the model)" if self.fallback else ""
        return f"plan{how}: " + " | ".join(self.subquestions)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SubquestionStep(Step):
    """Sub-question ``index`` was searched: ``hits`` relevant passages from ``sources``, and the
    ``finding`` written from them, citing the report's reference numbers ``references``."""

    kind: ClassVar[str] = "subquestion"
    index: int
    question: str
    hits: int
    sources: tuple[str, ...] = ()
    finding: str = ""
    references: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.hits > 0

    def summary(self) -> str:
        if not self.hits:
            return f"sub-question {self.index} {self.question!r} → nothing relevant"
        refs = "".join(f"[{n}]" for n in self.references)
        return f"sub-question {self.index} {self.question!r} → {self.hits} passage(s) {refs}: {self.finding}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReportStep(Step):
    """The report's ``text`` and its ``references`` (number, source, heading, document_id,
    chunk, start, end); ``found``: something relevant was found; ``stopped``: why it stopped
    early (a bound), else empty."""

    kind: ClassVar[str] = "report"
    text: str
    references: tuple[dict[str, Any], ...] = ()
    found: bool = True
    stopped: str = ""

    @property
    def ok(self) -> bool:
        return self.found

    def summary(self) -> str:
        return f"report with {len(self.references)} reference(s)" + (
            f" (stopped early: {self.stopped})" if self.stopped else "")


def parse_plan(text: str, limit: int) -> list[str]:
    """The sub-questions of a plan reply: numbered or bulleted lines (else question-like lines),
    deduplicated, at most ``limit``."""
    lines = [line for line in text.splitlines() if line.strip()]
    items = [m.group(1) for m in map(_ITEM.match, lines) if m]
    if not items:
        items = [line.strip() for line in lines if line.strip().endswith("?")]
    seen: set[str] = set()
    kept: list[str] = []
    for item in items:
        item = _LABEL.sub("", item.strip().strip("*\"'`").strip())
        if not 8 <= len(item) <= 300 or not re.search(r"[A-Za-z]{3}", item) or _key(item) in seen:
            continue
        seen.add(_key(item))
        kept.append(item)
    return kept[:limit]


def fallback_plan(question: str, limit: int) -> list[str]:
    """The question itself, then its clauses ("What is X and how does Y work?" gives both
    halves), at most ``limit``."""
    parts = [question.strip()]
    for clause in _CLAUSES.split(question):
        clause = clause.strip(" ,.;?")
        if len(clause.split()) >= 3 and _key(clause) not in map(_key, parts):
            parts.append(clause + "?")
    return parts[:limit]


def _key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


@dataclasses.dataclass
class _Budget:
    """Model calls and tokens left in a run."""

    steps: int
    tokens: int
    usage: Usage = dataclasses.field(default_factory=Usage)
    calls: int = 0

    stopped: str = ""
    """Why a model call was refused (the first bound reached), else empty."""

    def allows(self, messages: Sequence[ChatMessage], reply_tokens: int, *,
               reserve_calls: int = 0, reserve_tokens: int = 0) -> bool:
        """Whether a call of ``messages`` with a ``reply_tokens`` reply fits, leaving
        ``reserve_calls`` calls and ``reserve_tokens`` tokens (for the report)."""
        prompt = sum(estimate_tokens(m.content) + 4 for m in messages)
        if self.calls + reserve_calls >= self.steps:
            self.stopped = self.stopped or f"max_steps ({self.steps} model calls) reached"
            return False
        if self.used + prompt + reply_tokens + reserve_tokens > self.tokens:
            self.stopped = self.stopped or f"max_tokens ({self.tokens}) would be exceeded"
            return False
        return True

    def reply_tokens(self, wanted: int) -> int:
        return max(16, min(wanted, self.tokens - self.used))

    @property
    def used(self) -> int:
        return self.usage.prompt_tokens + self.usage.completion_tokens

    def spend(self, usage: Usage) -> None:
        self.calls += 1
        self.usage += usage


class References:
    """Passages numbered once for the whole report, deduplicated by document and chunk."""

    def __init__(self) -> None:
        self.passages: list[Passage] = []
        self._numbers: dict[tuple[str, int], int] = {}

    def number(self, passage: Passage) -> int:
        key = (passage.document_id, passage.chunk)
        if key not in self._numbers:
            self.passages.append(passage)
            self._numbers[key] = len(self.passages)
        return self._numbers[key]

    def as_dicts(self, numbers: set[int]) -> tuple[dict[str, Any], ...]:
        return tuple(
            {"number": n, "source": p.source, "heading": p.heading, "document_id": p.document_id,
             "chunk": p.chunk, "start": p.start, "end": p.end}
            for n, p in enumerate(self.passages, 1) if n in numbers
        )


def renumber(text: str, numbers: Sequence[int]) -> str:
    """``text`` with each local marker ``[i]`` (1-based into ``numbers``) replaced by
    ``[numbers[i-1]]``; markers out of range are dropped."""
    def repl(match: re.Match[str]) -> str:
        i = int(match.group(1))
        return f"[{numbers[i - 1]}]" if 1 <= i <= len(numbers) else ""
    return MARKER.sub(repl, text)


class ResearchAgent:
    """See the module docstring."""

    def __init__(
        self, context: AgentContext, config: ResearchConfig, retriever: Callable[[], Retriever]
    ) -> None:
        self.context = context
        self.config = config
        self.retriever = retriever
        """The retriever service, looked up at each run (the rag plugin may start later)."""

    def _options(self, budget: _Budget, wanted: int) -> ChatOptions:
        return ChatOptions(max_tokens=budget.reply_tokens(wanted), temperature=self.config.temperature,
                           stop=STOP)

    async def _call(
        self, budget: _Budget, messages: list[ChatMessage], wanted: int,
        on_token: TokenSink | None = None,
    ) -> str:
        text, usage = await stream_answer(self.context, messages, self._options(budget, wanted), on_token)
        budget.spend(usage)
        return text

    async def _plan(self, question: str, budget: _Budget) -> tuple[list[str], bool]:
        limit = self.config.max_subquestions
        messages = [ChatMessage("system", PLAN_SYSTEM), ChatMessage(
            "user", f"Question: {question}\nWrite at most {limit} search questions, numbered 1. 2. 3.")]
        planned: list[str] = []
        if budget.allows(messages, self.config.answer_tokens):
            planned = parse_plan(await self._call(budget, messages, self.config.answer_tokens), limit)
        if not planned:
            return fallback_plan(question, limit), True
        keys = {_key(p) for p in planned}  # a short plan is topped up with the question and its clauses
        extra = [q for q in fallback_plan(question, limit) if _key(q) not in keys]
        return (planned + extra)[:limit], False

    async def _search(
        self, index: int, question: str, budget: _Budget, refs: References
    ) -> SubquestionStep:
        config = self.config
        await self.context.set_status("waiting")
        found = await self.retriever().retrieve(
            question, k=config.k, mode=config.mode, collection=config.collection
        )
        await self.context.set_status("running")
        max_chars = context_chars(self.context.context_tokens, config.answer_tokens)
        passages = fit_passages(relevant(found, config.min_similarity), max_chars)
        if not passages:
            return SubquestionStep(index=index, question=question, hits=0)
        numbers = [refs.number(p) for p in passages]
        sources = tuple(title(p) for p in passages)
        messages = answer_prompt(question, passages, max_chars)
        if not budget.allows(messages, config.answer_tokens, reserve_calls=1,
                             reserve_tokens=config.report_tokens):  # the passages are the finding
            return SubquestionStep(index=index, question=question, hits=len(passages),
                                   sources=sources, references=tuple(numbers))
        text = await self._call(budget, messages, config.answer_tokens)
        cited = [numbers[c.number - 1] for c in cite(text, passages) if c.cited]
        return SubquestionStep(index=index, question=question, hits=len(passages), sources=sources,
                               finding=renumber(text, numbers), references=tuple(cited))

    async def run(self, task: str, *, on_token: TokenSink | None = None) -> AgentResult:
        config = self.config
        budget = _Budget(config.max_steps, config.max_tokens)
        refs = References()
        subquestions, fallback = await self._plan(task, budget)
        await self.context.step(PlanStep(subquestions=tuple(subquestions), fallback=fallback))
        findings: list[SubquestionStep] = []
        for index, question in enumerate(subquestions, 1):
            findings.append(await self._search(index, question, budget, refs))
            await self.context.step(findings[-1])
        useful = [f for f in findings if f.hits]
        if not useful:
            output = nothing_found(task, config.collection)
            if on_token is not None:
                await on_token(output)
            await self.context.step(ReportStep(text=output, found=False, stopped=budget.stopped))
            return AgentResult(output, False, usage=budget.usage)
        report = await self._report(task, useful, budget, on_token)
        cited = {n for f in useful for n in f.references} | {int(n) for n in MARKER.findall(report)}
        references = refs.as_dicts(cited)
        tail = "\n\nReferences:\n" + "\n".join(
            f"[{r['number']}] {r['source']}" + (f" › {r['heading']}" if r["heading"] else "")
            for r in references)
        if on_token is not None:
            await on_token(tail)
        await self.context.step(ReportStep(text=report, references=references, stopped=budget.stopped))
        return AgentResult(report + tail, True, usage=budget.usage)

    async def _report(
        self, question: str, findings: Sequence[SubquestionStep], budget: _Budget,
        on_token: TokenSink | None,
    ) -> str:
        """The report, streamed; the findings themselves when no report call fits the bounds
        or the model wrote nothing."""
        notes = "\n\n".join(
            f"Sub-question: {f.question}\nFinding: "
            + (f.finding or "relevant passages " + "".join(f"[{n}]" for n in f.references))
            for f in findings)
        messages = [ChatMessage("system", REPORT_SYSTEM), ChatMessage(
            "user", f"Question: {question}\n\nFindings:\n{notes}\n\nReport:")]
        if budget.allows(messages, self.config.report_tokens):
            text = await self._call(budget, messages, self.config.report_tokens, on_token)
            if text:
                return text
            budget.stopped = budget.stopped or "the model wrote no report"
        text = f"Findings (no report written: {budget.stopped}):\n\n{notes}"
        if on_token is not None:
            await on_token(text)
        return text
