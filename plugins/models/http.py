"""The models plugin's HTTP route: the chat models on offer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from litestar import get


class ModelOut(msgspec.Struct):
    name: str
    description: str
    default: bool


def routes(available: Callable[[], dict[str, Any]], default: str) -> list[Any]:
    @get("/models", summary="Chat models on offer")
    async def list_models() -> list[ModelOut]:
        return [ModelOut(n, getattr(m, "description", ""), n == default)
                for n, m in sorted(available().items())]

    return [list_models]
