"""Structure-aware chunking: Markdown sections, paragraphs kept together, sizes in tokens.

A *token* here is a whitespace-separated word (``\\S+``): cheap to count, and close enough to a
sentence-transformer's word pieces (about 1.3 per English word) to keep a chunk of 160 tokens
under MiniLM's 256-piece window. Chunks never cross a Markdown heading; each carries the heading
path of its section (``Guide › Install``) and its character offsets into the extracted text, so
``text[chunk.start:chunk.end] == chunk.text`` always holds and citations map back exactly.
A chunk also holds at most ``CHARS_PER_TOKEN`` characters a token: text without whitespace (a
minified file, a base64 blob) is cut into pieces of that many characters rather than becoming
one huge chunk.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

_HEADING = re.compile(r"(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"(```|~~~)")
_TOKEN = re.compile(r"\S+")
_SENTENCE_END = (".", "!", "?", ":", ";")
CHARS_PER_TOKEN = 8
"""A chunk of ``size`` tokens holds at most ``size * CHARS_PER_TOKEN`` characters."""


@dataclasses.dataclass(frozen=True, slots=True)
class Chunk:
    """Chunk ``index`` of a document: ``text`` is ``document[start:end]``, under ``heading``."""

    index: int
    start: int
    end: int
    heading: str
    text: str


def sections(text: str, markdown: bool) -> Iterator[tuple[int, int, str]]:
    """``(start, end, heading path)`` spans covering ``text``; one span unless ``markdown``.

    A section starts at its heading line; ATX headings inside fenced code are not headings."""
    if not markdown:
        yield 0, len(text), ""
        return
    path: list[tuple[int, str]] = []
    start, heading, offset, fence = 0, "", 0, ""
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        opened = _FENCE.match(stripped)
        if fence:
            if stripped.startswith(fence):
                fence = ""
        elif opened:
            fence = opened.group(1)
        elif line.startswith("#") and (match := _HEADING.match(line.rstrip("\n"))):
            if offset > start:
                yield start, offset, heading
            level = len(match.group(1))
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, match.group(2).strip()))
            start, heading = offset, " › ".join(title for _, title in path)
        offset += len(line)
    if len(text) > start:
        yield start, len(text), heading


def _cut(tokens: list[tuple[int, int]], boundaries: set[int], i: int, size: int) -> int:
    """Where the chunk starting at token ``i`` ends (exclusive): the last paragraph boundary
    within ``size`` tokens past its first half, else the last sentence end there, else ``size``."""
    limit = i + size
    if limit >= len(tokens):
        return len(tokens)
    floor = i + max(1, size // 2)
    for j in range(limit, floor, -1):
        if j in boundaries:
            return j
    return limit


def _tokens(text: str, start: int, end: int, longest: int) -> list[tuple[int, int]]:
    """Spans of the tokens in ``text[start:end]``, those over ``longest`` characters cut."""
    spans: list[tuple[int, int]] = []
    for match in _TOKEN.finditer(text, start, end):
        a, b = match.span()
        spans.extend((i, min(i + longest, b)) for i in range(a, b, longest))
    return spans


def chunk_text(text: str, *, size: int, overlap: int, markdown: bool) -> list[Chunk]:
    """Split ``text`` into chunks of at most ``size`` tokens and ``size * CHARS_PER_TOKEN``
    characters, overlapping by ``overlap`` tokens (within a section), paragraphs kept whole
    where they fit."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"chunk size {size} and overlap {overlap}: need size >= 1 and 0 <= overlap < size")
    chunks: list[Chunk] = []
    for start, end, heading in sections(text, markdown):
        if heading and "\n" not in text[start:end].strip():
            continue  # a heading with nothing under it before the next one
        max_chars = size * CHARS_PER_TOKEN
        tokens = _tokens(text, start, end, max_chars)
        if not tokens:
            continue
        boundaries = {k for k in range(1, len(tokens))
                      if text.count("\n", tokens[k - 1][1], tokens[k][0]) >= 2}
        sentences = {k for k in range(1, len(tokens)) if text[tokens[k - 1][1] - 1] in _SENTENCE_END}
        i = 0
        while i < len(tokens):
            j = _cut(tokens, boundaries, i, size)
            if j == i + size and j < len(tokens) and j not in boundaries:
                j = next((s for s in range(j, i + max(1, size // 2), -1) if s in sentences), j)
            while j > i + 1 and tokens[j - 1][1] - tokens[i][0] > max_chars:
                j -= 1
            a, b = tokens[i][0], tokens[j - 1][1]
            chunks.append(Chunk(len(chunks), a, b, heading, text[a:b]))
            if j >= len(tokens):
                break
            i = max(j - overlap, i + 1)
    return chunks
