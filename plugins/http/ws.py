"""The WebSocket protocol of ``/ws``: JSON frames with a ``type``.

Built in: ``ping`` -> ``pong``; ``subscribe``/``unsubscribe`` to bus topics (events arrive as
``event`` frames as they happen; at most MAX_TOPICS patterns per connection, a ``subscribe`` that
would pass it is refused whole); ``system_metrics`` -> CPU, memory and per-plugin health.
Other types come from plugins through ``pygent_ws_handlers`` (e.g. ``chat_message``). A frame
that is not JSON, is nested deeper than MAX_DEPTH, has no known type, or fails, is answered with
an ``error`` frame; the connection stays open.

The handshake is refused (403) when its ``Origin`` is neither the server's own nor one of
``[http] cors_origins``. Every frame re-checks the credential and spends from the caller's rate
limit (the same bucket as HTTP requests): an exhausted limit answers the frame with an error
frame (``status`` 429), a revoked credential with an error frame (``status`` 401) and a close
with code 1008 (policy violation).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
from anyio.abc import TaskGroup
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from pygent_sdk import Bus, PluginContext, PygentError
from pygent_sdk.http import AuthFailed, Principal, WsHandler

MAX_TASKS = 8  # frames handled at once per connection; more wait
MAX_DEPTH = 64  # nesting of arrays and objects in a frame
MAX_TOPICS = 32
"""Most topic patterns one WebSocket connection, or one SSE stream, may subscribe to."""
POLICY_VIOLATION = 1008
log = logging.getLogger("pygent.plugin.http")


class Session:
    """One connection: sends are serialised; each frame is handled in its own task."""

    def __init__(self, socket: WebSocket, principal: Principal, bus: Bus) -> None:
        self.socket = socket
        self.principal = principal
        self.bus = bus
        self._send_lock = anyio.Lock()
        self._subscriptions: dict[str, tuple[Any, anyio.CancelScope]] = {}
        self._slots = anyio.Semaphore(MAX_TASKS)
        self.tasks: TaskGroup | None = None
        """The connection's task group: frame handlers and event forwarders run in it."""

    async def send(self, message: Mapping[str, Any]) -> None:
        async with self._send_lock:
            await self.socket.send_text(json.dumps(message, default=str))

    async def error(self, text: str, frame_id: Any = None, **extra: Any) -> None:
        await self.send({"type": "error", "error": text, **({"id": frame_id} if frame_id else {}),
                         **extra})


def origin_allowed(origin: str | None, host: str | None, allowed: Sequence[str]) -> bool:
    """No Origin (not a browser), the server's own (same host and port), or a configured one."""
    if origin is None or "*" in allowed or origin in allowed:
        return True
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


async def serve(socket: WebSocket, principal: Principal, context: PluginContext,
                handlers: dict[str, WsHandler], max_bytes: int, *,
                authenticate: Callable[[], Awaitable[Principal]], origins: Sequence[str]) -> None:
    """Check the Origin, accept, then read frames until the client goes away.

    ``authenticate`` re-checks the connection's credential (and spends from its rate limit) before
    each frame is handled.
    """
    if not origin_allowed(socket.headers.get("origin"), socket.headers.get("host"), origins):
        await socket.close()  # before accept: the handshake is answered 403
        return
    await socket.accept()
    session = Session(socket, principal, context.bus)
    builtin: dict[str, WsHandler] = {
        "ping": _ping, "subscribe": _subscribe, "unsubscribe": _unsubscribe,
        "system_metrics": lambda s, m: _metrics(s, m, context),
    }
    table = {**handlers, **builtin}
    async with anyio.create_task_group() as tasks:
        session.tasks = tasks
        try:
            while True:
                message = await socket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    try:
                        text = (message.get("bytes") or b"").decode()
                    except UnicodeDecodeError:
                        await session.error("binary frame is not UTF-8 JSON")
                        continue
                try:
                    session.principal = await authenticate()
                except AuthFailed as failed:
                    retry = {"retry_after": failed.retry_after} if failed.retry_after else {}
                    await session.error(str(failed), status=failed.status, **retry)
                    if failed.status == 401:
                        await socket.close(POLICY_VIOLATION, reason="credential no longer valid")
                        break
                    continue
                await session._slots.acquire()
                tasks.start_soon(_handle, session, table, text, max_bytes)
        except WebSocketDisconnect:
            pass
        finally:
            tasks.cancel_scope.cancel()
            for sub, _ in session._subscriptions.values():
                sub.close()


async def _handle(session: Session, table: dict[str, WsHandler], text: str, max_bytes: int) -> None:
    try:
        frame_id = None
        size = len(text.encode())
        if size > max_bytes:
            await session.error(f"frame of {size} bytes is over the {max_bytes}-byte limit")
            return
        try:
            frame = json.loads(text)
            deep = _too_deep(frame, text)
        except json.JSONDecodeError as error:
            await session.error(f"frame is not JSON: {error}")
            return
        except RecursionError:
            deep = True
        if deep:
            await session.error(f"frame is nested deeper than {MAX_DEPTH} levels")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await session.error('frame must be a JSON object with a string "type"')
            return
        frame_id = frame.get("id")
        handler = table.get(frame["type"])
        if handler is None:
            known = ", ".join(sorted(table))
            await session.error(f"unknown frame type {frame['type']!r}; known: {known}", frame_id)
            return
        try:
            await handler(session, frame)
        except (PygentError, ValueError, TypeError, KeyError) as error:  # AuthFailed included
            await session.error(f"{frame['type']}: {error}", frame_id)
        except WebSocketDisconnect:
            raise
        except Exception:
            log.exception("WebSocket handler of %r failed", frame["type"])
            await session.error(f"{frame['type']}: internal error (see the server log)", frame_id)
    except WebSocketDisconnect:
        pass
    finally:
        session._slots.release()


def _too_deep(frame: Any, text: str) -> bool:
    """Whether ``frame`` nests arrays and objects over MAX_DEPTH deep (walked only if it could)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    level: list[tuple[Any, int]] = [(frame, 1)]
    while level:
        value, depth = level.pop()
        children = value.values() if isinstance(value, dict) else value \
            if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > MAX_DEPTH:
                    return True
                level.append((child, depth + 1))
    return False


async def _ping(session: Session, frame: Mapping[str, Any]) -> None:
    await session.send({"type": "pong", "ts": time.time(),
                        **({"id": frame["id"]} if "id" in frame else {})})


def _topics(frame: Mapping[str, Any]) -> list[str]:
    topics = frame.get("topics")
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) for t in topics):
        raise ValueError('"topics" must be a non-empty list of topic patterns such as "agent.>"')
    return topics


async def _subscribe(session: Session, frame: Mapping[str, Any]) -> None:
    if not session.principal.may("read"):
        raise AuthFailed(403, "subscribing needs the 'read' permission")
    new = [p for p in dict.fromkeys(_topics(frame)) if p not in session._subscriptions]
    if len(session._subscriptions) + len(new) > MAX_TOPICS:
        raise ValueError(
            f"at most {MAX_TOPICS} topic patterns per connection: {len(session._subscriptions)} "
            f"subscribed, {len(new)} more asked; unsubscribe some first"
        )
    subs = []
    try:
        for pattern in new:
            subs.append(session.bus.subscribe(pattern, maxsize=1000, overflow="drop_oldest", name="ws"))
    except ValueError:
        for sub in subs:
            sub.close()
        raise
    assert session.tasks is not None
    for pattern, sub in zip(new, subs):
        scope = anyio.CancelScope()
        session._subscriptions[pattern] = (sub, scope)
        session.tasks.start_soon(_forward, session, sub, scope)
    await session.send({"type": "subscribed", "topics": sorted(session._subscriptions)})


async def _forward(session: Session, sub: Any, scope: anyio.CancelScope) -> None:
    with scope:
        async for event in sub:
            await session.send({"type": "event", "topic": event.topic, "data": event.to_dict()})


async def _unsubscribe(session: Session, frame: Mapping[str, Any]) -> None:
    for pattern in _topics(frame):
        found = session._subscriptions.pop(pattern, None)
        if found is not None:
            found[0].close()
            found[1].cancel()
    await session.send({"type": "unsubscribed", "topics": sorted(session._subscriptions)})


async def _metrics(session: Session, frame: Mapping[str, Any], context: PluginContext) -> None:
    import psutil

    health = await context.health()
    memory = psutil.virtual_memory()
    process = psutil.Process()
    await session.send({
        "type": "system_metrics",
        "cpu_percent": psutil.cpu_percent(interval=None),
        "memory": {"total": memory.total, "available": memory.available, "percent": memory.percent,
                   "process_rss": process.memory_info().rss},
        "status": health.status,
        "plugins": {name: {"status": h.status, "detail": h.detail}
                    for name, h in health.plugins.items()},
    })
