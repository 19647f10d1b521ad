"""The documented embedding example runs as written."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_embedding_example_runs(tmp_path: Path) -> None:
    shutil.copy(ROOT / "plugins.toml", tmp_path / "plugins.toml")
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "embed.py")], cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "subscriber received 3 orders, total 58.75" in result.stdout
    assert re.search(r"heartbeat #\d+ after", result.stdout) and "Kernel stopped cleanly." in result.stdout
    assert "shop.order.placed" not in (tmp_path / ".pygent" / "events.jsonl").read_text()


def test_make_demo_script_runs_on_the_embedded_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "agents_demo.py")], cwd=tmp_path,
        capture_output=True, text=True, timeout=240, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"✓ tool calculator\(17 ?\* ?23\) → 391", out) and re.search(r"agent › .*\b391\b", out)
    assert "Solved on attempt" in out  # a coding task the embedded model solves on any build
    # the project's own docs ingested (MiniLM, FAISS) and a question about them answered with citations
    assert re.search(r"\d+ new, \d+ changed and \d+ unchanged file\(s\): \d+ chunks embedded", out)
    assert re.search(r"search agent › .+\n\nSources:\n\[1\] \S*docs/writing-plugins\.md › ", out, re.S)
    assert re.search(r"✓ retrieval 'How do I write a plugin\?' \(hybrid\) → \d passage\(s\) from \S*docs/writing-plugins\.md", out)
    # Tree-of-Thought on the Game of 24 with the checkable oracle: a tree, a verified solution
    assert re.search(r"└── ✓ \S+ [-+*/] \S+ = 24 \(left: 24\)", out)
    assert re.search(r"\) = 24 \(verified ✓\); \d+ nodes proposed, \d+ pruned", out)
    assert "The stored conversation of the general agent" in out and "Demo finished." in out
    assert "tokens generated" in out and "-m ollama:qwen2.5-coder" in out  # and how to go further


# The plugin docs/writing-plugins.md walks through, used as a new author would use it.

sys.path.insert(0, str(ROOT / "docs" / "examples"))
from todo_plugin import AddTodo, TodoAdded, TodoPlugin  # noqa: E402

TODO_CONFIG = {
    "models": {"default": "scripted:note"},
    "scripted": {"models": {"note": ["buy milk", "  "]}},
    "http": {"port": 0},
}


@pytest.mark.anyio
async def test_example_plugin_tool_agent_listener_and_routes() -> None:
    import httpx
    from pygent_sdk.agents import AGENT_REGISTRY, AnswerStep, ToolStep
    from pygent_sdk.testing import PluginHarness

    plugins = {"todo": TodoPlugin, "models": None, "scripted": None, "agents": None, "http": None}
    async with PluginHarness(plugins, TODO_CONFIG) as h:
        registry = h.kernel.service(AGENT_REGISTRY)
        info = await registry.create("secretary")
        done = await registry.run(info.id, "Remember that we need milk")
        refused = await registry.run(info.id, "Remember nothing")  # the model answers blank
        await h.settle()
        todo = h.plugin("todo")
        assert todo.items == ["buy milk"] and todo.runs_seen == 1
        assert done.success and done.output == "added 'buy milk'; 1 item(s)"
        assert [type(s) for s in done.steps] == [ToolStep, AnswerStep]
        assert not refused.success and refused.output == "Not added: todo_add needs a non-empty item"
        assert [e.item for e in h.events_on("todo.added")] == ["buy milk"]
        assert isinstance(h.events_on("todo.added")[0], TodoAdded)

        async with httpx.AsyncClient(base_url=h.plugin("http").url + "/api/v1") as client:
            assert (await client.get("/todo/0")).json() == {"index": 0, "item": "buy milk"}
            missing = await client.get("/todo/7")
            assert missing.status_code == 404 and "no to-do item 7" in missing.json()["detail"]
            added = await client.post("/todo", json={"item": "call Bob"})
            assert added.status_code == 201 and added.json() == {"count": 2}
            empty = await client.post("/todo", json={"item": ""})
            assert empty.status_code == 400 and "non-empty" in empty.text
            assert (await client.get("/todo")).json() == ["buy milk", "call Bob"]


@pytest.mark.anyio
async def test_example_tool_refuses_when_full() -> None:
    from pygent_sdk.testing import PluginHarness

    async with PluginHarness({"todo": TodoPlugin, "agents": None, "models": None},
                             {"todo": {"max_items": 1}}) as h:
        tool = AddTodo(h.plugin("todo"))
        assert not (await tool({"item": "a"})).is_error
        full = await tool({"item": "b"})
    assert full.is_error and full.output == "the list is full (1 items)"


def test_example_cli_command_runs_an_ephemeral_agent() -> None:
    import click
    from click.testing import CliRunner
    from pygent_sdk.testing import cli_context

    group = click.Group("pygent")
    TodoPlugin.pygent_cli_commands(cli=group)
    plugins = {"todo": TodoPlugin, "agents": None, "models": None, "scripted": None}
    config = {"models": TODO_CONFIG["models"], "scripted": TODO_CONFIG["scripted"]}
    result = CliRunner().invoke(group, ["todo", "remember milk"], obj=cli_context(plugins, config))
    assert result.exit_code == 0, result.output
    assert "added 'buy milk'; 1 item(s)" in result.output
