"""The ``reasoning`` agent type: runs the pipeline on its task in the mode its config names, with
its Tree-of-Thought parameters, and reports a ``reasoning`` step and an ``answer`` step."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, create_model
from pygent_sdk import AgentResult, PluginConfig
from pygent_sdk.agents import AgentContext, AgentMatch, AgentType, AnswerStep, TokenSink
from pygent_sdk.reasoning import Mode, ReasoningStep, TreeSettings

from .pipeline import RETRIEVING

_PUZZLE = re.compile(
    r"\b(step[- ]by[- ]step|prove|proof|puzzle|riddle|game of 24|24 game|make 24)\b"
    r"|^\s*\d+(?:[ ,]+\d+){3}\s*$", re.I)

TREE_KEYS = tuple(name for name in TreeSettings.model_fields if name != "model")
"""The Tree-of-Thought keys of the agent's config: every :class:`TreeSettings` field but ``model``
(the agent's model is the search's)."""


class AgentKeys(PluginConfig):
    """The agent's own keys; :data:`ReasoningAgentConfig` adds the Tree-of-Thought ones."""

    mode: Mode = Field("adaptive", description="Pipeline mode (tot_only, rag_only, s3_rag, tot_enhanced_rag, tot_s3_rag, adaptive).")
    task: str | None = Field(None, description="Reasoning task of the search (unset: open; adaptive may pick game24).")
    collection: str | None = Field(None, description="Collection the retrieving modes search (unset: [reasoning] collection).")


def _tree_fields() -> dict[str, Any]:
    """The :data:`TREE_KEYS` with :class:`TreeSettings`' types, bounds and descriptions, each
    optional: unset keeps ``[tot]``'s."""
    fields = {}
    for name in TREE_KEYS:
        info = TreeSettings.model_fields[name]
        kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[name] = (kind | None, Field(None, description=f"{info.description} Unset: [tot] {name}."))
    return fields


ReasoningAgentConfig = create_model(
    "ReasoningAgentConfig", __base__=AgentKeys, __module__=__name__,
    __doc__="Settings of a ``reasoning`` agent; the Tree-of-Thought ones override ``[tot]`` when set.",
    **_tree_fields())


def match(message: str) -> AgentMatch | None:
    """Puzzles, proofs, "step by step" and Game of 24 fit ``reasoning`` (0.55): above search's
    0.5, below coding's 0.8."""
    return AgentMatch("reasoning", 0.55) if _PUZZLE.search(message) else None


class ReasoningAgent:
    """Runs the pipeline; success is an answer found and not refuted by a verifier."""

    def __init__(self, context: AgentContext, config: Any, pipeline: Any) -> None:
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
        return AgentResult(result.answer, result.found, usage=result.usage)  # found: not refuted


def agent_type(pipeline: Any) -> AgentType:
    """The ``reasoning`` agent type over ``pipeline``."""
    def factory(context: AgentContext, config: Any) -> ReasoningAgent:
        return ReasoningAgent(context, config, pipeline)

    return AgentType(
        "reasoning", "Reasons with Tree-of-Thought, chain-of-thought and retrieval (the pipeline's "
        "modes; adaptive picks one), reporting the mode, why and a confidence.", factory,
        ReasoningAgentConfig)
