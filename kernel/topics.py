"""Topic patterns: exact (``agent.created``), one token (``agent.*``), the rest (``agent.>``)."""

from __future__ import annotations

import re
from collections.abc import Callable

_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """Return a predicate telling whether a concrete topic matches ``pattern``.

    Raises ValueError naming the pattern and the bad token when the pattern is malformed.
    """
    tokens = pattern.split(".")
    for i, token in enumerate(tokens):
        if token == ">" and i != len(tokens) - 1:
            raise ValueError(f"invalid topic pattern {pattern!r}: '>' may only be the last token")
        if token not in ("*", ">") and not _TOKEN.match(token):
            raise ValueError(
                f"invalid topic pattern {pattern!r}: token {token!r} must be letters, digits, "
                "'_', '-', or a wildcard '*' / '>'"
            )
    if "*" not in tokens and ">" not in tokens:
        return pattern.__eq__
    tail = tokens[-1] == ">"
    fixed = tokens[:-1] if tail else tokens

    def match(topic: str) -> bool:
        parts = topic.split(".")
        if len(parts) < len(fixed) + tail or (not tail and len(parts) != len(fixed)):
            return False
        return all(want == "*" or want == got for want, got in zip(fixed, parts))

    return match
