"""AnswerStream: pull the answer text out of a streamed ``{"action": "final_answer", "input": "..."}``."""

from __future__ import annotations

import re

_FINAL = re.compile(r'\s*\{\s*"action"\s*:\s*"final_answer"\s*,\s*"input"\s*:\s*"')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}


class AnswerStream:
    """Feed raw JSON text as it streams; get back the decoded answer text as soon as it is known.

    Only a reply that starts with ``"action": "final_answer"`` yields text; anything else
    (a tool call, another key order) yields nothing, and the caller falls back to the parsed reply.
    """

    def __init__(self) -> None:
        self._raw = ""
        self._pos: int | None = None
        self._done = False
        self.streamed = ""

    def feed(self, text: str) -> str:
        """Add streamed ``text``; return newly decoded answer characters."""
        self._raw += text
        if self._pos is None:
            match = _FINAL.match(self._raw)
            if match is None:
                return ""
            self._pos = match.end()
        out: list[str] = []
        raw, pos = self._raw, self._pos
        while pos < len(raw) and not self._done:
            char = raw[pos]
            if char == '"':
                self._done = True
                break
            if char != "\\":
                out.append(char)
                pos += 1
                continue
            if pos + 1 >= len(raw):
                break
            code = raw[pos + 1]
            if code == "u":
                if pos + 6 > len(raw):
                    break
                digits = raw[pos + 2:pos + 6]
                out.append(chr(int(digits, 16)) if re.fullmatch("[0-9a-fA-F]{4}", digits) else "?")
                pos += 6
            else:
                out.append(_ESCAPES.get(code, code))
                pos += 2
        self._pos = pos
        piece = "".join(out)
        self.streamed += piece
        return piece
