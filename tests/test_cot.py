"""The cot plugin: chain-of-thought with self-consistency on scripted models (majority vote,
agreement as confidence unless a verifier proves or refutes the answer, bounded concurrency,
errors, the cot.finished event)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import pytest
from pygent_plugins.cot import CotPlugin
from pygent_plugins.cot.chain import DirectTask, majority
from pygent_plugins.models import ModelsPlugin
from pygent_sdk import BaseChatModel, ChatChunk, ChatMessage, ChatOptions, Usage
from pygent_sdk.reasoning import (
    CHAIN_OF_THOUGHT, REPLY_STOPS, ChainOfThought, InvalidProblem, Problem, UnknownTask,
)
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import ScriptedProvider
from .reasoning_kit import FakeEngine, FakeTot

pytestmark = pytest.mark.anyio


def harness(model: Any, *, tot: bool = True, **cot: Any) -> PluginHarness:
    ScriptedProvider.models = [model]
    FakeTot.engine = FakeEngine()
    plugins: dict[str, Any] = {"models": ModelsPlugin, "scripted": ScriptedProvider, "cot": CotPlugin}
    if tot:
        plugins["tot"] = FakeTot
    return PluginHarness(plugins, {"models": {"default": model.name}, "cot": cot})


def test_majority_vote_ignores_none_and_breaks_ties_by_first_seen() -> None:
    assert majority(["7", None, "8", "8", None, None]) == ("8", 2)  # None (3 times) never wins
    assert majority(["b", "a", "a", "b"]) == ("b", 2)  # tie: the first seen
    assert majority([None, None]) == (None, 0)
    assert majority([]) == (None, 0)


def test_direct_task_takes_the_answer_line_else_the_last_line() -> None:
    task, problem = DirectTask(), Problem("What is the capital of France?")
    assert task.extract_answer(problem, "Think.\nAnswer: Paris.\n") == "Paris"
    assert task.extract_answer(problem, "It is a city.\nThe capital is Paris.\n\n") == "The capital is Paris"
    assert task.extract_answer(problem, "  \n") is None
    assert "Answer:" in task.direct_messages(problem, chain=True)[-1].content


async def test_self_consistency_votes_and_reports_agreement_and_verification() -> None:
    replies = ["17*23 = 391.\nAnswer: 391", "Answer: 390", "So 391.\nAnswer: 391", "I am not sure.",
               "Answer: 391"]
    model = ScriptedChatModel(replies)
    async with harness(model) as h:
        cot = h.kernel.service(CHAIN_OF_THOUGHT)
        result = await cot.solve("What is 17 * 23?", task="arith")
        event = await h.wait_for("cot.finished")
    assert result.samples == 5 and result.votes == 3 and result.answer == "391"
    assert result.confidence == 1.0 and result.verified is True  # proven: 1, not the agreement 0.6
    assert Counter(result.answers) == Counter(["391", "391", "391", "390", None])
    assert result.task == "arith" and len(result.chains) == 5 and result.usage.completion_tokens > 0
    prompt = model.calls[0][0][-1].content
    assert "What is 17 * 23?" in prompt and "step by step" in prompt  # the task's CoT prompt
    assert model.calls[0][1].temperature == 0.7 and model.calls[0][1].max_tokens == 256
    assert model.calls[0][1].stop == REPLY_STOPS  # the SDK's one tuple, as the pipeline's
    assert (event.task, event.samples, event.votes, event.confidence) == ("arith", 5, 3, 1.0)


async def test_a_wrong_majority_is_refuted_and_no_answer_gives_zero_confidence() -> None:
    model = ScriptedChatModel(["Answer: 390", "Answer: 390", "Answer: 391", "", "", ""])
    async with harness(model, samples=3) as h:
        cot = h.kernel.service(CHAIN_OF_THOUGHT)
        wrong = await cot.solve("What is 17 * 23?", task="arith", chain=False, temperature=0.2)
        nothing = await cot.solve("What is 17 * 23?", task="arith")
    assert wrong.answer == "390" and wrong.verified is False and wrong.votes == 2
    assert wrong.confidence == 0.0  # refuted: 0, as a tree's refuted answer, not the agreement 2/3
    assert "step by step" not in model.calls[0][0][-1].content  # IO prompting
    assert model.calls[0][1].temperature == 0.2
    assert nothing.answer is None and nothing.votes == 0 and nothing.confidence == 0.0
    assert nothing.verified is None


async def test_without_a_task_the_generic_prompt_and_extraction_are_used() -> None:
    model = ScriptedChatModel(["Paris is in France.\nAnswer: Paris.", "Answer: Paris", "Maybe Lyon"])
    async with harness(model, tot=False) as h:
        result = await h.kernel.service(CHAIN_OF_THOUGHT).solve("Capital of France?", samples=3)
    assert result.task == "direct" and result.answer == "Paris" and result.votes == 2
    assert "Maybe Lyon" in result.answers and result.verified is None
    assert result.confidence == pytest.approx(2 / 3)  # nothing verifies: the agreement


class Slow(BaseChatModel):
    """Answers "Answer: 1" after a short sleep, counting the calls in flight."""

    name = "slow"

    def __init__(self) -> None:
        self.running = self.most = 0

    async def stream(self, messages: Sequence[ChatMessage], options: ChatOptions | None = None) -> AsyncIterator[ChatChunk]:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await anyio.sleep(0.02)
            yield ChatChunk(text="Answer: 1")
            yield ChatChunk(finish_reason="stop", usage=Usage(3, 2))
        finally:
            self.running -= 1


async def test_samples_run_concurrently_within_the_bound() -> None:
    model = Slow()
    async with harness(model, concurrency=3) as h:
        result = await h.kernel.service(CHAIN_OF_THOUGHT).solve("One?", samples=7)
    assert model.most == 3 and result.votes == 7 and result.confidence == 1.0
    assert result.usage == Usage(21, 14)


async def test_a_looping_chain_is_cut() -> None:
    loop = "The answer is four. " * 6 + "\nAnswer: 4"
    model = ScriptedChatModel([loop])
    async with harness(model, samples=1) as h:
        result = await h.kernel.service(CHAIN_OF_THOUGHT).solve("Two plus two?")
    assert result.chains == ("The answer is four.",)


async def test_bad_input_gets_a_clear_error() -> None:
    async with harness(ScriptedChatModel(["Answer: 1"], loop=True)) as h:
        cot = h.kernel.service(CHAIN_OF_THOUGHT)
        with pytest.raises(UnknownTask, match=r"'sudoku'; tasks: arith, game24, open"):
            await cot.solve("1 2 3", task="sudoku")
        with pytest.raises(InvalidProblem, match="empty"):
            await cot.solve("   ")
        with pytest.raises(InvalidProblem, match="at least 1 sample"):
            await cot.solve("One?", samples=0)


async def test_hook_pygent_chain_of_thought() -> None:
    async with harness(ScriptedChatModel(["Answer: 1"])) as h:
        service = h.kernel.hook.pygent_chain_of_thought()
        assert isinstance(service, ChainOfThought) and service is h.plugin("cot").service
        assert (await h.kernel.health()).plugins["cot"].detail == "5 samples at temperature 0.7"
