"""Reasoning sessions over a real server: the /api/v1/reasoning routes, the WebSocket frames
start_reasoning/stop_reasoning, and results that survive a restart.

The kernel runs the real jobs, tot, reasoning, auth and http plugins on a scripted model that
answers the ``open`` task's prompts (and a slow variant for sessions that must still run when
they are stopped).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pygent_plugins.auth import AuthPlugin
from pygent_plugins.http import HttpPlugin
from pygent_plugins.jobs import JobsPlugin
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.reasoning import ReasoningPlugin
from pygent_plugins.tot import TotPlugin
from pygent_sdk import ChatMessage, ChatOptions
from pygent_plugins.reasoning.sessions import LiveTree, check_request
from pygent_sdk.reasoning import (
    MODES, InvalidProblem, Problem, TotNodeEvaluated, TotNodeProposed, TreeSettings,
)
from pygent_sdk.structs import config_struct
from pygent_sdk.testing import PluginHarness, ScriptedChatModel
from anyio.from_thread import start_blocking_portal
from websockets.asyncio.client import connect

from .agent_kit import ScriptedProvider
from .http_kit import JWT_SECRET

pytestmark = pytest.mark.anyio

STOPPED = {"solved", "exhausted", "depth", "budget_tokens", "budget_time", "budget_nodes", "cancelled"}
SMALL = {"breadth": 2, "depth": 2, "n_evaluate": 1}


class OpenModel(ScriptedChatModel):
    """Answers the ``open`` task: three next steps per proposal, "likely" per value, an answer
    line otherwise; each call first waits ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(self.reply, name="open")
        self.delay = delay

    @staticmethod
    def reply(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
        text = messages[-1].content
        step = re.search(r'"Step (\d+):', text)
        if step:
            k = step.group(1)
            return "\n".join(f"Step {k}: idea {k}{c}" for c in "abc")
        if "sure, likely or impossible" in text:
            return "likely"
        return "Answer: 42"

    async def stream(self, messages: Sequence[ChatMessage], options: ChatOptions | None = None):  # type: ignore[override]
        await anyio.sleep(self.delay)
        async for chunk in super().stream(messages, options):
            yield chunk


@asynccontextmanager
async def served(data_dir: Path, delay: float = 0.0) -> AsyncIterator[tuple[str, dict[str, str], PluginHarness]]:
    """The kernel served on a free port: its URL, an API key per role, the harness."""
    model = OpenModel(delay)
    ScriptedProvider.models = [model]
    plugins = {"models": ModelsPlugin, "scripted": ScriptedProvider, "jobs": JobsPlugin, "tot": TotPlugin,
               "reasoning": ReasoningPlugin, "auth": AuthPlugin, "http": HttpPlugin}
    config = {"kernel": {"data_dir": str(data_dir)}, "models": {"default": model.name},
              "reasoning": {"mode": "tot_only"}, "http": {"port": 0},
              "auth": {"jwt_secret": JWT_SECRET, "rate_limit_per_minute": 10_000}}
    async with PluginHarness(plugins, config) as h:
        store = h.kernel.hook.pygent_auth_keys()
        keys = {role: store.create(role)[1] for role in ("viewer", "operator")}
        yield h.plugin("http").url, keys, h


def client(url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url + "/api/v1", headers={"X-API-Key": key}, timeout=30)


async def until(api: httpx.AsyncClient, session_id: str, states: set[str], nodes: int = 0) -> dict[str, Any]:
    with anyio.fail_after(20):
        while True:
            found = (await api.get("/reasoning/status", params={"session_id": session_id})).json()["session"]
            if found["state"] in states and found["nodes"] >= nodes:
                return found
            await anyio.sleep(0.02)


def assert_tree(nodes: Sequence[dict[str, Any]]) -> None:
    """Nodes in the order given form a tree: the root first, each parent before its children,
    each child one level below its parent."""
    assert nodes and nodes[0]["parent_id"] is None and nodes[0]["depth"] == 0, nodes[:1]
    depth = {nodes[0]["id"]: 0}
    for node in nodes[1:]:
        assert node["parent_id"] in depth, (node, list(depth))
        assert node["depth"] == depth[node["parent_id"]] + 1, node
        depth[node["id"]] = node["depth"]


def test_settings_schema_takes_optional_bounded_fields() -> None:
    import msgspec

    Settings = config_struct(TreeSettings, "Settings")  # depth: int | None with ge/le
    assert msgspec.convert({"depth": 3}, Settings).depth == 3
    with pytest.raises(msgspec.ValidationError, match=r"<= 12 - at `\$.depth`"):
        msgspec.convert({"depth": 13}, Settings)


class Picky:
    """The problem check of a contributed task that raises a bare ValueError."""

    name = "picky"

    def problem(self, text: str, context: str = "") -> Problem:
        return Problem(str(int(text)), context)


class Tasks:
    def tasks(self) -> dict[str, Any]:
        return {"picky": Picky()}


def test_a_contributed_tasks_own_error_is_a_bad_problem_naming_the_task() -> None:
    with pytest.raises(InvalidProblem, match=r"task 'picky': .*invalid literal for int"):
        check_request(Tasks(), "two", mode=None, task="picky")  # type: ignore[arg-type]


def test_a_live_tree_keeps_its_first_nodes_and_counts_the_others() -> None:
    tree = LiveTree("s", limit=2)
    for n in range(4):
        tree.apply(TotNodeProposed(session_id="s", node_id=f"n{n}", parent_id=None if n == 0 else "n0",
                                   depth=int(n > 0), thought=f"t{n}", state=f"t{n}"))
    tree.apply(TotNodeEvaluated(session_id="s", node_id="n3", parent_id="n0", depth=1, value=1.0))
    assert list(tree.nodes) == ["n0", "n1"] and tree.omitted == 2 and tree.size == 4


async def test_routes_start_follow_read_stop_refuse_and_survive_a_restart(tmp_path: Path) -> None:
    async with served(tmp_path) as (url, keys, _), client(url, keys["operator"]) as api:
        for method in ("post", "get"):
            modes = (await getattr(api, method)("/reasoning/modes")).json()
            assert modes["default"] == "tot_only" and [m["name"] for m in modes["modes"]] == [*MODES, "cot"]
            assert all(m["description"] for m in modes["modes"])
            assert [m["name"] for m in modes["modes"] if m["requestable"]] == list(MODES)
            cot = modes["modes"][-1]["description"]

        started = await api.post("/reasoning/start", json={
            "problem": "What is six times seven?", "task": "open", "mode": "tot_only", "settings": SMALL})
        assert started.status_code == 202, started.text
        session_id = started.json()["session_id"]
        assert started.json()["mode"] == "tot_only"
        done = await until(api, session_id, {"completed", "failed"})
        assert done["state"] == "completed", done
        assert done["answer"] and done["nodes"] > 1 and done["stopped"] in STOPPED

        result = (await api.get(f"/reasoning/results/{session_id}")).json()
        assert (result["session_id"], result["state"], result["mode"], result["requested"]) == \
               (session_id, "completed", "tot_only", "tot_only")
        assert result["answer"] and result["why"] and 0 <= result["confidence"] <= 1 and result["timings"]
        tree = result["tree"]
        assert_tree(tree["nodes"])
        assert {n["status"] for n in tree["nodes"]} <= {"proposed", "evaluated", "kept", "pruned", "solution"}
        assert max(n["depth"] for n in tree["nodes"]) <= SMALL["depth"] and tree["stopped"] in STOPPED
        assert tree["path"][0] == tree["nodes"][0]["id"] and tree["settings"]["breadth"] == 2
        # by "query" too; the default mode is [reasoning] mode
        by_query = await api.post("/reasoning/start", json={"query": "Why is the sky blue?", "task": "open",
                                                            "settings": SMALL})
        assert by_query.status_code == 202 and by_query.json()["mode"] == "tot_only"
        await until(api, by_query.json()["session_id"], {"completed"})

        history = (await api.get("/reasoning/history")).json()
        assert [s["session_id"] for s in history] == [by_query.json()["session_id"], session_id]
        assert [s["session_id"] for s in (await api.get("/reasoning/history?limit=1")).json()] == \
               [by_query.json()["session_id"]]
        status = (await api.get("/reasoning/status")).json()
        assert status == {"session": None, "running": [], "counts": {"completed": 2}}

        for body, field in [({}, "problem"), ({"problem": ""}, "problem"), ({"problem": "   "}, "problem"),
                            ({"problem": "x", "mode": "psychic"}, "mode"), ({"problem": "x", "task": "chess"}, "task"),
                            ({"problem": "x", "settings": {"breadth": 0}}, "breadth"),
                            ({"problem": "x", "settings": {"depth": 1000}}, "depth"),
                            ({"problem": "x", "settings": {"colour": 1}}, "colour"),
                            ({"problem": "x", "query": "y"}, 'give "problem" or "query", not both'),
                            ({"problem": "x", "mode": "cot"}, "'cot' is not requestable: " + cot[:40]),
                            ({"problem": "x", "colour": 1}, "colour"),
                            ({"problem": "1 2 3", "task": "game24"}, "game24"),
                            ({"problem": "² 3 4 5", "task": "game24"}, "game24"),
                            ({"problem": "x", "model": "nope"}, "model"),
                            ({"problem": "x", "settings": {"model": "nope"}}, "'nope'")]:
            bad = await api.post("/reasoning/start", json=body)
            assert bad.status_code == 400, (body, bad.text)
            assert bad.headers["content-type"].startswith("application/problem+json")
            assert field in bad.json()["detail"], (body, bad.json())
        for missing in (api.get("/reasoning/results/nope"), api.get("/reasoning/status?session_id=nope"),
                        api.post("/reasoning/stop", json={"session_id": "nope"})):
            answer = await missing
            assert answer.status_code == 404, answer.text
            assert answer.json()["detail"].startswith("No reasoning session 'nope'"), answer.json()

        async with client(url, keys["viewer"]) as viewer:
            assert (await viewer.post("/reasoning/start", json={"problem": "x"})).status_code == 403
            assert (await viewer.get("/reasoning/history")).status_code == 200

    async with served(tmp_path) as (url, keys, _), client(url, keys["viewer"]) as api:
        again = (await api.get(f"/reasoning/results/{session_id}")).json()
        assert again == result  # stored by the jobs plugin: the whole tree after a restart
        assert len((await api.get("/reasoning/history")).json()) == 2


async def test_a_running_session_shows_its_live_tree_and_stops_with_its_best_partial_result(tmp_path: Path) -> None:
    async with served(tmp_path, delay=0.05) as (url, keys, _), client(url, keys["operator"]) as api:
        started = await api.post("/reasoning/start", json={
            "problem": "Plan a long trip", "task": "open", "mode": "tot_only",
            "settings": {"breadth": 3, "depth": 12, "n_evaluate": 1, "concurrency": 1}})
        session_id = started.json()["session_id"]
        running = await until(api, session_id, {"running"}, nodes=3)
        assert running["progress"]["message"] and running["answer"] is None
        status = (await api.get("/reasoning/status")).json()
        assert [s["session_id"] for s in status["running"]] == [session_id]
        live = (await api.get(f"/reasoning/results/{session_id}")).json()
        assert live["state"] == "running" and live["answer"] is None and live["tree"]["stopped"] is None
        assert len(live["tree"]["nodes"]) >= 3
        with anyio.fail_after(10):
            stopped = (await api.post("/reasoning/stop", json={"session_id": session_id})).json()
        assert stopped["state"] == "completed" and stopped["stopped"] == "cancelled", stopped
        result = (await api.get(f"/reasoning/results/{session_id}")).json()
        assert result["tree"]["stopped"] == "cancelled"
        assert_tree(result["tree"]["nodes"])
        again = await api.post("/reasoning/stop", json={"session_id": session_id})
        assert again.status_code == 200 and again.json()["state"] == "completed"  # unchanged


async def test_websocket_frames_draw_the_tree_then_complete_and_stop_a_long_search(tmp_path: Path) -> None:
    async with served(tmp_path, delay=0.01) as (url, keys, _):
        ws_url = url.replace("http://", "ws://") + f"/ws?token={keys['operator']}"
        async with connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "start_reasoning", "id": 1, "problem": "Name a prime",
                                      "task": "open", "mode": "tot_only", "settings": SMALL}))
            first = json.loads(await ws.recv())
            assert first["type"] == "reasoning_started" and first["id"] == 1, first
            updates, seen = [], {}
            with anyio.fail_after(20):
                while (frame := json.loads(await ws.recv()))["type"] == "reasoning_update":
                    assert frame["session_id"] == first["session_id"] and frame["event"].startswith("tot.")
                    node = frame["node"]
                    assert {"id", "parent_id", "depth", "value", "status", "thought"} <= set(node)
                    updates.append(frame)
                    seen.setdefault(node["id"], node)
            assert frame["type"] == "reasoning_complete" and frame["state"] == "completed", frame
            assert_tree(list(seen.values()))  # in the order first seen: every parent before its children
            assert {u["event"] for u in updates} >= {"tot.node.proposed", "tot.node.evaluated"}
            tree = frame["result"]["tree"]
            assert {n["id"] for n in tree["nodes"]} == set(seen)
            assert frame["result"]["answer"] and frame["result"]["mode"] == "tot_only"

            await ws.send(json.dumps({"type": "start_reasoning", "problem": "x", "settings": {"breadth": 0}}))
            error = json.loads(await ws.recv())
            assert error["type"] == "error" and "breadth" in error["error"]

            await ws.send(json.dumps({"type": "start_reasoning", "problem": "Think for a long time",
                                      "task": "open", "mode": "tot_only",
                                      "settings": {"breadth": 3, "depth": 12, "n_evaluate": 1, "concurrency": 1}}))
            long = json.loads(await ws.recv())
            assert long["type"] == "reasoning_started"
            with anyio.fail_after(20):
                while json.loads(await ws.recv())["type"] != "reasoning_update":
                    pass
                await ws.send(json.dumps({"type": "stop_reasoning", "session_id": long["session_id"]}))
                await ws.send(json.dumps({"type": "ping"}))  # answered while the session streams
                kinds: list[str] = []
                while "reasoning_complete" not in kinds or "reasoning_stopped" not in kinds:
                    frame = json.loads(await ws.recv())
                    kinds.append(frame["type"])
                    if frame["type"] in ("reasoning_complete", "reasoning_stopped"):
                        assert frame["session_id"] == long["session_id"] and frame["state"] == "completed"
                    if frame["type"] == "reasoning_complete":
                        assert frame["result"]["tree"]["stopped"] == "cancelled"
            assert "pong" in kinds

            await ws.send(json.dumps({"type": "stop_reasoning", "session_id": "nope"}))
            assert "No reasoning session 'nope'" in json.loads(await ws.recv())["error"]
            await ws.send(json.dumps({"type": "start_reasoning", "problem": "x", "query": "y"}))
            assert 'give "problem" or "query", not both' in json.loads(await ws.recv())["error"]
        async with connect(url.replace("http://", "ws://") + f"/ws?token={keys['viewer']}") as ws:
            await ws.send(json.dumps({"type": "start_reasoning", "problem": "x"}))
            assert "needs the 'write' permission" in json.loads(await ws.recv())["error"]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
def test_reasoning_routes_pass_schemathesis(tmp_path: Path, anyio_backend: str) -> None:
    """The /reasoning routes' OpenAPI tells the truth (`schemathesis run --checks all`), except
    that a task may refuse a problem the schema cannot describe (game24 takes four numbers from
    1 to 13): a 400 that positive_data_acceptance would count as a failure."""
    from .test_schema import SCHEMATHESIS, summary

    with start_blocking_portal() as portal, \
            portal.wrap_async_context_manager(served(tmp_path / "data")) as (url, _, h):
        key = h.kernel.hook.pygent_auth_keys().create("admin")[1]
        config = tmp_path / "schemathesis.toml"
        config.write_text('[checks.negative_data_rejection]\nexpected-statuses = '
                          '["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429"]\n')
        run = subprocess.run(
            [SCHEMATHESIS, "--config-file", str(config), "run", f"{url}/schema/openapi.json",
             "--checks", "all", "--exclude-checks", "positive_data_acceptance",
             "--header", f"X-API-Key: {key}", "--max-examples", "10", "--seed", "1",
             "--include-path-regex", "/reasoning", "--request-timeout", "30", "--no-color"],
            cwd=tmp_path, capture_output=True, text=True, timeout=240,
        )
    report = run.stdout + run.stderr
    assert run.returncode == 0, summary(report)
    assert "Tested: 7" in report, report[-3000:]


def test_every_curl_example_that_sends_json_says_so() -> None:
    """The server answers a body without ``Content-Type: application/json`` with a 415, and
    curl sends form data by default: each documented ``curl ... -d`` needs the header."""
    docs = Path(__file__).resolve().parents[1] / "docs"
    commands = [(doc.name, command) for doc in docs.glob("*.md")
                for command in doc.read_text().replace("\\\n", " ").splitlines()
                if command.lstrip().startswith("curl ")]
    assert any(name == "reasoning.md" for name, _ in commands)
    sending = [(name, c) for name, c in commands if re.search(r"\s(-d|--data\S*)\s", c)]
    assert sending and [c for c in sending if "Content-Type: application/json" not in c[1]] == []


async def test_a_server_beside_another_owner_of_the_jobs_answers_503_then_takes_over(tmp_path: Path) -> None:
    body = {"problem": "What is six times seven?", "task": "open", "mode": "tot_only", "settings": SMALL}
    async with served(tmp_path) as (url, keys, _), client(url, keys["operator"]) as owner:
        async with served(tmp_path) as (url2, keys2, _), client(url2, keys2["operator"]) as beside:
            refused = await beside.post("/reasoning/start", json=body)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "2", refused.text
            assert "owns the jobs directory" in refused.json()["detail"]
            first = (await owner.post("/reasoning/start", json=body)).json()["session_id"]
            await until(owner, first, {"completed"})
        async with served(tmp_path) as (url2, keys2, _), client(url2, keys2["operator"]) as beside:
            assert (await beside.post("/reasoning/start", json=body)).status_code == 503
    async with served(tmp_path) as (url, keys, _), client(url, keys["operator"]) as api:  # the owner gone
        taken = await api.post("/reasoning/start", json=body)
        assert taken.status_code == 202, taken.text
        await until(api, taken.json()["session_id"], {"completed"})
