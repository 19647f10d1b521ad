"""The general agent's reply schema and its guard against unverified answers, on scripted models."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from pygent_plugins.general.agent import action_schema, answer_schema
from pygent_plugins.tools import Calculator, CurrentTime
from pygent_plugins.tools.calculator import ARITHMETIC
from pygent_sdk import Plugin, Tool, ToolResult, ToolSpec, hookimpl
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import act, actions, stack

pytestmark = pytest.mark.anyio


def admits(schema: Mapping[str, Any], text: str) -> bool:
    """Whether a string ``schema``'s pattern admits ``text``."""
    return re.fullmatch(schema["pattern"].removeprefix("^").removesuffix("$"), text) is not None


async def run(model: ScriptedChatModel, task: str, *, more: type[Plugin] | None = None):  # type: ignore[no-untyped-def]
    plugins, config = stack(model, memory=False)
    if more is not None:
        plugins = {**plugins, "more": more}
    async with PluginHarness(plugins, config) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        tokens: list[str] = []

        async def sink(text: str) -> None:
            tokens.append(text)

        result = await registry.run((await registry.create("general")).id, task, on_token=sink)
        return result, "".join(tokens)


def test_each_tool_input_follows_that_tool_parameters_schema() -> None:
    schema = action_schema({"calculator": Calculator(), "current_time": CurrentTime()})
    variants = {v["properties"]["action"]["const"]: v["properties"]["input"] for v in schema["anyOf"]}
    assert list(variants) == ["calculator", "current_time", "final_answer"]
    assert variants["calculator"]["pattern"] == ARITHMETIC
    assert admits(variants["calculator"], "12*12") and not admits(variants["calculator"], "12*12 = 132")
    assert variants["current_time"] == {"type": "string"}
    assert variants["final_answer"] == {"type": "string"}


def test_after_a_tool_call_the_answer_may_state_only_backed_numbers() -> None:
    schema = answer_schema(["What is -5 + 3?", "-2"])
    assert admits(schema, "The answer is -2.") and admits(schema, "-5 + 3 = -2")
    for guess in ["The answer is 2.", "The answer is 132.", "-5-2", "It is -2.5", 'a "quote"']:
        assert not admits(schema, guess), guess
    assert admits(answer_schema([]), "No numbers here.") and not admits(answer_schema([]), "42")


async def test_a_refused_call_never_becomes_the_answer() -> None:
    # issue 8 item 11: the model's guess went into the calculator, was refused, then answered
    model = ScriptedChatModel([act("calculator", "12*12 = 132"), act("final_answer", "12*12 = 132")])
    result, streamed = await run(model, "What is 12*12?")
    assert not result.success and "132" not in result.output and "132" not in streamed
    assert result.output == "I could not compute a verified answer: the calculator refused my input."
    assert [s.kind for s in result.steps] == ["tool", "guard", "answer"]
    assert result.steps[1].detail == "132"
    # the answer step's schema admitted only numbers the question gave (the grammar's guard)
    final = model.calls[1][1].json_schema["anyOf"][-1]["properties"]["input"]
    assert admits(final, "12*12 = ...") and not admits(final, "12*12 = 132")


async def test_a_corrected_call_after_a_refusal_gives_a_verified_answer() -> None:
    model = ScriptedChatModel([
        act("calculator", "12*12 = 132"), act("calculator", "12*12"), act("final_answer", "12*12 = 144"),
    ])
    result, streamed = await run(model, "What is 12*12?")
    assert result.success and result.output == streamed == "12*12 = 144"
    assert [(s.input, s.is_error) for s in result.steps if s.kind == "tool"] == [
        ("12*12 = 132", True), ("12*12", False)]


async def test_a_copied_wrong_number_after_a_good_call_is_not_presented() -> None:
    model = ScriptedChatModel([act("calculator", "17*23"), act("final_answer", "The answer is 319.")])
    result, streamed = await run(model, "What is 17*23?")
    assert not result.success and "319" not in streamed
    assert result.output == "I could not compute a verified answer: no tool result backs the numbers I had."
    assert result.steps[-2].kind == "guard" and result.steps[-2].detail == "319"


async def test_a_reply_cut_off_mid_json_is_not_an_answer() -> None:
    cut = '{"action": "calculator", "input": "7*7*7*7*7*7*7*7'
    model = ScriptedChatModel([cut, act("calculator", "7*7"), act("final_answer", "The answer is 49.")])
    result, _ = await run(model, "What is 7 squared?")
    assert result.success and result.output == "The answer is 49."
    assert result.steps[0].kind == "guard" and "not valid JSON" in result.steps[0].reason
    assert model.calls[1][0][-1].content == "Observation: Error: the reply was not valid JSON."


class Convert:
    spec = ToolSpec("convert", "Convert a value between units.", {
        "type": "object",
        "properties": {"value": {"type": "number"}, "unit": {"type": "string", "enum": ["km", "mi"]}},
        "required": ["value", "unit"],
    })

    async def __call__(self, arguments: Mapping[str, Any]) -> ToolResult:
        factor = 1.609344 if arguments["unit"] == "mi" else 1 / 1.609344
        return ToolResult(f"{arguments['value'] * factor:.2f}")


class ConvertPlugin(Plugin):
    @hookimpl
    def pygent_tools(self) -> list[Tool]:
        return [Convert()]


async def test_a_tool_with_several_parameters_gets_its_arguments_object() -> None:
    model = ScriptedChatModel([
        json.dumps({"action": "convert", "input": {"value": 10, "unit": "mi"}}),
        act("final_answer", "10 mi is 16.09 km."),
    ])
    result, _ = await run(model, "10 miles in km?", more=ConvertPlugin)
    assert result.success and [s.output for s in result.steps if s.kind == "tool"] == ["16.09"]
    schema = model.calls[0][1].json_schema
    assert "convert" in actions(schema)
    convert = next(v for v in schema["anyOf"] if v["properties"]["action"]["const"] == "convert")
    assert convert["properties"]["input"] == Convert.spec.parameters


async def test_a_tool_fed_its_own_result_is_not_called_again() -> None:
    # SmolLM2 looped "7.2 / 2" -> 3.6, "3.6 / 2" -> 1.8, ... and answered the last one
    model = ScriptedChatModel([
        act("calculator", "7.2 / 2"), act("calculator", "3.6 / 2"), act("final_answer", "The answer is 3.6."),
    ])
    result, _ = await run(model, "What is 7.2 / 2?")
    assert result.success and result.output == "The answer is 3.6."
    assert [s.kind for s in result.steps] == ["tool", "guard", "answer"]
    assert result.steps[1].reason == "calculator called on its own result"
    assert model.calls[2][0][-1].content == "Observation: 3.6"
    assert actions(model.calls[2][1].json_schema) == ["final_answer"]
    answer = model.calls[2][1].json_schema["properties"]["input"]  # only the result may be stated
    assert admits(answer, "The answer is 3.6.") and not admits(answer, "7.2 / 2 = 3.6")


async def test_an_unknown_action_is_an_error_not_the_answer() -> None:
    made_up = json.dumps({"action": "search", "input": "capital of France"})
    model = ScriptedChatModel([made_up, act("final_answer", "Paris.")])
    result, _ = await run(model, "Capital of France?")
    assert result.success and result.output == "Paris."
    assert [s.kind for s in result.steps] == ["guard", "answer"]
    assert result.steps[0].reason == "unknown action 'search'"
    observation = model.calls[1][0][-1].content
    assert observation.startswith("Observation: Error: unknown action 'search'; available: calculator")
    assert observation.endswith(", final_answer.")


async def test_two_unknown_actions_force_a_final_answer() -> None:
    model = ScriptedChatModel([act("search", "a"), act("browse", "b"), act("final_answer", "I do not know.")])
    result, _ = await run(model, "Who won?")
    assert result.output == "I do not know." and [s.kind for s in result.steps] == ["guard", "guard", "answer"]
    assert "calculator" in actions(model.calls[1][1].json_schema)
    assert actions(model.calls[2][1].json_schema) == ["final_answer"]


def test_the_answer_grammar_lists_only_the_latest_numbers() -> None:
    texts = [f"step {n}" for n in range(1000, 1100)]  # 100 distinct numbers, oldest first
    schema = answer_schema(texts)
    assert admits(schema, "It is 1099.") and admits(schema, "It is 1050.")
    assert not admits(schema, "It is 1049.") and not admits(schema, "It is 1000.")
    assert schema["pattern"].count("1099") == 2  # once in each of the two alternations
    assert len(schema["pattern"]) < 1000
    assert admits(answer_schema(["1 2 3", "3"]), "1, 2 and 3")  # fewer: all kept
