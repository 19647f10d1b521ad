"""The http transport with the auth plugin: routes, errors, limits, JWT, rate limits, SSE."""

from __future__ import annotations

import time
from typing import Any

import anyio
import jwt
import pytest
from litestar.exceptions import LitestarException
from litestar.routes import HTTPRoute, WebSocketRoute
from pygent_plugins.http import HttpPlugin
from pygent_plugins.http.app import required_permission
from pygent_sdk import PluginError, Plugin, hookimpl
from pygent_sdk.testing import PluginHarness

from .http_kit import JWT_SECRET, served

pytestmark = pytest.mark.anyio
PUBLIC = {"/api/v1/health"}
ROLES = {"viewer": {"read"}, "operator": {"read", "write"}, "admin": {"read", "write", "admin"}}


def concrete(path: str) -> str:
    """A route template with every parameter filled in."""
    import re

    return re.sub(r"\{[^}:]+:(\w+)\}", lambda m: "1" if m.group(1) == "int" else "x", path)


async def test_every_route_is_closed_to_missing_and_insufficient_credentials() -> None:
    async with served() as s:
        http_routes = [r for r in s.app.routes if isinstance(r, HTTPRoute) and not r.path.startswith("/schema")]
        assert len(http_routes) >= 20  # the route table, not a hand list
        checked = 0
        async with s.client(None) as anonymous:
            for route in http_routes:
                for handler in route.route_handlers:
                    for method in sorted(set(handler.http_methods) - {"HEAD", "OPTIONS"}):
                        url = concrete(route.path_format if hasattr(route, "path_format") else route.path)
                        if route.path in PUBLIC:
                            continue
                        answer = await anonymous.request(method, url)
                        assert answer.status_code == 401, (method, url, answer.text)
                        assert answer.headers["content-type"].startswith("application/problem+json")
                        need = required_permission(handler)
                        for role, may in ROLES.items():
                            if need in may:
                                continue
                            async with s.client(role) as weak:
                                answer = await weak.request(method, url)
                            assert answer.status_code == 403, (role, method, url, answer.text)
                        checked += 1
        assert checked >= 20
        public = {r.path for r in http_routes if all(
            required_permission(h) == "public" for h in r.route_handlers if h.http_methods != {"OPTIONS"})}
        assert public == PUBLIC
        [ws] = [r for r in s.app.routes if isinstance(r, WebSocketRoute)]
        assert ws.path == "/ws"


async def test_health_is_public_but_details_need_a_credential() -> None:
    async with served() as s:
        async with s.client(None) as anonymous, s.client("viewer") as viewer:
            bare = (await anonymous.get("/api/v1/health")).json()
            full = (await viewer.get("/api/v1/health")).json()
        assert bare == {"status": "ok", "plugins": {}}
        assert full["status"] == "ok" and full["plugins"]["http"]["detail"].startswith("serving on")


async def test_agents_chat_memory_and_conversations_over_rest() -> None:
    async with served() as s, s.client("operator") as api, s.client("admin") as admin:
        created = await api.post("/api/v1/agents", json={"type": "general", "name": "rest"})
        assert created.status_code == 201, created.text
        agent = created.json()
        assert agent["status"] == "idle" and agent["model"] == "scripted"
        assert [a["id"] for a in (await api.get("/api/v1/agents", params={"type": "general"})).json()] == [agent["id"]]
        result = (await api.post(f"/api/v1/agents/{agent['id']}/execute", json={"task": "hi"})).json()
        assert result["output"] == "You said: hi" and result["success"]
        assert (await api.get(f"/api/v1/agents/{agent['id']}/status")).json()["status"] == "completed"
        history = (await api.get(f"/api/v1/conversations/{agent['conversation_id']}/history")).json()
        assert [(m["role"], m["content"]) for m in history] == [("user", "hi"), ("assistant", "You said: hi")]
        chat = (await api.post("/api/v1/chat", json={"message": "hello there"})).json()
        assert chat["output"] == "You said: hello there" and chat["agent_id"] != agent["id"]
        coding = await api.post("/api/v1/chat", json={"message": "write a python function"})
        assert s.harness.kernel.hook.pygent_agent_registry().get(coding.json()["agent_id"]).type == "coding"
        exported = await api.get(f"/api/v1/conversations/{agent['conversation_id']}/export", params={"format": "markdown"})
        assert exported.headers["content-type"].startswith("text/markdown") and "You said: hi" in exported.text
        changed = await api.patch(f"/api/v1/agents/{agent['id']}", json={"config": {"max_steps": 2}})
        assert changed.json()["config"]["max_steps"] == 2
        assert (await api.put("/api/v1/memory/a1/facts/colour", json={"value": "blue"})).json()["value"] == "blue"
        assert (await api.get("/api/v1/memory/a1/facts/colour")).json()["value"] == "blue"
        await api.post("/api/v1/memory/a1/episodes", json={"text": "deployed billing"})
        hits = (await api.get("/api/v1/memory/a1/search", params={"q": "billing"})).json()
        assert [h["text"] for h in hits] == ["deployed billing"]
        assert (await api.delete("/api/v1/memory/a1")).status_code == 403  # clearing is admin's
        assert (await admin.delete("/api/v1/memory/a1")).json() == {"removed": 2}
        stats = (await api.get("/api/v1/memory/stats")).json()
        assert stats["conversations"] >= 3 and stats["messages"] >= 6
        assert (await api.delete(f"/api/v1/agents/{agent['id']}")).status_code == 204
        assert (await api.get("/api/v1/models")).json()[0] == {"name": "scripted", "description": "", "default": True}


async def test_errors_are_problem_details() -> None:
    async with served(http={"max_body_bytes": 2048}) as s, s.client("operator") as api:
        missing = await api.get("/api/v1/agents/nope")
        assert missing.status_code == 404
        problem = missing.json()
        assert problem["title"] == "Not Found" and problem["status"] == 404
        assert "No agent 'nope'" in problem["detail"]
        assert missing.headers["content-type"] == "application/problem+json"
        bad = await api.post("/api/v1/agents", json={"type": "poet"})
        assert bad.status_code == 400 and bad.json()["errors"] == [
            {"message": "Invalid value 'poet'", "key": "type", "source": "body"}]
        invalid = await api.post("/api/v1/chat", json={"mesage": "typo"})
        assert invalid.status_code == 400 and "unknown field `mesage`" in str(invalid.json())
        huge = await api.post("/api/v1/chat", json={"message": "x" * 5000})
        assert huge.status_code == 413


async def test_jwt_bearer_tokens() -> None:
    async with served() as s:
        def token(**claims: object) -> str:
            return jwt.encode({"sub": "ci", "iat": time.time(), "exp": time.time() + 60, **claims}, JWT_SECRET)

        async with s.client(None) as anonymous:
            ok = await anonymous.get("/api/v1/agents", headers={"Authorization": f"Bearer {token(role='operator')}"})
            assert ok.status_code == 200
            viewer = await anonymous.post("/api/v1/agents", json={"type": "general"},
                                          headers={"Authorization": f"Bearer {token()}"})
            assert viewer.status_code == 403  # no role claim: viewer
            expired = await anonymous.get("/api/v1/agents", headers={
                "Authorization": f"Bearer {token(exp=time.time() - 10)}"})
            assert expired.status_code == 401 and "Signature has expired" in expired.json()["detail"]
            forged = jwt.encode({"sub": "x", "exp": time.time() + 60, "role": "admin"}, "wrong-secret-0123456789-abcdefghijkl")
            assert (await anonymous.get("/api/v1/agents", headers={"Authorization": f"Bearer {forged}"})).status_code == 401


async def test_rate_limit_answers_429_with_retry_after() -> None:
    async with served() as s:
        _, key = s.harness.kernel.hook.pygent_auth_keys().create("viewer", "slow", rate_per_minute=2)
        async with s.client(key=key) as slow:
            assert [(await slow.get("/api/v1/agents")).status_code for _ in range(2)] == [200, 200]
            limited = await slow.get("/api/v1/agents")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "rate limit of 2 requests per minute" in limited.json()["detail"]


async def test_revoked_key_is_refused_at_once() -> None:
    async with served() as s, s.client("viewer") as viewer:
        assert (await viewer.get("/api/v1/agents")).status_code == 200
        store = s.harness.kernel.hook.pygent_auth_keys()
        key_id = store.keys[next(k for k, v in store.keys.items() if v.role == "viewer")].id
        store.revoke(key_id)
        assert (await viewer.get("/api/v1/agents")).status_code == 401


async def test_sse_streams_an_agent_run_and_bus_topics() -> None:
    async with served() as s, s.client("operator") as api:
        agent = (await api.post("/api/v1/agents", json={"type": "general"})).json()
        events = []
        async with api.stream("POST", f"/api/v1/agents/{agent['id']}/stream", json={"task": "one two"}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    events.append(line[6:].strip())
        assert events.count("token") >= 3 and events[-1] == "result"

        seen: list[str] = []

        async def listen() -> None:
            async with api.stream("GET", "/api/v1/events/stream", params={"topics": "agent.status"}) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        seen.append(line)
                        if len(seen) == 2:
                            return

        async with anyio.create_task_group() as tg:
            tg.start_soon(listen)
            await anyio.sleep(0.3)
            await api.post(f"/api/v1/agents/{agent['id']}/execute", json={"task": "again"})
        assert '"status":"running"' in seen[0] and '"status":"completed"' in seen[1]
        bad = await api.get("/api/v1/events/stream", params={"topics": "a..b"})
        assert bad.status_code == 400 and "invalid topic pattern" in bad.json()["detail"]


async def test_refuses_a_public_address_without_auth() -> None:
    with pytest.raises(PluginError, match="refusing to serve on 0.0.0.0 with no auth plugin"):
        async with served(auth=False, http={"host": "0.0.0.0"}):
            pass
    async with served(auth=False, http={"host": "0.0.0.0", "allow_public_without_auth": True}) as s:
        async with s.client(None) as anyone:
            assert (await anyone.get("/api/v1/agents")).status_code == 200  # explicitly open


async def test_graceful_shutdown_finishes_in_flight_requests() -> None:
    class Slow:
        name = "scripted"

        async def stream(self, messages, options=None):  # type: ignore[no-untyped-def]
            from pygent_sdk import ChatChunk, Usage

            await anyio.sleep(1.0)
            yield ChatChunk(text='{"action": "final_answer", "input": "late"}')
            yield ChatChunk(finish_reason="stop", usage=Usage(1, 1))

        async def chat(self, messages, options=None):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    answers = []
    async with served(model=Slow()) as s:
        api = s.client("operator")

        async def ask() -> None:
            answers.append(await api.post("/api/v1/chat", json={"message": "wait"}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(ask)
            await anyio.sleep(0.3)
            s.harness.kernel.request_shutdown("test")
            await s.harness.kernel.run_until_stopped(handle_signals=False)
            tg.cancel_scope.deadline = anyio.current_time() + 10
    assert answers and answers[0].status_code == 200 and answers[0].json()["output"] == "late"


async def test_hook_pygent_http_routes() -> None:
    from litestar import get

    class Extra(Plugin):
        @hookimpl
        def pygent_http_routes(self) -> list:
            @get("/hello", opt={"permission": "admin"})
            async def hello() -> dict[str, str]:
                return {"hello": "world"}

            return [hello]

    async with served(extra={"extra": Extra}) as s:
        async with s.client("operator") as op, s.client("admin") as admin:
            assert (await op.get("/api/v1/hello")).status_code == 403
            assert (await admin.get("/api/v1/hello")).json() == {"hello": "world"}


async def test_hook_pygent_http_authenticate() -> None:
    from pygent_sdk.http import Principal

    class Header(Plugin):
        @hookimpl
        def pygent_http_authenticate(self, authorization, api_key, token):  # type: ignore[no-untyped-def]
            return Principal("header", "viewer") if api_key == "let-me-in" else None

    async with served(auth=False, extra={"header": Header}) as s:
        async with s.client(None) as anyone:
            assert (await anyone.get("/api/v1/agents")).status_code == 401
            assert (await anyone.get("/api/v1/agents", headers={"X-API-Key": "let-me-in"})).status_code == 200
            assert (await anyone.post("/api/v1/agents", json={"type": "general"},
                                      headers={"X-API-Key": "let-me-in"})).status_code == 403


async def test_hook_pygent_auth_keys(tmp_path) -> None:
    from pygent_plugins.auth import AuthPlugin

    async with PluginHarness({"auth": AuthPlugin}, {"kernel": {"data_dir": str(tmp_path)}}) as h:
        store = h.kernel.hook.pygent_auth_keys()
        info, key = store.create("operator", "ci")
    saved = (tmp_path / "auth" / "keys.json").read_text()
    assert key not in saved and info.hash in saved and info.hash.startswith("$argon2")
    assert oct((tmp_path / "auth" / "keys.json").stat().st_mode)[-3:] == "600"


def test_http_plugin_summary() -> None:
    assert HttpPlugin.summary().startswith("Serves the REST API")


def test_pygent_serve_answers_health_and_schema_and_stops_on_sigint(tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    from .test_providers import free_port

    root = Path(__file__).parents[1]
    (tmp_path / "plugins.toml").write_text((root / "plugins.toml").read_text().replace(
        'data_dir = ".pygent"', f'data_dir = "{tmp_path}/data"'))
    port = free_port()
    pygent = str(Path(sys.executable).with_name("pygent"))
    env = {**os.environ, "PYGENT_CONFIG": str(tmp_path / "plugins.toml")}
    server = subprocess.Popen([pygent, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/api/v1/health", timeout=2)
                break
            except httpx.HTTPError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["status"] in ("ok", "degraded")
        assert httpx.get(f"{base}/schema/openapi.json").json()["info"]["title"] == "PyGent Factory"
        assert httpx.get(f"{base}/api/v1/agents").status_code == 401
        made = subprocess.run([pygent, "auth", "create-key", "--role", "viewer"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        key = made.stdout.strip().splitlines()[-1]
        assert key.startswith("pgk_"), made.stdout + made.stderr
        assert httpx.get(f"{base}/api/v1/agents", headers={"X-API-Key": key}).status_code == 200
        listed = subprocess.run([pygent, "auth", "list"], cwd=tmp_path, env={**env, "COLUMNS": "200"},
                                capture_output=True, text=True, timeout=60)
        assert "viewer" in listed.stdout and key not in listed.stdout
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0]
    assert server.returncode == 0, output
    assert "http started" in output and "Stopped cleanly" in output


# Routes after start-up, root routes, permissions, claims -------------------------------------


def _route_plugins() -> tuple[type[Plugin], type[Plugin]]:
    """Two plugins whose routes read state set in start(): one listed before http, one after."""
    from litestar import get

    class Early(Plugin):
        value = ""

        async def start(self) -> None:
            self.value = "early started"

        @hookimpl
        def pygent_http_routes(self) -> list:
            @get("/early")
            async def early() -> dict[str, str]:
                return {"value": self.value}

            return [early]

        @hookimpl
        def pygent_http_root_routes(self) -> list:
            @get("/.well-known/agent-card.json", opt={"permission": "public"})
            async def card() -> dict[str, str]:
                return {"name": self.value}

            @get("/console", opt={"permission": "admin"})
            async def console() -> str:
                return "console"

            return [card, console]

    class Late(Plugin):
        value = ""

        async def start(self) -> None:
            self.value = "late started"

        @hookimpl
        def pygent_http_routes(self) -> list:
            @get("/late")
            async def late() -> dict[str, str]:
                return {"value": self.value}

            return [late]

    return Early, Late


async def test_routes_mount_after_every_plugin_started_wherever_http_is_listed() -> None:
    import httpx
    from pygent_plugins.auth import AuthPlugin

    early, late = _route_plugins()
    plugins = {"early": early, "auth": AuthPlugin, "http": HttpPlugin, "late": late}
    config = {"auth": {"jwt_secret": JWT_SECRET}, "http": {"port": 0}}
    async with PluginHarness(plugins, config) as h:
        _, viewer = h.kernel.hook.pygent_auth_keys().create("viewer")
        base = h.plugin("http").url
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": viewer}) as api, \
                httpx.AsyncClient(base_url=base) as anonymous:
            assert (await api.get("/api/v1/early")).json() == {"value": "early started"}
            assert (await api.get("/api/v1/late")).json() == {"value": "late started"}
            assert (await anonymous.get("/.well-known/agent-card.json")).json() == {"name": "early started"}
            assert (await anonymous.get("/console")).status_code == 401
            assert (await api.get("/console")).status_code == 403
            assert (await anonymous.get("/api/v1/early")).status_code == 401
            spec = (await anonymous.get("/schema/openapi.json")).json()
        assert {"/.well-known/agent-card.json", "/api/v1/late"} <= set(spec["paths"])


@pytest.mark.parametrize(("second", "message"), [
    ("/api/v1/same/{other:str}", "route GET /api/v1/same/{other:str} is claimed by plugins 'one' and 'two'"),
    ("/api/v1/health", "route GET /api/v1/health is claimed by plugins 'http' and 'two'"),
    ("/api/v1/bad-permission", "plugin 'two': route /api/v1/bad-permission declares permission 'everyone'"),
    ("/schema/mine", "plugin 'two' contributed root route /schema/mine"),
])
async def test_conflicting_or_undeclared_routes_stop_the_transport_naming_the_plugins(
    second: str, message: str
) -> None:
    from litestar import get

    def contributing(path: str, root: bool = False, permission: str = "read") -> type[Plugin]:
        class Contributes(Plugin):
            @hookimpl(optionalhook=True)
            def pygent_http_routes(self) -> list:
                return [] if root else [get(path.removeprefix("/api/v1"), opt={"permission": permission})(_ok)]

            @hookimpl(optionalhook=True)
            def pygent_http_root_routes(self) -> list:
                return [get(path, opt={"permission": permission})(_ok)] if root else []

        return Contributes

    two = contributing(second, root=second.startswith("/schema"),
                       permission="everyone" if "permission" in second else "read")
    plugins = {"one": contributing("/api/v1/same/{one:str}"), "two": two, "http": HttpPlugin}
    with pytest.raises(PluginError) as raised:
        async with PluginHarness(plugins, {"http": {"port": 0}}):
            pass
    assert message in str(raised.value)


async def _ok() -> dict[str, str]:
    return {}


async def test_allow_lists_every_method_of_a_path() -> None:
    async with served() as s, s.client("viewer") as api:
        agent = f"/api/v1/agents/{'x' * 12}"
        assert (await api.options(agent)).headers["allow"] == "DELETE, GET, OPTIONS, PATCH"
        refused = await api.put(agent, json={})
        assert refused.status_code == 405 and set(refused.headers["allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}
        assert (await api.get("/api/v1/agents/")).status_code == 404  # an empty id is not the list


# Browsers, bodies, bad input ------------------------------------------------------------------


async def test_a_browser_cannot_drive_a_loopback_server_without_auth() -> None:
    async with served(auth=False) as s, s.client(None) as api:
        body = '{"type": "general"}'
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            refused = await api.post("/api/v1/agents", content=body, headers={"Content-Type": kind})
            assert refused.status_code == 415, (kind, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
        assert (await api.post("/api/v1/agents", content=body)).status_code == 415  # no content type
        for origin in ("http://evil.example", "null", s.url.replace("127.0.0.1", "127.0.0.1.evil.example")):
            refused = await api.post("/api/v1/agents", json={"type": "general"}, headers={"Origin": origin})
            assert refused.status_code == 403 and "cross-origin" in refused.json()["detail"], origin
        rebound = await api.get("/api/v1/agents", headers={"Host": "rebound.example:8080"})
        assert rebound.status_code == 403 and "Host" in rebound.json()["detail"]
        assert (await api.get("/api/v1/agents")).json() == []  # nothing was created
        own = await api.post("/api/v1/agents", json={"type": "general"}, headers={"Origin": s.url})
        assert own.status_code == 201
        refused = await api.delete(f"/api/v1/agents/{own.json()['id']}", headers={"Origin": "http://evil.example"})
        assert refused.status_code == 403
        assert (await api.post("/api/v1/agents", json={"type": "general"})).status_code == 201  # no Origin: not a browser
        assert len((await api.get("/api/v1/agents")).json()) == 2
    async with served(auth=False, http={"cors_origins": ["http://app.example"]}) as s, s.client(None) as api:
        allowed = await api.post("/api/v1/agents", json={"type": "general"}, headers={"Origin": "http://app.example"})
        assert allowed.status_code == 201


async def test_bad_input_gets_4xx_and_leaves_the_server_well() -> None:
    deep = "[" * 2000 + "]" * 2000
    async with served() as s, s.client("admin") as api:
        json_body = {"Content-Type": "application/json"}
        for method, url, body in [
            ("PUT", "/api/v1/memory/a1/facts/k", f'{{"value": {deep}}}'),
            ("POST", "/api/v1/memory/a1/episodes", f'{{"text": "t", "meta": {{"m": {deep}}}}}'),
            ("POST", "/api/v1/agents", f'{{"type": "general", "config": {{"c": {deep}}}}}'),
            ("PUT", "/api/v1/memory/a1/facts/k", '{"value": ' + "[" * 64 + "]" * 64 + "}"),
        ]:
            answer = await api.request(method, url, content=body, headers=json_body)
            assert answer.status_code == 400 and "nested deeper than 64" in answer.json()["detail"], url
        fine = '{"value": ' + '{"a": ' * 63 + '"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"["' + "}" * 64
        assert (await api.put("/api/v1/memory/a1/facts/k", content=fine, headers=json_body)).status_code == 200
        conversation = (await api.post("/api/v1/conversations", json={"title": "t"})).json()
        history = f"/api/v1/conversations/{conversation['id']}/history"
        for limit in (2**64, 2**70, -1, 0):
            answer = await api.get(history, params={"limit": limit})
            assert answer.status_code == 400, (limit, answer.text)
        assert (await api.get(history, params={"limit": 5})).json() == []
        assert (await api.get("/api/v1/memory/a1/search", params={"q": "x", "limit": 2**64})).status_code == 400
        assert (await api.get(f"/api/v1/memory/{'a' * 65}/facts/k")).status_code == 400
        assert (await api.get("/api/v1/health")).json()["status"] == "ok"


async def test_memory_answers_tell_the_truth() -> None:
    async with served() as s, s.client("operator") as api:
        before = time.time()
        conversation = (await api.post("/api/v1/conversations", json={"title": "t"})).json()
        episode = (await api.post("/api/v1/memory/a1/episodes", json={"text": "deployed"})).json()
        for made in (conversation, episode):
            assert before - 1 <= made["created_at"] <= time.time() + 1, made
        [listed] = (await api.get("/api/v1/conversations")).json()
        assert listed["created_at"] == conversation["created_at"]
        assert (await api.put("/api/v1/memory/a1/facts/none", json={"value": None})).status_code == 200
        assert (await api.get("/api/v1/memory/a1/facts/none")).json() == {"agent_id": "a1", "key": "none", "value": None}
        assert (await api.delete("/api/v1/memory/a1/facts/none")).status_code == 204
        assert (await api.get("/api/v1/memory/a1/facts/none")).status_code == 404
        assert (await api.delete("/api/v1/memory/a1/facts/none")).status_code == 404
        assert (await api.get("/api/v1/memory/nobody/search", params={"q": "deployed"})).status_code == 404
        assert len((await api.get("/api/v1/memory/a1/search", params={"q": "deployed"})).json()) == 1


async def _fresh_database(postgres_url: str, name: str) -> str:
    """A new, empty database on the session's PostgreSQL server (other tests expect theirs empty)."""
    import asyncpg

    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))


async def test_memory_routes_on_postgresql_refuse_bad_ids_without_a_store_failure(postgres_url: str) -> None:
    url = await _fresh_database(postgres_url, "http_bad_ids")
    async with served(memory={"url": url}) as s, s.client("operator") as api:
        conversation = (await api.post("/api/v1/conversations", json={"title": "pg"})).json()
        history = f"/api/v1/conversations/{conversation['id']}/history"
        assert (await api.get(history, params={"limit": -1})).status_code == 400
        assert (await api.get("/api/v1/conversations/a%00b/history")).status_code == 404
        assert (await api.get("/api/v1/conversations", params={"agent_id": "a\x00"})).json() == []
        assert (await api.get("/api/v1/memory/a%00/facts/k")).status_code == 404
        for method, url, body in [
            ("PUT", "/api/v1/memory/a%00/facts/k", {"value": 1}),
            ("PUT", "/api/v1/memory/a/facts/k%00", {"value": 1}),
            ("POST", "/api/v1/conversations", {"agent_id": "a\x00"}),
            ("POST", "/api/v1/conversations", {"title": "t\x00"}),
            ("POST", "/api/v1/memory/a/episodes", {"text": "nul \x00 here"}),
        ]:
            answer = await api.request(method, url, json=body)
            assert answer.status_code == 400 and "NUL" in answer.json()["detail"], (url, answer.text)
        assert (await api.put("/api/v1/memory/a/facts/k", json={"value": "nul \x00 inside JSON"})).status_code == 200
        assert (await api.get("/api/v1/memory/a/facts/k")).json()["value"] == "nul \x00 inside JSON"
        assert (await api.get("/api/v1/health")).json()["plugins"]["memory"]["status"] == "ok"


async def test_sse_sends_each_event_once_however_often_a_topic_is_listed() -> None:
    async with served() as s, s.client("operator") as api:
        agent = (await api.post("/api/v1/agents", json={"type": "general"})).json()
        seen: list[str] = []

        async def listen() -> None:
            topics = ",".join(["agent.status"] * 4000 + ["agent.*"])  # agent.* overlaps too
            async with api.stream("GET", "/api/v1/events/stream", params={"topics": topics}) as r:
                assert r.status_code == 200
                async for line in r.aiter_lines():
                    if line.startswith("data:") and '"topic":"agent.status"' in line:
                        seen.append(line)
                        if '"completed"' in line:
                            return

        async with anyio.create_task_group() as tg:
            tg.start_soon(listen)
            await anyio.sleep(0.5)
            await api.post(f"/api/v1/agents/{agent['id']}/execute", json={"task": "once"})
            tg.cancel_scope.deadline = anyio.current_time() + 10
        assert len(seen) == 2 and '"running"' in seen[0]
        many = ",".join(f"topic.n{i}" for i in range(33))
        for topics in (many, " , "):
            refused = await api.get("/api/v1/events/stream", params={"topics": topics})
            assert refused.status_code == 400 and "1 to 32 topic patterns" in refused.json()["detail"]


async def test_every_integer_parameter_is_range_checked() -> None:
    async with served() as s, s.client("admin") as api:
        spec = (await api.get("/schema/openapi.json")).json()
    unbounded = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                options = schema.get("oneOf", [schema])
                for option in options:
                    if option.get("type") == "integer" and not ("minimum" in option and "maximum" in option):
                        unbounded.append(f"{method.upper()} {path} {parameter['name']}")
    assert not unbounded


async def test_hook_pygent_http_root_routes() -> None:
    """An ASGI mount at the root (as MCP's /mcp will be) must declare its permission, and gets
    the body the transport checked."""
    from litestar import asgi

    def mounting(permission: str | None) -> type[Plugin]:
        class Mcp(Plugin):
            @hookimpl(optionalhook=True)
            def pygent_http_root_routes(self) -> list:
                async def echo(scope: Any, receive: Any, send: Any) -> None:
                    body, more = b"", True
                    while more:
                        message = await receive()
                        body, more = body + message.get("body", b""), message.get("more_body", False)
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [(b"content-type", b"application/json")]})
                    await send({"type": "http.response.body", "body": body})

                opt = {"permission": permission} if permission else {}
                return [asgi("/mcp", is_mount=True, copy_scope=True, opt=opt)(echo)]

        return Mcp

    with pytest.raises(PluginError, match="ASGI mount /mcp must declare its permission"):
        async with served(extra={"mcp": mounting(None)}):
            pass
    async with served(extra={"mcp": mounting("write")}) as s:
        async with s.client("operator") as api, s.client("viewer") as viewer:
            answer = await api.post("/mcp", json={"jsonrpc": "2.0", "id": 1})
            assert answer.json() == {"jsonrpc": "2.0", "id": 1}
            assert (await viewer.post("/mcp", json={})).status_code == 403
            assert (await api.post("/mcp", content="{}", headers={"Content-Type": "text/plain"})).status_code == 415
            huge = await api.post("/mcp", content='{"a": "' + "x" * 2_000_000 + '"}',
                                  headers={"Content-Type": "application/json"})
            assert huge.status_code == 413 and huge.headers["content-type"] == "application/problem+json"


async def test_an_sse_response_that_never_starts_leaves_no_subscription() -> None:
    """The client is gone before the response starts: the stream's subscriptions never exist."""
    async with served(auth=False) as s:
        bus = s.harness.kernel.bus

        def sse_subs() -> list[str]:
            return [sub.pattern for sub in bus.stats().subscriptions if sub.name.startswith("sse")]

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            raise OSError("client disconnected")

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": "/api/v1/events/stream", "raw_path": b"/api/v1/events/stream",
                 "root_path": "", "query_string": b"topics=agent.%3E,tool.%3E",
                 "headers": [(b"host", s.url.split("//")[1].encode())],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
        with pytest.raises(LitestarException, match="after response started"):
            await s.harness.plugin("http").app(scope, receive, send)
        assert sse_subs() == []
