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


async def test_hash_embedder_is_deterministic_normalized_and_word_sensitive() -> None:
    from pygent_sdk import Embedder
    from pygent_sdk.testing import HashEmbedder

    embedder = HashEmbedder(32)
    assert isinstance(embedder, Embedder)
    a, b, c, empty = await embedder.embed(["the cat sat", "The cat sat!", "stock prices fell", ""])
    assert a == b and len(a) == 32
    assert abs(sum(x * x for x in a) - 1.0) < 1e-9 and not any(empty)
    near = sum(x * y for x, y in zip(a, embedder.vector("a cat sat down")))
    far = sum(x * y for x, y in zip(a, c))
    assert near > far


async def test_in_memory_vector_store_upserts_filters_and_ranks() -> None:
    from pygent_sdk import VectorStore
    from pygent_sdk.testing import InMemoryVectorStore
    from pygent_sdk.vectors import DimensionMismatch, UnknownCollection

    store = InMemoryVectorStore()
    assert isinstance(store, VectorStore)
    await store.create_collection("c", 2)
    await store.upsert("c", ["a", "b", "c"], [[1, 0], [0.9, 0.1], [0, 1]],
                       [{"lang": "en"}, {"lang": "de"}, {"lang": "en"}])
    assert [h.id for h in await store.search("c", [1, 0], k=2)] == ["a", "b"]
    assert [h.id for h in await store.search("c", [1, 0], k=5, filter={"lang": "en"})] == ["a", "c"]
    assert [h.id for h in await store.search("c", [1, 0], filter={"lang": ["de", "fr"]})] == ["b"]
    await store.upsert("c", ["a"], [[0, 1]], [{"lang": "en"}])  # upsert: a now points the other way
    assert (await store.search("c", [1, 0], k=1))[0].id == "b"
    assert await store.delete("c", ["b", "missing"]) == 1
    assert await store.count("c") == 2 and await store.count("c", {"lang": "de"}) == 0
    assert await store.delete("c", filter={"lang": "en"}) == 2
    with pytest.raises(DimensionMismatch, match="3-dimensional.*2 dimensions"):
        await store.upsert("c", ["d"], [[1, 2, 3]])
    with pytest.raises(ValueError, match="must match"):
        await store.upsert("c", ["e", "f"], [[1, 0]])
    with pytest.raises(DimensionMismatch, match="2-dimensional cosine.*not 3-dimensional"):
        await store.create_collection("c", 3)
    with pytest.raises(UnknownCollection, match="'nope'.*'c'"):
        await store.search("nope", [1, 0])
    assert await store.drop_collection("c") and not await store.drop_collection("c")


async def test_fake_tool_answers_and_records() -> None:
    from pygent_sdk import Tool, ToolResult
    from pygent_sdk.testing import FakeTool

    tool = FakeTool("lookup", lambda args: ToolResult(f"no {args['input']}", is_error=True))
    assert isinstance(tool, Tool) and tool.spec.name == "lookup"
    result = await tool({"input": "x"})
    assert result == ToolResult("no x", is_error=True) and tool.calls == [{"input": "x"}]
    assert (await FakeTool("plain", "42")({"input": ""})).output == "42"


async def test_harness_loads_installed_plugins_by_entry_point_name() -> None:
    from pygent_sdk.memory import MEMORY_STORE
    from pygent_sdk.testing import PluginHarness

    async with PluginHarness(["memory"]) as h:
        store = h.kernel.service(MEMORY_STORE)
        conversation_id = await store.create_conversation("agent-1", "t")
        assert (await store.conversations("agent-1"))[0].id == conversation_id
    async with PluginHarness({"memory": None, "heartbeat": None}, {"heartbeat": {"interval": 0.05}}) as h:
        await h.wait_for("heartbeat.beat")


def test_service_key_passes_missing_hook_arguments_as_none() -> None:
    import pluggy

    from pygent_sdk import hookimpl, hookspec
    from pygent_sdk.services import ServiceKey

    class Specs:
        @hookspec(firstresult=True)
        def pygent_thing(self, name: str | None) -> str | None: ...

    class Impl:
        @hookimpl
        def pygent_thing(self, name: str | None) -> str:
            return f"thing {name}"

    pm = pluggy.PluginManager("pygent")
    pm.add_hookspecs(Specs)
    pm.register(Impl())
    key = ServiceKey("pygent_thing", str, provider="things")
    assert key.require(pm.hook) == "thing None"
    assert key.require(pm.hook, name="x") == "thing x"
