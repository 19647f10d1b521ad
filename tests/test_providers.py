"""The models registry, the ollama provider against an Ollama-shaped server, and replay."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.ollama import OllamaPlugin
from pygent_plugins.replay import ReplayPlugin
from pygent_plugins.scripted import ScriptedPlugin
from pygent_plugins.models.metrics import ModelMetrics
from pygent_sdk import (
    BaseChatModel, ChatChunk, ChatMessage, ChatModel, ChatOptions, ChatResponse, ConfigError,
    ModelProfile, PluginError, PygentError, ToolCall, ToolSpec, Usage,
)
from pygent_sdk.models import (
    LlmUsage, ModelNotFound, ModelOperationUnsupported, ModelProvider, pull_stream,
)
from pygent_sdk.scripted import ScriptExhausted
from pygent_sdk.testing import NotRecorded, PluginHarness, ReplayModel, ScriptedChatModel

from .agent_kit import ScriptedProvider
from .fake_ollama import FakeOllama, serve
from .fake_openai import FakeOpenAI, tool_call_chunks
from .http_kit import JWT_SECRET, Served
from .test_cli import pygent

pytestmark = pytest.mark.anyio
HI = [ChatMessage("user", "hi there")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ollama_server() -> tuple[FakeOllama, str]:
    fake = FakeOllama()
    with serve(fake.app(), free_port()) as url:
        yield fake, url


async def test_hook_pygent_chat_models() -> None:
    ScriptedProvider.models = [ScriptedChatModel(["a"], name="scripted:a"),
                               ScriptedChatModel(["b"], name="scripted:b")]
    async with PluginHarness({"scripted": ScriptedProvider, "models": ModelsPlugin},
                             {"models": {"default": "scripted:a"}}) as h:
        assert [m.name for m in h.kernel.hook.pygent_chat_models()[0]] == ["scripted:a", "scripted:b"]
        health = (await h.kernel.health()).plugins["models"]
        assert health.detail == "2 model(s): scripted:a, scripted:b"


async def test_hook_pygent_model() -> None:
    ScriptedProvider.models = [ScriptedChatModel(["one two three"], name="scripted:a")]
    config = {"models": {"default": "scripted:a", "aliases": {"fast": "scripted:a"}}}
    async with PluginHarness({"scripted": ScriptedProvider, "models": ModelsPlugin}, config) as h:
        model = h.kernel.hook.pygent_model(name="fast")
        assert model.name == "scripted:a" and h.kernel.hook.pygent_model(name=None).name == "scripted:a"
        reply = await model.chat(HI)
        assert reply.text == "one two three"
        usage = await h.wait_for("llm.usage")
        assert (usage.model, usage.prompt_tokens, usage.completion_tokens) == ("scripted:a", 2, 3)
        assert usage.first_token_s is not None and usage.total_s >= usage.first_token_s
        with pytest.raises(ModelNotFound, match=r"No chat model 'ollama:x'\. Available: scripted:a\."):
            h.kernel.hook.pygent_model(name="ollama:x")


async def test_ollama_chat_generate_and_manage(ollama_server) -> None:
    fake, url = ollama_server
    async with PluginHarness({"ollama": OllamaPlugin, "models": ModelsPlugin},
                             {"ollama": {"host": url}, "models": {"default": "ollama:llama3.2:latest"}}) as h:
        model = h.kernel.hook.pygent_model(name=None)
        chunks = [c async for c in model.stream(HI, ChatOptions(max_tokens=20, temperature=0.1))]
        assert "".join(c.text for c in chunks) == "You said: hi there"
        assert len([c for c in chunks if c.text]) == 4
        assert chunks[-1].usage.prompt_tokens == 11 and chunks[-1].finish_reason == "stop"
        assert fake.requests[-1]["options"] == {"num_ctx": 4096, "num_predict": 20, "temperature": 0.1}
        tools = ChatOptions(tools=(ToolSpec("calculator", "math"),))
        called = await model.chat(HI, tools)
        assert called.finish_reason == "tool_calls"
        assert called.tool_calls[0].name == "calculator" and called.tool_calls[0].arguments == {"expression": "17*23"}
        service = h.plugin("ollama").service
        generated = [c async for c in service.generate("llama3.2:latest", "Tell a story")]
        assert "".join(c.text for c in generated) == "Once upon a time"
        assert generated[-1].finish_reason == "length"
        [provider] = [p for p in h.kernel.hook.pygent_model_provider() if p is not None]
        seen = [p async for p in pull_stream(provider, "qwen3")]
        assert [p.completed for p in seen if p.total] == [0, 500, 1000] and seen[-1].status == "success"
        assert "ollama:qwen3" in [m.name for m in h.kernel.hook.pygent_chat_models()[0]]
        assert (await service.show("llama3.2:latest"))["details"]["family"] == "llama"
        await provider.delete("qwen3:latest")
        assert [m.name for m in await provider.list_models()] == ["ollama:llama3.2:latest"]
        assert "ollama:qwen3" not in [m.name for m in h.kernel.hook.pygent_chat_models()[0]]
        health = (await h.kernel.health()).plugins["ollama"]
        assert health.status == "ok" and "Ollama 0.12.0" in health.detail


async def test_ollama_profile_comes_from_show_and_num_ctx(ollama_server) -> None:
    fake, url = ollama_server
    fake.models["qwen3:latest"] = 1000
    async with PluginHarness({"ollama": OllamaPlugin, "models": ModelsPlugin},
                             {"ollama": {"host": url, "num_ctx": 8192, "models": ["qwen3"]}}) as h:
        llama = h.kernel.hook.pygent_model(name="ollama:llama3.2:latest").profile
        qwen = h.kernel.hook.pygent_model(name="ollama:qwen3").profile
        # the window sent with each request, cut to what the model was trained on
        assert (llama.context_length, llama.tools, llama.json_schema) == (8192, True, True)
        assert (qwen.context_length, qwen.tools) == (2048, False)
        await h.kernel.hook.pygent_model(name="ollama:qwen3").chat(HI)
        assert fake.requests[-1]["options"]["num_ctx"] == 8192


async def test_hook_pygent_model_provider(ollama_server) -> None:
    _, url = ollama_server
    plugins = {"ollama": OllamaPlugin, "scripted": ScriptedPlugin, "models": ModelsPlugin}
    async with PluginHarness(plugins, {"ollama": {"host": url}}) as h:
        providers = {p.name: p for p in h.kernel.hook.pygent_model_provider() if p is not None}
        assert sorted(providers) == ["ollama", "scripted"]
        assert all(isinstance(p, ModelProvider) for p in providers.values())
        assert [m.name for m in await providers["scripted"].list_models()] == ["scripted:echo"]
        with pytest.raises(ModelOperationUnsupported, match="the scripted provider cannot pull models"):
            await providers["scripted"].pull("x", print)
        with pytest.raises(ModelOperationUnsupported, match="cannot generate plain completions"):
            providers["scripted"].generate("echo", "hi")


async def test_ollama_not_running_fails_fast_and_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with PluginHarness({"ollama": OllamaPlugin, "models": ModelsPlugin},
                             {"ollama": {"host": url, "models": ["llama3.2"]}}) as h:
        health = (await h.kernel.health()).plugins["ollama"]
        assert health.status == "down" and f"Ollama is not running at {url}" in health.detail
        import time

        start = time.perf_counter()
        from pygent_plugins.ollama.client import OllamaError

        with pytest.raises(OllamaError, match="Ollama is not running"):
            await h.kernel.hook.pygent_model(name="ollama:llama3.2").chat(HI)
        assert time.perf_counter() - start < 3


async def test_ollama_unknown_model_is_a_clear_error(ollama_server) -> None:
    _, url = ollama_server
    async with PluginHarness({"ollama": OllamaPlugin, "models": ModelsPlugin},
                             {"ollama": {"host": url, "models": ["ghost"]}}) as h:
        from pygent_plugins.ollama.client import OllamaError

        with pytest.raises(OllamaError, match="answered 404: model 'ghost' not found"):
            await h.kernel.hook.pygent_model(name="ollama:ghost").chat(HI)


async def test_ollama_embedders_call_api_embed(ollama_server, tmp_path: Path) -> None:
    import numpy as np
    from pygent_plugins.embeddings import EmbeddingsPlugin
    from pygent_plugins.ollama.client import OllamaError, OllamaNotFound
    from pygent_sdk.vectors import EMBEDDER

    fake, url = ollama_server
    plugins = {"ollama": OllamaPlugin, "models": ModelsPlugin, "embeddings": EmbeddingsPlugin}
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {"cache": False},
              "ollama": {"host": url, "embed_models": ["nomic-embed-text", "ghost-embed"]}}
    async with PluginHarness(plugins, config) as h:
        names = sorted(e.name for answer in h.kernel.hook.pygent_embedders() for e in answer)
        assert names == ["ollama:ghost-embed", "ollama:nomic-embed-text", "st:minilm"]
        embedder = h.kernel.service(EMBEDDER, name="ollama:nomic-embed-text")
        assert embedder.dimension == 0  # unknown until the first call
        texts = ["deployed the billing service", "the billing service deployed today", "lunch with colleagues"]
        rows = np.asarray(await embedder.embed(texts))
        assert rows.shape == (3, 48) and embedder.dimension == 48
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0)  # normalized here, not by the server
        assert rows[0] @ rows[1] > 0.7 > 0.4 > rows[0] @ rows[2]
        assert fake.requests[-1] == {"model": "nomic-embed-text", "input": texts, "keep_alive": "5m"}
        assert len(await embedder.embed([f"text {i}" for i in range(130)])) == 130  # 3 requests
        assert [len(r["input"]) for r in fake.requests[-3:]] == [64, 64, 2]
        with pytest.raises(OllamaNotFound, match=f"Ollama at {url} answered 404: model 'ghost-embed' "
                                                 r"not found \(embedding with model 'ghost-embed'\)"):
            await h.kernel.service(EMBEDDER, name="ollama:ghost-embed").embed(["x"])
    down = f"http://127.0.0.1:{free_port()}"
    config["ollama"] = {"host": down, "embed_models": ["nomic-embed-text"]}
    async with PluginHarness(plugins, config) as h:
        with pytest.raises(OllamaError, match=f"Ollama is not running at {down} .*'nomic-embed-text'"):
            await h.kernel.service(EMBEDDER, name="ollama:nomic-embed-text").embed(["x"])


async def test_replay_model_records_once_then_replays(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    live = ScriptedChatModel(["first answer"])
    recorder = ReplayModel(live, path, mode="record")
    assert (await recorder.chat(HI)).text == "first answer"
    replayer = ReplayModel(ScriptedChatModel([]), path, mode="replay")  # would raise if asked
    again = await replayer.chat(HI)
    assert again.text == "first answer" and again.usage.completion_tokens == 2
    with pytest.raises(NotRecorded, match="holds no recording of this request"):
        await replayer.chat([ChatMessage("user", "something else")])
    path.write_text("not json\n")
    with pytest.raises(Exception, match=r"rec.jsonl:1: not a recording"):
        ReplayModel(live, path)


async def test_replay_plugin_wraps_a_provider_model(tmp_path: Path) -> None:
    ScriptedProvider.models = [ScriptedChatModel(["recorded reply"], name="scripted:a")]
    config = {"kernel": {"data_dir": str(tmp_path)}, "replay": {"model": "scripted:a"},
              "models": {"default": "replay:scripted:a"}}
    plugins = {"scripted": ScriptedProvider, "models": ModelsPlugin, "replay": ReplayPlugin}
    async with PluginHarness(plugins, config) as h:
        assert (await h.kernel.hook.pygent_model(name=None).chat(HI)).text == "recorded reply"
    ScriptedProvider.models = [ScriptedChatModel([], name="scripted:a")]  # nothing left to say
    async with PluginHarness(plugins, config) as h:
        assert (await h.kernel.hook.pygent_model(name=None).chat(HI)).text == "recorded reply"
    assert (tmp_path / "replay" / "recording.jsonl").exists()


# --- BaseChatModel, profiles, the SDK boundary --------------------------------------------


async def test_base_chat_model_derives_chat_from_stream() -> None:
    class Two(BaseChatModel):
        name = "two:words"

        async def stream(self, messages, options=None):  # type: ignore[no-untyped-def]
            yield ChatChunk(text="a ")
            yield ChatChunk(tool_calls=(ToolCall("c1", "clock", {}),))
            yield ChatChunk(text="b", finish_reason="length", usage=Usage(3, 2))

    reply = await Two().chat(HI)
    assert reply == ChatResponse("a b", "length", Usage(3, 2), (ToolCall("c1", "clock", {}),), "two:words")
    assert isinstance(Two(), ChatModel) and Two().profile == ModelProfile()
    with pytest.raises(TypeError, match="abstract"):
        type("NoStream", (BaseChatModel,), {"name": "x"})()


async def test_every_provider_model_is_a_base_chat_model_with_a_profile(tmp_path: Path) -> None:
    from pygent_plugins.llamacpp import LlamaCppPlugin
    from pygent_plugins.openai import OpenAIPlugin

    config = {"llamacpp": {"n_ctx": 1024}, "kernel": {"data_dir": str(tmp_path)},
              "openai": {"models": ["m"], "context_length": 32768, "base_url": "http://127.0.0.1:9/v1"},
              "replay": {"model": "llamacpp:smollm2"}}
    plugins = {"llamacpp": LlamaCppPlugin, "openai": OpenAIPlugin, "scripted": ScriptedPlugin,
               "replay": ReplayPlugin, "models": ModelsPlugin}
    async with PluginHarness(plugins, config) as h:
        models = {m.name: m for found in h.kernel.hook.pygent_chat_models() for m in found}
        assert all(isinstance(m, BaseChatModel) for m in models.values()), models
        profile = {n: h.kernel.hook.pygent_model(name=n).profile for n in models}
        assert profile["llamacpp:smollm2"] == ModelProfile(context_length=1024, json_schema=True)
        assert profile["replay:llamacpp:smollm2"] == profile["llamacpp:smollm2"]
        assert profile["openai:m"] == ModelProfile(context_length=32768, tools=True, json_schema=True)
        assert profile["scripted:echo"].tools and not profile["scripted:echo"].json_schema


def test_production_code_does_not_import_the_testing_package() -> None:
    code = ("import sys, pygent_sdk, pygent_sdk.replay, pygent_sdk.scripted, pygent_plugins.replay, "
            "pygent_plugins.scripted, pygent_plugins.models.http, pygent_plugins.ollama.http; "
            "print(sorted(m for m in sys.modules if m.startswith('pygent_sdk.testing')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- the scripted provider ----------------------------------------------------------------


async def test_scripted_plugin_echo_inline_and_jsonl_scripts(tmp_path: Path) -> None:
    script = tmp_path / "demo.jsonl"
    script.write_text('"first line"\n\n{"tool_calls": [{"name": "calculator", "arguments": {"input": "2+2"}}]}\n')
    config = {"scripted": {"models": {"inline": ["Hello there", {"text": "cut", "finish_reason": "length"}],
                                      "file": str(script)}},
              "models": {"default": "scripted:echo"}}
    async with PluginHarness({"scripted": ScriptedPlugin, "models": ModelsPlugin}, config) as h:
        assert sorted(m.name for m in h.kernel.hook.pygent_chat_models()[0]) == [
            "scripted:echo", "scripted:file", "scripted:inline"]
        echo = h.kernel.hook.pygent_model(name=None)
        assert (await echo.chat([ChatMessage("system", "x"), ChatMessage("user", "say this back")])).text == "say this back"
        inline = h.kernel.hook.pygent_model(name="scripted:inline")
        assert (await inline.chat(HI)).text == "Hello there"
        assert (await inline.chat(HI)).finish_reason == "length"
        with pytest.raises(ScriptExhausted, match="'scripted:inline' ran out of replies after 2 calls"):
            await inline.chat(HI)
        from_file = h.kernel.hook.pygent_model(name="scripted:file")
        assert (await from_file.chat(HI)).text == "first line"
        called = await from_file.chat(HI)
        assert called.finish_reason == "tool_calls"
        assert called.tool_calls == (ToolCall("call_0", "calculator", {"input": "2+2"}),)


async def test_scripted_loop_starts_over() -> None:
    config = {"scripted": {"models": {"ab": ["a", "b"]}, "loop": True}}
    async with PluginHarness({"scripted": ScriptedPlugin, "models": ModelsPlugin}, config) as h:
        model = h.kernel.hook.pygent_model(name="scripted:ab")
        assert [(await model.chat(HI)).text for _ in range(5)] == ["a", "b", "a", "b", "a"]


@pytest.mark.parametrize(("line", "error"), [
    ("not json", r"demo.jsonl:2: not JSON"),
    ("[1, 2]", r"demo.jsonl:2: a reply is a string or an object, not list"),
    ('{"txt": "typo"}', r"demo.jsonl:2: unknown key\(s\) \['txt'\]"),
    ('{"tool_calls": [{"arguments": {}}]}', r"demo.jsonl:2: each tool call needs a name"),
])
async def test_scripted_file_errors_name_file_and_line(tmp_path: Path, line: str, error: str) -> None:
    (tmp_path / "demo.jsonl").write_text(f'"ok"\n{line}\n')
    config = {"scripted": {"models": {"demo": str(tmp_path / "demo.jsonl")}}}
    with pytest.raises(PluginError, match=error):
        async with PluginHarness({"scripted": ScriptedPlugin, "models": ModelsPlugin}, config):
            pass


async def test_scripted_echo_is_reserved() -> None:
    with pytest.raises(ConfigError, match="'echo' is the built-in scripted:echo model"):
        async with PluginHarness({"scripted": ScriptedPlugin}, {"scripted": {"models": {"echo": ["x"]}}}):
            pass


def test_pygent_run_on_scripted_models_needs_no_model(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(
        '[kernel]\ndata_dir = "data"\n[models]\ndefault = "scripted:calc"\n[agents]\n[tools]\n[general]\n'
        '[scripted]\nmodels = {calc = [\'{"action": "calculator", "input": "17*23"}\', '
        '\'{"action": "final_answer", "input": "17*23 is 391"}\']}\n'
    )
    echoed = pygent("run", "general", "Repeat after me", "-m", "scripted:echo", cwd=tmp_path)
    assert echoed.returncode == 0, echoed.stderr
    assert "Repeat after me" in echoed.stdout
    scripted = pygent("run", "general", "What is 17*23?", cwd=tmp_path)
    assert scripted.returncode == 0, scripted.stderr
    assert "17*23 is 391" in scripted.stdout and "391" in scripted.stdout


# --- metrics ------------------------------------------------------------------------------


def usage(total: float, *, finish: str = "stop", model: str = "m:a") -> LlmUsage:
    return LlmUsage(model=model, prompt_tokens=10, completion_tokens=11, first_token_s=total / 10,
                    total_s=total, finish_reason=finish, source="test")


def test_metrics_percentiles_errors_and_a_bounded_window() -> None:
    metrics = ModelMetrics(window=100, max_models=2)
    for total in range(100, 0, -1):  # 100 s .. 1 s, in reverse
        metrics.record(usage(float(total)))
    f = metrics.figures("m:a")
    assert (f.count, f.errors, f.prompt_tokens, f.completion_tokens) == (100, 0, 1000, 1100)
    assert (f.latency_s.p50, f.latency_s.p95, f.latency_s.p99) == (50.0, 95.0, 99.0)
    assert f.first_token_s.p50 == 5.0
    # 10 tokens after the first, in 0.9 x total seconds: the 50th slowest of 100 is total = 51
    assert f.tokens_per_s.p50 == pytest.approx(10 / (0.9 * 51))
    metrics.record(usage(1000.0, finish="error"))
    metrics.record(usage(1000.0, finish="cancelled"))
    f = metrics.figures("m:a")
    assert (f.count, f.errors, f.cancelled) == (100, 1, 1)  # the window keeps the last 100:
    assert f.latency_s.p99 == 98.0  # 100 s and 99 s dropped out; failed ones are not latency
    metrics.record(usage(1.0, model="m:b"))
    metrics.record(usage(1.0, model="m:c"))  # a third model: the least recently used goes
    assert metrics.figures("m:a").count == 0 and metrics.figures("m:c").count == 1


# --- OpenAI-compatible: streamed tool calls -----------------------------------------------


@pytest.fixture
def openai_server() -> tuple[FakeOpenAI, str]:
    fake = FakeOpenAI()
    with serve(fake.app(), free_port()) as url:
        yield fake, f"{url}/v1"


async def test_openai_assembles_streamed_tool_call_deltas_exactly(openai_server) -> None:
    from pygent_plugins.openai import OpenAIPlugin
    from pygent_plugins.openai.client import OpenAIError

    fake, url = openai_server
    fake.replies = [tool_call_chunks(), tool_call_chunks(('{"expression": ', "17*23}"))]
    calculator = ToolSpec("calculator", "Evaluate arithmetic.", {
        "type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]})
    options = ChatOptions(tools=(calculator, ToolSpec("clock", "The time.")), tool_choice="calculator")
    ask = [ChatMessage("user", "What is 17*23?")]
    async with PluginHarness({"openai": OpenAIPlugin, "models": ModelsPlugin}, {"openai": {"base_url": url}}) as h:
        model = h.kernel.hook.pygent_model(name="openai:gpt-x")
        reply = await model.chat(ask, options)
        assert reply.tool_calls == (ToolCall("call_abc", "calculator", {"expression": "17*23"}),
                                    ToolCall("call_def", "clock", {}))
        assert (reply.text, reply.finish_reason, reply.usage) == ("", "tool_calls", Usage(31, 12))
        sent = fake.requests[-1]
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "calculator"}}
        assert [t["function"]["name"] for t in sent["tools"]] == ["calculator", "clock"]
        assert sent["tools"][0]["function"]["parameters"] == calculator.parameters
        assert (sent["stream"], sent["stream_options"]) == (True, {"include_usage": True})
        with pytest.raises(OpenAIError, match=r"tool call 'calculator' came with arguments that are "
                                              r"not JSON .*'\{\"expression\": 17\*23\}'"):
            await model.chat(ask, options)


# --- REST: /api/v1/models and /api/v1/ollama ----------------------------------------------


@asynccontextmanager
async def models_api(ollama_url: str) -> AsyncIterator[Served]:
    from pygent_plugins.auth import AuthPlugin
    from pygent_plugins.http import HttpPlugin

    plugins = {"models": ModelsPlugin, "scripted": ScriptedPlugin, "ollama": OllamaPlugin,
               "auth": AuthPlugin, "http": HttpPlugin}
    config = {"models": {"default": "scripted:echo", "aliases": {"demo": "scripted:two"}},
              "scripted": {"models": {"two": ["one", "two"]}}, "ollama": {"host": ollama_url},
              "auth": {"jwt_secret": JWT_SECRET}, "http": {"port": 0}}
    async with PluginHarness(plugins, config) as h:
        store = h.kernel.hook.pygent_auth_keys()
        keys = {role: store.create(role)[1] for role in ("viewer", "operator", "admin")}
        yield Served(h, h.plugin("http").url, keys)


def sse(text: str) -> list[tuple[str, str]]:
    """(event, data) of each Server-Sent Event in ``text``."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            found.append((fields.get("event", "message"), fields["data"]))
    return found


async def metrics_of(api: httpx.AsyncClient, name: str, count: int) -> dict[str, Any]:
    """The model's metrics once ``count`` exchanges are in (usage events arrive on the bus)."""
    with anyio.fail_after(5):
        while (body := (await api.get(f"/api/v1/models/{name}/metrics")).json())["count"] < count:
            await anyio.sleep(0.02)
    return body


async def test_models_rest_status_show_chat_generate_and_metrics(ollama_server) -> None:
    _, url = ollama_server
    async with models_api(url) as s, s.client("viewer") as viewer, s.client("operator") as operator:
        status = (await viewer.get("/api/v1/models/status")).json()
        assert status["default"] == "scripted:echo"
        assert status["models"] == ["ollama:llama3.2:latest", "scripted:echo", "scripted:two"]
        assert status["providers"] == [
            {"name": "ollama", "status": "ok", "detail": f"Ollama 0.12.0 at {url}", "models": 1},
            {"name": "scripted", "status": "ok", "detail": "scripted", "models": 2}]
        shown = (await viewer.get("/api/v1/models/ollama:llama3.2:latest")).json()
        assert shown["profile"] == {"context_length": 4096, "tools": True, "json_schema": True,
                                    "streaming": True, "embeddings": False}
        assert shown["provider"] == "ollama" and shown["details"]["details"]["family"] == "llama"
        assert (await viewer.get("/api/v1/models/demo")).json()["details"] == {"replies": 2, "loop": False}
        missing = await viewer.get("/api/v1/models/nope:x")
        assert missing.status_code == 404 and "Available: ollama:llama3.2:latest" in missing.json()["detail"]

        ask = {"messages": [{"role": "user", "content": "hello there"}]}
        assert (await viewer.post("/api/v1/models/scripted:echo/chat", json=ask)).status_code == 403
        reply = (await operator.post("/api/v1/models/scripted:echo/chat", json=ask)).json()
        assert reply == {"model": "scripted:echo", "text": "hello there", "finish_reason": "stop",
                         "usage": {"prompt_tokens": 2, "completion_tokens": 2}, "tool_calls": []}
        bad = await operator.post("/api/v1/models/scripted:echo/chat", json={**ask, "temprature": 1})
        assert bad.status_code == 400 and "temprature" in bad.text
        streamed = sse((await operator.post("/api/v1/models/scripted:echo/chat/stream",
                                            json={**ask, "options": {"max_tokens": 1}})).text)
        assert streamed[0] == ("token", "hello")
        assert streamed[-1][0] == "done" and json.loads(streamed[-1][1])["finish_reason"] == "length"

        generated = (await operator.post("/api/v1/models/ollama:llama3.2:latest/generate",
                                         json={"prompt": "Tell a story"})).json()
        assert (generated["text"], generated["finish_reason"]) == ("Once upon a time", "length")
        refused = await operator.post("/api/v1/models/scripted:echo/generate", json={"prompt": "x"})
        assert refused.status_code == 400 and "cannot generate plain completions" in refused.json()["detail"]

        figures = await metrics_of(viewer, "scripted:echo", 2)
        assert (figures["count"], figures["errors"], figures["window"]) == (2, 0, 1000)
        assert figures["completion_tokens"] == 3 and figures["latency_s"]["p50"] >= 0
        assert (await metrics_of(viewer, "ollama:llama3.2:latest", 1))["completion_tokens"] == 3

        for expected in ("one", "two"):  # the alias reaches scripted:two, whose script then ends
            assert (await operator.post("/api/v1/models/demo/chat", json=ask)).json()["text"] == expected
        ended = await operator.post("/api/v1/models/demo/chat", json=ask)
        assert ended.status_code == 400 and "ran out of replies" in ended.json()["detail"]
        figures = await metrics_of(viewer, "demo", 3)
        assert (figures["model"], figures["errors"]) == ("scripted:two", 1)
        assert (await viewer.get("/api/v1/models/nope:x/metrics")).status_code == 404


async def test_models_rest_pull_and_delete_need_admin(ollama_server) -> None:
    fake, url = ollama_server
    async with models_api(url) as s, s.client("operator") as operator, s.client("admin") as admin:
        pull = {"name": "ollama:qwen3"}
        assert (await operator.post("/api/v1/models/pull", json=pull)).status_code == 403
        assert (await operator.delete("/api/v1/models/ollama:llama3.2:latest")).status_code == 403
        events = sse((await admin.post("/api/v1/models/pull", json=pull)).text)
        progress = [json.loads(data) for kind, data in events if kind == "progress"]
        assert [p["completed"] for p in progress if p["total"]] == [0, 500, 1000]
        assert events[-1] == ("done", '{"name":"ollama:qwen3"}')
        assert "ollama:qwen3" in [m["name"] for m in (await admin.get("/api/v1/models")).json()]
        assert (await admin.post("/api/v1/models/pull", json={"name": "nope:x"})).status_code == 404
        refused = sse((await admin.post("/api/v1/models/pull", json={"name": "scripted:x"})).text)
        assert refused == [("error", "the scripted provider cannot pull models")]
        assert (await admin.delete("/api/v1/models/ollama:qwen3:latest")).status_code == 204
        assert "qwen3:latest" not in fake.models
        gone = await admin.delete("/api/v1/models/ollama:ghost")
        assert gone.status_code == 404 and "model 'ghost' not found" in gone.json()["detail"]


async def test_ollama_paths_of_the_original_system(ollama_server) -> None:
    fake, url = ollama_server
    async with models_api(url) as s, s.client("viewer") as viewer, s.client("admin") as admin:
        assert (await viewer.get("/api/v1/ollama/status")).json() == {
            "status": "ok", "detail": f"Ollama 0.12.0 at {url}", "host": url}
        assert (await viewer.get("/api/v1/ollama/models")).json() == [
            {"name": "llama3.2:latest", "size": 2_019_393_189, "modified_at": "2026-11-21T10:00:00+00:00"}]
        shown = (await viewer.get("/api/v1/ollama/models/llama3.2:latest")).json()
        assert shown["modelfile"] == "FROM llama3.2" and shown["capabilities"] == ["completion", "tools"]
        assert (await viewer.get("/api/v1/ollama/models/ghost")).status_code == 404
        assert (await viewer.post("/api/v1/ollama/models/pull", json={"name": "qwen3"})).status_code == 403
        events = sse((await admin.post("/api/v1/ollama/models/pull", json={"name": "qwen3"})).text)
        assert [kind for kind, _ in events].count("progress") == 6 and events[-1][0] == "done"
        assert (await viewer.delete("/api/v1/ollama/models/qwen3:latest")).status_code == 403
        assert (await admin.delete("/api/v1/ollama/models/qwen3:latest")).status_code == 204
        fake.models["hf.co/org/repo:latest"] = 1  # names may hold slashes
        assert (await viewer.get("/api/v1/ollama/models/hf.co/org/repo:latest")).status_code == 200
        assert (await admin.delete("/api/v1/ollama/models/hf.co/org/repo:latest")).status_code == 204
        assert list(fake.models) == ["llama3.2:latest"]


def test_provider_example_runs(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "docs" / "examples" / "provider_example.py"
    result = subprocess.run([sys.executable, str(example)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "reverse:words answered 'three two one' (stop, 3 tokens, context 4096)",
        "llm.usage: reverse:words, 3 completion tokens",
        "provider reverse: ['reverse:words']",
        "pull refused: the reverse provider cannot pull models",
    ]


async def test_replay_of_a_missing_model_is_listed_and_fails_on_use(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "replay": {"model": "nope:x"}}
    async with PluginHarness({"replay": ReplayPlugin, "models": ModelsPlugin}, config) as h:
        model = h.kernel.hook.pygent_model(name="replay:nope:x")  # found without asking for nope:x
        assert model.description == "records and replays recording.jsonl"
        with pytest.raises(PygentError, match="the model to record, 'nope:x', is not available"):
            await model.chat(HI)


def test_pygent_models_list_shows_profiles_and_pull_names_providers(tmp_path: Path) -> None:
    (tmp_path / "plugins.toml").write_text(
        '[kernel]\ndata_dir = "data"\n[models]\ndefault = "scripted:demo"\n[scripted]\nmodels = {demo = ["hi"]}\n'
    )
    listed = pygent("models", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in listed.stdout.splitlines()]
    assert [c for c in cells if c] == [
        ["scripted:demo", "1 scripted replies (plugins.toml)", "1,000,000", "✓", "✓"],
        ["scripted:echo", "echoes the last user message", "1,000,000", "✓", ""]]
    pulled = pygent("models", "pull", "scripted:demo", cwd=tmp_path)
    assert pulled.returncode != 0 and "the scripted provider cannot pull models" in pulled.stdout + pulled.stderr
    unknown = pygent("models", "pull", "nope:x", cwd=tmp_path)
    assert "No enabled provider can pull 'nope:x'" in unknown.stdout + unknown.stderr
    assert "provider one of: scripted" in unknown.stdout + unknown.stderr


async def test_models_rest_on_the_embedded_model() -> None:
    from pygent_plugins.auth import AuthPlugin
    from pygent_plugins.http import HttpPlugin
    from pygent_plugins.llamacpp import LlamaCppPlugin

    plugins = {"models": ModelsPlugin, "llamacpp": LlamaCppPlugin, "auth": AuthPlugin, "http": HttpPlugin}
    config = {"llamacpp": {"n_ctx": 1024}, "auth": {"jwt_secret": JWT_SECRET}, "http": {"port": 0}}
    async with PluginHarness(plugins, config) as h:
        key = h.kernel.hook.pygent_auth_keys().create("operator")[1]
        async with httpx.AsyncClient(base_url=h.plugin("http").url, headers={"X-API-Key": key},
                                     timeout=60) as api:
            shown = (await api.get("/api/v1/models/llamacpp:smollm2")).json()
            assert shown["profile"]["context_length"] == 1024 and shown["profile"]["json_schema"]
            assert shown["details"]["path"].endswith(".gguf") and shown["details"]["loaded"] is False
            ask = {"messages": [{"role": "user", "content": "Name three colours."}],
                   "options": {"max_tokens": 8, "temperature": 0}}
            reply = (await api.post("/api/v1/models/llamacpp:smollm2/chat", json=ask)).json()
            assert reply["finish_reason"] == "length" and reply["usage"]["completion_tokens"] == 8
            figures = await metrics_of(api, "llamacpp:smollm2", 1)
            assert figures["completion_tokens"] == 8 and figures["tokens_per_s"]["p50"] > 1
            assert (await api.get("/api/v1/models/llamacpp:smollm2")).json()["details"]["loaded"] is True
            plain = {"prompt": "The capital of France is", "options": {"max_tokens": 4, "temperature": 0}}
            completed = (await api.post("/api/v1/models/llamacpp:smollm2/generate", json=plain)).json()
            assert completed["finish_reason"] == "length" and completed["text"].strip()
            assert completed["usage"]["prompt_tokens"] <= 8  # 5 words alone; a chat template adds ~30
            missing = await api.post("/api/v1/models/llamacpp:nope/generate", json=plain)
            assert missing.status_code == 404 and "configured: ['smollm2']" in missing.json()["detail"]
            await metrics_of(api, "llamacpp:smollm2", 2)  # generating is metered too
            # a client that leaves a stream stops the generation, counted as cancelled
            long = {"messages": [{"role": "user", "content": "Write a long story."}],
                    "options": {"max_tokens": 400}}
            async with api.stream("POST", "/api/v1/models/llamacpp:smollm2/chat/stream", json=long) as r:
                async for line in r.aiter_lines():
                    if line.startswith("event: token"):
                        break
            figures = await metrics_of(api, "llamacpp:smollm2", 3)
            assert figures["cancelled"] == 1 and figures["completion_tokens"] < 8 + 4 + 400


def test_openai_strict_structured_outputs_only_for_schemas_openai_accepts() -> None:
    from pygent_plugins.openai.client import strict_schema

    closed = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
              "additionalProperties": False}
    assert strict_schema(closed)
    assert not strict_schema({"anyOf": [closed]})  # the general agent's per-tool action schema
    assert not strict_schema({**closed, "additionalProperties": True})
    assert not strict_schema({**closed, "required": []})
    nested = {**closed, "properties": {"a": {"type": "object", "properties": {}}}}
    assert not strict_schema(nested)
