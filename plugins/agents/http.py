"""The agents plugin's HTTP routes and WebSocket ``chat_message`` handler (for the http plugin)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import anyio
import msgspec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar import delete, get, patch, post
from litestar.response import ServerSentEvent, ServerSentEventMessage
from pygent_sdk import AgentInfo, AgentResult
from pygent_sdk.agents import AgentRegistry
from pygent_sdk.http import AuthFailed, WsSession

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
_CODE = re.compile(r"\b(python|code|program|script|function|def |implement|algorithm|bug)\b", re.I)


class AgentOut(msgspec.Struct):
    id: str
    type: str
    name: str
    model: str
    config: dict[str, Any]
    status: str
    created_at: float
    conversation_id: str | None


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


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    message: Text


class UsageOut(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int


class ResultOut(msgspec.Struct):
    agent_id: str
    conversation_id: str | None
    output: str
    success: bool
    steps: list[dict[str, Any]]
    usage: UsageOut


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
                    info.created_at, info.conversation_id)


def result_out(info: AgentInfo, result: AgentResult) -> ResultOut:
    return ResultOut(info.id, info.conversation_id, result.output, result.success,
                     [dict(s) for s in result.steps],
                     UsageOut(result.usage.prompt_tokens, result.usage.completion_tokens))


def pick_type(registry: AgentRegistry, message: str, wanted: str | None) -> str:
    """The agent type for a chat without one: coding for code requests, else general."""
    if wanted:
        return wanted
    types = {t.name for t in registry.types()}
    if "coding" in types and _CODE.search(message):
        return "coding"
    return "general" if "general" in types else sorted(types)[0]


async def chat(registry: AgentRegistry, body: ChatIn, on_token: Any = None) -> tuple[AgentInfo, AgentResult]:
    """Send a chat message: to ``agent_id``, or to a new agent of the picked type."""
    if body.agent_id:
        info = registry.get(body.agent_id)
    else:
        info = await registry.create(pick_type(registry, body.message, body.agent_type),
                                     model=body.model, name="chat")
    result = await registry.run(info.id, body.message, on_token=on_token)
    return registry.get(info.id), result


def routes(registry: AgentRegistry) -> list[Any]:
    """Litestar handlers over ``registry``."""

    @get("/agents/types", summary="Agent types on offer")
    async def list_types() -> list[AgentTypeOut]:
        return [AgentTypeOut(t.name, t.description) for t in registry.types()]

    @post("/agents", summary="Create an agent")
    async def create_agent(data: JSONBody[CreateAgent]) -> AgentOut:
        return agent_out(await registry.create(data.type, name=data.name, model=data.model, config=data.config))

    @get("/agents", summary="List agents, optionally by type and status")
    async def list_agents(
        type: FromQuery[str | None] = None, status: FromQuery[str | None] = None
    ) -> list[AgentOut]:
        return [agent_out(a) for a in registry.list(type=type, status=status)]  # type: ignore[arg-type]

    @get("/agents/{agent_id:str}", summary="One agent")
    async def get_agent(agent_id: FromPath[str]) -> AgentOut:
        return agent_out(registry.get(agent_id))

    @patch("/agents/{agent_id:str}", summary="Change an agent's model or config")
    async def configure_agent(agent_id: FromPath[str], data: JSONBody[ConfigureAgent]) -> AgentOut:
        return agent_out(await registry.configure(agent_id, model=data.model, config=data.config))

    @delete("/agents/{agent_id:str}", summary="Delete an agent (its conversation stays)")
    async def delete_agent(agent_id: FromPath[str]) -> None:
        await registry.delete(agent_id)

    @get("/agents/{agent_id:str}/status", summary="An agent's status")
    async def agent_status(agent_id: FromPath[str]) -> StatusOut:
        return StatusOut(agent_id, registry.get(agent_id).status)

    @post("/agents/{agent_id:str}/execute", summary="Run a task and wait for the result", status_code=200)
    async def execute(agent_id: FromPath[str], data: JSONBody[TaskIn]) -> ResultOut:
        result = await registry.run(agent_id, data.task)
        return result_out(registry.get(agent_id), result)

    @post("/agents/{agent_id:str}/message", summary="Send the agent a chat message", status_code=200)
    async def message(agent_id: FromPath[str], data: JSONBody[MessageIn]) -> ResultOut:
        info, result = await chat(registry, ChatIn(data.message, agent_id=agent_id))
        return result_out(info, result)

    @post("/agents/{agent_id:str}/stream", summary="Run a task, streamed as Server-Sent Events", status_code=200)
    async def stream(agent_id: FromPath[str], data: JSONBody[TaskIn]) -> ServerSentEvent:
        registry.get(agent_id)  # 404 before the stream starts

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            send, receive = anyio.create_memory_object_stream[ServerSentEventMessage](256)

            async def token(text: str) -> None:
                await send.send(ServerSentEventMessage(data=text, event="token"))

            async def work() -> None:
                async with send:
                    try:
                        result = await registry.run(agent_id, data.task, on_token=token)
                        out = result_out(registry.get(agent_id), result)
                        await send.send(ServerSentEventMessage(
                            data=msgspec.json.encode(out).decode(), event="result"))
                    except Exception as error:  # reported in the stream, which has begun
                        await send.send(ServerSentEventMessage(data=str(error), event="error"))

            async with anyio.create_task_group() as tg:
                tg.start_soon(work)
                async for message in receive:
                    yield message

        return ServerSentEvent(events())

    @post("/chat", summary="Send a chat message; picks an agent type when none is given", status_code=200)
    async def chat_message(data: JSONBody[ChatIn]) -> ResultOut:
        info, result = await chat(registry, data)
        return result_out(info, result)

    return [list_types, create_agent, list_agents, get_agent, configure_agent, delete_agent,
            agent_status, execute, message, stream, chat_message]


def ws_handlers(registry: AgentRegistry) -> dict[str, Any]:
    """``chat_message``: typing indicator, streamed ``chat_response`` tokens, then the final one."""

    async def chat_message(session: WsSession, frame: Mapping[str, Any]) -> None:
        if not session.principal.may("write"):
            raise AuthFailed(403, "chat_message needs the 'write' permission")
        try:
            body = msgspec.convert({k: v for k, v in frame.items() if k not in ("type", "id")}, ChatIn)
        except msgspec.ValidationError as error:
            raise ValueError(str(error)) from None
        frame_id = {"id": frame["id"]} if "id" in frame else {}
        await session.send({"type": "typing_indicator", "typing": True, **frame_id})

        async def token(text: str) -> None:
            await session.send({"type": "chat_response", "token": text, "done": False, **frame_id})

        try:
            info, result = await chat(registry, body, on_token=token)
        finally:
            await session.send({"type": "typing_indicator", "typing": False, **frame_id})
        await session.send({
            "type": "chat_response", "done": True, "message": result.output,
            "success": result.success, "agent_id": info.id,
            "conversation_id": info.conversation_id, **frame_id,
        })

    return {"chat_message": chat_message}

