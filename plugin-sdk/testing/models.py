"""ScriptedChatModel: a test double for ChatModel, like pydantic-ai's TestModel/FunctionModel.

Give it a script of replies, or a function of the conversation::

    model = ScriptedChatModel(["Hello!", ChatResponse("", "tool_calls", tool_calls=(...))])
    model = ScriptedChatModel(lambda messages, options: messages[-1].content.upper())
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Union

from ..chat import ChatChunk, ChatMessage, ChatOptions, ChatResponse, Usage, collect

Reply = Union[str, ChatResponse]
Script = Union[Sequence[Reply], Callable[[Sequence[ChatMessage], ChatOptions], Reply]]

_PIECES = re.compile(r"\s*\S+|\s+$")


class ScriptedChatModel:
    """Answers from a script (or function), streaming each answer word by word.

    ``calls`` records every request's messages and options. Usage counts words: prompt words of
    all messages, completion words of the reply. Running past the end of a script raises.
    """

    def __init__(self, script: Script, *, name: str = "scripted") -> None:
        self.name = name
        self.calls: list[tuple[tuple[ChatMessage, ...], ChatOptions]] = []
        self._script = script
        self._next = 0

    def _reply(self, messages: Sequence[ChatMessage], options: ChatOptions) -> ChatResponse:
        if callable(self._script):
            reply = self._script(messages, options)
        else:
            if self._next >= len(self._script):
                raise RuntimeError(
                    f"ScriptedChatModel {self.name!r} ran out of replies after "
                    f"{len(self._script)} calls; add more to its script"
                )
            reply = self._script[self._next]
            self._next += 1
        if isinstance(reply, str):
            reply = ChatResponse(reply, "stop")
        return reply

    async def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        options = options or ChatOptions()
        self.calls.append((tuple(messages), options))
        reply = self._reply(messages, options)
        pieces = _PIECES.findall(reply.text)
        if options.max_tokens is not None and len(pieces) > options.max_tokens:
            pieces, finish = pieces[: options.max_tokens], "length"
        else:
            finish = reply.finish_reason
        for piece in pieces:
            yield ChatChunk(text=piece)
        usage = Usage(sum(len(m.content.split()) for m in messages), len(pieces))
        yield ChatChunk(tool_calls=reply.tool_calls, finish_reason=finish, usage=usage)

    async def chat(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> ChatResponse:
        return await collect(self.stream(messages, options), self.name)
