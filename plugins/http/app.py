"""build_app: the Litestar application: core routes, contributed routes, auth middleware, errors,
OpenAPI, CORS and limits."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.params import FromPath, FromQuery
from litestar import Litestar, MediaType, Request, Response, Router, WebSocket, get, websocket
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException, NotAuthorizedException, NotFoundException, PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.response import ServerSentEvent
from litestar.types import ASGIApp, Receive, Scope, Send
from pygent_sdk import PygentError
from pygent_sdk.http import AuthFailed, Principal

from . import ws

if TYPE_CHECKING:
    from . import HttpPlugin

ANONYMOUS = Principal("anonymous", "admin")
PUBLIC_PREFIX = "/schema"
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class PluginHealth(msgspec.Struct):
    status: str
    detail: str


class HealthOut(msgspec.Struct):
    status: str
    plugins: dict[str, PluginHealth]


class PluginOut(msgspec.Struct):
    name: str
    state: str
    summary: str
    provides: list[str]
    requires: list[str]
    error: str | None = None


def required_permission(handler: BaseRouteHandler) -> str:
    """The route's ``opt["permission"]``, else ``read`` for GET-like routes and websockets, else ``write``."""
    if "permission" in handler.opt:
        return handler.opt["permission"]
    methods = getattr(handler, "http_methods", None)
    return "read" if methods is None or set(methods) <= READ_METHODS else "write"


def _problem(status: int, detail: str, headers: Mapping[str, str] | None = None,
             extra: Any = None) -> Response[Any]:
    """An RFC 9457 problem details response."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail}
    if extra:
        body["errors"] = extra
    return Response(body, status_code=status, media_type="application/problem+json", headers=headers)


def build_app(plugin: HttpPlugin) -> Litestar:
    context, config = plugin.context, plugin.config
    hook = context.hook

    async def authenticate(connection: ASGIConnection[Any, Any, Any, Any], kind: str) -> Principal:
        if not plugin.auth_enabled:
            return ANONYMOUS
        headers = connection.headers
        answer = hook.pygent_http_authenticate(
            authorization=headers.get("authorization"), api_key=headers.get("x-api-key"),
            token=connection.query_params.get("token"), kind=kind,
            client=connection.client.host if connection.client else None,
        )
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is None:
            raise AuthFailed(401, "credentials needed: an X-API-Key header or Authorization: Bearer JWT")
        return answer

    async def check(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        """Authenticate the caller and check the route's permission; raise 401/403/429."""
        if connection.url.path.startswith(PUBLIC_PREFIX):
            return
        kind = "websocket" if connection.scope["type"] == "websocket" else \
            "sse" if handler.opt.get("sse") else "http"
        if handler.opt.get("public"):  # open to all; credentials, if sent, still count
            with contextlib.suppress(AuthFailed):
                connection.scope["principal"] = await authenticate(connection, kind)  # type: ignore[typeddict-unknown-key]
            return
        try:
            principal = await authenticate(connection, kind)
            need = required_permission(handler)
            if not principal.may(need):
                raise AuthFailed(403, f"role {principal.role!r} lacks the {need!r} permission of this route")
        except AuthFailed as failed:
            if failed.status == 429:
                raise TooManyRequestsException(
                    str(failed), headers={"Retry-After": str(max(1, round(failed.retry_after or 1)))}
                ) from None
            exc = NotAuthorizedException if failed.status == 401 else PermissionDeniedException
            raise exc(str(failed)) from None
        connection.scope["principal"] = principal  # type: ignore[typeddict-unknown-key]

    def auth_middleware(app: ASGIApp) -> ASGIApp:
        """Runs ``check`` on every routed request (a middleware, not a guard: Litestar copies the
        handler for each guard call, which costs more than the check itself)."""

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket"):
                await check(ASGIConnection(scope), scope["route_handler"])
            await app(scope, receive, send)

        return middleware

    @get("/health", summary="Overall health; per plugin for callers with the read permission",
         opt={"public": True})
    async def health(request: Request[Any, Any, Any]) -> HealthOut:
        report = await context.health()
        principal = request.scope.get("principal")
        if principal is None or not principal.may("read"):
            return HealthOut(report.status, {})
        return HealthOut(report.status, {n: PluginHealth(h.status, h.detail) for n, h in report.plugins.items()})

    @get("/plugins", summary="Configured plugins and their state")
    async def plugins() -> list[PluginOut]:
        return [_plugin_out(p) for p in context.plugins()]

    @get("/plugins/{name:str}", summary="One configured plugin")
    async def plugin_info(name: FromPath[str]) -> PluginOut:
        for p in context.plugins():
            if p.name == name:
                return _plugin_out(p)
        raise NotFoundException(f"no plugin {name!r} is configured")

    @get("/events/stream", summary="Bus events as Server-Sent Events", media_type=MediaType.TEXT,
         opt={"sse": True})
    async def events(topics: FromQuery[str] = ">") -> ServerSentEvent:
        subs = []
        try:
            for pattern in (t.strip() for t in topics.split(",") if t.strip()):
                subs.append(context.bus.subscribe(pattern, maxsize=1000, name="sse"))
        except ValueError as error:
            for sub in subs:
                sub.close()
            raise HTTPException(str(error), status_code=400) from None

        async def stream() -> AsyncIterator[str]:
            import anyio

            send, receive = anyio.create_memory_object_stream[str](100)

            async def pump(sub: Any) -> None:
                async for event in sub:
                    await send.send(msgspec.json.encode(event.to_dict()).decode())

            try:
                async with anyio.create_task_group() as tg:
                    for sub in subs:
                        tg.start_soon(pump, sub)
                    async for data in receive:
                        yield data
            finally:
                for sub in subs:
                    sub.close()

        return ServerSentEvent(stream(), event_type="event")

    @websocket("/ws")
    async def socket(socket: WebSocket[Any, Any, Any]) -> None:
        handlers = {k: v for found in hook.pygent_ws_handlers() for k, v in found.items()}
        await ws.serve(socket, socket.scope["principal"], context, handlers, config.ws_max_frame_bytes,
                       authenticate=lambda: authenticate(socket, "websocket"), origins=config.cors_origins)

    contributed = [route for routes in hook.pygent_http_routes() for route in routes]
    api = Router("/api/v1", route_handlers=[health, plugins, plugin_info, events, *contributed])

    def pygent_error(request: Request[Any, Any, Any], exc: PygentError) -> Response[Any]:
        return _problem(404 if isinstance(exc, LookupError) else 400, str(exc))

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        return _problem(exc.status_code, exc.detail, exc.headers, exc.extra)

    def server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        context.log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return _problem(500, f"{type(exc).__name__} (see the server log)")

    return Litestar(
        route_handlers=[api, socket],
        middleware=[auth_middleware],
        exception_handlers={PygentError: pygent_error, HTTPException: http_error, 500: server_error},
        cors_config=CORSConfig(allow_origins=config.cors_origins) if config.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="PyGent Factory", version="0.1.0", path=PUBLIC_PREFIX,
            render_plugins=[SwaggerRenderPlugin(path="/"), JsonRenderPlugin(path="/openapi.json")],
            description="Send an X-API-Key header (or Authorization: Bearer <JWT>) with every request.",
        ),
        request_max_body_size=config.max_body_bytes,
        debug=False,
    )


def _plugin_out(p: Any) -> PluginOut:
    return PluginOut(p.name, p.state, p.summary, list(p.provides), list(p.requires), p.error)
