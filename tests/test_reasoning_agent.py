"""The reasoning agent type: it runs the pipeline in its configured mode with its Tree-of-Thought
parameters, reports a reasoning and an answer step, and picks up puzzle-like messages."""

from __future__ import annotations

from typing import Any

import pytest
from pygent_plugins.agents import AgentsPlugin
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.reasoning import ReasoningPlugin
from pygent_plugins.reasoning.agent import ReasoningAgentConfig, match
from pygent_sdk.agents import AGENT_REGISTRY, AgentError, AgentMatch
from pygent_sdk.reasoning import TreeSettings
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import ScriptedProvider
from .rag_kit import FakeKnowledge, FakeRag
from .reasoning_kit import FakeEngine, FakeTot

pytestmark = pytest.mark.anyio


def harness(engine: FakeEngine) -> PluginHarness:
    ScriptedProvider.models = [ScriptedChatModel(["Plugins start in dependency order [1]."], loop=True)]
    FakeTot.engine = engine
    FakeRag.knowledge = FakeKnowledge()
    return PluginHarness(
        {"models": ModelsPlugin, "scripted": ScriptedProvider, "agents": AgentsPlugin, "tot": FakeTot,
         "rag": FakeRag, "reasoning": ReasoningPlugin},
        {"models": {"default": "scripted"}})


async def run(h: PluginHarness, task: str, config: dict[str, Any] | None = None) -> tuple[Any, str]:
    registry = h.kernel.service(AGENT_REGISTRY)
    info = registry.build("reasoning", config=config)
    streamed: list[str] = []

    async def sink(text: str) -> None:
        streamed.append(text)

    return await registry.run(info.id, task, on_token=sink), "".join(streamed)


async def test_the_agent_runs_its_mode_with_its_tree_parameters() -> None:
    async with harness(FakeEngine("391", verified=True, confidence=1.0)) as h:
        result, streamed = await run(h, "17 * 23", {"mode": "tot_only", "task": "arith", "breadth": 2,
                                                    "depth": 1, "n_evaluate": 1, "search": "dfs",
                                                    "concurrency": 3})
    call = FakeTot.engine.calls[0]
    settings = call["settings"]
    assert (settings.breadth, settings.depth, settings.n_evaluate, settings.search) == (2, 1, 1, "dfs")
    assert settings.concurrency == 3
    assert settings.model == "scripted" and settings.evaluator == "value"  # unset keys keep [tot]'s
    assert call["task"] == "arith" and call["context"] == ""
    assert result.success and result.output == "391" == streamed
    assert [s.kind for s in result.steps] == ["reasoning", "answer"]
    step = result.steps[0]
    assert (step.mode, step.nodes, step.searches, step.confidence) == ("tot_only", 3, 0, 1.0)
    assert step.summary().startswith("reasoning tot_only (3 node(s)) confidence 1.00: mode tot_only requested")
    assert result.usage.total_tokens == 15


async def test_a_refuted_or_missing_answer_is_no_success() -> None:
    async with harness(FakeEngine("390", verified=False)) as h:
        refuted, _ = await run(h, "17 * 23", {"mode": "tot_only", "task": "arith"})
    assert not refuted.success and refuted.output == "390"
    async with harness(FakeEngine()) as h:
        nothing, _ = await run(h, "zebra quantum banana?", {"mode": "rag_only"})
        cited, _ = await run(h, "In which order do plugins start?", {"mode": "adaptive"})
    assert not nothing.success and "found nothing relevant" in nothing.output
    assert nothing.steps[0].searches == 1
    assert cited.success and cited.steps[0].mode == "rag_only" and "[1]" in cited.output


async def test_the_agents_config_is_checked() -> None:
    async with harness(FakeEngine()) as h:
        registry = h.kernel.service(AGENT_REGISTRY)
        with pytest.raises(AgentError, match="breadth: Input should be greater than or equal to 1"):
            registry.build("reasoning", config={"breadth": 0})
        with pytest.raises(AgentError, match="mode"):
            registry.build("reasoning", config={"mode": "deep"})
        with pytest.raises(AgentError, match="concurrency: Input should be less than or equal to 64"):
            registry.build("reasoning", config={"concurrency": 65})
        with pytest.raises(AgentError, match="model"):  # the agent's model is the search's
            registry.build("reasoning", config={"model": "other"})


def test_the_agents_tree_keys_are_tree_settings_own() -> None:
    fields = ReasoningAgentConfig.model_fields
    assert set(fields) == {"mode", "task", "collection"} | (set(TreeSettings.model_fields) - {"model"})
    for name, info in TreeSettings.model_fields.items():
        if name != "model":
            assert fields[name].default is None and fields[name].description.startswith(info.description)


def test_puzzles_and_proofs_pick_the_reasoning_agent() -> None:
    for message in ("Use 4 9 10 13 to make 24", "4 9 10 13", "Think step by step: how many legs?",
                    "Prove that the square root of 2 is irrational", "Play the game of 24 with 1 2 3 4"):
        assert match(message) == AgentMatch("reasoning", 0.55), message
    for message in ("Hello there", "Search the docs for faiss", "Write a Python function"):
        assert match(message) is None, message
