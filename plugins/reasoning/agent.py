"""The ``reasoning`` agent type: runs the pipeline on its task in the mode its config names, with
its Tree-of-Thought parameters, and reports a ``reasoning`` step and an ``answer`` step."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field
from pygent_sdk import AgentResult, PluginConfig
from pygent_sdk.agents import AgentContext, AgentMatch, AgentType, AnswerStep, TokenSink
from pygent_sdk.reasoning import Evaluator, Generator, Mode, ReasoningStep, Search

from .pipeline import RETRIEVING

_PUZZLE = re.compile(
    r"\b(step[- ]by[- ]step|prove|proof|puzzle|riddle|game of 24|24 game|make 24)\b"
    r"|^\s*\d+(?:[ ,]+\d+){3}\s*$", re.I)
TREE_KEYS = ("generator", "evaluator", "search", "breadth", "depth", "n_generate", "n_evaluate",
             "value_threshold", "max_nodes", "max_tokens", "max_seconds", "temperature",
             "max_reply_tokens")


class ReasoningAgentConfig(PluginConfig):
    """Settings of a ``reasoning`` agent; the Tree-of-Thought ones override ``[tot]`` when set."""

    mode: Mode = Field("adaptive", description="Pipeline mode (tot_only, rag_only, s3_rag, tot_enhanced_rag, tot_s3_rag, adaptive).")
    task: str | None = Field(None, description="Reasoning task of the search (unset: open; adaptive may pick game24).")
    collection: str | None = Field(None, description="Collection the retrieving modes search (unset: [reasoning] collection).")
    generator: Generator | None = Field(None, description="propose or sample (unset: [tot] generator).")
    evaluator: Evaluator | None = Field(None, description="value or vote (unset: [tot] evaluator).")
    search: Search | None = Field(None, description="bfs or dfs (unset: [tot] search).")
    breadth: int | None = Field(None, ge=1, le=50, description="States kept per layer (unset: [tot] breadth).")
    depth: int | None = Field(None, ge=1, le=12, description="Depth limit (unset: the task's).")
    n_generate: int | None = Field(None, ge=1, le=20, description="Samples per state for the sample generator.")
    n_evaluate: int | None = Field(None, ge=1, le=20, description="Value samples per state, or votes per layer.")
    value_threshold: float | None = Field(None, ge=0, description="DFS prunes states valued below this.")
    max_nodes: int | None = Field(None, ge=1, le=100_000, description="Node budget of the search.")
    max_tokens: int | None = Field(None, ge=1, description="Token budget of the search.")
    max_seconds: float | None = Field(None, gt=0, description="Time budget of the search in seconds.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature of the search's calls.")
    max_reply_tokens: int | None = Field(None, ge=16, le=4096, description="Longest reply of one call of the search.")


def match(message: str) -> AgentMatch | None:
    """Puzzles, proofs, "step by step" and Game of 24 fit ``reasoning`` (0.55): above search's
    0.5, below coding's 0.8."""
    return AgentMatch("reasoning", 0.55) if _PUZZLE.search(message) else None


class ReasoningAgent:
    """Runs the pipeline; success is an answer found and not refuted by a verifier."""

    def __init__(self, context: AgentContext, config: ReasoningAgentConfig, pipeline: Any) -> None:
        self.context = context
        self.config = config
        self.pipeline = pipeline

    async def run(self, task: str, *, on_token: TokenSink | None = None) -> AgentResult:
        config = self.config
        overrides: dict[str, Any] = {k: getattr(config, k) for k in TREE_KEYS if getattr(config, k) is not None}
        overrides["model"] = self.context.model.name
        result = await self.pipeline.run(
            task, mode=config.mode, task=config.task, settings=self.pipeline.settings(overrides),
            collection=config.collection)
        nodes = len(result.tree["nodes"]) if result.tree else 0
        await self.context.step(ReasoningStep(
            mode=result.mode, why=result.why, confidence=result.confidence, nodes=nodes,
            searches=len(result.searches) or (1 if result.mode in RETRIEVING else 0),
            seconds=sum(result.timings.values())))
        await self.context.step(AnswerStep(text=result.answer))
        if on_token is not None:
            await on_token(result.answer)
        refuted = result.tree is not None and result.tree.get("verified") is False
        return AgentResult(result.answer, result.found and not refuted, usage=result.usage)


def agent_type(pipeline: Any) -> AgentType:
    """The ``reasoning`` agent type over ``pipeline``."""
    def factory(context: AgentContext, config: ReasoningAgentConfig) -> ReasoningAgent:
        return ReasoningAgent(context, config, pipeline)

    return AgentType(
        "reasoning", "Reasons with Tree-of-Thought, chain-of-thought and retrieval (the pipeline's "
        "modes; adaptive picks one), reporting the mode, why and a confidence.", factory,
        ReasoningAgentConfig)
