"""The built-in eventlog and heartbeat plugins, through the SDK harness."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from pygent_plugins.eventlog import EventLogPlugin
from pygent_plugins.heartbeat import Beat, HeartbeatPlugin
from pygent_sdk import Health

pytestmark = pytest.mark.anyio


async def test_heartbeat_beats_and_reports_health(pygent_harness) -> None:
    async with pygent_harness({"heartbeat": HeartbeatPlugin}, {"heartbeat": {"interval": 0.01, "count": 3}}) as h:
        beat = await h.wait_for("heartbeat.beat")
        await anyio.sleep(0.1)
        health = await h.kernel.health()
    assert isinstance(beat, Beat) and beat.seq == 1 and beat.source == "heartbeat"
    assert [e.seq for e in h.events_on("heartbeat.beat")] == [1, 2, 3]
    assert health.plugins["heartbeat"] == Health.ok("done after 3 beats")


async def test_heartbeat_reports_degraded_when_late(pygent_harness) -> None:
    async with pygent_harness({"heartbeat": HeartbeatPlugin}, {"heartbeat": {"interval": 0.01}}) as h:
        plugin = h.plugin("heartbeat")
        plugin._last -= 1.0  # as if the loop had stalled for a second
        assert (await h.kernel.health()).plugins["heartbeat"].status == "degraded"


async def test_eventlog_writes_matching_events_as_json_lines(pygent_harness, tmp_path: Path) -> None:
    path = tmp_path / "logs" / "events.jsonl"
    config = {"eventlog": {"file": str(path), "topics": ["heartbeat.>"]},
              "heartbeat": {"interval": 0.01, "count": 2}}
    async with pygent_harness({"eventlog": EventLogPlugin, "heartbeat": HeartbeatPlugin}, config) as h:
        while len(h.events_on("heartbeat.beat")) < 2:
            await h.wait_for("heartbeat.beat")
            await anyio.sleep(0.01)
        await h.settle()
        assert (await h.kernel.health()).plugins["eventlog"] == Health.ok("2 events written")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["topic"], e["seq"]) for e in lines] == [("heartbeat.beat", 1), ("heartbeat.beat", 2)]
