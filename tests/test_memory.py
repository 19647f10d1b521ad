"""The memory plugin on SQLite (default) and on a real PostgreSQL, plus crash durability."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from pygent_plugins.embeddings import EmbeddingsPlugin
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


EPISODES = ["The cat slept on the sofa all afternoon.", "Quarterly revenue grew by twelve percent.",
            "We deployed the billing service to production."]
PARAPHRASE = "kitty dozing upon couch"  # shares no word with any episode


def vector_config(memory_config: dict[str, str], tmp_path: Path, **memory: Any) -> dict[str, Any]:
    return {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {},
            "memory": {**memory_config, "embedder": "st:minilm", **memory}}


async def vector_rows(store: Any) -> int:
    import sqlalchemy as sa
    from pygent_plugins.memory.schema import episode_vectors

    async with store.engine.connect() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(episode_vectors))


async def test_vector_search_finds_a_paraphrase_with_no_shared_words(memory_config, tmp_path: Path) -> None:
    agent = f"vec-{uuid.uuid4().hex[:8]}"
    async with PluginHarness({"memory": MemoryPlugin}, {"memory": memory_config}) as h:
        store = h.kernel.hook.pygent_memory_store()
        await store.add_episode(agent, EPISODES[0])
        assert await store.search_episodes(agent, PARAPHRASE) == []  # word overlap finds nothing
        assert await store.forget(agent) == 1
    plugins = {"memory": MemoryPlugin, "embeddings": EmbeddingsPlugin}
    async with PluginHarness(plugins, vector_config(memory_config, tmp_path)) as h:
        store = h.kernel.hook.pygent_memory_store()
        before = await vector_rows(store)
        for text in EPISODES:
            await store.add_episode(agent, text)
        assert await vector_rows(store) == before + 3
        hits = await store.search_episodes(agent, PARAPHRASE)
        assert [e.text for e in hits] == [EPISODES[0]] and 0.4 < hits[0].score <= 1.0
        hits = await store.search_episodes(agent, "money earned this quarter went up", limit=1)
        assert [e.text for e in hits] == [EPISODES[1]]
        assert await store.search_episodes("someone-else", PARAPHRASE) == []
        health = (await h.kernel.health()).plugins["memory"]
        assert health.detail.endswith("episodes by st:minilm")
        assert await store.forget(agent) == 3 and await vector_rows(store) == before


async def test_episodes_without_vectors_are_found_by_words(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "memory": {}}
    async with PluginHarness({"memory": MemoryPlugin}, config) as h:  # no embedder yet
        await h.kernel.hook.pygent_memory_store().add_episode("a", EPISODES[2])
    plugins = {"memory": MemoryPlugin, "embeddings": EmbeddingsPlugin}
    async with PluginHarness(plugins, vector_config({}, tmp_path)) as h:
        store = h.kernel.hook.pygent_memory_store()
        await store.add_episode("a", EPISODES[0])
        assert await vector_rows(store) == 1
        hits = await store.search_episodes("a", "billing production")
        assert [(e.text, e.score) for e in hits] == [(EPISODES[2], 1.0)]
        assert [e.text for e in await store.search_episodes("a", PARAPHRASE)] == [EPISODES[0]]


async def test_an_embedder_that_fails_keeps_the_episode_and_search_falls_back_to_words(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "embeddings": {"models": {"gone": str(tmp_path / "x")}},
              "memory": {"embedder": "st:gone"}}
    async with PluginHarness({"memory": MemoryPlugin, "embeddings": EmbeddingsPlugin}, config) as h:
        store = h.kernel.hook.pygent_memory_store()
        await store.add_episode("a", "kept although st:gone cannot embed")
        assert await vector_rows(store) == 0 and await store.stats() == {
            "conversations": 0, "messages": 0, "facts": 0, "episodes": 1}
        caplog.clear()
        hits = await store.search_episodes("a", "kept")
        assert [(e.text, e.score) for e in hits] == [("kept although st:gone cannot embed", 1.0)]
        assert "episode search by word overlap: embedder st:gone failed" in caplog.text


async def test_vector_hits_rank_ahead_of_word_overlap_hits(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "memory": {}}
    async with PluginHarness({"memory": MemoryPlugin}, config) as h:  # no vector for this one
        await h.kernel.hook.pygent_memory_store().add_episode("a", EPISODES[2])
    plugins = {"memory": MemoryPlugin, "embeddings": EmbeddingsPlugin}
    async with PluginHarness(plugins, vector_config({}, tmp_path)) as h:
        store = h.kernel.hook.pygent_memory_store()
        close = "Yesterday the billing system went live on the production servers."
        await store.add_episode("a", close)
        hits = await store.search_episodes("a", "billing production")
        # The cosine hit (below 1.0) comes before the overlap-only hit (1.0): scores differ in kind.
        assert [e.text for e in hits] == [close, EPISODES[2]] and hits[0].score < hits[1].score == 1.0


async def test_search_looks_at_the_most_recent_search_candidates(tmp_path: Path) -> None:
    config = {"kernel": {"data_dir": str(tmp_path)}, "memory": {"search_candidates": 2}}
    async with PluginHarness({"memory": MemoryPlugin}, config) as h:
        store = h.kernel.hook.pygent_memory_store()
        for text in [EPISODES[2], "billing again", "billing once more"]:
            await store.add_episode("a", text)
        hits = await store.search_episodes("a", "billing production", limit=5)
        assert [e.text for e in hits] == ["billing once more", "billing again"]


async def test_memory_embedder_without_the_embeddings_plugin_is_a_clear_error(tmp_path: Path) -> None:
    from pygent_sdk.services import ServiceUnavailable

    config = {"kernel": {"data_dir": str(tmp_path)}, "memory": {"embedder": "st:minilm"}}
    async with PluginHarness({"memory": MemoryPlugin}, config) as h:
        with pytest.raises(ServiceUnavailable, match=r"Plugin 'memory' needs the Embedder service"):
            await h.kernel.hook.pygent_memory_store().add_episode("a", "x")


async def test_a_version_2_database_migrates_keeping_its_episodes(memory_config, tmp_path: Path) -> None:
    import sqlalchemy as sa
    from pygent_plugins.memory.schema import episodes, schema_versions
    from sqlalchemy.ext.asyncio import create_async_engine

    def asynchronous(url: str) -> str:
        return url.replace("postgresql://", "postgresql+asyncpg://", 1).replace("sqlite://", "sqlite+aiosqlite://", 1)

    def version_2(conn: Any) -> None:
        schema_versions.create(conn)
        for version, description, run in MIGRATIONS[:2]:
            run(conn)
            conn.execute(schema_versions.insert().values(version=version, description=description, applied_at=0.0))
        conn.execute(episodes.insert().values(agent_id="old", text=EPISODES[2], meta={}, created_at=1.0))

    if memory_config:  # a database of its own on the PostgreSQL server
        name = f"migrate_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(asynchronous(memory_config["url"]), isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(sa.text(f"CREATE DATABASE {name}"))
        await admin.dispose()
        url = sa.engine.make_url(memory_config["url"]).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_async_engine(asynchronous(url))
    async with engine.begin() as conn:
        await conn.run_sync(version_2)
    await engine.dispose()
    plugins = {"memory": MemoryPlugin, "embeddings": EmbeddingsPlugin}
    async with PluginHarness(plugins, vector_config({"url": url}, tmp_path)) as h:
        store = h.kernel.hook.pygent_memory_store()
        assert [e.text for e in await store.search_episodes("old", "billing")] == [EPISODES[2]]
        await store.add_episode("old", EPISODES[0])
        assert [e.text for e in await store.search_episodes("old", PARAPHRASE)] == [EPISODES[0]]
        health = (await h.kernel.health()).plugins["memory"]
        assert f"schema version {MIGRATIONS[-1][0]}" in health.detail and MIGRATIONS[-1][0] == 3


async def test_post_memory_search_uses_vectors(tmp_path: Path) -> None:
    from .http_kit import served

    extra = {"embeddings": EmbeddingsPlugin}
    async with served(auth=False, memory={"embedder": "st:minilm"}, extra=extra) as app:
        async with app.client(None) as api:
            for text in EPISODES:
                assert (await api.post("/api/v1/memory/a1/episodes", json={"text": text})).status_code == 201
            found = await api.post("/api/v1/memory/search", json={"agent_id": "a1", "query": PARAPHRASE})
            assert found.status_code == 200, found.text
            assert [e["text"] for e in found.json()] == [EPISODES[0]] and found.json()[0]["score"] > 0.4
            got = await api.get("/api/v1/memory/a1/search", params={"q": PARAPHRASE, "limit": 1})
            assert [e["text"] for e in got.json()] == [EPISODES[0]]
            missing = await api.post("/api/v1/memory/search", json={"agent_id": "nobody", "query": "x"})
            assert missing.status_code == 404
            bad = await api.post("/api/v1/memory/search", json={"agent_id": "a1", "query": "x", "limit": 0})
            assert bad.status_code == 400
