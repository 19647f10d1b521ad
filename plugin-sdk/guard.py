"""Stop a small model's looping reply: :class:`LoopGuard` passes a streamed reply on sentence by
sentence and cuts it at the first sentence it repeats, or where a sentence keeps repeating a phrase;
:func:`guarded_reply` streams a model's reply through one::

    text, usage = await guarded_reply(model, messages, options, on_token)
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from .agents import estimate_tokens
from .chat import ChatMessage, ChatModel, ChatOptions, Usage

_CITATION = re.compile(r"\[\d+\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def _phrase_loop(text: str, start: int, n: int = 3, times: int = 3) -> int | None:
    """Where the unfinished sentence ``text[start:]`` starts repeating itself: the offset of the
    second occurrence of its last ``n`` words once they occur ``times`` times, else None."""
    words = list(re.finditer(r"\w+", text[start:]))
    if len(words) < n * times:
        return None
    last = [w.group().lower() for w in words[-n:]]
    hits = [i for i in range(len(words) - n + 1)
            if [w.group().lower() for w in words[i:i + n]] == last]
    return start + words[hits[1]].start() if len(hits) >= times else None


def _key(sentence: str) -> str:
    """A sentence's words, lower-cased, citation markers left out: "[4] jobs.md" repeats
    "[3] jobs.md", but "nprobe 8 gives ..." does not repeat "nprobe 16 gives ..."."""
    return " ".join(re.findall(r"\w+", _CITATION.sub(" ", sentence.lower())))


class LoopGuard:
    """Passes a reply on sentence by sentence and stops it at the first sentence it repeats, or
    where a sentence keeps repeating a phrase ("an evolution, an evolution, ..."): small models
    loop. :meth:`feed` returns what may be sent and whether to stop. What is sent, joined, is the
    reply stripped of surrounding whitespace."""

    def __init__(self) -> None:
        self.text = ""
        self._done = 0  # end of the last sentence taken
        self._space = ""  # whitespace after it, sent only if more text follows
        self._seen: set[str] = set()

    def _send(self, sentence: str) -> str:
        body = sentence.rstrip()
        if not body.strip():
            self._space += sentence if self._seen else ""
            return ""
        out = (self._space if self._seen else "") + (body if self._seen else body.lstrip())
        self._space = sentence[len(body):]
        self._seen.add(_key(body))
        return out

    def feed(self, piece: str) -> tuple[str, bool]:
        self.text += piece
        out: list[str] = []
        while match := _SENTENCE_END.search(self.text, self._done):
            sentence = self.text[self._done:match.end()]
            key = _key(sentence)
            if len(key) > 15 and key in self._seen:
                self.text = self.text[:self._done]
                return "".join(out), True
            out.append(self._send(sentence))
            self._done = match.end()
        cut = _phrase_loop(self.text, self._done)
        if cut is not None:
            self.text = self.text[:cut].rstrip(" ,;:")
            return "".join(out), True
        return "".join(out), False

    def rest(self) -> str:
        """The unfinished last sentence, once the reply has ended."""
        tail = self.text[self._done:]
        self._done = len(self.text)
        return self._send(tail) if tail.strip() else ""


async def guarded_reply(
    model: ChatModel, messages: Sequence[ChatMessage], options: ChatOptions | None = None,
    on_token: Callable[[str], Awaitable[None]] | None = None,
) -> tuple[str, Usage]:
    """The model's reply to ``messages``, streamed to ``on_token`` sentence by sentence and cut
    at the first repeated sentence (the model is stopped there), and its usage (estimated when
    the model reported none, e.g. because the reply was cut)."""
    guard = LoopGuard()
    usage: Usage | None = None
    stream = model.stream(list(messages), options)
    try:
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage if usage is None else usage + chunk.usage
            ready, looped = guard.feed(chunk.text or "")
            if ready and on_token is not None:
                await on_token(ready)
            if looped:
                break
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    tail = guard.rest()
    if tail and on_token is not None:
        await on_token(tail)
    if usage is None:
        prompt = sum(estimate_tokens(m.content) + 4 for m in messages)
        usage = Usage(prompt, estimate_tokens(guard.text))
    return guard.text.strip(), usage
