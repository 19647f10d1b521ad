"""Stop a small model's looping reply: :class:`LoopGuard` passes a streamed reply on sentence by
sentence and cuts it at the first sentence it repeats, where a sentence keeps repeating a phrase,
or where a run of words comes back a third time; :func:`guarded_reply` streams a model's reply
through one::

    text, usage = await guarded_reply(model, messages, options, on_token)
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from .agents import estimate_tokens
from .chat import ChatMessage, ChatModel, ChatOptions, Usage

_CITATION = re.compile(r"\[\d+\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n{2,}|\n(?=[^a-z\n])")  # not a line wrapped mid-sentence
_WORD = re.compile(r"\[\d+\]|\w+")  # a citation marker (skipped) or a word; numbers are words
_BREAK = re.compile(r"[.!?,;:)]\s+|\n+")  # where a sentence or a clause ends
RUN_WORDS, RUN_TIMES = 6, 3
"""A reply is cut before the ``RUN_TIMES``-th occurrence of the same ``RUN_WORDS`` words in a row
(lower-cased; punctuation and citation markers left out): a near-repeat loop."""


def _cut(text: str, after: int, before: int) -> int:
    """Where to cut a loop that comes back at ``before``: the last sentence or clause end from
    ``after`` on (the end of the previous occurrence), else the last line end there (a line of a
    list, or prose wrapped mid-sentence), else ``before``."""
    breaks = list(_BREAK.finditer(text, after, before))
    ends = [m.end() for m in breaks if m.group()[0] != "\n"] or [m.end() for m in breaks]
    return ends[-1] if ends else before


def _phrase_loop(text: str, start: int, n: int = 3, times: int = 3) -> int | None:
    """Where the unfinished sentence ``text[start:]`` starts repeating itself, once its last ``n``
    words occur ``times`` times: before their second occurrence (see :func:`_cut`), else None."""
    words = list(re.finditer(r"\w+", text[start:]))
    if len(words) < n * times:
        return None
    last = [w.group().lower() for w in words[-n:]]
    hits = [i for i in range(len(words) - n + 1)
            if [w.group().lower() for w in words[i:i + n]] == last]
    if len(hits) < times:
        return None
    return _cut(text, start + words[hits[0] + n - 1].end(), start + words[hits[1]].start())


def _key(sentence: str) -> str:
    """A sentence's words, lower-cased, citation markers left out: "[4] jobs.md" repeats
    "[3] jobs.md", but "nprobe 8 gives ..." does not repeat "nprobe 16 gives ..."."""
    return " ".join(re.findall(r"\w+", _CITATION.sub(" ", sentence.lower())))


class LoopGuard:
    """Passes a reply on sentence by sentence and stops it at the first sentence it repeats,
    where a sentence keeps repeating a phrase ("an evolution, an evolution, ..."), or before a
    run of ``RUN_WORDS`` words comes back a third time (sentences that differ by a word): small
    models loop. :meth:`feed` returns what may be sent and whether to stop. What is sent, joined, is the
    reply stripped of surrounding whitespace."""

    def __init__(self) -> None:
        self.text = ""
        self._done = 0  # end of the last sentence taken
        self._space = ""  # whitespace after it, sent only if more text follows
        self._seen: set[str] = set()
        self._words: list[tuple[str, int, int]] = []  # (word, start, end), complete words only
        self._runs: dict[tuple[str, ...], list[int]] = {}  # a run of words -> indexes of its starts
        self._scanned = 0  # end of the last complete word taken into _words

    def _send(self, sentence: str) -> str:
        body = sentence.rstrip()
        if not body.strip():
            self._space += sentence if self._seen else ""
            return ""
        out = (self._space if self._seen else "") + (body if self._seen else body.lstrip())
        self._space = sentence[len(body):]
        self._seen.add(_key(body))
        return out

    def _run_repeat(self) -> int | None:
        """Take in the words completed since the last piece; where to cut once a run of
        ``RUN_WORDS`` words occurs the ``RUN_TIMES``-th time (not overlapping the one before): at
        the last sentence or clause end between the previous occurrence and this one, else right
        before this one; never before what was sent."""
        for match in _WORD.finditer(self.text, self._scanned):
            if match.end() == len(self.text):
                break  # the word may go on in the next piece
            self._scanned = match.end()
            if match.group().startswith("["):
                continue
            self._words.append((match.group().lower(), match.start(), match.end()))
            first = len(self._words) - RUN_WORDS
            if first < 0:
                continue
            starts = self._runs.setdefault(tuple(w for w, _, _ in self._words[first:]), [])
            if starts and first < starts[-1] + RUN_WORDS:
                continue  # overlaps the previous occurrence ("0 0 0 0 0 0 0")
            starts.append(first)
            if len(starts) == RUN_TIMES:
                after = self._words[starts[-2] + RUN_WORDS - 1][2]
                return max(self._done, _cut(self.text, after, self._words[first][1]))
        return None

    def feed(self, piece: str) -> tuple[str, bool]:
        self.text += piece
        out: list[str] = []
        cut = self._run_repeat()
        while (match := _SENTENCE_END.search(self.text, self._done)) and (
                cut is None or match.end() <= cut):
            sentence = self.text[self._done:match.end()]
            key = _key(sentence)
            if len(key) > 15 and key in self._seen:
                self.text = self.text[:self._done]
                return "".join(out), True
            out.append(self._send(sentence))
            self._done = match.end()
        if cut is None:
            cut = _phrase_loop(self.text, self._done)
        if cut is not None:
            self.text = self.text[:cut].rstrip(" \n,;:([")
            return "".join(out), True
        return "".join(out), False

    def rest(self) -> str:
        """The unfinished last sentence, once the reply has ended."""
        tail = self.text[self._done:]
        self._done = len(self.text)
        return self._send(tail) if tail.strip() else ""


async def guarded_reply(
    model: ChatModel, messages: Sequence[ChatMessage], options: ChatOptions | None = None,
    on_token: Callable[[str], Awaitable[None]] | None = None, *, cut_mark: str = "",
) -> tuple[str, Usage]:
    """The model's reply to ``messages``, streamed to ``on_token`` sentence by sentence and cut
    at the first repeated sentence (the model is stopped there), and its usage (estimated when
    the model reported none, e.g. because the reply was cut). ``cut_mark`` (e.g. "…") ends a
    reply the model stopped at ``max_tokens``."""
    guard = LoopGuard()
    usage: Usage | None = None
    finish = None
    stream = model.stream(list(messages), options)
    try:
        async for chunk in stream:
            finish = chunk.finish_reason or finish
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
    text = guard.text.strip()
    if cut_mark and finish == "length" and text:
        tail += cut_mark
        text += cut_mark
    if tail and on_token is not None:
        await on_token(tail)
    if usage is None:
        prompt = sum(estimate_tokens(m.content) + 4 for m in messages)
        usage = Usage(prompt, estimate_tokens(guard.text))
    return text, usage
