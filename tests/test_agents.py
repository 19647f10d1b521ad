"""The agents plugin with the general agent, on the SDK's scripted model (no model cost)."""

from __future__ import annotations

import pytest
from pygent_sdk.agents import AgentError
from pygent_plugins.general.answer_stream import AnswerStream
from pygent_plugins.tools import evaluate
from pygent_sdk import ChatMessage, Tool, ToolResult, ToolSpec
from pygent_sdk.agents import AgentType
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import act, stack

pytestmark = pytest.mark.anyio


async def test_general_agent_calls_the_calculator_and_answers() -> None:
    model = ScriptedChatModel([act("calculator", "17*23"), act("final_answer", "17*23 = 391")])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("general")
        tokens: list[str] = []

        async def sink(text: str) -> None:
            tokens.append(text)

        result = await registry.run(info.id, "What is 17*23?", on_token=sink)
        assert result.success and result.output == "17*23 = 391"
        assert "".join(tokens) == "17*23 = 391" and len(tokens) > 1  # streamed, not at once
        tool = [s for s in result.steps if s["kind"] == "tool"]
        assert tool == [{"kind": "tool", "step": 1, "tool": "calculator", "input": "17*23",
                         "output": "391", "is_error": False}]
        # the observation reached the model, and the JSON schema constrained every reply
        second_call = model.calls[1]
        assert second_call[0][-1].content == "Observation: 391"
        assert second_call[1].json_schema["properties"]["action"]["enum"][-1] == "final_answer"
        statuses = [(e.previous, e.status) for e in h.events_on("agent.status")]
        assert statuses == [("idle", "running"), ("running", "waiting"), ("waiting", "running"),
                            ("running", "completed")]
        assert [e.kind for e in h.events_on("agent.step")] == ["tool", "answer"]
        usage = h.events_on("llm.usage")
        assert len(usage) == 2 and all(e.completion_tokens > 0 for e in usage)
        assert result.usage.completion_tokens == sum(e.completion_tokens for e in usage)


async def test_conversation_is_kept_between_runs() -> None:
    model = ScriptedChatModel([act("final_answer", "Hi Ada!"), act("final_answer", "You are Ada.")])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("general")
        await registry.run(info.id, "I am Ada")
        await registry.run(info.id, "Who am I?")
        seen = [m.content for m in model.calls[1][0] if m.role in ("user", "assistant")]
        assert seen[-3:] == ["I am Ada", "Hi Ada!", "Who am I?"]
        memory = h.kernel.hook.pygent_memory_store()
        stored = await memory.history(info.conversation_id)
        assert [s.message.content for s in stored] == ["I am Ada", "Hi Ada!", "Who am I?", "You are Ada."]


async def test_repeated_tool_call_forces_a_final_answer() -> None:
    model = ScriptedChatModel([act("calculator", "2+2"), act("calculator", "2+2"), act("final_answer", "4")])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        result = await registry.run((await registry.create("general")).id, "2+2?")
        assert result.output == "4"
        assert [s["kind"] for s in result.steps] == ["tool", "guard", "answer"]
        assert model.calls[2][1].json_schema["properties"]["action"]["enum"] == ["final_answer"]


async def test_empty_tool_input_and_step_bound() -> None:
    model = ScriptedChatModel([act("calculator", ""), act("calculator", "1/0"), act("calculator", "3*3")])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("general", config={"max_steps": 3})
        result = await registry.run(info.id, "compute")
        errors = [s["output"] for s in result.steps if s["kind"] == "tool"]
        assert errors == [
            "calculator needs an input (expression)", "cannot evaluate '1/0': division by zero", "9"]
        # after two tool errors only a final answer is allowed; the scripted model ignores the
        # schema and calls a tool anyway, yet the run stops at max_steps and says so
        assert model.calls[2][1].json_schema["properties"]["action"]["enum"] == ["final_answer"]
        assert len(model.calls) == 3
        assert not result.success and result.output.startswith("I ran out of steps (3)")


async def test_free_text_reply_is_the_answer() -> None:
    model = ScriptedChatModel(["Paris is the capital of France."])
    async with PluginHarness(*stack(model, memory=False)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        result = await registry.run((await registry.create("general")).id, "Capital of France?")
        assert result.success and result.output == "Paris is the capital of France."


async def test_registry_create_configure_list_delete() -> None:
    model = ScriptedChatModel([])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        a = await registry.create("general", name="helper", config={"max_steps": 2})
        b = await registry.create("coding")
        assert {i.id for i in registry.list()} == {a.id, b.id}
        assert [i.id for i in registry.list(type="coding")] == [b.id]
        assert registry.get(a.id).config["max_steps"] == 2 and a.model == "scripted"
        changed = await registry.configure(a.id, config={"max_steps": 4})
        assert changed.config["max_steps"] == 4
        await registry.delete(a.id)
        assert [i.id for i in registry.list()] == [b.id]
        assert [e.topic for e in h.events_on("agent.*")] == [
            "agent.created", "agent.created", "agent.deleted"]
        with pytest.raises(AgentError, match=f"No agent '{a.id}'"):
            registry.get(a.id)


async def test_agents_survive_a_restart(tmp_path) -> None:
    plugins, config = stack(ScriptedChatModel([]))
    config = {**config, "kernel": {"data_dir": str(tmp_path)}}
    async with PluginHarness(plugins, config) as h:
        created = await h.kernel.hook.pygent_agent_registry().create("general", name="keeper")
    async with PluginHarness(plugins, config) as h:
        again = h.kernel.hook.pygent_agent_registry().get(created.id)
        assert again.name == "keeper" and again.status == "idle"
        assert again.conversation_id == created.conversation_id


async def test_clear_errors_for_bad_requests() -> None:
    async with PluginHarness(*stack(ScriptedChatModel([]))) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        with pytest.raises(AgentError, match=r"Unknown agent type 'poet'\. Available: coding, general"):
            await registry.create("poet")
        with pytest.raises(AgentError, match=r"Bad config for agent type 'general': max_steps: .*less than or equal to 50"):
            await registry.create("general", config={"max_steps": 99})
        with pytest.raises(AgentError, match="Bad config for agent type 'general': colour: Extra inputs"):
            await registry.create("general", config={"colour": "red"})
        with pytest.raises(Exception, match=r"No chat model 'nope'\. Available: scripted"):
            await registry.create("general", model="nope")
        info = await registry.create("general")
        with pytest.raises(AgentError, match="The task is empty"):
            await registry.run(info.id, "  ")


async def test_a_failing_model_marks_the_agent_error() -> None:
    model = ScriptedChatModel([])  # runs out at once
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("general")
        with pytest.raises(RuntimeError, match="ran out of replies"):
            await registry.run(info.id, "hello")
        assert registry.get(info.id).status == "error"
        assert h.events_on("llm.usage")[-1].finish_reason == "error"


class Echo:
    spec = ToolSpec("echo", "Repeat the input.", {"type": "object", "properties": {"text": {"type": "string"}}})

    async def __call__(self, arguments) -> ToolResult:  # type: ignore[no-untyped-def]
        return ToolResult(arguments.get("text", ""))


class Broken:
    spec = ToolSpec("broken", "Always fails.")

    async def __call__(self, arguments) -> ToolResult:  # type: ignore[no-untyped-def]
        raise ValueError("boom")


async def test_hook_pygent_tools() -> None:
    from pygent_sdk import Plugin, hookimpl

    class MoreTools(Plugin):
        @hookimpl
        def pygent_tools(self) -> list[Tool]:
            return [Echo(), Broken()]

    model = ScriptedChatModel([act("echo", "hey"), act("broken", "x"), act("final_answer", "done")])
    plugins, config = stack(model)
    async with PluginHarness({**plugins, "more": MoreTools}, config) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        result = await registry.run((await registry.create("general")).id, "use tools")
        outputs = [(s["tool"], s["output"], s["is_error"]) for s in result.steps if s["kind"] == "tool"]
        assert outputs == [("echo", "hey", False), ("broken", "broken failed: ValueError: boom", True)]
        enum = model.calls[0][1].json_schema["properties"]["action"]["enum"]
        assert sorted(enum) == ["broken", "calculator", "current_time", "echo", "final_answer"]


async def test_hook_pygent_agent_types() -> None:
    from pygent_sdk import AgentResult, Plugin, PluginConfig, hookimpl

    class Shouter:
        def __init__(self, context, config) -> None:  # type: ignore[no-untyped-def]
            self.context = context

        async def run(self, task: str, *, on_token=None) -> AgentResult:  # type: ignore[no-untyped-def]
            await self.context.step("shout", {"n": 1})
            return AgentResult(task.upper(), True)

    class ShoutPlugin(Plugin):
        @hookimpl
        def pygent_agent_types(self) -> list[AgentType]:
            return [AgentType("shouter", "Shouts.", Shouter, PluginConfig)]

    plugins, config = stack(ScriptedChatModel([]))
    async with PluginHarness({**plugins, "shout": ShoutPlugin}, config) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        assert "shouter" in [t.name for t in registry.types()]
        result = await registry.run((await registry.create("shouter")).id, "hi")
        assert result.output == "HI" and result.steps == ({"kind": "shout", "n": 1},)


async def test_hook_pygent_agent_registry() -> None:
    async with PluginHarness(*stack(ScriptedChatModel([]))) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        assert registry is h.plugin("agents").registry
        assert h.calls_to("pygent_agent_registry")[0].result is registry


def test_answer_stream_decodes_as_it_goes() -> None:
    stream = AnswerStream()
    pieces = [stream.feed(p) for p in ['{"action": "final', '_answer", "in', 'put": "a\\', 'nb \\u00e9', '" }']]
    assert pieces == ["", "", "a", "\nb é", ""] and stream.streamed == "a\nb é"
    other = AnswerStream()
    assert other.feed('{"action": "calculator", "input": "1+1"}') == ""


@pytest.mark.parametrize("expression, value", [
    ("17*23", 391), ("2^10", 1024), ("sqrt(16)+1", 5.0), ("-(3-5)", 2), ("7 // 2", 3),
])
def test_calculator(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression", ["__import__('os')", "open('x')", "9**99999", "a+1"])
def test_calculator_refuses_what_is_not_arithmetic(expression: str) -> None:
    with pytest.raises(ValueError):
        evaluate(expression)


def test_messages_are_plain_data() -> None:
    assert ChatMessage("user", "x").tool_calls == ()
