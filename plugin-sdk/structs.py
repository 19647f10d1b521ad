"""Request bodies whose schema tells the truth about a plugin's config class.

A route that takes a plugin-defined config (an agent type's ``Config``, a job kind's ``Params``)
would otherwise declare ``dict[str, Any]`` and refuse, with a 400, keys and values its schema
allowed. :func:`config_struct` turns the pydantic class into a msgspec Struct with the same
fields, types and bounds, each optional (``msgspec.UNSET`` when not sent), so the OpenAPI schema
says what the server accepts; :func:`given` returns the fields a client sent, for the pydantic
class to validate as before.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any

import annotated_types
from pydantic import BaseModel

_BOUNDS = {
    annotated_types.Ge: "ge", annotated_types.Gt: "gt", annotated_types.Le: "le",
    annotated_types.Lt: "lt", annotated_types.MinLen: "min_length", annotated_types.MaxLen: "max_length",
}


def camel(name: str) -> str:
    """``name`` (``my-kind``, ``general``) as a CamelCase part of a Struct's name (``MyKind``)."""
    return "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def config_struct(model: type[BaseModel], name: str) -> Any:
    """A msgspec Struct class named ``name`` mirroring ``model``'s fields (unknown keys refused)."""
    import msgspec

    fields = []
    for field_name, info in model.model_fields.items():
        bounds: dict[str, Any] = {}
        for item in info.metadata:
            for kind, key in _BOUNDS.items():
                if isinstance(item, kind):
                    bounds[key] = getattr(item, key)
            if getattr(item, "pattern", None):
                bounds["pattern"] = item.pattern
        if info.description:
            bounds["description"] = info.description
        kind = _bounded(info.annotation, msgspec.Meta(**bounds)) if bounds else info.annotation
        fields.append((field_name, kind | msgspec.UnsetType, msgspec.UNSET))
    return msgspec.defstruct(name, fields, forbid_unknown_fields=True, kw_only=True)


def _bounded(annotation: Any, meta: Any) -> Any:
    """``annotation`` with ``meta``; on an optional type (``int | None``) the bounds go on the
    type that is not None, where msgspec accepts them."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        inner = typing.Union[tuple(a for a in args if a is not type(None))]  # noqa: UP007
        return Annotated[inner, meta] | None
    return Annotated[annotation, meta]


def given(struct: Any) -> dict[str, Any]:
    """The fields of ``struct`` that the client sent."""
    import msgspec

    return {k: v for k, v in msgspec.structs.asdict(struct).items() if v is not msgspec.UNSET}
