"""The MemoryStore capability: conversations, messages and per-agent memory."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

from .chat import ChatMessage


@dataclasses.dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as stored: its id, conversation and time, around the ChatMessage."""

    id: int
    conversation_id: str
    created_at: float
    message: ChatMessage


@runtime_checkable
class MemoryStore(Protocol):
    """Durable memory. A call that returns has committed: the data survives a crash."""

    async def create_conversation(self, agent_id: str | None = None, title: str = "") -> str: ...

    async def append(self, conversation_id: str, message: ChatMessage) -> StoredMessage: ...

    async def history(
        self, conversation_id: str, limit: int | None = None
    ) -> list[StoredMessage]: ...

    async def remember(self, agent_id: str, key: str, value: Any) -> None: ...

    async def recall(self, agent_id: str, key: str) -> Any | None: ...
