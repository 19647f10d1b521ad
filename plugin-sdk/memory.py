"""The MemoryStore capability: conversations, messages and per-agent memory."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Protocol, runtime_checkable

from .chat import ChatMessage
from .markers import hookspec
from .services import ServiceKey


@dataclasses.dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as stored: its id, conversation and time, around the ChatMessage."""

    id: int
    conversation_id: str
    created_at: float
    message: ChatMessage


@dataclasses.dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation's header."""

    id: str
    agent_id: str | None
    title: str
    created_at: float
    messages: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class Episode:
    """A searchable entry of an agent's episodic memory; ``score`` is set by searches."""

    id: int
    agent_id: str
    text: str
    created_at: float
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    score: float = 0.0


@runtime_checkable
class MemoryStore(Protocol):
    """Durable memory. A call that returns has committed: the data survives a crash."""

    async def create_conversation(self, agent_id: str | None = None, title: str = "") -> str: ...

    async def conversations(self, agent_id: str | None = None) -> list[Conversation]: ...

    async def delete_conversation(self, conversation_id: str) -> None: ...

    async def append(self, conversation_id: str, message: ChatMessage) -> StoredMessage: ...

    async def history(
        self, conversation_id: str, limit: int | None = None
    ) -> list[StoredMessage]: ...

    async def export(self, conversation_id: str, format: Literal["json", "markdown"]) -> str: ...

    async def remember(self, agent_id: str, key: str, value: Any) -> None: ...

    async def recall(self, agent_id: str, key: str) -> Any | None: ...

    async def forget(self, agent_id: str, key: str | None = None) -> int:
        """Delete one key, or all of an agent's keys and episodes; return how many went."""
        ...

    async def add_episode(self, agent_id: str, text: str, meta: dict[str, Any] | None = None) -> int: ...

    async def search_episodes(self, agent_id: str, query: str, limit: int = 5) -> list[Episode]: ...


class MemoryHooks:
    """Hooks of the memory capability; the ``memory`` plugin registers them."""

    @hookspec(firstresult=True)
    def pygent_memory_store(self) -> MemoryStore | None:
        """Return the kernel's memory store (the memory plugin answers; first answer wins).

        Ask for it with ``context.service(MEMORY_STORE)``.
        """


MEMORY_STORE: ServiceKey[MemoryStore] = ServiceKey("pygent_memory_store", MemoryStore, provider="memory")
"""The memory store service: ``context.service(MEMORY_STORE)``."""
