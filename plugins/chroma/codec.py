"""Our metadata and filters in chroma's terms.

Chroma keeps strings, numbers and booleans in metadata; other JSON values (lists, null, objects)
are stored as one string: the marker U+001E, ``json:``, then the value's JSON text, and decoded
on the way out. Filters follow ``pygent_sdk.vectors.matches``: a key's value must equal the
filter's (encoded the same way), or one of a list's items (``$in``, one per item type since
chroma wants ``$in`` lists of one type), every key at once (``$and``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pygent_sdk.vectors import Filter, VectorError

MARKER = "\x1ejson:"
_LISTS = (list, tuple, set, frozenset)
_SCALARS = (str, bool, int, float)


def encode_value(value: Any) -> str | bool | int | float:
    """A value chroma can hold: scalars as they are, anything else as marked JSON text."""
    if isinstance(value, _SCALARS):
        return value
    return MARKER + json.dumps(list(value) if isinstance(value, _LISTS) else value, sort_keys=True)


DOCUMENT_KEY = "chroma:document"
"""Where a hit's metadata carries the text chroma kept beside a vector (rows that other chroma
programs wrote; this store never writes documents)."""


def check_key(key: str, where: str) -> str:
    """``key`` when chroma can hold or filter on it, else VectorError naming it and ``where``."""
    if not key or key.startswith("$") or key == DOCUMENT_KEY:
        raise VectorError(
            f"chroma cannot take the metadata key {key!r} in {where}: keys must be non-empty, "
            f"must not start with '$' (chroma's operators) and {DOCUMENT_KEY!r} is chroma's own"
        )
    return key


def encode(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Metadata for chroma (None for an empty mapping: chroma refuses empty ones)."""
    if not metadata:
        return None
    return {check_key(str(key), "metadata"): encode_value(value) for key, value in metadata.items()}


def decode(metadata: Mapping[str, Any] | None, document: str | None = None) -> dict[str, Any]:
    """Metadata as it was given: marked JSON strings decoded, plus chroma's document if any."""
    decoded = {
        key: json.loads(value[len(MARKER):]) if isinstance(value, str) and value.startswith(MARKER) else value
        for key, value in (metadata or {}).items()
    }
    if document is not None:
        decoded.setdefault(DOCUMENT_KEY, document)
    return decoded


def _any_of(key: str, items: list[Any]) -> dict[str, Any] | None:
    encoded = [encode_value(item) for item in items]
    if len(encoded) == 1:
        return {key: {"$eq": encoded[0]}}
    by_type: dict[type, list[Any]] = {}
    for value in encoded:
        by_type.setdefault(type(value), []).append(value)
    clauses = [{key: {"$in": values}} for values in by_type.values()]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def where(filter: Filter | None) -> dict[str, Any] | None:
    """Chroma's ``where`` for ``filter``; None for no filter. Raises :class:`NoMatch` for a filter no
    row can satisfy (an empty any-of list), which chroma would refuse; VectorError for a key chroma
cannot filter on."""
    clauses = []
    for key, wanted in (filter or {}).items():
        check_key(key, "a filter")
        if isinstance(wanted, _LISTS):
            if not wanted:
                raise NoMatch(key)
            clauses.append(_any_of(key, list(wanted)))
        else:
            clauses.append({key: {"$eq": encode_value(wanted)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class NoMatch(Exception):
    """A filter that matches nothing (an empty list of allowed values)."""
