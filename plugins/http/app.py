"""build_app: the Litestar application: core routes, contributed routes, per-request checks
(auth, origin, content type, JSON nesting), errors, OpenAPI, CORS and limits."""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Litestar, Request, Response, Router, WebSocket, get, route, websocket
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException, NotAuthorizedException, NotFoundException, PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers import ASGIRouteHandler, HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent
from litestar.types import ASGIApp, Receive, Scope, Send
from pygent_sdk import PygentError
from pygent_sdk.http import PERMISSIONS, AuthFailed, Principal

from . import is_loopback, ws
from .ws import MAX_TOPICS

if TYPE_CHECKING:
    from . import HttpPlugin

ANONYMOUS = Principal("anonymous", "admin")
API_PREFIX = "/api/v1"
SCHEMA_PREFIX = "/schema"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


# Request checks ------------------------------------------------------------------------------

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes, limit: int) -> int:
    """How deep ``body``'s arrays and objects nest (scanned up to ``limit + 1``), or, for a body
    with no more brackets than ``limit``, that count: an upper bound found without scanning."""
    if (brackets := body.count(b"[") + body.count(b"{")) <= limit:
        return brackets
    depth = deepest = 0
    for char in _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS):
        if char in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def is_json(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type, parameters aside."""
    if not content_type:
        return False
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def is_multipart(content_type: str | None) -> bool:
    """``multipart/form-data``: accepted only by routes declaring ``opt={"multipart": True}``."""
    return (content_type or "").partition(";")[0].strip().lower() == "multipart/form-data"


# Route collection ----------------------------------------------------------------------------


def _shape(path: str) -> str:
    """A path with every parameter reduced to ``{}``: two paths of one shape are one route."""
    return re.sub(r"\{[^}]*\}", "{}", path).rstrip("/") or "/"


def collect(mounted: Iterable[tuple[str, str, list[Any]]]) -> list[tuple[str, list[Any]]]:
    """Check contributed routes and group them by mount; raise PygentError naming the plugins.

    ``mounted`` is ``(plugin, mount, items)`` with mount ``/api/v1`` or ``/``. Refused: an unknown
    permission, an ASGI mount without an explicit permission, a root route under the API or the
    docs, and a method and path served twice (naming both plugins).
    """
    claims: dict[str, dict[str, str]] = {}
    by_mount: dict[str, list[Any]] = {}
    methods: dict[str, dict[str, set[str]]] = {}
    for owner, mount, items in mounted:
        try:
            router = Router(mount, route_handlers=items)
        except Exception as error:
            raise PygentError(f"plugin '{owner}' contributed an invalid route: {error}") from None
        for path, handlers in router.route_handler_method_map.items():
            if mount == "/" and (_shape(path) in (API_PREFIX.rsplit("/", 1)[0], SCHEMA_PREFIX)
                                 or path.startswith(("/api/", SCHEMA_PREFIX + "/"))):
                raise PygentError(
                    f"plugin '{owner}' contributed root route {path}: /api and {SCHEMA_PREFIX} belong "
                    "to the transport; contribute API routes through pygent_http_routes"
                )
            taken = claims.setdefault(_shape(path), {})
            for method, handler in handlers.items():
                permission = handler.opt.get("permission")
                if permission is not None and permission not in PERMISSIONS:
                    raise PygentError(
                        f"plugin '{owner}': route {path} declares permission {permission!r}; "
                        f"expected one of {', '.join(sorted(PERMISSIONS))}"
                    )
                if isinstance(handler, ASGIRouteHandler) and permission is None:
                    raise PygentError(
                        f"plugin '{owner}': ASGI mount {path} must declare its permission, "
                        "opt={'permission': 'read' | 'write' | 'admin' | 'public'}"
                    )
                if method in ("HEAD", "OPTIONS"):
                    continue
                if method not in ("asgi", "websocket"):
                    relative = path[len(mount):] if mount != "/" else path
                    methods.setdefault(mount, {}).setdefault(relative or "/", set()).add(method)
                verb = "*" if method == "asgi" else method
                rivals = set(taken) if verb == "*" else {verb, "*"} & set(taken)
                if rivals:
                    other = taken[next(iter(rivals))]
                    who = f"plugins '{other}' and '{owner}'" if other != owner else f"plugin '{owner}' twice"
                    raise PygentError(f"route {verb if verb != '*' else 'ASGI'} {path} is claimed by {who}")
                taken[verb] = owner
        by_mount.setdefault(mount, []).extend(items)
    # Litestar's own OPTIONS answer lists only the methods of a path's first handler: these
    # come first, so each path's Allow names every method contributed for it.
    return [(mount, [*(_options(path, verbs) for path, verbs in methods.get(mount, {}).items()), *items])
            for mount, items in by_mount.items()]


def _options(path: str, methods: set[str]) -> HTTPRouteHandler:
    """An OPTIONS handler answering 204 with ``Allow: <methods>, OPTIONS``."""
    allow = ", ".join(sorted({*methods, "OPTIONS"}))

    @route(path, http_method=["OPTIONS"], include_in_schema=False, opt={"permission": "public"})
    async def options() -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": allow})

    return options


def contributions(caller: Any) -> list[tuple[str, list[Any]]]:
    """Each plugin's answer to a route hook, with the plugin's name."""
    return [(impl.plugin_name, list(impl.function() or [])) for impl in caller.get_hookimpls()]


# OpenAPI --------------------------------------------------------------------------------------


def msgspec_components(annotations: Iterable[Any], existing: Iterable[str]) -> dict[str, Any]:
    """JSON schemas of the msgspec types in ``annotations``, as msgspec itself validates them,
    named as Litestar named them in ``existing``.

    Litestar's generated schemas drop constraints inside containers (``list[Annotated[str,
    Meta(min_length=1)]]``) and ``forbid_unknown_fields``; these replace them.
    """
    describable = []
    for annotation in annotations:
        with contextlib.suppress(Exception):  # not msgspec-describable: a Response, a Request, ...
            msgspec.json.schema_components([annotation])
            describable.append(annotation)
    _, components = msgspec.json.schema_components(describable, ref_template=REF)
    existing = set(existing)
    names = {}
    for name in components:  # msgspec says a.b.ChatIn where Litestar says b_ChatIn
        parts = name.split(".")
        names[name] = next((n for k in range(1, len(parts) + 1)
                            if (n := "_".join(parts[-k:])) in existing), name.replace(".", "_"))

    def renamed(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (REF.format(name=names[v.rsplit("/", 1)[1]]) if k == "$ref" else renamed(v))
                    for k, v in node.items()}
        return [renamed(v) for v in node] if isinstance(node, list) else node

    return {names[name]: renamed(schema) for name, schema in components.items()}


REF = "#/components/schemas/{name}"
MEDIA_SCHEMAS: dict[str, Any] = {"application/json": {"type": "object"}, "text/event-stream": {}}
"""What a route declaring several media types (``opt={"media_types": [...]}``) answers in each."""
PROBLEM = {"$ref": "#/components/schemas/ProblemDetails"}
PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
ERRORS = {
    400: "Bad input: invalid parameters or body, JSON nested too deep",
    401: "No valid credential",
    403: "The caller's role lacks the route's permission, or a foreign Origin or Host",
    404: "No such resource",
    405: "Method not allowed (see the Allow header)",
    413: "Request body over [http] max_body_bytes",
    415: "A request body that is not JSON",
    429: "Rate limit exceeded (see the Retry-After header)",
}


def document_errors(spec: dict[str, Any], public: set[tuple[str, str]],
                    media_types: dict[tuple[str, str], list[str]]) -> None:
    """Add the problem+json answers every operation can give to the OpenAPI document, and the
    media types of routes that declare several (``opt={"media_types": [...]}``)."""
    spec.setdefault("components", {}).setdefault("schemas", {})["ProblemDetails"] = PROBLEM_SCHEMA
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method.upper() not in CHANGING_METHODS | READ_METHODS:
                continue
            success = operation.get("responses", {}).get("200", {})
            if (method, path) in media_types and "content" in success:
                success["content"] = {t: {"schema": MEDIA_SCHEMAS.get(t, {"type": "string"})}
                                      for t in media_types[method, path]}
            params = operation.get("parameters", [])
            codes = {403, 404, 405}  # 404: a path parameter or an id in the body names nothing
            if params or "requestBody" in operation:
                codes.add(400)
            if (method, path) not in public:
                codes |= {401, 429}
            if method.upper() in CHANGING_METHODS:
                codes |= {400, 413, 415}
            responses = operation.setdefault("responses", {})
            for code in sorted(codes):
                answer = {"description": ERRORS[code],
                          "content": {"application/problem+json": {"schema": PROBLEM}}}
                if code == 429:
                    answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "required": True}}
                if code == 405:
                    answer["headers"] = {"Allow": {"schema": {"type": "string"}, "required": True}}
                responses[str(code)] = answer
            for code, answer in responses.items():  # Litestar's own 4xx are problem details too
                if code.startswith("4") and "application/json" in answer.get("content", {}):
                    answer["content"] = {"application/problem+json": {"schema": PROBLEM}}


# The application ------------------------------------------------------------------------------


def build_app(plugin: HttpPlugin) -> Litestar:
    context, config = plugin.context, plugin.config
    hook = context.hook
    auth_enabled = plugin.auth_enabled
    trusted_origins = plugin.trusted_origins()
    max_depth = config.max_json_depth
    guard_host = not auth_enabled and is_loopback(config.host)  # else: auth, or opened on purpose

    async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
        if not auth_enabled:
            return ANONYMOUS
        headers, scope = connection.headers, connection.scope
        kind = "websocket" if scope["type"] == "websocket" else (
            "sse" if scope["route_handler"].opt.get("sse") else "http")
        answer = hook.pygent_http_authenticate(
            authorization=headers.get("authorization"), api_key=headers.get("x-api-key"),
            token=connection.query_params.get("token"), kind=kind,
            client=scope["client"][0] if scope.get("client") else None,
        )
        if inspect.isawaitable(answer):
            answer = await answer
        if answer is None:
            raise AuthFailed(401, "credentials needed: an X-API-Key header or Authorization: Bearer JWT")
        return answer

    async def check(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        """Authenticate the caller and check the route's permission; raise 401/403/429."""
        need = handler.opt["permission"]
        if need == "public":  # open to all; credentials, if sent, still count
            with contextlib.suppress(AuthFailed):
                connection.scope["principal"] = await authenticate(connection)  # type: ignore[typeddict-unknown-key]
            return
        try:
            principal = await authenticate(connection)
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

    def check_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        """Browsers name the page's origin on state-changing requests: only trusted ones may."""
        origin = connection.headers.get("origin")
        if origin is None or origin in trusted_origins or "*" in trusted_origins:
            return
        if auth_enabled and origin == f"{connection.scope['scheme']}://{connection.headers.get('host')}":
            return  # a page this server served (with auth on, a rebound DNS name gains nothing)
        raise PermissionDeniedException(
            f"cross-origin request from {origin!r} refused: add it to [http] cors_origins to allow it"
        )

    async def check_body(connection: ASGIConnection[Any, Any, Any, Any], receive: Receive) -> bytes | None:
        """A body must be JSON (415), within max_body_bytes (413) and nested at most max_json_depth (400)."""
        headers = connection.headers
        if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
            return None
        if not is_json(headers.get("content-type")):
            if connection.scope["route_handler"].opt.get("multipart") and is_multipart(headers.get("content-type")):
                return None  # a file upload the route parses itself, within its request_max_body_size
            raise HTTPException(
                f"the request body must be JSON (Content-Type: application/json), "
                f"got {headers.get('content-type') or 'no Content-Type'}", status_code=415,
            )
        if isinstance(connection.scope["route_handler"], ASGIRouteHandler):
            body = await _read_body(receive, config.max_body_bytes)
        else:  # Litestar keeps it for the handler
            body = await Request(connection.scope, receive).body()
        if json_depth(body, max_depth) > max_depth:
            raise HTTPException(f"JSON body nested deeper than {max_depth} levels", status_code=400)
        return body

    def guard(app: ASGIApp) -> ASGIApp:
        """Runs the checks on every routed request (a middleware, not a guard: Litestar copies the
        handler for each guard call, which costs more than the checks themselves)."""

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] in ("http", "websocket"):
                path = scope["path"]
                if path[-1] == "/" and len(path) > 1 and not path.startswith(SCHEMA_PREFIX):
                    # Litestar would route /agents/ to /agents: an empty id is not the list
                    raise NotFoundException(f"no resource at {path} (paths do not end in '/')")
                connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
                handler = scope["route_handler"]
                if guard_host:
                    plugin.check_host(connection.headers.get("host"))
                changing = scope.get("method") in CHANGING_METHODS
                if changing:
                    check_origin(connection)
                await check(connection, handler)
                if changing:
                    body = await check_body(connection, receive)
                    if body is not None and isinstance(handler, ASGIRouteHandler):
                        receive = _replay(body, receive)
            await app(scope, receive, send)

        return middleware

    @get("/health", summary="Overall health; per plugin for callers with the read permission",
         opt={"permission": "public"})
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

    @get("/events/stream", summary="Bus events as Server-Sent Events", media_type="text/event-stream",
         opt={"sse": True})
    async def events(topics: FromQuery[str] = ">") -> ServerSentEvent:
        patterns = list(dict.fromkeys(t.strip() for t in topics.split(",") if t.strip()))
        if not 0 < len(patterns) <= MAX_TOPICS:
            raise HTTPException(f"1 to {MAX_TOPICS} topic patterns per stream, got {len(patterns)}",
                                status_code=400)
        for pattern in patterns:  # checked by the bus itself; the stream subscribes for real
            try:
                context.bus.subscribe(pattern, maxsize=1, name="sse-check").close()
            except ValueError as error:
                raise HTTPException(str(error), status_code=400) from None

        async def stream() -> AsyncIterator[str]:
            import anyio

            send, receive = anyio.create_memory_object_stream[str](100)
            recent: dict[str, None] = {}  # an event matching two patterns is sent once
            subs: list[Any] = []  # made here, so a response that never starts leaves none behind

            async def pump(sub: Any) -> None:
                async for event in sub:
                    if len(patterns) > 1:
                        if event.id in recent:
                            continue
                        recent[event.id] = None
                        if len(recent) > 1024:
                            del recent[next(iter(recent))]
                    await send.send(msgspec.json.encode(event.to_dict()).decode())

            try:
                async with anyio.create_task_group() as tg:
                    for pattern in patterns:
                        subs.append(context.bus.subscribe(pattern, maxsize=1000, name="sse"))
                        tg.start_soon(pump, subs[-1])
                    async for data in receive:
                        yield data
            finally:
                for sub in subs:
                    sub.close()

        return ServerSentEvent(stream(), event_type="event")

    @websocket("/ws", opt={"permission": "read"})
    async def socket(socket: WebSocket[Any, Any, Any]) -> None:
        handlers = {k: v for found in hook.pygent_ws_handlers() for k, v in found.items()}
        await ws.serve(socket, socket.scope["principal"], context, handlers, config.ws_max_frame_bytes,
                       authenticate=lambda: authenticate(socket), origins=config.cors_origins)

    mounts = collect([
        (context.name, API_PREFIX, [health, plugins, plugin_info, events]),
        (context.name, "/", [socket]),
        *((name, API_PREFIX, items) for name, items in contributions(hook.pygent_http_routes)),
        *((name, "/", items) for name, items in contributions(hook.pygent_http_root_routes)),
    ])
    routers = [Router(mount, route_handlers=items) for mount, items in mounts]

    def pygent_error(request: Request[Any, Any, Any], exc: PygentError) -> Response[Any]:
        return _problem(404 if isinstance(exc, LookupError) else 400, str(exc))

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        return _problem(exc.status_code, exc.detail, exc.headers, exc.extra)

    def server_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        context.log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=exc)
        return _problem(500, f"{type(exc).__name__} (see the server log)")

    app = Litestar(
        route_handlers=routers,
        middleware=[guard],
        exception_handlers={PygentError: pygent_error, HTTPException: http_error, 500: server_error},
        cors_config=CORSConfig(allow_origins=config.cors_origins) if config.cors_origins else None,
        openapi_config=OpenAPIConfig(
            title="PyGent Factory", version="0.1.0", path=SCHEMA_PREFIX,
            render_plugins=[SwaggerRenderPlugin(path="/"), JsonRenderPlugin(path="/openapi.json")],
            description="Send an X-API-Key header (or Authorization: Bearer <JWT>) with every request.",
        ),
        request_max_body_size=config.max_body_bytes,
        debug=False,
    )
    public, media_types, annotations = set(), {}, []
    for route in app.routes:  # settle each route's permission once, not per request
        for handler in getattr(route, "route_handlers", [getattr(route, "route_handler", None)]):
            if route.path == SCHEMA_PREFIX or route.path.startswith(SCHEMA_PREFIX + "/"):
                handler.opt["permission"] = "public"
            handler.opt["permission"] = required_permission(handler)
            if not isinstance(handler, HTTPRouteHandler):
                continue
            signature = handler.parsed_fn_signature
            if signature.return_type.is_subclass_of(ServerSentEvent):
                handler.opt["sse"] = True
            annotations += [signature.return_type.annotation,
                            *(f.annotation for f in signature.parameters.values())]
            for method in handler.http_methods:
                if handler.opt["permission"] == "public":
                    public.add((method.lower(), route.path_format))
                if "media_types" in handler.opt or handler.opt.get("sse"):
                    media_types[method.lower(), route.path_format] = handler.opt.get(
                        "media_types", ["text/event-stream"])
    spec = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(msgspec_components(annotations, schemas))
    document_errors(spec, public, media_types)
    return app


async def _read_body(receive: Receive, limit: int) -> bytes:
    """An ASGI request's whole body, or 413 past ``limit`` bytes."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPException(f"request body over {limit} bytes", status_code=413)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands an ASGI mount the body already read, then the real messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Any:
        return pending.pop() if pending else await receive()

    return replay


def _plugin_out(p: Any) -> PluginOut:
    return PluginOut(p.name, p.state, p.summary, list(p.provides), list(p.requires), p.error)
