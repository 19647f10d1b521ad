"""The Tool capability: something an agent can call with JSON arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from .chat import ToolSpec


@dataclasses.dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's output; ``is_error`` marks output that describes a failure."""

    output: str
    is_error: bool = False


@runtime_checkable
class Tool(Protocol):
    """A callable tool; bad arguments give ``ToolResult(is_error=True)``, not an exception."""

    spec: ToolSpec

    async def __call__(self, arguments: Mapping[str, Any]) -> ToolResult: ...
