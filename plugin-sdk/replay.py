"""ReplayModel: record a model's exchanges to a JSONL file once, replay them deterministically.

::

    model = ReplayModel(real_model, "tests/cassettes/agent.jsonl", mode="auto")

``record`` always asks the inner model and appends; ``replay`` only answers from the file (a
request not recorded is an error naming the file); ``auto`` replays what is recorded and records
the rest. Requests match on their messages and options, so a changed prompt records anew.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from .chat import (
    BaseChatModel, ChatChunk, ChatMessage, ChatModel, ChatOptions, ModelProfile, ToolCall, Usage,
)
from .errors import PygentError
from .files import open_private, private_dir

Mode = Literal["record", "replay", "auto"]


class NotRecorded(PygentError, LookupError):
    """A replayed request that the recording does not hold."""


def request_key(messages: Sequence[ChatMessage], options: ChatOptions) -> str:
    """A stable hash of a request's messages and options."""
    data = json.dumps([dataclasses.asdict(m) for m in messages] + [dataclasses.asdict(options)],
                      sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()[:32]


def _chunk_to_json(chunk: ChatChunk) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(chunk).items() if v not in (None, "", ())}


def _chunk_from_json(data: dict[str, Any]) -> ChatChunk:
    return ChatChunk(
        text=data.get("text", ""),
        tool_calls=tuple(ToolCall(**c) for c in data.get("tool_calls", ())),
        finish_reason=data.get("finish_reason"),
        usage=Usage(**data["usage"]) if data.get("usage") else None,
    )


class ReplayModel(BaseChatModel):
    """Wraps ``inner`` (a model, or a function returning one, for lazy lookup); see the module."""

    def __init__(self, inner: ChatModel | Callable[[], ChatModel], path: str | Path, *,
                 mode: Mode = "auto", name: str | None = None) -> None:
        self._inner = inner
        self.path = Path(path)
        self.mode = mode
        self.name = name or f"replay:{getattr(inner, 'name', 'model')}"
        self.description = f"records and replays {self.path.name}"
        self._recorded: dict[str, list[dict[str, Any]]] = {}
        if self.path.exists():
            with self.path.open() as f:
                for number, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            row = json.loads(line)
                            self._recorded[row["key"]] = row["chunks"]
                        except (json.JSONDecodeError, KeyError) as error:
                            raise PygentError(f"{self.path}:{number}: not a recording ({error})") from None

    @property
    def inner(self) -> ChatModel:
        return self._inner() if callable(self._inner) else self._inner

    @property
    def profile(self) -> ModelProfile:  # type: ignore[override]
        """The recorded model's profile."""
        return self.inner.profile


    async def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        options = options or ChatOptions()
        key = request_key(messages, options)
        if self.mode != "record" and key in self._recorded:
            for data in self._recorded[key]:
                yield _chunk_from_json(data)
            return
        if self.mode == "replay":
            last = messages[-1].content[:80] if messages else ""
            raise NotRecorded(
                f"{self.path} holds no recording of this request (last message {last!r}); "
                "run once with mode 'record' or 'auto' to record it"
            )
        chunks = []
        async for chunk in self.inner.stream(messages, options):
            chunks.append(_chunk_to_json(chunk))
            yield chunk
        self._recorded[key] = chunks
        private_dir(self.path.parent, tighten=False)
        with open_private(self.path) as f:  # recordings hold conversations: 0600
            f.write(json.dumps({"key": key, "model": self.inner.name, "chunks": chunks}) + "\n")
            f.flush()
            os.fsync(f.fileno())
