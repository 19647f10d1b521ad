"""The memory plugin on SQLite (default) and on a real PostgreSQL, plus crash durability."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pygent_plugins.memory import MemoryPlugin
from pygent_plugins.memory.schema import MIGRATIONS
from pygent_plugins.memory.store import UnknownConversation
from pygent_sdk import ChatMessage, ToolCall
from pygent_sdk.testing import PluginHarness

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgres"])
def memory_config(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return {"url": request.getfixturevalue("postgres_url")}


async def test_conversations_messages_and_export(memory_config) -> None:
    async with PluginHarness({"memory": MemoryPlugin}, {"memory": memory_config}) as h:
        store = h.kernel.hook.pygent_memory_store()
        cid = await store.create_conversation("agent-1", "Arithmetic")
        call = ToolCall("c1", "calculator", {"expression": "17*23"})
        await store.append(cid, ChatMessage("user", "What is 17*23?"))
        await store.append(cid, ChatMessage("assistant", "", (call,)))
        await store.append(cid, ChatMessage("tool", "391", tool_call_id="c1"))
        last = await store.append(cid, ChatMessage("assistant", "It is 391 — ünïcode ok."))
        history = await store.history(cid)
        assert [s.message for s in history][1].tool_calls == (call,)
        assert [s.message.role for s in history] == ["user", "assistant", "tool", "assistant"]
        assert [s.message.content for s in await store.history(cid, limit=2)] == [
            "391", "It is 391 — ünïcode ok."]
        assert history[-1].id == last.id
        exported = json.loads(await store.export(cid, "json"))
        assert exported["title"] == "Arithmetic" and len(exported["messages"]) == 4
        assert exported["messages"][1]["tool_calls"][0]["arguments"] == {"expression": "17*23"}
        markdown = await store.export(cid, "markdown")
        assert markdown.startswith(f"# Arithmetic ({cid})") and "## tool ·" in markdown
        assert '- tool call `calculator` {"expression": "17*23"}' in markdown
        listed = await store.conversations("agent-1")
        assert [(c.id, c.messages) for c in listed] == [(cid, 4)]
        await store.delete_conversation(cid)
        assert await store.conversations() == []
        with pytest.raises(UnknownConversation, match="No conversation 'nope'"):
            await store.append("nope", ChatMessage("user", "x"))


async def test_facts_and_episodes(memory_config) -> None:
    async with PluginHarness({"memory": MemoryPlugin}, {"memory": memory_config}) as h:
        store = h.kernel.hook.pygent_memory_store()
        await store.remember("a", "name", "Ada")
        await store.remember("a", "name", {"first": "Ada", "last": "Lovelace"})
        assert await store.recall("a", "name") == {"first": "Ada", "last": "Lovelace"}
        assert await store.recall("b", "name") is None
        await store.add_episode("a", "Deployed the billing service to production")
        await store.add_episode("a", "Fixed a bug in the billing export")
        await store.add_episode("a", "Lunch with the team")
        await store.add_episode("b", "billing production outage")
        hits = await store.search_episodes("a", "billing production")
        assert [h.text for h in hits] == [
            "Deployed the billing service to production", "Fixed a bug in the billing export"]
        assert hits[0].score == 1.0 and hits[1].score == 0.5
        assert await store.stats() == {"conversations": 0, "messages": 0, "facts": 1, "episodes": 4}
        assert await store.forget("a") == 4
        assert await store.search_episodes("a", "billing") == []
        health = (await h.kernel.health()).plugins["memory"]
        assert health.status == "ok" and f"schema version {MIGRATIONS[-1][0]}" in health.detail


async def test_hook_pygent_memory_store(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "memory": {}}
    async with PluginHarness({"memory": MemoryPlugin}, config) as h:
        store = h.kernel.hook.pygent_memory_store()
        cid = await store.create_conversation(None, "kept")
        assert h.calls_to("pygent_memory_store")[0].result is store
    db = tmp_path / "memory" / "memory.db"
    assert db.exists()
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [r[0] for r in conn.execute("SELECT version FROM pygent_schema ORDER BY version")]
    assert versions == [v for v, _, _ in MIGRATIONS]
    async with PluginHarness({"memory": MemoryPlugin}, config) as h:  # migrations run once
        store = h.kernel.hook.pygent_memory_store()
        assert [c.title for c in await store.conversations()] == ["kept"] and cid


WRITER = textwrap.dedent("""
    import anyio, sys
    from pygent_plugins.memory import MemoryPlugin
    from pygent_sdk import ChatMessage
    from pygent_sdk.testing import PluginHarness

    async def main():
        config = {"kernel": {"data_dir": sys.argv[1]}, "memory": {}}
        async with PluginHarness({"memory": MemoryPlugin}, config) as h:
            store = h.kernel.hook.pygent_memory_store()
            cid = await store.create_conversation("a", "crash")
            n = 0
            while True:
                n += 1
                stored = await store.append(cid, ChatMessage("user", f"message {n}"))
                print(cid, stored.id, flush=True)   # acknowledged to the caller

    anyio.run(main)
""")


def test_acknowledged_messages_survive_kill_9(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    acked = [process.stdout.readline().split() for _ in range(50)]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    cid = acked[0][0]

    async def check() -> list[str]:
        config = {"kernel": {"data_dir": str(tmp_path)}, "memory": {}}
        async with PluginHarness({"memory": MemoryPlugin}, config) as h:
            return [s.message.content for s in await h.kernel.hook.pygent_memory_store().history(cid)]

    import anyio

    contents = anyio.run(check)
    assert len(contents) >= 50  # every acknowledged message, perhaps one more in flight
    assert contents[:50] == [f"message {n}" for n in range(1, 51)]


async def test_bad_database_url_is_a_clear_start_error() -> None:
    from pygent_sdk import PluginError

    with pytest.raises(PluginError, match="Plugin 'memory' failed to start: .*nosuchdriver"):
        async with PluginHarness({"memory": MemoryPlugin}, {"memory": {"url": "nosuchdriver://x"}}):
            pass
