"""The SDK's test doubles: ScriptedChatModel and the harness's recording."""

from __future__ import annotations

import pytest
from pygent_sdk import ChatMessage, ChatModel, ChatOptions, ChatResponse, ToolCall

pytestmark = pytest.mark.anyio

HELLO = [ChatMessage("user", "say hello please")]


async def test_scripted_model_streams_word_by_word_with_usage(scripted_model) -> None:
    model = scripted_model(["Hello there, friend."])
    assert isinstance(model, ChatModel)
    chunks = [c async for c in model.stream(HELLO)]
    assert [c.text for c in chunks[:-1]] == ["Hello", " there,", " friend."]
    assert chunks[-1].finish_reason == "stop"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (3, 3)


async def test_scripted_model_returns_tool_calls_and_records_calls(scripted_model) -> None:
    call = ToolCall("c1", "calculator", {"expression": "17*23"})
    model = scripted_model([ChatResponse("", "tool_calls", tool_calls=(call,)), "391"])
    first = await model.chat(HELLO, ChatOptions(temperature=0))
    second = await model.chat(HELLO)
    assert first.tool_calls == (call,) and first.finish_reason == "tool_calls"
    assert second.text == "391" and second.model == "scripted"
    assert model.calls[0][1].temperature == 0 and len(model.calls) == 2


async def test_scripted_model_function_and_max_tokens(scripted_model) -> None:
    model = scripted_model(lambda messages, options: messages[-1].content.upper())
    reply = await model.chat(HELLO, ChatOptions(max_tokens=2))
    assert reply.text == "SAY HELLO" and reply.finish_reason == "length"


async def test_scripted_model_says_when_the_script_runs_out(scripted_model) -> None:
    model = scripted_model(["only one"])
    await model.chat(HELLO)
    with pytest.raises(RuntimeError, match="ran out of replies after 1 calls"):
        await model.chat(HELLO)
