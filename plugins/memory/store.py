"""SqlMemoryStore: the MemoryStore protocol on SQLAlchemy's async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

import anyio
import sqlalchemy as sa
from pygent_sdk import ChatMessage, StoredMessage, ToolCall
from pygent_sdk.errors import PygentError
from pygent_sdk.memory import Conversation, Episode
from pygent_sdk.vectors import Embedder
from sqlalchemy.ext.asyncio import AsyncEngine

from .schema import conversations, episode_vectors, episodes, facts, messages

_WORDS = re.compile(r"\w{2,}")


class UnknownConversation(PygentError, LookupError):
    """A conversation id that is not in the store."""


class UnknownFact(PygentError, LookupError):
    """An agent's fact key that is not in the store."""


class InvalidValue(PygentError, ValueError):
    """A value the store cannot hold: a NUL character (PostgreSQL refuses it) or over a column's length."""


# Column lengths (see schema.py): longer values are refused on write and cannot match on read.
ID, AGENT_ID, TITLE, KEY, ROLE = 36, 64, 200, 200, 16


def _valid(value: str, what: str, limit: int | None = None) -> str:
    """``value`` if the store can hold it, else InvalidValue naming ``what``."""
    if "\x00" in value:
        raise InvalidValue(f"{what} contains a NUL character, which the store cannot hold")
    if limit is not None and len(value) > limit:
        raise InvalidValue(f"{what} is {len(value)} characters long; at most {limit}")
    return value


def _findable(value: str, limit: int) -> bool:
    """Whether ``value`` could be a stored id (a NUL or an over-long one never is)."""
    return len(value) <= limit and "\x00" not in value


class SqlMemoryStore:
    """Memory on one SQLAlchemy async engine; every write commits before it returns.

    With ``embedder`` (a function giving the configured Embedder, or None for word overlap),
    episodes are embedded when added and searched by cosine similarity; episodes without a
    vector from that embedder are matched by word overlap. A search looks at an agent's
    ``candidates`` most recent episodes.
    """

    def __init__(self, engine: AsyncEngine, embedder: Callable[[], Embedder | None] | None = None,
                 min_similarity: float = 0.0, log: logging.Logger | None = None,
                 candidates: int = 2000) -> None:
        self.engine = engine
        self.embedder = embedder or (lambda: None)
        self.min_similarity = min_similarity
        self.log = log or logging.getLogger(__name__)
        self.candidates = candidates

    async def create_conversation(self, agent_id: str | None = None, title: str = "") -> str:
        return (await self.new_conversation(agent_id, title)).id

    async def new_conversation(self, agent_id: str | None = None, title: str = "") -> Conversation:
        """Create a conversation and return its header, with the stored creation time."""
        if agent_id is not None:
            _valid(agent_id, "agent_id", AGENT_ID)
        conversation = Conversation(str(uuid.uuid4()), agent_id, _valid(title, "title", TITLE), time.time())
        async with self.engine.begin() as conn:
            await conn.execute(conversations.insert().values(
                id=conversation.id, agent_id=agent_id, title=title, created_at=conversation.created_at
            ))
        return conversation

    async def conversations(self, agent_id: str | None = None) -> list[Conversation]:
        count = sa.func.count(messages.c.id)
        query = (
            sa.select(conversations, count.label("n"))
            .outerjoin(messages, messages.c.conversation_id == conversations.c.id)
            .group_by(conversations.c.id).order_by(conversations.c.created_at)
        )
        if agent_id is not None:
            if not _findable(agent_id, AGENT_ID):
                return []
            query = query.where(conversations.c.agent_id == agent_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Conversation(r.id, r.agent_id, r.title, r.created_at, r.n) for r in rows]

    async def _conversation(self, conn: Any, conversation_id: str) -> Conversation:
        row = (await conn.execute(
            sa.select(conversations).where(conversations.c.id == conversation_id)
        )).first() if _findable(conversation_id, ID) else None
        if row is None:
            raise UnknownConversation(f"No conversation {conversation_id!r} in memory")
        return Conversation(row.id, row.agent_id, row.title, row.created_at)

    async def conversation(self, conversation_id: str) -> Conversation:
        """One conversation's header; UnknownConversation if there is none."""
        async with self.engine.connect() as conn:
            return await self._conversation(conn, conversation_id)

    async def delete_conversation(self, conversation_id: str) -> None:
        async with self.engine.begin() as conn:
            await self._conversation(conn, conversation_id)
            await conn.execute(messages.delete().where(messages.c.conversation_id == conversation_id))
            await conn.execute(conversations.delete().where(conversations.c.id == conversation_id))

    async def append(self, conversation_id: str, message: ChatMessage) -> StoredMessage:
        now = time.time()
        _valid(message.role, "role", ROLE)
        _valid(message.content, "message content")
        if message.tool_call_id is not None:
            _valid(message.tool_call_id, "tool_call_id", AGENT_ID)
        calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls]
        async with self.engine.begin() as conn:
            await self._conversation(conn, conversation_id)
            result = await conn.execute(messages.insert().values(
                conversation_id=conversation_id, role=message.role, content=message.content,
                tool_calls=calls or None, tool_call_id=message.tool_call_id, created_at=now,
            ))
        return StoredMessage(result.inserted_primary_key[0], conversation_id, now, message)

    async def history(self, conversation_id: str, limit: int | None = None) -> list[StoredMessage]:
        """The last ``limit`` messages (all when None), oldest first; ``limit`` below 1 is refused."""
        if limit is not None and limit < 1:
            raise InvalidValue(f"limit must be at least 1, got {limit}")
        if not _findable(conversation_id, ID):
            return []
        query = (
            sa.select(messages).where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_stored(row) for row in reversed(rows)]

    async def export(self, conversation_id: str, format: Literal["json", "markdown"]) -> str:
        header = await self.conversation(conversation_id)
        stored = await self.history(conversation_id)
        if format == "json":
            return json.dumps({
                "id": header.id, "agent_id": header.agent_id, "title": header.title,
                "created_at": header.created_at,
                "messages": [
                    {"id": s.id, "role": s.message.role, "content": s.message.content,
                     "created_at": s.created_at,
                     "tool_calls": [
                         {"id": c.id, "name": c.name, "arguments": c.arguments}
                         for c in s.message.tool_calls
                     ],
                     "tool_call_id": s.message.tool_call_id}
                    for s in stored
                ],
            }, indent=2)
        if format != "markdown":
            raise PygentError(f"Unknown export format {format!r}: expected 'json' or 'markdown'")
        lines = [f"# {header.title or 'Conversation'} ({header.id})", ""]
        if header.agent_id:
            lines += [f"Agent: `{header.agent_id}`", ""]
        for s in stored:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created_at))
            lines += [f"## {s.message.role} · {stamp}", "", s.message.content, ""]
            lines += [f"- tool call `{c.name}` {json.dumps(c.arguments)}" for c in s.message.tool_calls]
        return "\n".join(lines).rstrip() + "\n"

    async def remember(self, agent_id: str, key: str, value: Any) -> None:
        _valid(agent_id, "agent_id", AGENT_ID)
        _valid(key, "key", KEY)
        row = {"agent_id": agent_id, "key": key, "value": value, "updated_at": time.time()}
        async with self.engine.begin() as conn:
            done = await conn.execute(facts.update().where(
                facts.c.agent_id == agent_id, facts.c.key == key
            ).values(value=value, updated_at=row["updated_at"]))
            if done.rowcount == 0:
                await conn.execute(facts.insert().values(**row))

    async def recall(self, agent_id: str, key: str) -> Any | None:
        try:
            return await self.fact(agent_id, key)
        except UnknownFact:
            return None

    async def fact(self, agent_id: str, key: str) -> Any:
        """One stored fact's value (which may be None); UnknownFact if there is none."""
        row = None
        if _findable(agent_id, AGENT_ID) and _findable(key, KEY):
            async with self.engine.connect() as conn:
                row = (await conn.execute(
                    sa.select(facts.c.value).where(facts.c.agent_id == agent_id, facts.c.key == key)
                )).first()
        if row is None:
            raise UnknownFact(f"No fact {key!r} for agent {agent_id!r} in memory")
        return row.value

    async def forget(self, agent_id: str, key: str | None = None) -> int:
        if not _findable(agent_id, AGENT_ID) or (key is not None and not _findable(key, KEY)):
            return 0
        async with self.engine.begin() as conn:
            if key is not None:
                return (await conn.execute(
                    facts.delete().where(facts.c.agent_id == agent_id, facts.c.key == key)
                )).rowcount
            gone = (await conn.execute(facts.delete().where(facts.c.agent_id == agent_id))).rowcount
            await conn.execute(episode_vectors.delete().where(episode_vectors.c.episode_id.in_(
                sa.select(episodes.c.id).where(episodes.c.agent_id == agent_id))))
            gone += (await conn.execute(
                episodes.delete().where(episodes.c.agent_id == agent_id)
            )).rowcount
            return gone

    async def add_episode(self, agent_id: str, text: str, meta: dict[str, Any] | None = None) -> int:
        return (await self.new_episode(agent_id, text, meta)).id

    async def new_episode(self, agent_id: str, text: str, meta: dict[str, Any] | None = None) -> Episode:
        """Store an episode and return it, with its id and stored creation time."""
        _valid(agent_id, "agent_id", AGENT_ID)
        _valid(text, "text")
        now, meta = time.time(), meta or {}
        embedder, vector = self.embedder(), None
        if embedder is not None:
            try:
                vector = (await _unit_vectors(embedder, [text]))[0].tobytes()
            except Exception as error:  # the episode matters more than its vector
                self.log.warning("episode stored without a vector (word overlap finds it): "
                                 "embedder %s failed: %s", embedder.name, error)
        async with self.engine.begin() as conn:
            result = await conn.execute(episodes.insert().values(
                agent_id=agent_id, text=text, meta=meta, created_at=now
            ))
            episode_id = result.inserted_primary_key[0]
            if vector is not None:
                await conn.execute(episode_vectors.insert().values(
                    episode_id=episode_id, model=embedder.name, vector=vector))
        return Episode(episode_id, agent_id, text, now, meta)

    async def search_episodes(self, agent_id: str, query: str, limit: int = 5) -> list[Episode]:
        """An agent's entries closest to ``query``, best first, among its ``candidates`` most
        recent episodes.

        With an embedder: episodes by cosine similarity of their vector to the query's (at least
        ``min_similarity``), then those without a vector from that embedder by the share of the
        query's words they contain (above 0). Without an embedder, or when it fails on the query
        (a warning is logged), every episode by word overlap. Scoring runs in a worker thread.
        """
        if not query.strip() or not _findable(agent_id, AGENT_ID):
            return []
        embedder, wanted = self.embedder(), None
        if embedder is not None:
            try:
                wanted = (await _unit_vectors(embedder, [query]))[0]
            except Exception as error:  # a search by words beats no search
                self.log.warning("episode search by word overlap: embedder %s failed: %s", embedder.name, error)
        words = _words(query)
        if wanted is None:
            if not words:
                return []
            text = sa.func.lower(episodes.c.text)
            select = sa.select(episodes, sa.null().label("vector")).where(
                episodes.c.agent_id == agent_id, sa.or_(*(text.contains(w) for w in words)))
        else:
            select = sa.select(episodes, episode_vectors.c.vector).outerjoin(episode_vectors, sa.and_(
                episode_vectors.c.episode_id == episodes.c.id, episode_vectors.c.model == embedder.name,
            )).where(episodes.c.agent_id == agent_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select.order_by(episodes.c.id.desc()).limit(self.candidates))).all()
        hits = await anyio.to_thread.run_sync(_rank, rows, wanted, words, self.min_similarity)
        return hits[:limit]

    async def has_memory(self, agent_id: str) -> bool:
        """Whether ``agent_id`` has any fact or episode stored."""
        if not _findable(agent_id, AGENT_ID):
            return False
        async with self.engine.connect() as conn:
            for table in (facts, episodes):
                if (await conn.execute(sa.select(table.c.agent_id).where(
                        table.c.agent_id == agent_id).limit(1))).first():
                    return True
        return False

    async def stats(self) -> dict[str, int]:
        """Row counts per kind of memory."""
        async with self.engine.connect() as conn:
            return {
                name: await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
                for name, table in [
                    ("conversations", conversations), ("messages", messages),
                    ("facts", facts), ("episodes", episodes),
                ]
            }


def _words(text: str) -> list[str]:
    return sorted({w.lower() for w in _WORDS.findall(text)})


def _overlap(words: list[str], text: str) -> float:
    """The share of ``words`` that ``text`` contains (0 for no words)."""
    lowered = text.lower()
    return sum(w in lowered for w in words) / len(words) if words else 0.0


def _episode(row: Any, score: float) -> Episode:
    return Episode(row.id, row.agent_id, row.text, row.created_at, row.meta or {}, score)


async def _unit_vectors(embedder: Embedder, texts: list[str]) -> Any:
    """``texts`` embedded as unit-length float32 rows (a numpy array)."""
    import numpy as np

    rows = np.asarray(await embedder.embed(texts), dtype=np.float32)
    if rows.ndim != 2 or len(rows) != len(texts):
        raise PygentError(f"embedder {embedder.name} returned shape {rows.shape} for {len(texts)} text(s)")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1, norms)


def _rank(rows: list[Any], wanted: Any | None, words: list[str], min_similarity: float) -> list[Episode]:
    """Rows with a vector of ``wanted``'s size scored by cosine (at least ``min_similarity``),
    then the others by word overlap (above 0); each group best first, newest first among equals
    (blocking: numpy)."""
    import numpy as np

    size = -1 if wanted is None else wanted.shape[0] * 4
    embedded = [r for r in rows if r.vector is not None and len(r.vector) == size]
    by_vector = []
    if embedded:
        matrix = np.frombuffer(b"".join(r.vector for r in embedded), dtype=np.float32)
        scores = matrix.reshape(len(embedded), -1) @ wanted
        by_vector = [_episode(r, float(s)) for r, s in zip(embedded, scores, strict=True)
                     if s >= min_similarity]
    by_words = [_episode(r, _overlap(words, r.text)) for r in rows
                if r.vector is None or len(r.vector) != size]
    return sorted(by_vector, key=_best_first) + sorted((e for e in by_words if e.score > 0), key=_best_first)


def _best_first(episode: Episode) -> tuple[float, float]:
    return -episode.score, -episode.created_at


def _stored(row: Any) -> StoredMessage:
    calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in row.tool_calls or ())
    message = ChatMessage(row.role, row.content, calls, row.tool_call_id)
    return StoredMessage(row.id, row.conversation_id, row.created_at, message)
