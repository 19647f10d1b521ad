"""The memory plugin's HTTP routes: conversations, chat history, export, facts, episodes, stats."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar import Response, delete, get, post, put
from litestar.exceptions import NotFoundException

from .store import AGENT_ID, ID, KEY, TITLE, SqlMemoryStore

AgentId = Annotated[str, PathParameter(min_length=1, max_length=AGENT_ID)]
ConversationId = Annotated[str, PathParameter(min_length=1, max_length=ID)]
Key = Annotated[str, PathParameter(min_length=1, max_length=KEY)]
MAX_HISTORY = 10_000
"""Most messages one history request returns (the newest)."""


class ConversationOut(msgspec.Struct):
    id: str
    agent_id: str | None
    title: str
    created_at: float
    messages: int


class CreateConversation(msgspec.Struct, forbid_unknown_fields=True):
    agent_id: Annotated[str, msgspec.Meta(min_length=1, max_length=AGENT_ID)] | None = None
    title: Annotated[str, msgspec.Meta(max_length=TITLE)] = ""


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


class SearchIn(msgspec.Struct, forbid_unknown_fields=True):
    agent_id: Annotated[str, msgspec.Meta(min_length=1, max_length=AGENT_ID)]
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5


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
    async def list_conversations(
        agent_id: Annotated[str | None, QueryParameter(max_length=AGENT_ID)] = None
    ) -> list[ConversationOut]:
        return [ConversationOut(c.id, c.agent_id, c.title, c.created_at, c.messages)
                for c in await store.conversations(agent_id)]

    @post("/conversations", summary="Start a conversation")
    async def create_conversation(data: JSONBody[CreateConversation]) -> ConversationOut:
        c = await store.new_conversation(data.agent_id, data.title)
        return ConversationOut(c.id, c.agent_id, c.title, c.created_at, 0)

    @delete("/conversations/{conversation_id:str}", summary="Delete a conversation and its messages")
    async def delete_conversation(conversation_id: ConversationId) -> None:
        await store.delete_conversation(conversation_id)

    @get("/conversations/{conversation_id:str}/history", summary="A conversation's messages: the newest `limit` (at most 10,000), oldest first")
    async def history(conversation_id: ConversationId,
                      limit: Annotated[int, QueryParameter(ge=1, le=MAX_HISTORY)] = MAX_HISTORY) -> list[MessageOut]:
        await store.conversation(conversation_id)  # 404 for an unknown id, not an empty list
        return [MessageOut(s.id, s.message.role, s.message.content, s.created_at)
                for s in await store.history(conversation_id, limit)]

    @get("/conversations/{conversation_id:str}/export", summary="A conversation as JSON or Markdown",
         media_type="text/markdown", opt={"media_types": ["text/markdown", "application/json"]})
    async def export(
        conversation_id: ConversationId,
        format: Annotated[Literal["json", "markdown"], QueryParameter()] = "markdown",
    ) -> Response[str]:
        text = await store.export(conversation_id, format)
        media = "application/json" if format == "json" else "text/markdown"
        return Response(text, media_type=media)

    @get("/memory/stats", summary="Row counts per kind of memory")
    async def stats() -> Stats:
        return Stats(**await store.stats())

    @get("/memory/{agent_id:str}/facts/{key:str}", summary="Recall one fact of an agent (404 if none)")
    async def recall(agent_id: AgentId, key: Key) -> FactOut:
        return FactOut(agent_id, key, await store.fact(agent_id, key))

    @put("/memory/{agent_id:str}/facts/{key:str}", summary="Store one fact of an agent")
    async def remember(agent_id: AgentId, key: Key, data: JSONBody[FactIn]) -> FactOut:
        await store.remember(agent_id, key, data.value)
        return FactOut(agent_id, key, data.value)

    @delete("/memory/{agent_id:str}/facts/{key:str}", summary="Forget one fact of an agent (404 if none)")
    async def forget(agent_id: AgentId, key: Key) -> None:
        if not await store.forget(agent_id, key):
            raise NotFoundException(f"No fact {key!r} for agent {agent_id!r} in memory")

    @delete("/memory/{agent_id:str}", summary="Clear an agent's facts and episodes",
            status_code=200, opt={"permission": "admin"})
    async def clear(agent_id: AgentId) -> Removed:
        return Removed(await store.forget(agent_id))

    @post("/memory/{agent_id:str}/episodes", summary="Store an episodic memory entry")
    async def add_episode(agent_id: AgentId, data: JSONBody[EpisodeIn]) -> EpisodeOut:
        e = await store.new_episode(agent_id, data.text, data.meta)
        return EpisodeOut(e.id, e.text, e.created_at, e.meta, 0.0)

    @get("/memory/{agent_id:str}/search", summary="Search an agent's episodes (404: no memory at all)")
    async def search(
        agent_id: AgentId, q: Annotated[str, QueryParameter(max_length=1000)],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 5,
    ) -> list[EpisodeOut]:
        return await found(agent_id, q, limit)

    @post("/memory/search", summary="Search an agent's episodes: by vector with [memory] embedder, "
          "else by words (404: no memory at all)", status_code=200, opt={"permission": "read"})
    async def search_post(data: JSONBody[SearchIn]) -> list[EpisodeOut]:
        return await found(data.agent_id, data.query, data.limit)

    async def found(agent_id: str, query: str, limit: int) -> list[EpisodeOut]:
        hits = await store.search_episodes(agent_id, query, limit)
        if not hits and not await store.has_memory(agent_id):
            raise NotFoundException(f"No memory for agent {agent_id!r}")
        return [EpisodeOut(e.id, e.text, e.created_at, e.meta, e.score) for e in hits]

    return [list_conversations, create_conversation, delete_conversation, history, export, stats,
            recall, remember, forget, clear, add_episode, search, search_post]
