"""The Ollama paths of the original system, under /api/v1/ollama: status, models, pull, show, delete."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent, ServerSentEventMessage
from pygent_sdk.models import pull_events

from .client import OllamaService

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=r"^[^\x00-\x20\x7f]+$")]


class StatusOut(msgspec.Struct):
    status: str
    detail: str
    host: str


class OllamaModelOut(msgspec.Struct):
    name: str
    size: int | None
    modified_at: str | None


class PullIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name


def pull_sse(service: OllamaService, name: str) -> ServerSentEvent:
    """Server-Sent Events of a pull: ``progress`` updates, then ``done`` or ``error``."""
    return ServerSentEvent(
        ServerSentEventMessage(event=event, data=data)
        async for event, data in pull_events(service, name, name)
    )


def routes(service: OllamaService) -> list[Any]:
    """Handlers over ``service``; changes need the admin permission."""

    @get("/ollama/status", summary="Whether the Ollama server answers", opt={"permission": "read"})
    async def status() -> StatusOut:
        health = await service.status()
        return StatusOut(health.status, health.detail, service.host)

    @get("/ollama/models", summary="Models the Ollama server holds", opt={"permission": "read"})
    async def models() -> list[OllamaModelOut]:
        return [OllamaModelOut(m["name"], m["size"], m["modified_at"]) for m in await service.list()]

    @post("/ollama/models/pull", summary="Pull a model; progress as Server-Sent Events",
          opt={"permission": "admin"}, status_code=200)
    async def pull(data: JSONBody[PullIn]) -> ServerSentEvent:
        return pull_sse(service, data.name)

    @get("/ollama/models/{name:path}", summary="One model's modelfile, template and details",
         opt={"permission": "read"})
    async def show(name: FromPath[str]) -> dict[str, Any]:
        return await service.show(name.lstrip("/"))  # a path parameter keeps its leading /

    @delete("/ollama/models/{name:path}", summary="Delete a model from the Ollama server",
            opt={"permission": "admin"})
    async def remove(name: FromPath[str]) -> None:
        await service.delete(name.lstrip("/"))

    return [status, models, pull, show, remove]
