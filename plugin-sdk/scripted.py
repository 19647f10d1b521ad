"""ScriptedChatModel: a chat model that answers from a script, for agents with no model at all.

Give it a list of replies (answered in turn) or a function of the conversation::

    model = ScriptedChatModel(["Hello!", ChatResponse("", "tool_calls", tool_calls=(...))])
    model = ScriptedChatModel(lambda messages, options: messages[-1].content.upper())

The ``scripted`` plugin offers such models from plugins.toml; ``pygent_sdk.testing`` adds a
subclass that records every request.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Union

from .chat import (
    BaseChatModel, ChatChunk, ChatMessage, ChatOptions, ChatResponse, ModelProfile, ToolCall, Usage,
)
from .errors import PygentError

Reply = Union[str, ChatResponse]
Script = Union[Sequence[Reply], Callable[[Sequence[ChatMessage], ChatOptions], Reply]]

_PIECES = re.compile(r"\s*\S+|\s+$")
SCRIPTED_PROFILE = ModelProfile(context_length=1_000_000, tools=True, json_schema=False)
"""Scripted models read any length and return tool calls when scripted to; they do not enforce
a JSON schema (the script is the answer)."""


class ScriptExhausted(PygentError, RuntimeError):
    """A scripted model was asked more often than its script has replies."""


def reply_from_json(value: Any, where: str = "script") -> ChatResponse:
    """A reply written in JSON: a string, or ``{"text", "tool_calls": [{"name", "arguments",
    "id"}], "finish_reason"}``. ``where`` names the place in errors."""
    if isinstance(value, str):
        return ChatResponse(value, "stop")
    if not isinstance(value, Mapping):
        raise PygentError(f"{where}: a reply is a string or an object, not {type(value).__name__}")
    unknown = set(value) - {"text", "tool_calls", "finish_reason"}
    if unknown:
        raise PygentError(f"{where}: unknown key(s) {sorted(unknown)}; a reply has text, "
                          "tool_calls and finish_reason")
    try:
        calls = tuple(
            ToolCall(str(c.get("id") or f"call_{i}"), str(c["name"]), dict(c.get("arguments") or {}))
            for i, c in enumerate(value.get("tool_calls") or ())
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise PygentError(f"{where}: each tool call needs a name and object arguments ({error})") from None
    finish = value.get("finish_reason") or ("tool_calls" if calls else "stop")
    if finish not in ("stop", "length", "tool_calls", "error"):
        raise PygentError(f"{where}: finish_reason {finish!r} is not stop, length, tool_calls or error")
    return ChatResponse(str(value.get("text", "")), finish, tool_calls=calls)


def echo(messages: Sequence[ChatMessage], options: ChatOptions) -> Reply:
    """The last user message, unchanged (the ``scripted:echo`` model)."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


class ScriptedChatModel(BaseChatModel):
    """Answers from a script (or function), streaming each answer word by word.

    Usage counts words: prompt words of all messages, completion words of the reply. Past the
    end of a script it starts over when ``loop`` is set, and raises :class:`ScriptExhausted`
    otherwise.
    """

    def __init__(self, script: Script, *, name: str = "scripted", loop: bool = False,
                 description: str = "", profile: ModelProfile = SCRIPTED_PROFILE) -> None:
        self.name = name
        self.description = description
        self.profile = profile
        self.loop = loop
        self._script = script
        self._next = 0

    def _reply(self, messages: Sequence[ChatMessage], options: ChatOptions) -> ChatResponse:
        if callable(self._script):
            reply = self._script(messages, options)
        else:
            if self._next >= len(self._script):
                if not self.loop or not self._script:
                    raise ScriptExhausted(
                        f"scripted model {self.name!r} ran out of replies after "
                        f"{len(self._script)} calls; add more to its script (or set loop)"
                    )
                self._next = 0
            reply = self._script[self._next]
            self._next += 1
        return ChatResponse(reply, "stop") if isinstance(reply, str) else reply

    async def stream(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> AsyncIterator[ChatChunk]:
        options = options or ChatOptions()
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
