"""The agents plugin with the general agent, on the SDK's scripted model (no model cost)."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, ClassVar

import anyio
import pytest
from pygent_plugins.general.agent import GeneralConfig
from pygent_plugins.general.answer_stream import AnswerStream
from pygent_plugins.tools import evaluate
from pygent_sdk import (
    AgentResult, ChatMessage, ModelProfile, Plugin, PluginConfig, Tool, ToolResult, ToolSpec, hookimpl,
)
from pygent_sdk.agents import (
    AgentError, AgentMatch, AgentType, AnswerStep, GuardStep, RunInfo, Step, TaskTooLong, ToolStep,
    UnknownAgent, UnknownRun, estimate_tokens,
)
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import act, actions, stack

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
        assert "".join(tokens) == "17*23 = 391"
        assert result.steps == (ToolStep(tool="calculator", input="17*23", output="391"),
                                AnswerStep(text="17*23 = 391"))
        assert result.steps[0].to_dict() == {
            "kind": "tool", "tool": "calculator", "input": "17*23", "output": "391",
            "is_error": False, "summary": "tool calculator(17*23) → 391"}
        assert result.status == "completed" and result.run_id
        # the observation reached the model, and the JSON schema constrained every reply
        second_call = model.calls[1]
        assert second_call[0][-1].content == "Observation: 391"
        assert actions(second_call[1].json_schema)[-1] == "final_answer"
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
        assert [s.kind for s in result.steps] == ["tool", "guard", "answer"]
        assert result.steps[1] == GuardStep(reason="repeated call of calculator", detail="2+2")
        assert actions(model.calls[2][1].json_schema) == ["final_answer"]


async def test_empty_tool_input_and_step_bound() -> None:
    model = ScriptedChatModel([act("calculator", ""), act("calculator", "1/0"), act("calculator", "3*3")])
    async with PluginHarness(*stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("general", config={"max_steps": 3})
        result = await registry.run(info.id, "compute")
        errors = [s.output for s in result.steps if isinstance(s, ToolStep)]
        assert errors == [
            "calculator needs an input (expression)", "cannot evaluate '1/0': division by zero", "9"]
        # after two tool errors only a final answer is allowed; the scripted model ignores the
        # schema and calls a tool anyway, yet the run stops at max_steps and says so
        assert actions(model.calls[2][1].json_schema) == ["final_answer"]
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
        result = await registry.run(info.id, "hello")
        assert result.status == "failed" and not result.success
        assert "ran out of replies" in result.output
        run = registry.get_run(result.run_id)
        assert run.status == "failed" and "ran out of replies" in (run.error or "")
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
        outputs = [(s.tool, s.output, s.is_error) for s in result.steps if isinstance(s, ToolStep)]
        assert outputs == [("echo", "hey", False), ("broken", "broken failed: ValueError: boom", True)]
        enum = actions(model.calls[0][1].json_schema)
        assert sorted(enum) == ["broken", "calculator", "current_time", "echo", "final_answer"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Shout(Step):
    """A third-party step kind."""

    kind: ClassVar[str] = "shout"
    volume: int

    def summary(self) -> str:
        return f"shouted at {self.volume}"


async def test_hook_pygent_agent_types() -> None:
    from pygent_sdk import AgentResult, Plugin, PluginConfig, hookimpl

    class Shouter:
        def __init__(self, context, config) -> None:  # type: ignore[no-untyped-def]
            self.context = context

        async def run(self, task: str, *, on_token=None) -> AgentResult:  # type: ignore[no-untyped-def]
            await self.context.step(Shout(volume=11))
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
        assert result.output == "HI" and result.steps == (Shout(volume=11),)
        event = h.events_on("agent.step")[-1]
        assert (event.kind, event.summary, event.detail["volume"]) == ("shout", "shouted at 11", 11)


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


# --- runs: ids, statuses, cancel; ephemeral agents; chat routing; context limits -------------


class Sleeper:
    """An agent that waits (as if on a tool) until its run is cancelled."""

    def __init__(self, context, config) -> None:  # type: ignore[no-untyped-def]
        self.context = context

    async def run(self, task: str, *, on_token=None) -> AgentResult:  # type: ignore[no-untyped-def]
        await self.context.set_status("waiting")
        await anyio.sleep_forever()
        raise AssertionError("not reached")


class Asker:
    """An agent that needs more from the user before it can answer."""

    def __init__(self, context, config) -> None:  # type: ignore[no-untyped-def]
        self.context = context

    async def run(self, task: str, *, on_token=None) -> AgentResult:  # type: ignore[no-untyped-def]
        if "Paris" in task:
            return AgentResult("Sunny in Paris.", True)
        return AgentResult("Which city?", True, status="input-required")


class ExtraTypes(Plugin):
    @hookimpl
    def pygent_agent_types(self) -> list[AgentType]:
        return [AgentType("sleeper", "Waits.", Sleeper, PluginConfig),
                AgentType("asker", "Asks back.", Asker, PluginConfig)]


def run_stack(model: ScriptedChatModel | None = None, **agents: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    plugins, config = stack(model or ScriptedChatModel(lambda m, o: act("final_answer", "ok")))
    config["agents"] = agents
    return {**plugins, "extra-types": ExtraTypes}, config


async def test_a_run_has_an_id_statuses_and_can_be_cancelled() -> None:
    async with PluginHarness(*run_stack()) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("sleeper")
        heard: list[RunInfo] = []
        results: list[AgentResult] = []

        async def on_run(run: RunInfo) -> None:
            heard.append(run)

        async def go() -> None:
            results.append(await registry.run(info.id, "wait", on_run=on_run))

        async with anyio.create_task_group() as tg:
            tg.start_soon(go)
            with anyio.fail_after(5):
                while registry.get(info.id).status != "waiting":
                    await anyio.sleep(0.01)
            run_id = heard[0].id
            assert heard[0].status == "submitted"
            assert registry.get_run(run_id).status == "waiting"
            with pytest.raises(AgentError, match="is waiting"):
                await registry.run(info.id, "again")
            canceled = await registry.cancel(run_id)
        assert canceled.status == "canceled" and canceled.finished_at is not None
        assert results[0].status == "canceled" and results[0].run_id == run_id
        assert registry.get(info.id).status == "canceled"
        assert [(e.previous, e.status) for e in h.events_on("agent.run") if e.run_id == run_id] == [
            ("submitted", "working"), ("working", "waiting"), ("waiting", "canceled")]
        assert [r.id for r in registry.runs(info.id)] == [run_id]
        assert (await registry.cancel(run_id)).status == "canceled"  # finished: unchanged
        with pytest.raises(UnknownRun):
            registry.get_run("nope")


async def test_input_required_ends_a_run_and_the_next_message_continues() -> None:
    async with PluginHarness(*run_stack()) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("asker")
        first = await registry.run(info.id, "Weather?")
        assert first.status == "input-required" and registry.get(info.id).status == "input-required"
        second = await registry.run(info.id, "Paris")
        assert second.status == "completed" and second.output == "Sunny in Paris."
        assert [r.status for r in registry.runs(info.id)] == ["completed", "input-required"]


async def test_build_makes_an_ephemeral_agent_without_io_and_runs_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with PluginHarness(*run_stack(ephemeral_max=2)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = registry.build("general", config={"max_steps": 2})
        assert info.ephemeral and info.conversation_id is None and info.config["max_steps"] == 2
        assert type(info.config) is dict and info.config == GeneralConfig(max_steps=2).model_dump()
        assert h.events_on("agent.created") == []  # no I/O: announced when it first runs
        agent_dir = h.plugin("agents").context.data_dir / "agents"
        assert not list(agent_dir.glob("*.json"))
        result = await registry.run(info.id, "hi")
        assert result.output == "ok" and result.status == "completed" and result.run_id
        created = h.events_on("agent.created")
        assert [(e.agent_id, e.type, e.name, e.model) for e in created] == [
            (info.id, "general", info.name, info.model)]
        assert [e.topic for e in h.events_on("agent.*")][:2] == ["agent.created", "agent.run"]
        await registry.delete(info.id)
        assert [e.topic for e in h.events_on("agent.*")][-1] == "agent.deleted"
        unrun = registry.build("general")
        await registry.delete(unrun.id)  # never announced: no agent.deleted either
        assert [e.agent_id for e in h.events_on("agent.*") if e.agent_id == unrun.id] == []
        with pytest.raises(AgentError, match="Bad config for agent type 'general'"):
            registry.build("general", config={"max_steps": 0})
        # bounded: the least recently used idle ephemeral agent goes
        second, third = registry.build("general"), registry.build("general")
        assert {a.id for a in registry.list()} == {second.id, third.id}
        # busy ones are never dropped: the store holds every running agent, then shrinks
        busy = []
        async with anyio.create_task_group() as tg:
            for _ in range(3):  # each starts before the next is made
                busy.append(await registry.create("sleeper", ephemeral=True))
                tg.start_soon(registry.run, busy[-1].id, "wait")
                with anyio.fail_after(5):
                    while registry.get(busy[-1].id).status != "waiting":
                        await anyio.sleep(0.01)
            assert {a.id for a in registry.list()} == {a.id for a in busy}
            for run in registry.runs():
                if run.status == "waiting":
                    await registry.cancel(run.id)
        registry.build("general")
        assert len(registry.list()) == 2
        persistent = await registry.create("general")
        assert persistent.id in {a.id for a in registry.list()}
        assert [p.name for p in agent_dir.glob("*.json")] == [f"{persistent.id}.json"]


async def test_ephemeral_agents_expire(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    async with PluginHarness(*run_stack(ephemeral_ttl_s=60)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        old = await registry.create("general", ephemeral=True)
        now = time.monotonic()
        monkeypatch.setattr(time, "monotonic", lambda: now + 120)
        new = registry.build("general")
        assert [a.id for a in registry.list()] == [new.id]
        with pytest.raises(UnknownAgent):
            registry.get(old.id)


async def test_dropped_ephemeral_agents_leave_no_conversation_a_deleted_one_keeps_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    async with PluginHarness(*run_stack(ephemeral_max=1, ephemeral_ttl_s=60)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        memory = h.kernel.hook.pygent_memory_store()

        async def kept() -> set[str]:
            return {c.id for c in await memory.conversations()}

        first = await registry.create("general", ephemeral=True)  # what POST /chat makes
        await registry.run(first.id, "hi")
        assert len(await memory.history(first.conversation_id)) == 2  # readable while it lives
        second = await registry.create("general", ephemeral=True)  # past ephemeral_max: first goes
        assert await kept() == {second.conversation_id}
        assert await memory.history(first.conversation_id) == []
        now = time.monotonic()
        monkeypatch.setattr(time, "monotonic", lambda: now + 120)  # past the ttl: second goes
        built = registry.build("general")  # no I/O here; the next async call cleans up
        await registry.run(built.id, "hi")
        assert await kept() == set()
        third = await registry.create("general", ephemeral=True)  # what `pygent run` makes
        await registry.run(third.id, "hi")
        await registry.delete(third.id)  # deleted on purpose: its conversation stays, as any
        persistent = await registry.create("general")
        await registry.delete(persistent.id)  # a saved agent's conversation stays
        assert await kept() == {third.conversation_id, persistent.conversation_id}


async def test_a_malformed_agent_file_is_skipped(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    plugins, config = stack(ScriptedChatModel([]))
    config = {**config, "kernel": {"data_dir": str(tmp_path)}}
    async with PluginHarness(plugins, config) as h:
        good = await h.kernel.hook.pygent_agent_registry().create("general", name="keeper")
        agent_dir = h.plugin("agents").context.data_dir / "agents"
    (agent_dir / "bad-json.json").write_text("{not json")
    (agent_dir / "unknown-key.json").write_text(json.dumps({
        **json.loads((agent_dir / f"{good.id}.json").read_text()), "id": "x1", "colour": "red"}))
    (agent_dir / "missing-key.json").write_text(json.dumps({"id": "x2", "type": "general"}))
    (agent_dir / "a-list.json").write_text("[1, 2]")
    async with PluginHarness(plugins, config) as h:
        assert [a.id for a in h.kernel.hook.pygent_agent_registry().list()] == [good.id]
    skipped = [r.getMessage() for r in caplog.records if "skipped agent file" in r.getMessage()]
    assert sorted(m.split(": ")[0].rsplit("/", 1)[1] for m in skipped) == [
        "a-list.json", "bad-json.json", "missing-key.json", "unknown-key.json"]


async def test_hook_pygent_agent_for_message() -> None:
    async with PluginHarness(*stack(ScriptedChatModel([]))) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        assert registry.pick_type("Please write a Python function that sorts") == "coding"
        assert registry.pick_type("Hello, how are you?") == "general"
        answers = [c.result for c in h.calls_to("pygent_agent_for_message")]
        assert AgentMatch("coding", 0.8) in answers[0] and AgentMatch("general", 0.1) in answers[0]


async def test_an_oversized_message_is_refused_and_does_not_poison_the_agent() -> None:
    # a model whose profile does not know its window: [agents] context_tokens stands in
    model = ScriptedChatModel(lambda messages, options: act("final_answer", "hello"),
                              profile=ModelProfile())
    async with PluginHarness(*run_stack(model, context_tokens=1024)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("general")
        with pytest.raises(TaskTooLong, match="context window is 1024 tokens"):
            await registry.run(info.id, "x" * 15_000)
        assert model.calls == [] and registry.get(info.id).status == "idle"
        assert (await registry.run(info.id, "hi")).output == "hello"
        memory = h.kernel.hook.pygent_memory_store()
        assert [s.message.content for s in await memory.history(info.conversation_id)] == ["hi", "hello"]


async def test_history_is_trimmed_to_the_context_window() -> None:
    model = ScriptedChatModel(lambda messages, options: act("final_answer", "noted"),
                              profile=ModelProfile(context_length=2048))
    async with PluginHarness(*run_stack(model)) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("general", config={"max_tokens": 64})
        for i in range(12):
            await registry.run(info.id, f"fact {i}: " + "word " * 180)  # ~300 tokens each
        sent = model.calls[-1][0]
        assert sum(estimate_tokens(m.content) + 4 for m in sent) <= 2048 - 2 * 64
        assert sent[-1].content.startswith("fact 11:")
        assert not any(m.content.startswith("fact 0:") for m in sent)


# --- over HTTP and WebSocket -------------------------------------------------------------------


async def test_runs_over_rest_one_shot_list_get_and_cancel() -> None:
    from .http_kit import served

    async with served(extra={"extra-types": ExtraTypes}) as s, s.client("operator") as api:
        registry = s.harness.kernel.hook.pygent_agent_registry()
        once = await api.post("/api/v1/agents/run", json={"type": "general", "task": "hi"})
        assert once.status_code == 200, once.text
        body = once.json()
        assert body["output"] == "You said: hi" and body["status"] == "completed" and body["run_id"]
        assert body["steps"][-1] == {"kind": "answer", "text": "You said: hi", "summary": "answer: You said: hi"}
        assert (await api.get("/api/v1/agents")).json() == []  # the one-shot agent is gone
        # the schema of a body is the agent type's own config: what it allows, the server takes
        schemas = (await api.get("/schema/openapi.json")).json()["components"]["schemas"]
        assert schemas["GeneralAgentConfig"]["properties"]["max_steps"]["maximum"] == 50
        assert schemas["GeneralAgentConfig"]["additionalProperties"] is False
        bad = await api.post("/api/v1/agents", json={"type": "general", "config": {"max_steps": 99}})
        assert bad.status_code == 400 and bad.json()["errors"][0]["key"] == "config.max_steps"
        assert (await api.post("/api/v1/agents", json={"type": "poet"})).status_code == 400
        general = (await api.post("/api/v1/agents", json={"type": "general"})).json()["id"]
        other = await api.patch(f"/api/v1/agents/{general}", json={"config": {"memory_mb": 64}})
        assert other.status_code == 409 and "for 'coding' agents" in other.json()["detail"]
        lax = await api.patch(f"/api/v1/agents/{general}", json={"config": {"max_steps": "5"}})
        assert lax.status_code == 400  # as strict as the schema: "5" is not an integer
        whole = await api.patch(f"/api/v1/agents/{general}", json={"config": {"max_steps": 4.0}})
        assert whole.status_code == 200 and whole.json()["config"]["max_steps"] == 4
        await api.delete(f"/api/v1/agents/{general}")

        agent = (await api.post("/api/v1/agents", json={"type": "sleeper"})).json()
        async with anyio.create_task_group() as tg:
            answers: list[Any] = []

            async def execute() -> None:
                answers.append(await api.post(f"/api/v1/agents/{agent['id']}/execute", json={"task": "wait"}))

            tg.start_soon(execute)
            with anyio.fail_after(10):
                while not registry.runs(agent["id"]) or registry.runs(agent["id"])[0].status != "waiting":
                    await anyio.sleep(0.02)
            runs = (await api.get(f"/api/v1/agents/{agent['id']}/runs")).json()
            assert [r["status"] for r in runs] == ["waiting"]
            run_id = runs[0]["id"]
            assert (await api.get(f"/api/v1/agents/{agent['id']}/runs/{run_id}")).json()["task"] == "wait"
            cancel = await api.post(f"/api/v1/agents/{agent['id']}/runs/{run_id}/cancel")
            assert cancel.status_code == 200 and cancel.json()["status"] == "canceled"
        assert answers[0].json()["status"] == "canceled" and answers[0].json()["run_id"] == run_id
        assert (await api.get(f"/api/v1/agents/{agent['id']}/status")).json()["status"] == "canceled"
        assert (await api.get(f"/api/v1/agents/{agent['id']}/runs/nope")).status_code == 404
        assert (await api.get(f"/api/v1/agents/{agent['id']}/runs/{body['run_id']}")).status_code == 404
        async with s.client("viewer") as viewer:
            assert (await viewer.post(f"/api/v1/agents/{agent['id']}/runs/{run_id}/cancel")).status_code == 403


async def test_chat_without_an_agent_keeps_no_agent_and_refuses_an_oversized_message() -> None:
    from .http_kit import served

    model = ScriptedChatModel(lambda messages, options: act("final_answer", f"You said: {messages[-1].content}"),
                              profile=ModelProfile(context_length=2048))
    async with served(model=model) as s, s.client("operator") as api:
        first = (await api.post("/api/v1/chat", json={"message": "hello"})).json()
        info = s.harness.kernel.hook.pygent_agent_registry().get(first["agent_id"])
        assert info.ephemeral and first["status"] == "completed"
        agent_dir = s.harness.plugin("agents").context.data_dir / "agents"
        assert not list(agent_dir.glob("*.json"))  # nothing written for chat-made agents
        big = await api.post("/api/v1/chat", json={"message": "x" * 15_000, "agent_id": first["agent_id"]})
        assert big.status_code == 400 and "context window" in big.json()["detail"], big.text
        again = await api.post("/api/v1/chat", json={"message": "hi", "agent_id": first["agent_id"]})
        assert again.status_code == 200 and again.json()["output"] == "You said: hi"
        history = (await api.get(f"/api/v1/conversations/{first['conversation_id']}/history")).json()
        assert [m["content"] for m in history] == ["hello", "You said: hello", "hi", "You said: hi"]
        assert (await api.get("/api/v1/agents/")).status_code == 404  # an empty id is not the list


async def test_a_websocket_chat_tells_its_run_id_and_can_cancel_it() -> None:
    from websockets.asyncio.client import connect

    from .http_kit import served

    async with served(extra={"extra-types": ExtraTypes}) as s:
        url = s.url.replace("http", "ws", 1) + f"/ws?token={s.keys['operator']}"
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "chat_message", "message": "zzz", "agent_type": "sleeper", "id": 7}))
            frames = [json.loads(await ws.recv()) for _ in range(2)]
            assert [f["type"] for f in frames] == ["typing_indicator", "run"]
            run = frames[1]
            assert run["status"] == "submitted" and run["id"] == 7
            await ws.send(json.dumps({"type": "cancel_run", "run_id": run["run_id"]}))
            rest = []
            with anyio.fail_after(10):
                while not rest or rest[-1].get("done") is not True:
                    rest.append(json.loads(await ws.recv()))
            assert {"type": "run", "run_id": run["run_id"], "agent_id": run["agent_id"],
                    "status": "canceled"} in rest
            assert rest[-1]["status"] == "canceled" and rest[-1]["run_id"] == run["run_id"]


# --- pygent chat, driven through a pipe ----------------------------------------------------------

CHAT_TOML = """
[scripted]
loop = true
models = {demo = ["Switched models."]}
[models]
default = "scripted:echo"
[memory]
[agents]
[tools]
[general]
"""


def test_pygent_chat_commands_are_not_sent_to_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "plugins.toml").write_text(CHAT_TOML)
    script = "/help\nhello there\n/model scripted:demo\nwhat now?\n/bogus\n/agent nope\n/new\n/exit\nnever sent\n"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("pygent")), "chat"], input=script, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "/agent TYPE|ID" in out and "/model NAME" in out  # the help
    answers = [line.split("agent ›", 1)[1].strip() for line in out.splitlines() if "agent ›" in line]
    assert answers == ["hello there", "Switched models."]  # commands never reached the model
    assert "Now on scripted:demo" in out and "Unknown command /bogus" in out
    assert "Unknown agent type 'nope'" in out
    assert out.count("general on scripted") == 2  # the first agent, then /new's
    assert out.count("Conversation ") == 2 and "never sent" not in out
    assert not list((tmp_path / ".pygent" / "agents" / "agents").glob("*.json"))  # nothing kept
