"""The jobs plugin: start, progress, cancel, results, state across a restart (and a kill -9), REST."""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import Field
from pygent_plugins.jobs import JobsPlugin
from pygent_sdk import Plugin, PluginConfig, hookimpl
from pygent_sdk.jobs import JobContext, JobError, JobKind, JobsBusy, UnknownJob
from pygent_sdk.testing import PluginHarness

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent


class CountParams(PluginConfig):
    to: int = Field(3, ge=1, le=1000)
    hold: bool = False
    """Wait, after the count, until cancelled."""


async def count(ctx: JobContext) -> dict[str, int]:
    for n in range(1, ctx.params["to"] + 1):
        await ctx.progress(n, ctx.params["to"], f"counted {n}")
    if ctx.params["hold"]:
        await anyio.sleep_forever()
    return {"counted": ctx.params["to"]}


class Counting(Plugin):
    """Offers the ``count`` job kind."""

    @hookimpl
    def pygent_job_kinds(self) -> list[JobKind]:
        return [JobKind("count", "Counts to a number.", count, CountParams)]


def jobs_stack(**jobs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"jobs": JobsPlugin, "counting": Counting}, {"jobs": {"save_interval_s": 0, **jobs}}


async def test_hook_pygent_job_kinds() -> None:
    """A registered kind runs, reports progress and returns its result."""
    async with PluginHarness(*jobs_stack()) as h:
        jobs = h.kernel.hook.pygent_jobs()
        job = await jobs.start("count", {"to": 3})
        assert job.state == "submitted" and job.params == {"to": 3, "hold": False}
        done = await jobs.wait(job.id)
        assert done.state == "completed" and done.result == {"counted": 3}
        assert (done.progress.done, done.progress.total, done.progress.message) == (3, 3, "counted 3")
        assert done.progress.fraction == 1.0 and done.started_at and done.finished_at
        assert [e.done for e in h.events_on("job.progress")] == [1, 2, 3]
        assert [e.topic for e in h.events_on("job.>") if e.topic != "job.progress"] == [
            "job.started", "job.finished"]
        assert h.events_on("job.finished")[0].state == "completed"
        saved = h.plugin("jobs").context.data_dir / "jobs" / f"{job.id}.json"
        assert json.loads(saved.read_text())["result"] == {"counted": 3}
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert [j.id for j in jobs.list(kind="count")] == [job.id]


async def test_ad_hoc_work_failures_and_bad_requests() -> None:
    async with PluginHarness(*jobs_stack()) as h:
        jobs = h.kernel.hook.pygent_jobs()

        async def broken(ctx: JobContext) -> None:
            await ctx.progress(1, None, "about to fail")
            raise ValueError("no luck")

        failed = await jobs.wait((await jobs.start("tot", {"task": "x"}, fn=broken)).id)
        assert failed.state == "failed" and failed.error == "ValueError: no luck"
        assert failed.progress.message == "about to fail" and failed.progress.fraction is None
        with pytest.raises(JobError, match=r"Unknown job kind 'nope'\. Available: count"):
            await jobs.start("nope")
        with pytest.raises(JobError, match=r"Bad params for job kind 'count': to: .*greater than or equal to 1"):
            await jobs.start("count", {"to": 0})
        with pytest.raises(JobError, match="colour: Extra inputs"):
            await jobs.start("count", {"colour": "red"})
        with pytest.raises(UnknownJob):
            jobs.get("missing")


async def test_cancel_and_the_bound_on_running_jobs() -> None:
    async with PluginHarness(*jobs_stack(max_running=1)) as h:
        jobs = h.kernel.hook.pygent_jobs()
        first = await jobs.start("count", {"to": 2, "hold": True})
        second = await jobs.start("count", {"to": 2})
        with anyio.fail_after(5):
            while jobs.get(first.id).progress.done < 2:
                await anyio.sleep(0.01)
        assert jobs.get(second.id).state == "submitted"  # waits for the one slot
        canceled = await jobs.cancel(first.id)
        assert canceled.state == "canceled" and canceled.progress.done == 2
        assert (await jobs.wait(second.id)).state == "completed"
        assert (await jobs.cancel(first.id)).state == "canceled"  # finished: unchanged
        assert [e.state for e in h.events_on("job.finished")] == ["canceled", "completed"]


async def test_a_job_running_at_shutdown_comes_back_interrupted(tmp_path: Path) -> None:
    plugins, config = jobs_stack(save_interval_s=60)  # progress is saved at shutdown anyway
    config["kernel"] = {"data_dir": str(tmp_path)}
    async with PluginHarness(plugins, config) as h:
        jobs = h.kernel.hook.pygent_jobs()
        job = await jobs.start("count", {"to": 4, "hold": True})
        with anyio.fail_after(5):
            while jobs.get(job.id).progress.done < 4:
                await anyio.sleep(0.01)
    async with PluginHarness(plugins, config) as h:
        back = h.kernel.hook.pygent_jobs().get(job.id)
        assert back.state == "interrupted" and back.progress.message == "counted 4"
        assert "stopped" in (back.error or "")


KILLED_HOST = """
import sys, anyio
from pygent_sdk.testing import PluginHarness
from tests.test_jobs import jobs_stack

async def main():
    plugins, config = jobs_stack()
    config["kernel"] = {"data_dir": sys.argv[1]}
    async with PluginHarness(plugins, config) as h:
        jobs = h.kernel.hook.pygent_jobs()
        job = await jobs.start("count", {"to": 5, "hold": True})
        while jobs.get(job.id).progress.done < 5:
            await anyio.sleep(0.01)
        print(job.id, flush=True)
        await anyio.sleep_forever()

anyio.run(main)
"""


async def test_a_job_running_when_the_process_is_killed_comes_back_interrupted(tmp_path: Path) -> None:
    host = subprocess.Popen([sys.executable, "-c", KILLED_HOST, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        with anyio.fail_after(60):
            job_id = (await anyio.to_thread.run_sync(host.stdout.readline)).strip()  # type: ignore[union-attr]
        os.kill(host.pid, signal.SIGKILL)
    finally:
        host.wait(10)
    saved = json.loads((tmp_path / "jobs" / "jobs" / f"{job_id}.json").read_text())
    assert saved["state"] == "running"  # as the killed process left it
    plugins, config = jobs_stack()
    config["kernel"] = {"data_dir": str(tmp_path)}
    async with PluginHarness(plugins, config) as h:
        back = h.kernel.hook.pygent_jobs().get(job_id)
        assert back.state == "interrupted" and back.finished_at
        assert (back.progress.done, back.progress.total, back.progress.message) == (5, 5, "counted 5")


async def test_jobs_over_rest_and_sse() -> None:
    from .http_kit import served

    async with served(extra={"jobs": JobsPlugin, "counting": Counting}) as s, \
            s.client("operator") as api, s.client("viewer") as viewer:
        kinds = (await viewer.get("/api/v1/jobs/kinds")).json()
        assert kinds[0]["name"] == "count" and "to" in kinds[0]["params"]["properties"]
        assert (await viewer.post("/api/v1/jobs", json={"kind": "count"})).status_code == 403
        bad = await api.post("/api/v1/jobs", json={"kind": "count", "params": {"to": "many"}})
        assert bad.status_code == 400 and bad.json()["errors"][0]["key"] == "params.to"
        spec = (await viewer.get("/schema/openapi.json")).json()["components"]["schemas"]
        assert spec["CountJobParams"]["properties"]["to"]["maximum"] == 1000  # the kind's own bounds
        started = await api.post("/api/v1/jobs", json={"kind": "count", "params": {"to": 3, "hold": True}})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        seen: list[tuple[str, dict[str, Any]]] = []
        async with viewer.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
            event = None
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    seen.append((event or "", json.loads(line.split(":", 1)[1])))
                    if seen[-1][1]["progress"]["done"] == 3 and seen[-1][1]["state"] == "running":
                        cancel = await api.post(f"/api/v1/jobs/{job_id}/cancel")
                        assert cancel.status_code == 200 and cancel.json()["state"] == "canceled"
        assert seen[-1][0] == "finished" and seen[-1][1]["state"] == "canceled"
        assert {e for e, _ in seen[:-1]} == {"job"}
        assert seen[-1][1]["progress"] == {"done": 3.0, "total": 3.0, "fraction": 1.0, "message": "counted 3"}
        listed = (await viewer.get("/api/v1/jobs", params={"state": "canceled"})).json()
        assert [j["id"] for j in listed] == [job_id]
        assert (await viewer.get(f"/api/v1/jobs/{job_id}")).json()["state"] == "canceled"
        assert (await viewer.get("/api/v1/jobs/nope")).status_code == 404
        assert (await viewer.get("/api/v1/jobs/nope/events")).status_code == 404


async def test_hook_pygent_jobs() -> None:
    from pygent_sdk.jobs import JOBS, Jobs

    async with PluginHarness(*jobs_stack()) as h:
        service = h.plugin("counting").context.service(JOBS)
        assert isinstance(service, Jobs) and service is h.plugin("jobs").manager
        assert h.calls_to("pygent_jobs")[0].result is service


def on_disk(tmp_path: Path, **jobs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    plugins, config = jobs_stack(**jobs)
    config["kernel"] = {"data_dir": str(tmp_path)}
    return plugins, config


async def wait_for_progress(jobs: Any, job_id: str, done: int) -> None:
    with anyio.fail_after(5):
        while jobs.get(job_id).progress.done < done:
            await anyio.sleep(0.01)


async def test_a_second_process_only_reads_the_jobs_directory(tmp_path: Path) -> None:
    """`pygent jobs list` beside a live `pygent serve`: it sees the running job as running and
    leaves its file alone; it refuses to start or cancel jobs there."""
    async with PluginHarness(*on_disk(tmp_path)) as serving:
        jobs = serving.kernel.hook.pygent_jobs()
        job = await jobs.start("count", {"to": 2, "hold": True})
        saved = tmp_path / "jobs" / "jobs" / f"{job.id}.json"
        with anyio.fail_after(5):  # its last progress is on disk
            while not saved.exists() or json.loads(saved.read_text())["progress"]["done"] < 2:
                await anyio.sleep(0.01)
        before = (saved.read_bytes(), saved.stat().st_mtime_ns)
        async with PluginHarness(*on_disk(tmp_path)) as reader:
            other = reader.kernel.hook.pygent_jobs()
            seen = other.get(job.id)
            assert seen.state == "running" and seen.progress.done == 2
            assert (saved.read_bytes(), saved.stat().st_mtime_ns) == before
            assert other.read_only and not jobs.read_only
            owner = rf"another pygent process \(pid {os.getpid()}\) owns the jobs directory"
            with pytest.raises(JobsBusy, match=owner + ".* try again when that process ends"):
                await other.start("count")
            with pytest.raises(JobsBusy, match=owner):
                await other.cancel(job.id)
            assert reader.plugin("jobs").pygent_health().status == "degraded"
        assert (saved.read_bytes(), saved.stat().st_mtime_ns) == before
        assert json.loads(saved.read_text())["state"] == "running"
        assert jobs.get(job.id).state == "running"
        assert (await jobs.cancel(job.id)).state == "canceled"
    async with PluginHarness(*on_disk(tmp_path)) as after:  # the lock was let go
        assert not after.kernel.hook.pygent_jobs().read_only


async def test_a_failed_save_is_logged_and_the_job_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pygent_plugins.jobs import manager

    def disk_full(path: Path, data: Any) -> None:
        raise OSError(28, "No space left on device")

    async with PluginHarness(*jobs_stack()) as h:
        monkeypatch.setattr(manager, "write_private", disk_full)
        jobs = h.kernel.hook.pygent_jobs()
        job = await jobs.start("count", {"to": 2})
        assert (await jobs.wait(job.id)).state == "completed"
        assert [e.state for e in h.events_on("job.finished")] == ["completed"]
        assert f"could not save job {job.id} (count): [Errno 28] No space left" in caplog.text
        again = await jobs.start("count", {"to": 1})  # the plugin still runs
        assert (await jobs.wait(again.id)).result == {"counted": 1}


async def test_max_queued_bounds_the_jobs_waiting_for_a_slot() -> None:
    from pygent_sdk.jobs import TooManyJobs

    async with PluginHarness(*jobs_stack(max_running=1, max_queued=2)) as h:
        jobs = h.kernel.hook.pygent_jobs()
        first = await jobs.start("count", {"to": 1, "hold": True})
        await wait_for_progress(jobs, first.id, 1)
        waiting = [await jobs.start("count", {"to": 1}) for _ in range(2)]
        with pytest.raises(TooManyJobs, match=r"2 jobs already wait .*\(\[jobs\] max_queued = 2\)"):
            await jobs.start("count", {"to": 1})
        await jobs.cancel(first.id)
        assert [(await jobs.wait(j.id)).state for j in waiting] == ["completed", "completed"]
        await jobs.start("count", {"to": 1})  # room again


class OneQueuedJobs(JobsPlugin):
    class Config(JobsPlugin.Config):
        max_running: int = 1
        max_queued: int = 1


async def test_too_many_queued_jobs_over_rest_is_429() -> None:
    from .http_kit import served

    extra = {"jobs": OneQueuedJobs, "counting": Counting}
    async with served(extra=extra) as s, s.client("operator") as api:
        body = {"kind": "count", "params": {"to": 1, "hold": True}}
        first = (await api.post("/api/v1/jobs", json=body)).json()["id"]
        with anyio.fail_after(5):
            while (await api.get(f"/api/v1/jobs/{first}")).json()["state"] != "running":
                await anyio.sleep(0.01)
        assert (await api.post("/api/v1/jobs", json=body)).status_code == 202  # waits
        refused = await api.post("/api/v1/jobs", json=body)
        assert refused.status_code == 429 and "max_queued = 1" in refused.json()["detail"]


async def test_malformed_job_files_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugins, config = on_disk(tmp_path)
    async with PluginHarness(plugins, config) as h:
        jobs = h.kernel.hook.pygent_jobs()
        good = await jobs.wait((await jobs.start("count", {"to": 1})).id)
    folder = tmp_path / "jobs" / "jobs"
    row = json.loads((folder / f"{good.id}.json").read_text())
    bad = {
        "notjson": "{not json",
        "alist": "[1, 2]",
        "missing": json.dumps({"id": "missing", "kind": "count"}),
        "unknown": json.dumps({**row, "id": "unknown", "colour": "red"}),
        "progress": json.dumps({**row, "id": "progress", "progress": {"pct": 3}}),
        "created": json.dumps({**row, "id": "created", "created_at": "yesterday"}),
    }
    for name, text in bad.items():
        (folder / f"{name}.json").write_text(text)
    async with PluginHarness(plugins, config) as h:
        jobs = h.kernel.hook.pygent_jobs()
        assert [j.id for j in jobs.list()] == [good.id]
        assert jobs.get(good.id).result == {"counted": 1}
    for name in bad:
        assert f"skipping unreadable job file {folder / name}.json" in caplog.text


async def test_a_read_only_process_takes_over_once_the_owner_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A `pygent serve` started while a one-shot command owns the jobs directory is read-only (and
    says so at INFO only) while that runs; once it ends, start() works without a restart and the
    owner's jobs are listed, watchers of them woken."""
    from pygent_plugins import jobs as jobs_plugin

    monkeypatch.setattr(jobs_plugin, "CLAIM_EVERY_S", 3600.0)  # here only calls try the lock
    caplog.set_level(logging.INFO)
    release, ended = anyio.Event(), anyio.Event()

    async def owner(*, task_status: Any) -> None:
        async with PluginHarness(*on_disk(tmp_path)) as h:
            jobs = h.kernel.hook.pygent_jobs()
            done = await jobs.wait((await jobs.start("count", {"to": 1})).id)
            held = await jobs.start("count", {"to": 2, "hold": True})
            await wait_for_progress(jobs, held.id, 2)
            task_status.started((done, held))
            await release.wait()
        ended.set()

    async with anyio.create_task_group() as tasks:
        done, held = await tasks.start(owner)
        async with PluginHarness(*on_disk(tmp_path)) as server:
            other = server.kernel.hook.pygent_jobs()
            assert other.read_only and [j.id for j in other.list()] == [held.id, done.id]
            with pytest.raises(JobsBusy):
                await other.start("count")
            assert server.plugin("jobs").pygent_health().status == "degraded"
            assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert "jobs are read-only here until it ends" in caplog.text
            finished: list[str] = []

            async def watch() -> None:  # a watcher of the owner's running job sees it end
                finished.append((await other.wait(held.id)).state)

            tasks.start_soon(watch)
            release.set()
            await ended.wait()
            job = await other.start("count", {"to": 1})  # no restart
            assert not other.read_only
            assert (await other.wait(job.id)).result == {"counted": 1}
            assert [j.id for j in other.list()] == [job.id, held.id, done.id]
            assert other.get(held.id).state == "interrupted"  # as the owner saved it at its stop
            with anyio.fail_after(5):
                while not finished:
                    await anyio.sleep(0.01)
            assert finished == ["interrupted"]
            assert server.plugin("jobs").pygent_health().status == "ok"


async def test_a_server_beside_a_killed_owner_answers_503_then_takes_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another process holds the jobs directory, POST /jobs and cancel are 503 with
    Retry-After naming its pid; once it is killed, the run loop takes over by itself: the job it
    left running comes back interrupted, and jobs start."""
    import httpx
    from pygent_plugins import jobs as jobs_plugin
    from pygent_plugins.http import HttpPlugin

    monkeypatch.setattr(jobs_plugin, "CLAIM_EVERY_S", 0.05)
    host = subprocess.Popen([sys.executable, "-c", KILLED_HOST, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        with anyio.fail_after(60):
            job_id = (await anyio.to_thread.run_sync(host.stdout.readline)).strip()  # type: ignore[union-attr]
        plugins, config = on_disk(tmp_path)
        plugins["http"], config["http"] = HttpPlugin, {"port": 0}
        async with PluginHarness(plugins, config) as h, \
                httpx.AsyncClient(base_url=h.plugin("http").url, timeout=30) as api:
            for refused in (await api.post("/api/v1/jobs", json={"kind": "count"}),
                            await api.post(f"/api/v1/jobs/{job_id}/cancel")):
                assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
                assert f"another pygent process (pid {host.pid}) owns" in refused.json()["detail"]
            assert (await api.get(f"/api/v1/jobs/{job_id}")).json()["state"] == "running"
            os.kill(host.pid, signal.SIGKILL)
            await anyio.to_thread.run_sync(host.wait, 10)
            with anyio.fail_after(5):  # no call needed: the plugin tries the lock every 0.05 s
                while (await api.get(f"/api/v1/jobs/{job_id}")).json()["state"] != "interrupted":
                    await anyio.sleep(0.02)
            started = await api.post("/api/v1/jobs", json={"kind": "count", "params": {"to": 1}})
            assert started.status_code == 202, started.text
    finally:
        if host.poll() is None:
            host.kill()
        host.wait(10)
