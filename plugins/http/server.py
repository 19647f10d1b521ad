"""The ASGI servers the http plugin runs inside the kernel's event loop: uvicorn or granian.

Both serve a socket the plugin has already bound. :func:`serve` reports ready through
``task_status``, serves until it is cancelled, then stops accepting connections, closes WebSockets
(code 1012, "service restart"), gives in-flight requests ``graceful_timeout`` seconds to finish,
cancels what is left and returns.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

import anyio
from anyio.abc import TaskStatus
from pygent_sdk import PygentError

ServerName = Literal["uvicorn", "granian"]
BACKLOG = 2048


async def serve(
    name: ServerName, app: Any, sock: socket.socket, *, graceful_timeout: float, ws_max_size: int,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on the bound ``sock`` with server ``name`` until cancelled (see the module).

    ``sock`` belongs to the server from here on: it is closed when serving ends.
    """
    try:
        sock.listen(BACKLOG)
        runner = _granian if name == "granian" else _uvicorn
        await runner(app, sock, graceful_timeout, ws_max_size, task_status)
    finally:
        sock.close()


async def _uvicorn(app: Any, sock: socket.socket, graceful_timeout: float, ws_max_size: int,
                   task_status: TaskStatus[None]) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn without its own signal handling: the kernel owns SIGINT/SIGTERM."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    # Frames over the app's own limit get an error frame from the protocol; only frames of
    # ws_max_size close the connection (code 1009, "message too big").
    server = Server(uvicorn.Config(
        app, log_level="warning", lifespan="off", ws_max_size=ws_max_size,
        timeout_graceful_shutdown=graceful_timeout, access_log=False, backlog=BACKLOG,
    ))

    async def stop(done: anyio.Event) -> None:
        server.should_exit = True
        await done.wait()

    await _supervise("uvicorn", lambda: server.serve([sock]), lambda: server.started, stop, task_status)


class _Inflight:
    """ASGI middleware that tracks running connections, so shutdown can wait for and end them.

    Stopped, granian's embedded server stops accepting and then waits, without a limit, for the
    open connections to end; it never cancels the application. With this, shutdown closes the
    WebSockets, gives the rest ``graceful_timeout`` seconds and then cancels them.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.running: dict[anyio.CancelScope, str] = {}
        self.idle = anyio.Event()
        self.idle.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        with anyio.CancelScope() as cancel:
            self.running[cancel] = scope["type"]
            self.idle = anyio.Event() if len(self.running) == 1 else self.idle
            try:
                await self.app(scope, receive, send)
            finally:
                del self.running[cancel]
                if not self.running:
                    self.idle.set()
        if cancel.cancelled_caught and scope["type"] == "websocket":
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": 1012, "reason": "server shutting down"})

    def cancel(self, kind: str | None = None) -> None:
        """Cancel the running connections of scope type ``kind`` (all when None)."""
        for cancel, scope_type in list(self.running.items()):
            if kind is None or scope_type == kind:
                cancel.cancel()


async def _granian(app: Any, sock: socket.socket, graceful_timeout: float, ws_max_size: int,
                   task_status: TaskStatus[None]) -> None:
    try:
        from granian._granian import SocketHolder
        from granian.constants import Interfaces
        from granian.server.embed import Server
    except ImportError:
        raise PygentError("[http] server = 'granian' needs the granian package: pip install granian") from None

    inflight = _Inflight(app)
    fd = os.dup(sock.fileno())  # granian owns (and closes) the descriptor it is given
    sock.close()

    class Embedded(Server):
        """granian's embedded server on our socket: no address of its own, no log setup."""

        def _init_shared_socket(self) -> None:
            self._ssp, self._shd = None, SocketHolder(fd, False, BACKLOG)

    # ASGINL: no lifespan protocol, as with uvicorn's lifespan="off" (the kernel is the lifespan).
    # granian has no WebSocket frame-size setting: the app's per-frame limit is the only one.
    server = Embedded(inflight, interface=Interfaces.ASGINL, log_enabled=False, websockets=True,
                      backlog=BACKLOG)

    async def stop(done: anyio.Event) -> None:
        # granian stops accepting, then waits for every open connection to end: end the
        # WebSockets now, the rest when graceful_timeout runs out.
        server.signal_handler_interrupt()
        inflight.cancel("websocket")
        with anyio.move_on_after(graceful_timeout):
            await inflight.idle.wait()
        inflight.cancel()
        await done.wait()
        await inflight.idle.wait()

    await _supervise("granian", server.serve, lambda: bool(server.wrks), stop, task_status)


async def _supervise(
    name: str, run: Callable[[], Awaitable[None]], started: Callable[[], bool],
    stop: Callable[[anyio.Event], Awaitable[None]], task_status: TaskStatus[None],
) -> None:
    """Run ``run()`` shielded (shutdown goes through ``stop``, so in-flight requests can finish),
    report ready once ``started()``, serve until cancelled, then ``stop`` it, shielded, given the
    event that ``run`` has returned."""
    done = anyio.Event()

    async def serve() -> None:
        with anyio.CancelScope(shield=True):
            try:
                await run()
            finally:
                done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        while not started():
            if done.is_set():
                raise PygentError(f"{name} stopped while starting")
            await anyio.sleep(0.01)
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await stop(done)
