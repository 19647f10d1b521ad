"""http: the REST, WebSocket and SSE transport, on Litestar served by uvicorn.

Other plugins add endpoints through the hooks declared here, so the transport never learns about
agents, models or memory: ``pygent_http_routes`` (Litestar handlers under ``/api/v1``),
``pygent_ws_handlers`` (WebSocket frame types) and ``pygent_http_authenticate`` (who is calling).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import anyio
from anyio.abc import TaskStatus
from pydantic import Field
from pygent_sdk import Health, Plugin, PluginConfig, PygentError, hookimpl
from pygent_sdk.http import HttpHooks


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
    allow_public_without_auth: bool = Field(
        False, description="Allow a non-loopback host with no auth plugin (everyone is admin!).",
    )


class _Server:
    """uvicorn's Server without its own signal handling: the kernel owns SIGINT/SIGTERM."""

    def __new__(cls, config: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        return Server(config)


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
        import uvicorn

        from .app import build_app

        if not self.auth_enabled and not is_loopback(self.config.host) \
                and not self.config.allow_public_without_auth:
            raise PygentError(
                f"refusing to serve on {self.config.host} with no auth plugin: anyone could call "
                "the API as admin. Enable [auth], or set allow_public_without_auth = true in [http]."
            )
        if not self.auth_enabled:
            self.context.log.warning("no auth plugin: every caller is admin")
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
        self.app = build_app(self)
        server = _Server(uvicorn.Config(
            # Frames over ws_max_frame_bytes get an error frame from the protocol; only frames
            # 16 times larger close the connection (code 1009, "message too big").
            self.app, log_level="warning", lifespan="off", ws_max_size=16 * self.config.ws_max_frame_bytes,
            timeout_graceful_shutdown=self.config.graceful_timeout, access_log=False,
        ))
        done = anyio.Event()

        async def serve() -> None:
            # Shielded: shutdown goes through should_exit, so in-flight requests can finish.
            with anyio.CancelScope(shield=True):
                try:
                    await server.serve([sock])
                finally:
                    sock.close()
                    done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            while not server.started:
                if done.is_set():
                    raise PygentError(f"the HTTP server on {self.url} stopped while starting")
                await anyio.sleep(0.01)
            self.context.log.info("serving on %s", self.url)
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                server.should_exit = True
                with anyio.CancelScope(shield=True):
                    await done.wait()

    @hookimpl
    def pygent_health(self) -> Health:
        return Health.ok(f"serving on {self.url}" + ("" if self.auth_enabled else ", no auth"))

    @staticmethod
    @hookimpl
    def pygent_cli_commands(cli: Any) -> None:
        from .cli import register

        register(cli)
