"""What HTTP-facing plugins share: principals, roles, permissions, route hooks and auth failures.

Plugins contribute Litestar handlers (or Routers) through ``pygent_http_routes`` (mounted under
``/api/v1``) and ``pygent_http_root_routes`` (mounted at ``/``, e.g. ``/.well-known/agent-card.json``
or ``/mcp``). The ``http`` transport assembles its application once every plugin has started
(``pygent_startup``), so the order of plugins in plugins.toml does not matter; two plugins claiming
one method and path stop it with an error naming both.

Every route has a permission, ``opt={"permission": ...}`` on its handler: ``read``, ``write``,
``admin`` or ``public`` (no credential needed; only ever by saying so). Without one, GET-like
routes need ``read`` and the others ``write``. The transport asks ``pygent_http_authenticate`` who
is calling; the ``auth`` plugin answers with a Principal or raises AuthFailed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from .errors import PygentError
from .markers import hookspec

Permission = Literal["read", "write", "admin", "public"]
PERMISSIONS: frozenset[str] = frozenset({"read", "write", "admin", "public"})
"""The values a route's ``opt["permission"]`` may take."""
Role = Literal["viewer", "operator", "admin"]
RequestKind = Literal["http", "websocket", "sse"]
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "admin"}),
}


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a name (key id or JWT subject) and a role."""

    name: str
    role: Role

    def may(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


class AuthFailed(PygentError):
    """A request the caller may not make: 401 (who are you?), 403 (not allowed) or 429 (slow down)."""

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


@runtime_checkable
class WsSession(Protocol):
    """One WebSocket connection, as a ``pygent_ws_handlers`` handler sees it."""

    principal: Principal

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send one JSON frame to the client."""
        ...


WsHandler = Callable[[WsSession, Mapping[str, Any]], Awaitable[None]]
"""Handles one frame of a given ``type``; raise AuthFailed or PygentError to answer with an error frame."""


class HttpHooks:
    """Hooks of the HTTP capability; the ``http`` transport registers them."""

    @hookspec
    def pygent_http_routes(self) -> list[Any]:
        """Contribute Litestar route handlers or Routers, mounted under ``/api/v1``.

        :return: Handlers (``@get``, ``@post``, ...) or ``Router`` objects.

        Called once, from the transport's ``pygent_startup``: every plugin has started, so a
        handler may close over its plugin's running services. Each handler's permission is
        ``opt={"permission": "read" | "write" | "admin" | "public"}``; without it, GET routes
        need ``read`` and the others ``write``. A method and path another plugin (or the
        transport) already serves is an error naming both plugins. Raise
        ``litestar.exceptions.NotFoundException`` or a ``PygentError`` that is a ``LookupError``
        for 404, another ``PygentError`` for 400. Import Litestar inside the hook.
        """

    @hookspec
    def pygent_http_root_routes(self) -> list[Any]:
        """Contribute Litestar route handlers or Routers, mounted at the root of the server.

        :return: Handlers or ``Router`` objects, e.g. ``GET /.well-known/agent-card.json``.

        For protocols whose paths are fixed by others (A2A, MCP, a web console at ``/``). The
        same rules as ``pygent_http_routes`` apply; paths under ``/api/`` and ``/schema`` are the
        transport's and refused here.
        """

    @hookspec
    def pygent_ws_handlers(self) -> dict[str, WsHandler]:
        """Contribute WebSocket frame handlers by frame ``type`` (e.g. ``chat_message``)."""

    @hookspec(firstresult=True)
    def pygent_http_authenticate(
        self, authorization: str | None, api_key: str | None, token: str | None, kind: RequestKind,
        client: str | None,
    ) -> Principal | None:
        """Who is calling: a Principal, None (no credentials), or raise ``AuthFailed``.

        Called for every HTTP request, WebSocket handshake and WebSocket frame (so a revoked
        credential or an exhausted rate limit stops an open socket too): keep it cheap.

        :param authorization: the Authorization header (``Bearer <JWT or key>``), or None.
        :param api_key: the X-API-Key header, or None.
        :param token: the ``?token=`` query parameter, or None. Browsers cannot send headers
            with WebSocket and EventSource, so it must be refused unless ``kind`` is
            ``"websocket"`` or ``"sse"`` (URLs end up in logs and histories).
        :param kind: ``"http"``, ``"websocket"`` (the handshake and each frame) or ``"sse"``
            (a route that streams Server-Sent Events, declared with ``opt={"sse": True}``).
        :param client: the caller's address (for limits on failed attempts), or None.

        May be async. firstresult: the ``auth`` plugin answers; without one, every caller is admin.
        """
