"""Schemathesis with every check against a served kernel: the OpenAPI schema tells the truth."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from .http_kit import Served, served

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture(scope="module")
def live() -> Iterator[Served]:
    """A served kernel (agents, memory, models, auth, http) on its own event loop thread."""
    with start_blocking_portal() as portal, portal.wrap_async_context_manager(served(rate=10**9)) as s:
        yield s


def test_api_passes_schemathesis_with_every_check(live: Served, tmp_path: Path) -> None:
    """`schemathesis run --checks all` with an admin key: examples, coverage, fuzzing and stateful
    phases (use after delete, resources created then read, ignored auth, unsupported methods and
    Allow, bodies the schema accepts but the server refuses, undocumented statuses and media types)."""
    config = tmp_path / "schemathesis.toml"
    # 413 refuses a body over [http] max_body_bytes: a rejection like 400 (schemathesis's list lacks it)
    config.write_text('[checks.negative_data_rejection]\nexpected-statuses = '
                      '["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]\n')
    run = subprocess.run(
        [SCHEMATHESIS, "--config-file", str(config), "run", f"{live.url}/schema/openapi.json", "--checks", "all",
         "--header", f"X-API-Key: {live.keys['admin']}", "--max-examples", "10", "--seed", "1",
         # an endless stream by design; tests/test_http.py covers it
         "--exclude-path", "/api/v1/events/stream",
         "--request-timeout", "30", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, summary(report)
    operations = int(report.split("Operations:")[1].split("selected")[0])
    assert operations >= 35 and "Stateful" in report, report[-4000:]


def summary(report: str) -> str:
    """Each failing operation with its checks and the server's answers, lines cut to 300 characters."""
    keep = ("___", "- ST", "    `{", "[4", "[5", "Network Error", "Connection", "Errors:", "Selected:")
    return "\n".join(line[:300] for line in report.splitlines() if line.startswith(keep))


def test_schema_documents_errors_as_problem_details(live: Served) -> None:
    spec = httpx.get(f"{live.url}/schema/openapi.json").json()
    put_fact = spec["paths"]["/api/v1/memory/{agent_id}/facts/{key}"]["put"]["responses"]
    assert set(put_fact) >= {"200", "400", "401", "403", "404", "405", "413", "415", "429"}
    assert set(put_fact["415"]["content"]) == {"application/problem+json"}
    assert put_fact["429"]["headers"]["Retry-After"]["required"]
    health = spec["paths"]["/api/v1/health"]["get"]["responses"]
    assert "401" not in health  # public
    assert spec["components"]["schemas"]["FactIn"]["additionalProperties"] is False
    export = spec["paths"]["/api/v1/conversations/{conversation_id}/export"]["get"]["responses"]["200"]
    assert set(export["content"]) == {"text/markdown", "application/json"}


def test_schema_is_served_with_docs(live: Served) -> None:
    spec = httpx.get(f"{live.url}/schema/openapi.json").json()
    assert spec["openapi"].startswith("3.1") and "/api/v1/agents" in spec["paths"]
    page = httpx.get(f"{live.url}/schema/")
    assert page.status_code == 200 and "swagger" in page.text.lower()
