"""Numbers in an answer that no source backs: the guard against unverified results."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

_NUMBER = re.compile(
    r"(?:(?<![\w).])-)?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
)


def numbers(text: str) -> list[str]:
    """The numbers written in ``text``, as written: a minus sign counts when it is not an
    operator (``-5`` in "-5 + 3", but ``3`` in "10-3" and "10 - 3"); separators are kept."""
    return _NUMBER.findall(text)


def _value(number: str) -> Decimal | None:
    try:
        return Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None


def unverified(answer: str, sources: Iterable[str]) -> list[str]:
    """The numbers of ``answer`` found in no source, also not as a rounding of one.

    ``12`` matches ``12.0``, ``3.33`` matches ``3.3333333333``, ``1,234`` matches ``1234``.
    """
    known = {v for text in sources for n in numbers(text) if (v := _value(n)) is not None}
    return [n for n in numbers(answer) if (v := _value(n)) is not None and not _backed(v, known)]


def _backed(value: Decimal, known: set[Decimal]) -> bool:
    if value in known:
        return True
    places = Decimal(1).scaleb(value.as_tuple().exponent)  # type: ignore[arg-type]
    for source in known:
        try:
            if source.quantize(places) == value:
                return True
        except InvalidOperation:  # more digits than Decimal's precision: not a rounding
            continue
    return False
