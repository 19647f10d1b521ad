"""ScriptedChatModel for tests: the SDK's scripted model, recording every request.

Like pydantic-ai's TestModel/FunctionModel::

    model = ScriptedChatModel(["Hello!", ChatResponse("", "tool_calls", tool_calls=(...))])
    model = ScriptedChatModel(lambda messages, options: messages[-1].content.upper())
    ...
    assert model.calls[0][0][-1].content == "hi"
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from ..chat import ChatChunk, ChatMessage, ChatOptions
from ..scripted import Script
from ..scripted import ScriptedChatModel as _Scripted

__all__ = ["ScriptedChatModel"]


class ScriptedChatModel(_Scripted):
    """:class:`pygent_sdk.scripted.ScriptedChatModel` whose ``calls`` records every request's
    messages and options."""

    def __init__(self, script: Script, **options: Any) -> None:
        super().__init__(script, **options)
        self.calls: list[tuple[tuple[ChatMessage, ...], ChatOptions]] = []

    def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        self.calls.append((tuple(messages), options or ChatOptions()))
        return super().stream(messages, options)
