"""The agents plugin's HTTP routes and WebSocket frames (``chat_message``, ``cancel_run``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Annotated, Any, Union

import anyio
import msgspec
from litestar import Request, delete, get, patch, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, JSONBody, PathParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from pygent_sdk import AgentInfo, AgentResult
from pygent_sdk.agents import AgentError, AgentRegistry, AgentType, RunInfo
from pygent_sdk.http import AuthFailed, WsSession
from pygent_sdk.structs import camel, config_struct, given

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
AgentId = Annotated[str, PathParameter(min_length=1, max_length=64, description="An agent's id.")]
RunId = Annotated[str, PathParameter(min_length=1, max_length=64, description="A run's id.")]
READ, WRITE = {"permission": "read"}, {"permission": "write"}


class AgentOut(msgspec.Struct):
    id: str
    type: str
    name: str
    model: str
    config: dict[str, Any]
    status: str
    created_at: float
    conversation_id: str | None
    ephemeral: bool


class AgentTypeOut(msgspec.Struct):
    name: str
    description: str


class CreateAgent(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    name: str | None = None
    model: str | None = None
    config: dict[str, Any] = {}


class ConfigureAgent(msgspec.Struct, forbid_unknown_fields=True):
    model: str | None = None
    config: dict[str, Any] | None = None


class TaskIn(msgspec.Struct, forbid_unknown_fields=True):
    task: Text


class OneShotIn(msgspec.Struct, forbid_unknown_fields=True):
    type: str
    task: Text
    model: str | None = None
    config: dict[str, Any] = {}


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    message: Text


class UsageOut(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int


class ResultOut(msgspec.Struct):
    agent_id: str
    run_id: str | None
    status: str
    conversation_id: str | None
    output: str
    success: bool
    steps: list[dict[str, Any]]
    usage: UsageOut


class RunOut(msgspec.Struct):
    id: str
    agent_id: str
    task: str
    status: str
    created_at: float
    finished_at: float | None
    output: str | None
    success: bool | None
    steps: list[dict[str, Any]]
    error: str | None


class StatusOut(msgspec.Struct):
    id: str
    status: str


class ChatIn(msgspec.Struct, forbid_unknown_fields=True):
    message: Text
    agent_id: str | None = None
    agent_type: str | None = None
    model: str | None = None


def agent_out(info: AgentInfo) -> AgentOut:
    return AgentOut(info.id, info.type, info.name, info.model, dict(info.config), info.status,
                    info.created_at, info.conversation_id, info.ephemeral)


def result_out(info: AgentInfo, result: AgentResult) -> ResultOut:
    return ResultOut(info.id, result.run_id, result.status or "", info.conversation_id, result.output,
                     result.success, [s.to_dict() for s in result.steps],
                     UsageOut(result.usage.prompt_tokens, result.usage.completion_tokens))


def run_out(run: RunInfo) -> RunOut:
    result = run.result
    return RunOut(run.id, run.agent_id, run.task, run.status, run.created_at, run.finished_at,
                  result.output if result else None, result.success if result else None,
                  [s.to_dict() for s in result.steps] if result else [], run.error)


async def chat(
    registry: AgentRegistry, body: ChatIn, on_token: Any = None, on_run: Any = None
) -> tuple[AgentInfo, AgentResult]:
    """Send a chat message: to ``agent_id``, or to a new ephemeral agent of the type that
    fits the message (``pygent_agent_for_message``)."""
    if body.agent_id:
        info = registry.get(body.agent_id)
    else:
        info = await registry.create(body.agent_type or registry.pick_type(body.message),
                                     model=body.model, name="chat", ephemeral=True)
    result = await registry.run(info.id, body.message, on_token=on_token, on_run=on_run)
    return registry.get(info.id), result


def _own_run(registry: AgentRegistry, agent_id: str, run_id: str) -> RunInfo:
    run = registry.get_run(run_id)
    if run.agent_id != agent_id:
        registry.get(agent_id)  # 404 for an unknown agent first
        raise NotFoundException(f"run {run_id!r} is not agent {agent_id!r}'s")
    return run


def _convert(config: Mapping[str, Any], struct: Any) -> Any:
    """``config`` as ``struct``, read as its JSON schema reads: strictly, but 5.0 is an integer."""
    ints = {k for k, p in msgspec.json.schema(struct)["$defs"][struct.__name__]["properties"].items()
            if p.get("type") == "integer"}
    return msgspec.convert({
        k: int(v) if k in ints and isinstance(v, float) and v.is_integer() else v
        for k, v in config.items()
    }, struct)


def _fits(config: Mapping[str, Any], struct: Any) -> bool:
    try:
        _convert(config, struct)
    except msgspec.ValidationError:
        return False
    return True


def _utf8(text: str) -> str:
    """``text`` as an event stream can carry it: a lone surrogate (half of an emoji's pair,
    streamed apart) becomes "?" instead of failing the stream."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _tag(body: Any) -> str:
    """The ``type`` of a tagged request body."""
    return type(body).__struct_config__.tag


def bodies(types: Sequence[AgentType]) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Request bodies of create, one-shot and configure whose schemas are the agent types' own
    configs: ``type`` picks the variant, ``config`` has exactly that type's keys and bounds.
    Also each type's config struct, to check a PATCH as strictly as its schema reads."""
    if not types:
        return CreateAgent, OneShotIn, ConfigureAgent, {}
    create, once, schemas, structs = [], [], [], {}
    for t in types:
        config = structs[t.name] = config_struct(t.Config, f"{camel(t.name)}AgentConfig")
        common = [("model", str | None, None), ("config", config, msgspec.field(default_factory=config))]
        options = {"tag_field": "type", "tag": t.name, "forbid_unknown_fields": True, "kw_only": True}
        create.append(msgspec.defstruct(f"Create{camel(t.name)}Agent",
                                        [("name", str | None, None), *common], **options))
        once.append(msgspec.defstruct(f"Run{camel(t.name)}Once", [("task", Text), *common], **options))
        schemas.append(msgspec.json.schema(config)["$defs"][config.__name__])
    any_config = Annotated[dict[str, Any], msgspec.Meta(extra_json_schema={"anyOf": schemas})]
    configure = msgspec.defstruct(
        "ConfigureAgent", [("model", str | None, None), ("config", any_config | None, None)],
        forbid_unknown_fields=True,
    )
    return Union[tuple(create)], Union[tuple(once)], configure, structs  # noqa: UP007


def routes(registry: AgentRegistry) -> list[Any]:
    """Litestar handlers over ``registry``."""
    create_body, once_body, configure_body, config_structs = bodies(registry.types())

    @get("/agents/types", summary="Agent types on offer", opt=READ)
    async def list_types() -> list[AgentTypeOut]:
        return [AgentTypeOut(t.name, t.description) for t in registry.types()]

    async def create_agent(data: Any) -> AgentOut:
        return agent_out(await registry.create(
            _tag(data), name=data.name, model=data.model, config=given(data.config)))

    create_agent.__annotations__["data"] = JSONBody[create_body]
    create_agent = post("/agents", summary="Create an agent", opt=WRITE)(create_agent)

    @get("/agents", summary="List agents, optionally by type and status", opt=READ)
    async def list_agents(
        request: Request[Any, Any, Any], type: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
    ) -> list[AgentOut]:
        if request.scope["raw_path"].endswith(b"/"):  # "/agents/" is an empty agent id, not the list
            raise NotFoundException("no agent id: GET /api/v1/agents/{id} (or /api/v1/agents)")
        return [agent_out(a) for a in registry.list(type=type, status=status)]  # type: ignore[arg-type]

    async def run_once(data: Any) -> ResultOut:
        info = registry.build(_tag(data), model=data.model, config=given(data.config))
        try:
            result = await registry.run(info.id, data.task)
            return result_out(registry.get(info.id), result)
        finally:
            with anyio.CancelScope(shield=True):
                await registry.delete(info.id)

    run_once.__annotations__["data"] = JSONBody[once_body]
    run_once = post("/agents/run", summary="Run a task on a new ephemeral agent (not kept), one shot",
                    status_code=200, opt=WRITE)(run_once)

    @get("/agents/{agent_id:str}", summary="One agent", opt=READ)
    async def get_agent(agent_id: AgentId) -> AgentOut:
        return agent_out(registry.get(agent_id))

    async def configure_agent(agent_id: AgentId, data: Any) -> AgentOut:
        kind = registry.get(agent_id).type
        if data.config is not None and kind in config_structs:
            try:  # as strictly as the schema reads (pydantic alone would take "5" for 5)
                _convert(data.config, config_structs[kind])
            except msgspec.ValidationError as error:
                others = [t for t, struct in config_structs.items() if _fits(data.config, struct)]
                if others:  # a well-formed config, for another type than this agent's
                    raise HTTPException(
                        f"Agent {agent_id!r} is a {kind!r} agent; this config is for "
                        f"{' or '.join(map(repr, others))} agents ({error})", status_code=409,
                    ) from None
                raise AgentError(f"Bad config for agent type {kind!r}: {error}") from None
        return agent_out(await registry.configure(agent_id, model=data.model, config=data.config))

    configure_agent.__annotations__["data"] = JSONBody[configure_body]
    configure_agent = patch(
        "/agents/{agent_id:str}", summary="Change an agent's model or config", opt=WRITE,
        responses={409: ResponseSpec(dict[str, Any], description="The config is for another agent type")},
    )(configure_agent)

    @delete("/agents/{agent_id:str}", summary="Delete an agent (its conversation stays)", opt=WRITE)
    async def delete_agent(agent_id: AgentId) -> None:
        await registry.delete(agent_id)

    @get("/agents/{agent_id:str}/status", summary="An agent's status", opt=READ)
    async def agent_status(agent_id: AgentId) -> StatusOut:
        return StatusOut(agent_id, registry.get(agent_id).status)

    @get("/agents/{agent_id:str}/runs", summary="An agent's recent runs, newest first", opt=READ)
    async def list_runs(agent_id: AgentId) -> list[RunOut]:
        registry.get(agent_id)
        return [run_out(r) for r in registry.runs(agent_id)]

    @get("/agents/{agent_id:str}/runs/{run_id:str}", summary="One run", opt=READ)
    async def get_run(agent_id: AgentId, run_id: RunId) -> RunOut:
        return run_out(_own_run(registry, agent_id, run_id))

    @post("/agents/{agent_id:str}/runs/{run_id:str}/cancel", summary="Cancel a run",
          status_code=200, opt=WRITE)
    async def cancel_run(agent_id: AgentId, run_id: RunId) -> RunOut:
        _own_run(registry, agent_id, run_id)
        return run_out(await registry.cancel(run_id))

    @post("/agents/{agent_id:str}/execute", summary="Run a task and wait for the result",
          status_code=200, opt=WRITE)
    async def execute(agent_id: AgentId, data: JSONBody[TaskIn]) -> ResultOut:
        result = await registry.run(agent_id, data.task)
        return result_out(registry.get(agent_id), result)

    @post("/agents/{agent_id:str}/message", summary="Send the agent a chat message",
          status_code=200, opt=WRITE)
    async def message(agent_id: AgentId, data: JSONBody[MessageIn]) -> ResultOut:
        info, result = await chat(registry, ChatIn(data.message, agent_id=agent_id))
        return result_out(info, result)

    @post("/agents/{agent_id:str}/stream", status_code=200, opt=WRITE,
          summary="Run a task, streamed as Server-Sent Events: run, token..., then result or error")
    async def stream(agent_id: AgentId, data: JSONBody[TaskIn]) -> ServerSentEvent:
        registry.get(agent_id)  # 404 before the stream starts

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            send, receive = anyio.create_memory_object_stream[ServerSentEventMessage](256)

            async def started(run: RunInfo) -> None:
                await send.send(ServerSentEventMessage(
                    data=msgspec.json.encode(run_out(run)).decode(), event="run"))

            async def token(text: str) -> None:
                await send.send(ServerSentEventMessage(data=_utf8(text), event="token"))

            async def work() -> None:
                async with send:
                    try:
                        result = await registry.run(agent_id, data.task, on_token=token, on_run=started)
                        out = result_out(registry.get(agent_id), result)
                        await send.send(ServerSentEventMessage(
                            data=msgspec.json.encode(out).decode(), event="result"))
                    except Exception as error:  # reported in the stream, which has begun
                        await send.send(ServerSentEventMessage(data=_utf8(str(error)), event="error"))

            async with anyio.create_task_group() as tg:
                tg.start_soon(work)
                async for message in receive:
                    yield message

        return ServerSentEvent(events())

    @post("/chat", status_code=200, opt=WRITE,
          summary="Send a chat message; without agent_id, an ephemeral agent of the type that fits")
    async def chat_message(data: JSONBody[ChatIn]) -> ResultOut:
        info, result = await chat(registry, data)
        return result_out(info, result)

    return [list_types, create_agent, list_agents, run_once, get_agent, configure_agent, delete_agent,
            agent_status, list_runs, get_run, cancel_run, execute, message, stream, chat_message]


def ws_handlers(registry: AgentRegistry) -> dict[str, Any]:
    """``chat_message``: typing indicator, ``run`` (its id, for ``cancel_run``), streamed
    ``chat_response`` tokens, then the final one; ``cancel_run``: cancel a run by ``run_id``, answered with ``run``."""

    async def chat_message(session: WsSession, frame: Mapping[str, Any]) -> None:
        if not session.principal.may("write"):
            raise AuthFailed(403, "chat_message needs the 'write' permission")
        try:
            body = msgspec.convert({k: v for k, v in frame.items() if k not in ("type", "id")}, ChatIn)
        except msgspec.ValidationError as error:
            raise ValueError(str(error)) from None
        frame_id = {"id": frame["id"]} if "id" in frame else {}
        await session.send({"type": "typing_indicator", "typing": True, **frame_id})

        async def started(run: RunInfo) -> None:
            await session.send({"type": "run", "run_id": run.id, "agent_id": run.agent_id,
                                "status": run.status, **frame_id})

        async def token(text: str) -> None:
            await session.send({"type": "chat_response", "token": text, "done": False, **frame_id})

        try:
            info, result = await chat(registry, body, on_token=token, on_run=started)
        finally:
            await session.send({"type": "typing_indicator", "typing": False, **frame_id})
        await session.send({
            "type": "chat_response", "done": True, "message": result.output,
            "success": result.success, "status": result.status, "run_id": result.run_id,
            "agent_id": info.id, "conversation_id": info.conversation_id, **frame_id,
        })

    async def cancel_run(session: WsSession, frame: Mapping[str, Any]) -> None:
        if not session.principal.may("write"):
            raise AuthFailed(403, "cancel_run needs the 'write' permission")
        run_id = frame.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise ValueError('"run_id" must be the id of a run (from its "run" frame)')
        run = await registry.cancel(run_id)
        await session.send({"type": "run", "run_id": run.id, "agent_id": run.agent_id,
                            "status": run.status, **({"id": frame["id"]} if "id" in frame else {})})

    return {"chat_message": chat_message, "cancel_run": cancel_run}
