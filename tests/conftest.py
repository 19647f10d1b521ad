"""Shared fixtures: a few tiny plugin classes to build kernels from."""

from __future__ import annotations

import pytest
from pygent_sdk import Event, event


@event("test.ping")
class Ping(Event):
    n: int


@event("test.other.deep")
class Deep(Event):
    n: int = 0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
