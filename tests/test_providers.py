"""The models registry, the ollama provider against an Ollama-shaped server, and replay."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.ollama import OllamaPlugin
from pygent_plugins.replay import ReplayPlugin
from pygent_plugins.scripted import ScriptedPlugin
from pygent_sdk import ChatMessage, ChatOptions, ToolSpec
from pygent_sdk.models import ModelNotFound, ModelOperationUnsupported, ModelProvider, pull_stream
from pygent_sdk.testing import NotRecorded, PluginHarness, ReplayModel, ScriptedChatModel

from .agent_kit import ScriptedProvider
from .fake_ollama import FakeOllama, serve

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
