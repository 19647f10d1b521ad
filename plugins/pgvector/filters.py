"""The SDK's metadata filter rule (``pygent_sdk.vectors.matches``) as a SQL condition on JSONB.

Every key must be present and equal to the filter's value; a list value means "equal to one of
its items". A scalar item compares by JSONB containment (``metadata @> '{"k": v}'``, which the
GIN index answers; for a scalar this is equality); a list item compares whole (``metadata -> 'k'
= '[...]'``), since containment would also accept a longer list. JSON numbers compare by value
(1 = 1.0) and never equal booleans. PostgreSQL's text and jsonb cannot hold the NUL character:
:func:`reject_nul` refuses it in keys and values before they reach the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from pygent_sdk.vectors import Filter, VectorError

_LISTS = (list, tuple, set, frozenset)


def reject_nul(value: Any, what: str) -> None:
    """VectorError naming ``what`` when ``value`` (a string, or any key or value inside a mapping
    or list) holds the NUL character, which PostgreSQL's text and jsonb refuse."""
    if isinstance(value, str):
        if "\x00" in value:
            raise VectorError(f"pgvector cannot store the NUL character (\\u0000) in {what}: {value[:80]!r}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            reject_nul(key, f"a key of {what}")
            reject_nul(item, what)
    elif isinstance(value, _LISTS):
        for item in value:
            reject_nul(item, what)


def _item(column: sa.ColumnElement[Any], key: str, item: Any) -> sa.ColumnElement[bool]:
    if isinstance(item, (*_LISTS, dict)):
        value = list(item) if isinstance(item, _LISTS) else item
        return column[key] == sa.type_coerce(value, JSONB)
    return column.op("@>")(sa.type_coerce({key: item}, JSONB))


def condition(column: sa.ColumnElement[Any], filter: Filter | None) -> sa.ColumnElement[bool]:
    """The WHERE clause selecting the rows whose ``column`` (JSONB) satisfies ``filter``."""
    reject_nul(dict(filter or {}), "a filter")
    clauses: list[sa.ColumnElement[bool]] = []
    for key, wanted in (filter or {}).items():
        if isinstance(wanted, _LISTS):
            clauses.append(sa.or_(sa.false(), *(_item(column, key, item) for item in wanted)))
        else:
            clauses.append(_item(column, key, wanted))
    return sa.and_(sa.true(), *clauses)
