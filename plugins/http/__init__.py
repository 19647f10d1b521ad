"""http: the REST, WebSocket and SSE transport, on Litestar served by uvicorn.

Other plugins add endpoints through the hooks declared in ``pygent_sdk.http``, so the transport
never learns about agents, models or memory: ``pygent_http_routes`` (handlers under ``/api/v1``),
``pygent_http_root_routes`` (handlers at ``/``), ``pygent_ws_handlers`` (WebSocket frame types)
and ``pygent_http_authenticate`` (who is calling). The socket is bound when the plugin starts; the
application is assembled in ``pygent_startup``, once every plugin has started, so the order of
plugins in plugins.toml does not matter.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from typing import Any

import anyio
from anyio.abc import TaskStatus
from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, PygentError, hookimpl
from pygent_sdk.http import HttpHooks

from .server import ServerName, serve


class HttpConfig(PluginConfig):
    """Configuration of the ``[http]`` table."""

    host: str = Field("127.0.0.1", description="Address to listen on (loopback by default).")
    port: int = Field(8080, ge=0, le=65535, description="Port (0: any free port).")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body (413 beyond).")
    ws_max_frame_bytes: int = Field(65_536, ge=256, description="Largest WebSocket frame handled.")
    graceful_timeout: float = Field(
        10.0, gt=0, description="Seconds in-flight requests get to finish on shutdown."
    )
    server: ServerName = Field(
        "uvicorn", description="ASGI server run inside the kernel's event loop: uvicorn or granian.",
    )
    allow_public_without_auth: bool = Field(
        False, description="Allow a non-loopback host with no auth plugin (everyone is admin!).",
    )
    max_json_depth: int = Field(
        64, ge=2, le=512, description="Deepest nesting of arrays and objects in a JSON body (400 beyond).",
    )


_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpPlugin(Plugin):
    """Serves the REST API under /api/v1, WebSocket /ws, SSE, and OpenAPI docs at /schema."""

    Config = HttpConfig
    provides = ("http",)
    listens = True
    config: HttpConfig
    url: str = ""
    app: Any = None
    """The running Litestar application (its route table is what the auth tests walk)."""

    @hookimpl
    def pygent_addhooks(self, pluginmanager: Any) -> None:
        pluginmanager.add_hookspecs(HttpHooks)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.context.hook.pygent_http_authenticate.get_hookimpls())

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Bind the socket (so a taken port fails the start), then serve once ``pygent_startup``
        has assembled the application."""
        if not self.auth_enabled and not is_loopback(self.config.host) \
                and not self.config.allow_public_without_auth:
            raise PygentError(
                f"refusing to serve on {self.config.host} with no auth plugin: anyone could call "
                "the API as admin. Enable [auth], or set allow_public_without_auth = true in [http]."
            )
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle).
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError as error:
            sock.close()
            raise PygentError(f"cannot listen on {self.config.host}:{self.config.port}: {error}") from None
        host, port = sock.getsockname()[:2]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        self._assembled, self._serving, self._up = anyio.Event(), anyio.Event(), False
        try:
            task_status.started()
            await self._assembled.wait()
        except BaseException:
            sock.close()
            raise
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(functools.partial(
                    # Frames over ws_max_frame_bytes get an error frame from the app; only frames
                    # 16 times larger close the connection (code 1009, "message too big").
                    serve, self.config.server, self.app, sock, graceful_timeout=self.config.graceful_timeout,
                    ws_max_size=16 * self.config.ws_max_frame_bytes,
                ))
                self._up = True
                self._serving.set()
        finally:
            self._serving.set()

    @hookimpl
    async def pygent_startup(self) -> None:
        """Assemble the application from every plugin's routes and start serving it."""
        from .app import build_app

        if not self.auth_enabled:
            self.context.log.warning("no auth plugin: every caller is admin")
        self.app = build_app(self)
        self._assembled.set()
        await self._serving.wait()
        if not self._up:
            raise PygentError(f"the HTTP server on {self.url} stopped while starting (see the log)")
        self.context.log.info("serving on %s", self.url)

    def trusted_origins(self) -> frozenset[str]:
        """Origins whose pages may send state-changing requests: [http] cors_origins and this server's."""
        port = self.url.rsplit(":", 1)[1]
        own = {self.url}
        if is_loopback(self.config.host):
            own |= {f"http://{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}
        return frozenset({*self.config.cors_origins, *own})

    def check_host(self, host: str | None) -> None:
        """Refuse a ``Host`` that is not a loopback name (403): with no auth plugin on a loopback
        address, the app checks every request, so a page whose DNS name was rebound to
        127.0.0.1 cannot use the API."""
        name = (host or "").rsplit(":", 1)[0] if not (host or "").endswith("]") else host
        if name not in _LOOPBACK_NAMES and name.strip("[]") != self.config.host:
            from litestar.exceptions import PermissionDeniedException

            raise PermissionDeniedException(
                f"Host {host!r} refused: with no auth plugin only loopback names "
                f"(127.0.0.1, localhost, [::1], {self.config.host}) are served"
            )

    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok(f"serving on {self.url}" + ("" if self.auth_enabled else ", no auth"))

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
