"""Schemathesis against the running app's OpenAPI schema: no 5xx, no response breaking the schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from .http_kit import Served, served


@pytest.fixture(scope="module")
def live() -> Iterator[Served]:
    """A served kernel on its own event loop thread, for schemathesis' synchronous client."""
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(served(rate=10**9)) as s:
        yield s


def test_api_matches_its_schema(live: Served) -> None:
    """Every operation, fuzzed from its schema (schemathesis strategies driven by hypothesis)."""
    schema = schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 20
    calls: list[int] = []
    for operation in operations:
        if operation.path == "/api/v1/events/stream":  # an endless stream by design
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                headers={"X-API-Key": live.keys["admin"]},
                checks=[not_a_server_error, response_schema_conformance],
            )
            calls.append(response.status_code)

        check()
    assert len(calls) >= 5 * len(operations) and any(200 <= c < 300 for c in calls)


def test_schema_is_served_with_docs(live: Served) -> None:
    import httpx

    spec = httpx.get(f"{live.url}/schema/openapi.json").json()
    assert spec["openapi"].startswith("3.1") and "/api/v1/agents" in spec["paths"]
    page = httpx.get(f"{live.url}/schema/")
    assert page.status_code == 200 and "swagger" in page.text.lower()
