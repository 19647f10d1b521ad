"""A served kernel for HTTP tests: agents on the scripted model, memory, auth, http on a free port."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pygent_plugins.auth import AuthPlugin
from pygent_plugins.http import HttpPlugin
from pygent_sdk.testing import PluginHarness, ScriptedChatModel

from .agent_kit import act, stack

JWT_SECRET = "test-secret-0123456789-abcdefghijkl"


@dataclasses.dataclass
class Served:
    harness: PluginHarness
    url: str
    keys: dict[str, str]

    def client(self, role: str | None = "admin", *, key: str | None = None) -> httpx.AsyncClient:
        """A client sending the key of ``role`` (or ``key``; neither: no credential)."""
        key = key or (self.keys[role] if role else None)
        headers = {"X-API-Key": key} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    @property
    def app(self) -> Any:
        return self.harness.plugin("http").app


def chatty_model() -> ScriptedChatModel:
    """Answers every request with a final answer echoing the last user message."""
    return ScriptedChatModel(
        lambda messages, options: act("final_answer", f"You said: {messages[-1].content}"), name="scripted"
    )


@asynccontextmanager
async def served(*, model: Any = None, http: dict[str, Any] | None = None, auth: bool = True,
                 extra: dict[str, Any] | None = None, rate: int = 600,
                 memory: dict[str, Any] | None = None) -> AsyncIterator[Served]:
    plugins, config = stack(model or chatty_model())
    if memory:
        config["memory"] = memory
    if auth:
        plugins["auth"] = AuthPlugin
        config["auth"] = {"jwt_secret": JWT_SECRET, "rate_limit_per_minute": rate}
    plugins["http"] = HttpPlugin
    config["http"] = {"port": 0, **(http or {})}
    plugins.update(extra or {})
    async with PluginHarness(plugins, config) as h:
        keys = {}
        if auth:
            store = h.kernel.hook.pygent_auth_keys()
            keys = {role: store.create(role)[1] for role in ("viewer", "operator", "admin")}
        yield Served(h, h.plugin("http").url, keys)
