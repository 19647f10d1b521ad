"""The memory plugin's HTTP routes: conversations, chat history, export, facts, episodes, stats."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar import MediaType, Response, delete, get, post, put

from .store import SqlMemoryStore

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ConversationOut(msgspec.Struct):
    id: str
    agent_id: str | None
    title: str
    created_at: float
    messages: int


class CreateConversation(msgspec.Struct, forbid_unknown_fields=True):
    agent_id: str | None = None
    title: str = ""


class MessageOut(msgspec.Struct):
    id: int
    role: str
    content: str
    created_at: float


class FactIn(msgspec.Struct, forbid_unknown_fields=True):
    value: Any


class FactOut(msgspec.Struct):
    agent_id: str
    key: str
    value: Any


class EpisodeIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
    meta: dict[str, Any] = {}


class EpisodeOut(msgspec.Struct):
    id: int
    text: str
    created_at: float
    meta: dict[str, Any]
    score: float


class Removed(msgspec.Struct):
    removed: int


class Stats(msgspec.Struct):
    conversations: int
    messages: int
    facts: int
    episodes: int


def routes(store: SqlMemoryStore) -> list[Any]:
    """Litestar handlers over ``store``."""

    @get("/conversations", summary="Stored conversations, optionally one agent's")
    async def list_conversations(agent_id: FromQuery[str | None] = None) -> list[ConversationOut]:
        return [ConversationOut(c.id, c.agent_id, c.title, c.created_at, c.messages)
                for c in await store.conversations(agent_id)]

    @post("/conversations", summary="Start a conversation")
    async def create_conversation(data: JSONBody[CreateConversation]) -> ConversationOut:
        cid = await store.create_conversation(data.agent_id, data.title)
        return ConversationOut(cid, data.agent_id, data.title, 0.0, 0)

    @delete("/conversations/{conversation_id:str}", summary="Delete a conversation and its messages")
    async def delete_conversation(conversation_id: FromPath[str]) -> None:
        await store.delete_conversation(conversation_id)

    @get("/conversations/{conversation_id:str}/history", summary="A conversation's messages")
    async def history(conversation_id: FromPath[str], limit: FromQuery[int | None] = None) -> list[MessageOut]:
        await store.conversation(conversation_id)  # 404 for an unknown id, not an empty list
        return [MessageOut(s.id, s.message.role, s.message.content, s.created_at)
                for s in await store.history(conversation_id, limit)]

    @get("/conversations/{conversation_id:str}/export", summary="A conversation as JSON or Markdown",
         media_type=MediaType.TEXT)
    async def export(
        conversation_id: FromPath[str], format: FromQuery[Literal["json", "markdown"]] = "markdown"
    ) -> Response[str]:
        text = await store.export(conversation_id, format)
        media = "application/json" if format == "json" else "text/markdown"
        return Response(text, media_type=media)

    @get("/memory/stats", summary="Row counts per kind of memory")
    async def stats() -> Stats:
        return Stats(**await store.stats())

    @get("/memory/{agent_id:str}/facts/{key:str}", summary="Recall one fact of an agent")
    async def recall(agent_id: FromPath[str], key: FromPath[str]) -> FactOut:
        return FactOut(agent_id, key, await store.recall(agent_id, key))

    @put("/memory/{agent_id:str}/facts/{key:str}", summary="Store one fact of an agent")
    async def remember(agent_id: FromPath[str], key: FromPath[str], data: JSONBody[FactIn]) -> FactOut:
        await store.remember(agent_id, key, data.value)
        return FactOut(agent_id, key, data.value)

    @delete("/memory/{agent_id:str}", summary="Clear an agent's facts and episodes",
            status_code=200, opt={"permission": "admin"})
    async def clear(agent_id: FromPath[str]) -> Removed:
        return Removed(await store.forget(agent_id))

    @post("/memory/{agent_id:str}/episodes", summary="Store an episodic memory entry")
    async def add_episode(agent_id: FromPath[str], data: JSONBody[EpisodeIn]) -> EpisodeOut:
        episode_id = await store.add_episode(agent_id, data.text, data.meta)
        return EpisodeOut(episode_id, data.text, 0.0, data.meta, 0.0)

    @get("/memory/{agent_id:str}/search", summary="Search an agent's episodes")
    async def search(
        agent_id: FromPath[str], q: FromQuery[str], limit: FromQuery[Annotated[int, msgspec.Meta(ge=1, le=100)]] = 5
    ) -> list[EpisodeOut]:
        return [EpisodeOut(e.id, e.text, e.created_at, e.meta, e.score)
                for e in await store.search_episodes(agent_id, q, limit)]

    return [list_conversations, create_conversation, delete_conversation, history, export, stats,
            recall, remember, clear, add_episode, search]
