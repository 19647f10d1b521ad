"""The WebSocket protocol over a real socket with a real client (websockets)."""

from __future__ import annotations

import json

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .http_kit import served

pytestmark = pytest.mark.anyio


def ws_url(url: str, key: str | None) -> str:
    return url.replace("http://", "ws://") + "/ws" + (f"?token={key}" if key else "")


async def frames(ws, n: int) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(await ws.recv()) for _ in range(n)]


async def test_ping_subscribe_metrics_and_bad_frames() -> None:
    async with served() as s:
        async with connect(ws_url(s.url, s.keys["viewer"])) as ws:
            await ws.send(json.dumps({"type": "ping", "id": 7}))
            pong = json.loads(await ws.recv())
            assert pong["type"] == "pong" and pong["id"] == 7
            for bad, says in [("not json", "frame is not JSON"), ("[1]", 'string "type"'),
                              ('{"type": "dance"}', "unknown frame type 'dance'; known: cancel_run, chat_message, ping"),
                              ('{"type": "subscribe", "topics": "x"}', '"topics" must be a non-empty list')]:
                await ws.send(bad)
                error = json.loads(await ws.recv())
                assert error["type"] == "error" and says in error["error"], error
            await ws.send(json.dumps({"type": "ping", "pad": "x" * 70_000}))  # over 64 KiB
            assert "over the 65536-byte limit" in json.loads(await ws.recv())["error"]
            await ws.send(b"\xff\xfe")  # a binary frame that is not UTF-8
            assert "not UTF-8" in json.loads(await ws.recv())["error"]
            await ws.send(json.dumps({"type": "subscribe", "topics": ["agent.>"]}))
            assert json.loads(await ws.recv()) == {"type": "subscribed", "topics": ["agent.>"]}
            registry = s.harness.kernel.hook.pygent_agent_registry()
            await registry.create("general", name="seen")
            event = json.loads(await ws.recv())
            assert event["type"] == "event" and event["topic"] == "agent.created"
            assert event["data"]["name"] == "seen"
            await ws.send(json.dumps({"type": "unsubscribe", "topics": ["agent.>"]}))
            assert json.loads(await ws.recv())["type"] == "unsubscribed"
            await ws.send(json.dumps({"type": "system_metrics"}))
            metrics = json.loads(await ws.recv())
            assert metrics["type"] == "system_metrics" and 0 <= metrics["memory"]["percent"] <= 100
            assert metrics["plugins"]["http"]["status"] == "ok"
            await ws.send(json.dumps({"type": "chat_message", "message": "hi"}))
            denied = json.loads(await ws.recv())
            assert denied["type"] == "error" and "needs the 'write' permission" in denied["error"]
            await ws.send(json.dumps({"type": "ping"}))  # still open after every error
            assert json.loads(await ws.recv())["type"] == "pong"


async def test_websocket_needs_a_credential() -> None:
    async with served() as s:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(s.url, None)):
                pass
        assert refused.value.response.status_code == 403 or refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            async with connect(ws_url(s.url, "pgk_bogus_key")):
                pass


async def test_chat_message_streams_tokens_then_the_final_message() -> None:
    async with served() as s:
        async with connect(ws_url(s.url, s.keys["operator"])) as ws:
            await ws.send(json.dumps({"type": "chat_message", "message": "one two three", "id": "c1"}))
            got = []
            while not (got and got[-1].get("type") == "typing_indicator" and not got[-1]["typing"]) \
                    or got[-1].get("done") is not True:
                got.append(json.loads(await ws.recv()))
                if got[-1].get("done") is True:
                    break
            assert got[0] == {"type": "typing_indicator", "typing": True, "id": "c1"}
            tokens = [f["token"] for f in got if f["type"] == "chat_response" and not f["done"]]
            assert "".join(tokens) == "You said: one two three" and len(tokens) >= 3
            final = got[-1]
            assert final["message"] == "You said: one two three" and final["agent_id"] and final["id"] == "c1"
            await ws.send(json.dumps({"type": "chat_message", "message": "again", "agent_id": final["agent_id"]}))
            frames_ = []
            while not frames_ or frames_[-1].get("done") is not True:
                frames_.append(json.loads(await ws.recv()))
            assert frames_[-1]["conversation_id"] == final["conversation_id"]


async def test_500_concurrent_clients_each_get_all_their_messages() -> None:
    clients = int(__import__("os").environ.get("WS_CLIENTS", "500"))
    async with served(rate=10 * clients) as s:  # a handshake and a frame per client on one key
        url = ws_url(s.url, s.keys["operator"])
        results: dict[int, tuple[str, str]] = {}

        async def client(n: int) -> None:
            async with connect(url, open_timeout=60, ping_interval=None) as ws:
                await ws.send(json.dumps({"type": "chat_message", "message": f"client {n} says hi"}))
                tokens = []
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "chat_response" and frame["done"]:
                        results[n] = ("".join(tokens), frame["message"])
                        return
                    if frame["type"] == "chat_response":
                        tokens.append(frame["token"])

        with anyio.fail_after(240):
            async with anyio.create_task_group() as tg:
                for n in range(clients):
                    tg.start_soon(client, n)
        assert len(results) == clients
        for n, (streamed, final) in results.items():
            assert streamed == final == f"You said: client {n} says hi"


async def test_hook_pygent_ws_handlers() -> None:
    from pygent_sdk import Plugin, hookimpl

    class Echo(Plugin):
        @hookimpl
        def pygent_ws_handlers(self) -> dict:
            async def echo(session, frame) -> None:  # type: ignore[no-untyped-def]
                await session.send({"type": "echoed", "text": frame["text"], "by": session.principal.name})

            return {"echo": echo}

    async with served(extra={"echo": Echo}) as s:
        async with connect(ws_url(s.url, s.keys["viewer"])) as ws:
            await ws.send(json.dumps({"type": "echo", "text": "hi"}))
            reply = json.loads(await ws.recv())
            assert reply["type"] == "echoed" and reply["text"] == "hi" and reply["by"].startswith("key:")
            await ws.send(json.dumps({"type": "echo"}))  # the handler raises KeyError: an error frame
            assert json.loads(await ws.recv())["error"].startswith("echo: ")


async def test_a_revoked_key_stops_an_open_socket_at_its_next_frame() -> None:
    from websockets.exceptions import ConnectionClosed

    async with served() as s:
        store = s.harness.kernel.hook.pygent_auth_keys()
        for _ in range(3):
            info, key = store.create("operator")
            async with connect(ws_url(s.url, key)) as ws:
                await ws.send(json.dumps({"type": "ping"}))
                assert json.loads(await ws.recv())["type"] == "pong"
                store.revoke(info.id)
                await ws.send(json.dumps({"type": "chat_message", "message": "hi", "id": "after"}))
                refused = json.loads(await ws.recv())
                assert refused["type"] == "error" and refused["status"] == 401, refused
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_rate_limit_spent_over_http_stops_the_sockets_frames() -> None:
    import httpx

    async with served() as s:
        _, key = s.harness.kernel.hook.pygent_auth_keys().create("viewer", rate_per_minute=4)
        async with connect(ws_url(s.url, key)) as ws:  # the handshake: 1 of 4
            await ws.send(json.dumps({"type": "ping"}))  # 2 of 4
            assert json.loads(await ws.recv())["type"] == "pong"
            async with httpx.AsyncClient(base_url=s.url, headers={"X-API-Key": key}) as api:
                codes = [(await api.get("/api/v1/agents")).status_code for _ in range(3)]
            assert codes == [200, 200, 429]
            for _ in range(3):  # every frame is refused, the socket stays open
                await ws.send(json.dumps({"type": "ping"}))
                limited = json.loads(await ws.recv())
                assert limited["type"] == "error" and limited["status"] == 429, limited
                assert "rate limit of 4 requests per minute" in limited["error"] and limited["retry_after"] > 0


async def test_a_foreign_origin_is_refused_even_without_auth() -> None:
    async with served(auth=False, http={"cors_origins": ["http://console.example"]}) as s:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(s.url, None), origin="http://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        for origin in (s.url, "http://console.example", None):  # its own, a configured one, none
            async with connect(ws_url(s.url, None), origin=origin) as ws:  # type: ignore[arg-type]
                await ws.send(json.dumps({"type": "ping"}))
                assert json.loads(await ws.recv())["type"] == "pong"


async def test_a_deeply_nested_frame_gets_an_error_frame() -> None:
    async with served() as s, connect(ws_url(s.url, s.keys["viewer"])) as ws:
        for depth in (2_000, 100):
            await ws.send('{"type": "ping", "x": ' + "[" * depth + "]" * depth + "}")
            error = json.loads(await ws.recv())
            assert error["type"] == "error" and "nested deeper than 64 levels" in error["error"], error
        await ws.send(json.dumps({"type": "ping", "x": [[[[1]]]]}))
        assert json.loads(await ws.recv())["type"] == "pong"


async def test_subscriptions_per_connection_are_capped_and_deduplicated() -> None:
    async with served() as s, connect(ws_url(s.url, s.keys["viewer"])) as ws:
        bus = s.harness.kernel.bus

        def ws_subs() -> int:
            return sum(sub.name == "ws" for sub in bus.stats().subscriptions)

        await ws.send(json.dumps({"type": "subscribe", "topics": ["agent.>"] * 100}))
        assert json.loads(await ws.recv()) == {"type": "subscribed", "topics": ["agent.>"]}
        await ws.send(json.dumps({"type": "subscribe", "topics": [f"t.n{i}" for i in range(31)]}))
        assert len(json.loads(await ws.recv())["topics"]) == 32 and ws_subs() == 32
        await ws.send(json.dumps({"type": "subscribe", "topics": ["agent.>", "one.more"], "id": 3}))
        refused = json.loads(await ws.recv())
        assert refused["type"] == "error" and refused["id"] == 3, refused
        assert "at most 32 topic patterns per connection: 32 subscribed, 1 more asked" in refused["error"]
        await ws.send(json.dumps({"type": "subscribe", "topics": ["agent.>", "t.n0"]}))  # nothing new
        assert json.loads(await ws.recv())["type"] == "subscribed"
        await ws.send(json.dumps({"type": "unsubscribe", "topics": ["t.n0", "t.n1"]}))
        assert len(json.loads(await ws.recv())["topics"]) == 30
        await ws.send(json.dumps({"type": "subscribe", "topics": ["ok.a", "bad..b"]}))  # all or none
        assert "invalid topic pattern 'bad..b'" in json.loads(await ws.recv())["error"]
        assert ws_subs() == 30
        await ws.send(json.dumps({"type": "subscribe", "topics": ["ok.a", "one.more"]}))
        assert {"ok.a", "one.more"} <= set(json.loads(await ws.recv())["topics"]) and ws_subs() == 32
