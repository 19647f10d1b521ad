"""The SDK's metadata filter rule (``pygent_sdk.vectors.matches``) as a SQL condition on JSONB.

Every key must be present and equal to the filter's value; a list value means "equal to one of
its items". A scalar item compares by JSONB containment (``metadata @> '{"k": v}'``, which the
GIN index answers; for a scalar this is equality); a list item compares whole (``metadata -> 'k'
= '[...]'``), since containment would also accept a longer list. JSON numbers compare by value
(1 = 1.0) and never equal booleans.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from pygent_sdk.vectors import Filter

_LISTS = (list, tuple, set, frozenset)


def _item(column: sa.ColumnElement[Any], key: str, item: Any) -> sa.ColumnElement[bool]:
    if isinstance(item, (*_LISTS, dict)):
        value = list(item) if isinstance(item, _LISTS) else item
        return column[key] == sa.type_coerce(value, JSONB)
    return column.op("@>")(sa.type_coerce({key: item}, JSONB))


def condition(column: sa.ColumnElement[Any], filter: Filter | None) -> sa.ColumnElement[bool]:
    """The WHERE clause selecting the rows whose ``column`` (JSONB) satisfies ``filter``."""
    clauses: list[sa.ColumnElement[bool]] = []
    for key, wanted in (filter or {}).items():
        if isinstance(wanted, _LISTS):
            clauses.append(sa.or_(sa.false(), *(_item(column, key, item) for item in wanted)))
        else:
            clauses.append(_item(column, key, wanted))
    return sa.and_(sa.true(), *clauses)
