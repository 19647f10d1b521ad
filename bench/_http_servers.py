"""The two servers bench/http.py compares, each run as its own process.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

``python bench/_http_servers.py pygent|pygent-granian|fastapi PORT DATA_DIR`` serves the same
kernel (agents on the SDK's scripted model, the auth plugin; no memory plugin, data on tmpfs, so
neither side waits on fsync) over PyGent's own http plugin (Litestar + msgspec) on uvicorn
(``pygent``) or granian (``pygent-granian``), both embedded in the kernel's event loop, or over an
equivalent FastAPI app (pydantic models, the same API-key check and the same registry calls) on
uvicorn. It prints ``READY <admin key>`` once listening. ``BENCH_UVLOOP=1`` runs it on uvloop
(what ``uvicorn app:app`` picks where uvloop is installed) instead of asyncio.
"""

import sys

sys.path[:1] = []  # this folder holds http.py, which would shadow the standard library's http

import json  # noqa: E402
import os
from typing import Any

import anyio
from pygent_kernel import Kernel
from pygent_plugins.agents import AgentsPlugin
from pygent_plugins.auth import AuthPlugin
from pygent_plugins.general import GeneralPlugin
from pygent_plugins.http import HttpPlugin
from pygent_plugins.models import ModelsPlugin
from pygent_plugins.tools import ToolsPlugin
from pygent_sdk import ChatModel, Plugin, hookimpl
from pygent_sdk.testing import ScriptedChatModel


class Scripted(Plugin):
    """The SDK's scripted model, answering every chat with a short final answer."""

    @hookimpl
    def pygent_chat_models(self) -> list[ChatModel]:
        reply = json.dumps({"action": "final_answer", "input": "Hello from the scripted model"})
        return [ScriptedChatModel(lambda messages, options: reply, name="scripted")]


def kernel(port: int, data_dir: str, server: str | None) -> Kernel:
    classes: dict[str, type[Plugin]] = {
        "scripted": Scripted, "models": ModelsPlugin, "agents": AgentsPlugin, "tools": ToolsPlugin,
        "general": GeneralPlugin, "auth": AuthPlugin,
    }
    config: dict[str, Any] = {
        "kernel": {"data_dir": data_dir}, "models": {"default": "scripted"},
        "auth": {"rate_limit_per_minute": 10**9}, **{n: {} for n in ("scripted", "agents", "tools", "general")},
    }
    if server:
        classes["http"] = HttpPlugin
        # graceful_timeout 2: under granian, requests whose client left (wrk stops mid-request)
        # hang in their body read until shutdown cancels them (docs/performance.md).
        config["http"] = {"port": port, "server": server, "graceful_timeout": 2}
    return Kernel.from_mapping(config, classes=classes)


async def serve_pygent(port: int, data_dir: str, server: str = "uvicorn") -> None:
    async with kernel(port, data_dir, server) as k:
        _, key = k.hook.pygent_auth_keys().create("admin")
        print("READY", key, flush=True)
        await k.run_until_stopped()


async def serve_fastapi(port: int, data_dir: str) -> None:
    import uvicorn
    from fastapi import FastAPI, Header, HTTPException
    from pydantic import BaseModel

    class ChatIn(BaseModel):
        message: str
        agent_id: str | None = None
        agent_type: str | None = None

    class PluginHealth(BaseModel):
        status: str
        detail: str

    class HealthOut(BaseModel):
        status: str
        plugins: dict[str, PluginHealth]

    class PluginOut(BaseModel):
        name: str
        state: str
        summary: str
        provides: list[str]
        requires: list[str]
        error: str | None = None

    class ResultOut(BaseModel):
        agent_id: str
        conversation_id: str | None
        output: str
        success: bool
        steps: list[dict[str, Any]]

    async with kernel(port, data_dir, None) as k:
        _, key = k.hook.pygent_auth_keys().create("admin")
        registry = k.hook.pygent_agent_registry()
        app = FastAPI()

        async def authenticate(x_api_key: str | None, permission: str) -> None:
            # No http plugin declares the hook here, so pluggy returns every answer in a list.
            [answer] = k.hook.pygent_http_authenticate(
                authorization=None, api_key=x_api_key, token=None, kind="http", client=None)
            principal = await answer
            if principal is None:
                raise HTTPException(401, "credentials needed")
            if not principal.may(permission):
                raise HTTPException(403, "not allowed")

        @app.get("/api/v1/health")
        async def health(x_api_key: str | None = Header(None)) -> HealthOut:
            await authenticate(x_api_key, "read")
            report = await k.health()
            return HealthOut(status=report.status, plugins={
                n: PluginHealth(status=h.status, detail=h.detail) for n, h in report.plugins.items()})

        @app.get("/api/v1/plugins")
        async def plugins(x_api_key: str | None = Header(None)) -> list[PluginOut]:
            await authenticate(x_api_key, "read")
            return [PluginOut(name=p.name, state=p.state, summary=p.summary, provides=list(p.provides),
                              requires=list(p.requires), error=p.error) for p in k.statuses()]

        @app.post("/api/v1/chat")
        async def chat(data: ChatIn, x_api_key: str | None = Header(None)) -> ResultOut:
            await authenticate(x_api_key, "write")
            info = await registry.create(data.agent_type or "general", name="chat")
            result = await registry.run(info.id, data.message)
            return ResultOut(agent_id=info.id, conversation_id=info.conversation_id, output=result.output,
                             success=result.success, steps=[s.to_dict() for s in result.steps])

        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               access_log=False, lifespan="off"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve)
            while not server.started:
                await anyio.sleep(0.01)
            print("READY", key, flush=True)


if __name__ == "__main__":
    which, port, data = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    opts = {"use_uvloop": os.environ.get("BENCH_UVLOOP") == "1"}
    if which == "pygent-granian":
        anyio.run(serve_pygent, port, data, "granian", backend_options=opts)
    else:
        anyio.run({"pygent": serve_pygent, "fastapi": serve_fastapi}[which], port, data, backend_options=opts)
