"""What HTTP-facing plugins share: principals, roles, permissions and auth failures.

The ``http`` transport asks ``pygent_http_authenticate`` who is calling and checks the route's
permission (``opt={"permission": ...}`` on a Litestar handler; by default ``read`` for GET and
``write`` otherwise). The ``auth`` plugin answers with a Principal or raises AuthFailed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from .errors import PygentError

Permission = Literal["read", "write", "admin"]
Role = Literal["viewer", "operator", "admin"]
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
