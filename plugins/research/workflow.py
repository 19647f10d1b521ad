"""The ``research-analysis`` job: the research agent run in the background, with a live log.

The job builds an ephemeral ``research`` agent, runs the question, follows the run's
``agent.step`` events (each one a log entry and the job's progress message) and returns the report,
its references and the sub-questions' findings; the log is kept in the result, so it outlives a
restart once the job has finished.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import anyio
from pydantic import Field
from pygent_sdk import AgentResult, PluginConfig, PluginContext, PygentError
from pygent_sdk.agents import AGENT_REGISTRY, AgentStep
from pygent_sdk.jobs import JobContext, JobKind
from pygent_sdk.knowledge import SearchMode

KIND = "research-analysis"
_LIVE_LOGS = 100  # jobs whose live log is kept in memory


class ResearchAnalysisParams(PluginConfig):
    """Params of a ``research-analysis`` job."""

    question: str = Field(..., min_length=1, max_length=10_000,
                          description="The question or topic to research.")
    collection: str | None = Field(None, description="Collection searched (unset: the default).")
    model: str | None = Field(None, description="Chat model (unset: the agents' default).")
    max_subquestions: int = Field(3, ge=1, le=10, description="Sub-questions planned and searched.")
    k: int = Field(4, ge=1, le=50, description="Passages retrieved per sub-question.")
    mode: SearchMode = Field("hybrid", description="Retrieval by vector, keyword or hybrid.")


def log_entry(kind: str, summary: str, ts: float) -> dict[str, Any]:
    return {"ts": ts, "kind": kind, "summary": summary}


def job_result(question: str, result: AgentResult, log: list[dict[str, Any]]) -> dict[str, Any]:
    """The job's JSON result from the run: the report step's text and references, each
    sub-question's finding, usage and the log."""
    steps = [s.to_dict() for s in result.steps]
    report = next((s for s in reversed(steps) if s["kind"] == "report"), None)
    if report is None:  # the agent failed before it could report: the job fails, saying why
        raise PygentError(result.output or f"the research run ended {result.status}")
    return {
        "question": question, "run_id": result.run_id, "status": result.status,
        "success": result.success, "found": report["found"], "report": report["text"],
        "references": list(report["references"]), "stopped": report["stopped"],
        "output": result.output,
        "subquestions": [{k: s[k] for k in ("index", "question", "hits", "sources", "finding",
                                             "references")} for s in steps if s["kind"] == "subquestion"],
        "usage": {"prompt_tokens": result.usage.prompt_tokens,
                  "completion_tokens": result.usage.completion_tokens},
        "log": log,
    }


class Workflows:
    """Runs ``research-analysis`` jobs and keeps the live logs of recent ones."""

    def __init__(self, context: PluginContext) -> None:
        self.context = context
        self._live: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    def kind(self) -> JobKind:
        return JobKind(KIND, "Research a question over the knowledge base: plan sub-questions, "
                             "search each, write a report with references.", self.run,
                       ResearchAnalysisParams)

    def log(self, job_id: str, result: Any) -> list[dict[str, Any]]:
        """The job's log: from its result once finished, else what its run has done so far."""
        if isinstance(result, dict) and isinstance(result.get("log"), list):
            return result["log"]
        return list(self._live.get(job_id, ()))

    def _keep(self, job_id: str) -> list[dict[str, Any]]:
        log = self._live[job_id] = []
        while len(self._live) > _LIVE_LOGS:
            self._live.popitem(last=False)
        return log

    async def run(self, ctx: JobContext) -> dict[str, Any]:
        params = ctx.params
        registry = self.context.service(AGENT_REGISTRY)
        config = {k: params[k] for k in ("collection", "max_subquestions", "k", "mode")
                  if params.get(k) is not None}
        info = registry.build("research", model=params.get("model"), config=config)
        log = self._keep(ctx.id)
        total = params["max_subquestions"] + 2  # plan, sub-questions, report
        await ctx.progress(0, total, f"researching {params['question'][:100]!r} on {info.model}")

        async def follow(sub: Any) -> None:
            async for event in sub:
                if isinstance(event, AgentStep) and event.agent_id == info.id:
                    log.append(log_entry(event.kind, event.summary, event.ts))
                    await ctx.progress(min(len(log), total), total, event.summary[:300])

        try:
            with self.context.bus.subscribe("agent.step", maxsize=1000, name=f"{KIND}-{ctx.id}") as sub:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(follow, sub)
                    result = await registry.run(info.id, params["question"])
                    tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await registry.delete(info.id)
        now = time.time()  # the steps' own record, timed by their events where one was seen
        final = [log_entry(s.kind, s.summary(), log[i]["ts"] if i < len(log) else now)
                 for i, s in enumerate(result.steps)]
        self._live.pop(ctx.id, None)
        outcome = job_result(params["question"], result, final)
        await ctx.progress(total, total, "done: " + ("report written" if outcome["found"]
                                                     else "nothing relevant found"))
        return outcome
