"""Each ASGI server the http plugin can embed ([http] server) serves HTTP, SSE and WebSocket and
shuts down gracefully inside the kernel."""

from __future__ import annotations

import json
import socket

import anyio
import httpx
import pytest
from pygent_sdk import ChatChunk, Usage
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .http_kit import served

pytestmark = pytest.mark.anyio
SERVERS = pytest.mark.parametrize("server", ["uvicorn", "granian"])


class Slow:
    """A chat model that takes ``delay`` seconds before its final answer."""

    name = "scripted"

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def stream(self, messages, options=None):  # type: ignore[no-untyped-def]
        await anyio.sleep(self.delay)
        yield ChatChunk(text='{"action": "final_answer", "input": "late"}')
        yield ChatChunk(finish_reason="stop", usage=Usage(1, 1))

    async def chat(self, messages, options=None):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def refuses(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as probe:
        return probe.connect_ex((host, int(port))) != 0


@SERVERS
async def test_serves_http_sse_and_websocket(server: str) -> None:
    async with served(http={"server": server}) as s:
        assert s.harness.plugin("http").config.server == server
        async with s.client("operator") as api:
            plugins = await api.get("/api/v1/plugins")
            assert plugins.status_code == 200 and "http" in {p["name"] for p in plugins.json()}
            async with s.client("operator") as big:  # a server may close a connection after a 413:
                too_big = await big.post(    # the requests below do not reuse it
                    "/api/v1/chat", content=b'{"message": "' + b"x" * 2_000_000 + b'"}',
                    headers={"content-type": "application/json"})
            assert too_big.status_code == 413
            seen: list[dict] = []

            async def listen() -> None:
                async with api.stream("GET", "/api/v1/events/stream", params={"topics": "agent.created"}) as r:
                    assert r.headers["content-type"].startswith("text/event-stream")
                    async for line in r.aiter_lines():
                        if line.startswith("data:"):
                            seen.append(json.loads(line.removeprefix("data:")))
                            return

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(listen)
                    await anyio.sleep(0.3)
                    chat = await api.post("/api/v1/chat", json={"message": "hi"})
            assert chat.json()["output"] == "You said: hi"
            assert seen[0]["topic"] == "agent.created" and seen[0]["agent_id"] == chat.json()["agent_id"]

        url = s.url.replace("http://", "ws://") + f"/ws?token={s.keys['operator']}"
        async with connect(url) as ws:
            await ws.send(json.dumps({"type": "ping", "id": 1}))
            pong = json.loads(await ws.recv())
            assert pong["type"] == "pong" and pong["id"] == 1
            await ws.send(json.dumps({"type": "chat_message", "message": "hello"}))
            frames: list[dict] = []
            while not frames or not frames[-1]["done"]:
                frame = json.loads(await ws.recv())
                if frame["type"] == "chat_response":
                    frames.append(frame)
            assert frames[-1]["message"] == "You said: hello"
            assert "".join(f["token"] for f in frames[:-1]) == "You said: hello"


@SERVERS
async def test_shutdown_finishes_requests_closes_sockets_and_stops_listening(server: str) -> None:
    answers, closed, cut = [], [], []
    async with anyio.create_task_group() as tg:
        async with served(model=Slow(1.0), http={"server": server, "graceful_timeout": 2}) as s:
            api = s.client("operator")
            ws = await connect(s.url.replace("http://", "ws://") + f"/ws?token={s.keys['viewer']}")

            async def ask() -> None:
                answers.append(await api.post("/api/v1/chat", json={"message": "wait"}))

            async def hold_socket() -> None:
                try:
                    await ws.recv()
                except ConnectionClosed as error:
                    closed.append(error.rcvd.code if error.rcvd else None)

            async def hold_stream() -> None:
                try:
                    async with api.stream("GET", "/api/v1/events/stream") as r:
                        async for _ in r.aiter_lines():
                            pass
                except httpx.HTTPError:
                    pass
                cut.append(anyio.current_time())

            for task in (ask, hold_socket, hold_stream):
                tg.start_soon(task)
            await anyio.sleep(0.3)
            start = anyio.current_time()
        took = anyio.current_time() - start  # leaving served() stopped the kernel
        with anyio.fail_after(5):
            while not (closed and cut):
                await anyio.sleep(0.05)
        await api.aclose()
    # The chat in flight got its answer; the WebSocket was told the server is going away (1012);
    # the endless SSE stream was cut at graceful_timeout, not waited for without end.
    assert answers and answers[0].status_code == 200 and answers[0].json()["output"] == "late"
    assert closed == [1012]
    assert 0.7 < took < 2 + 2
    assert refuses(s.url)
