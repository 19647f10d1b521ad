"""Manager: runs jobs in the plugin's task group, bounds how many run, saves every job's state."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import anyio
import pydantic
from anyio.abc import TaskGroup
from pygent_sdk import Bus
from pygent_sdk.files import open_private, private_dir, write_private
from pygent_sdk.jobs import (
    FINAL_JOB_STATES, Job, JobError, JobFinished, JobFn, JobKind, JobProgress, JobProgressed,
    JobsBusy, JobStarted, JobState, TooManyJobs, UnknownJob,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True, eq=False)
class _Running:
    """A kept job: its current snapshot, and what runs and watches it."""

    job: Job
    fn: JobFn | None = None
    scope: anyio.CancelScope = dataclasses.field(default_factory=anyio.CancelScope)
    changed: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    saved_at: float = 0.0


@dataclasses.dataclass(slots=True)
class _Context:
    """The JobContext handed to a job's work."""

    id: str
    kind: str
    params: Mapping[str, Any]
    _report: Callable[[JobProgress], Any]

    async def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        await self._report(JobProgress(float(done), None if total is None else float(total), message))


class Manager:
    """The Jobs service of the ``jobs`` plugin."""

    def __init__(
        self, *, bus: Bus, source: str, path: Path, kinds: Callable[[], Sequence[JobKind]],
        max_running: int, max_queued: int, keep: int, save_interval_s: float,
        logger: logging.Logger = log,
    ) -> None:
        self._bus, self._source, self._path, self._log = bus, source, path, logger
        self._kind_hook = kinds
        self._kind_map: dict[str, JobKind] | None = None
        self._slots = anyio.Semaphore(max_running)
        self._max_queued, self._keep, self._save_interval = max_queued, keep, save_interval_s
        self._jobs: OrderedDict[str, _Running] = OrderedDict()
        self._tasks: TaskGroup | None = None
        self._lock: IO[str] | None = None
        self.read_only = False
        """Another process holds the jobs directory: the saved jobs are shown, never changed,
        until :meth:`claim` finds the lock free."""

    # --- state on disk ------------------------------------------------------------------------

    def load(self) -> None:
        """Take the jobs directory's lock and read the saved jobs (see :meth:`_read_jobs`). When
        another process holds the lock, the jobs are read as they are and this manager is
        :attr:`read_only` until :meth:`claim` takes the lock."""
        private_dir(self._path)
        if not self._take_lock():
            self.read_only = True
            self._log.info("another pygent process%s owns %s: jobs are read-only here until it ends",
                     self._owner(), self._path)
        self._read_jobs()

    def claim(self) -> bool:
        """Whether this process owns the jobs directory. A read-only one tries the lock again
        (cheap); once the owner has ended, it takes the lock and reads the saved jobs as at
        start-up, and from then on starts and cancels jobs."""
        if self.read_only and self._take_lock():
            self.read_only = False
            self._log.info("the jobs directory %s is free now: this process owns it", self._path)
            self._read_jobs()
        return not self.read_only

    def _take_lock(self) -> bool:
        """Take the exclusive lock ``jobs.lock`` and write this process's id in it, or False."""
        file = open_private(self._path / "jobs.lock")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        self._lock = file
        file.truncate(0)
        file.write(f"{os.getpid()}\n")
        file.flush()
        return True

    def _owner(self) -> str:
        """`` (pid N)`` of the process that holds the lock, when it wrote it; else ``""``."""
        try:
            pid = (self._path / "jobs.lock").read_text().strip()
        except OSError:
            pid = ""
        return f" (pid {pid})" if pid.isdigit() else ""

    def _read_jobs(self) -> None:
        """Read the saved jobs, in place of those shown so far (their watchers are woken). When
        this process owns the directory, those that were not finished come back ``interrupted``
        (the process that ran them stopped or died), with their last progress."""
        jobs = []
        for file in self._path.glob("*.json"):
            try:
                jobs.append(_read(file))
            except (OSError, ValueError, TypeError, KeyError) as error:
                log.warning("skipping unreadable job file %s: %s", file, error)
        shown, self._jobs = self._jobs, OrderedDict()
        interrupted = 0
        for job in sorted(jobs, key=lambda j: j.created_at):
            if not job.finished and not self.read_only:
                interrupted += 1
                job = dataclasses.replace(
                    job, state="interrupted", finished_at=time.time(),
                    error="the process stopped while the job was running",
                )
                self._write(job)
            entry = self._jobs[job.id] = shown.pop(job.id, None) or _Running(job)
            entry.job = job
            entry.changed.set()
            entry.changed = anyio.Event()
        if interrupted:
            self._log.warning("%d job(s) were interrupted by the last shutdown", interrupted)

    def close(self) -> None:
        """Let go of the jobs directory's lock."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _writable(self) -> None:
        """Raise JobsBusy unless this process owns the jobs directory (or takes it now)."""
        if not self.claim():
            raise JobsBusy(
                f"another pygent process{self._owner()} owns the jobs directory {self._path}: "
                "this one only reads it and cannot start or cancel jobs; try again when that "
                "process ends (or start and cancel jobs through it)"
            )

    def _write(self, job: Job) -> None:
        """Save ``job``; a failed write (disk full) is logged, the job goes on in memory."""
        if self.read_only:
            return
        data = json.dumps(dataclasses.asdict(job), default=repr)  # what JSON lacks, as text
        try:
            write_private(self._path / f"{job.id}.json", data)
        except OSError as error:
            log.error("could not save job %s (%s): %s", job.id, job.kind, error)

    async def _save(self, entry: _Running, job: Job | None = None) -> None:
        """Write ``job`` (default: the entry's) in a worker thread."""
        entry.saved_at = time.monotonic()
        await anyio.to_thread.run_sync(self._write, job or entry.job)

    async def _set(self, entry: _Running, **changes: Any) -> Job:
        """Change the job, save it, then show it and wake its watchers."""
        job = dataclasses.replace(entry.job, **changes)
        await self._save(entry, job)
        entry.job = job
        entry.changed.set()
        entry.changed = anyio.Event()
        return entry.job

    def _forget_old(self) -> None:
        finished = [e for e in self._jobs.values() if e.job.finished]
        for entry in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[entry.job.id]
            (self._path / f"{entry.job.id}.json").unlink(missing_ok=True)

    # --- the service --------------------------------------------------------------------------

    def serve(self, tasks: TaskGroup) -> None:
        """Run jobs in ``tasks`` from now on."""
        self._tasks = tasks

    def stop(self) -> None:
        """Cancel running jobs; they are saved ``interrupted``."""
        for entry in list(self._jobs.values()):
            if entry.fn is not None:
                entry.scope.cancel()
        self._tasks = None

    def _kinds(self) -> dict[str, JobKind]:
        if self._kind_map is None:
            self._kind_map = {}
            for kind in self._kind_hook():
                self._kind_map.setdefault(kind.name, kind)
        return self._kind_map

    def kinds(self) -> list[JobKind]:
        return list(self._kinds().values())

    async def start(
        self, kind: str, params: Mapping[str, Any] | None = None, *, fn: JobFn | None = None
    ) -> Job:
        if self._tasks is None:
            raise JobError("the jobs service is not running")
        self._writable()
        if fn is None:
            registered = self._kinds().get(kind)
            if registered is None:
                known = ", ".join(sorted(self._kinds())) or "none"
                raise JobError(f"Unknown job kind {kind!r}. Available: {known}")
            try:
                params = registered.Params(**(params or {})).model_dump()
            except pydantic.ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in error.errors()
                )
                raise JobError(f"Bad params for job kind {kind!r}: {problems}") from None
            fn = registered.run
        queued = sum(1 for e in self._jobs.values() if e.job.state == "submitted")
        if queued >= self._max_queued:
            raise TooManyJobs(
                f"{queued} jobs already wait for a slot ([jobs] max_queued = {self._max_queued}); "
                "start more once some have finished"
            )
        job = Job(uuid.uuid4().hex[:16], kind, dict(params or {}), "submitted", time.time())
        entry = _Running(job, fn)
        self._jobs[job.id] = entry
        self._forget_old()
        with anyio.CancelScope(shield=True):  # not left half-started
            await self._save(entry)
        if self._tasks is None:
            raise JobError("the jobs service stopped")  # saved submitted: comes back interrupted
        self._tasks.start_soon(self._run, entry, name=f"job {kind} {job.id}")
        return job

    async def _report(self, entry: _Running, progress: JobProgress) -> None:
        job = entry.job
        entry.job = dataclasses.replace(job, progress=progress)
        if time.monotonic() - entry.saved_at >= self._save_interval:
            await self._save(entry)
        entry.changed.set()
        entry.changed = anyio.Event()
        await self._bus.publish(JobProgressed(
            job_id=job.id, kind=job.kind, done=progress.done, total=progress.total,
            message=progress.message, source=self._source,
        ))

    async def _run(self, entry: _Running) -> None:
        job = entry.job
        state: JobState = "interrupted"
        changes: dict[str, Any] = {"error": "the process stopped while the job was running"}
        try:
            with entry.scope:
                async with self._slots:
                    await self._set(entry, state="running", started_at=time.time())
                    await self._bus.publish(JobStarted(job_id=job.id, kind=job.kind, source=self._source))
                    context = _Context(job.id, job.kind, job.params, lambda p: self._report(entry, p))
                    assert entry.fn is not None
                    try:
                        result = await entry.fn(context)
                        state, changes = "completed", {"result": result, "error": None}
                    except Exception as error:
                        log.warning("job %s (%s) failed", job.id, job.kind, exc_info=True)
                        state, changes = "failed", {"error": f"{type(error).__name__}: {error}"}
            if entry.scope.cancelled_caught and self._tasks is not None:
                state, changes = "canceled", {"error": None}
        finally:
            with anyio.CancelScope(shield=True):
                await self._set(entry, state=state, finished_at=time.time(), **changes)
                entry.fn = None
                await self._bus.publish(JobFinished(
                    job_id=job.id, kind=job.kind, state=state, error=changes["error"],
                    source=self._source,
                ))

    def _entry(self, job_id: str) -> _Running:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise UnknownJob(f"No job {job_id!r} (the latest {self._keep} finished ones are kept)") from None

    def list(self, *, kind: str | None = None, state: JobState | None = None) -> list[Job]:
        return [
            e.job for e in reversed(self._jobs.values())
            if kind in (None, e.job.kind) and state in (None, e.job.state)
        ]

    def get(self, job_id: str) -> Job:
        return self._entry(job_id).job

    async def cancel(self, job_id: str) -> Job:
        entry = self._entry(job_id)
        if not entry.job.finished:
            self._writable()
            entry = self._entry(job_id)  # read again if this process has just taken over
        if not entry.job.finished:
            entry.scope.cancel()
            with anyio.move_on_after(5):
                while not entry.job.finished:
                    await entry.changed.wait()
        return entry.job

    async def wait(self, job_id: str) -> Job:
        entry = self._entry(job_id)
        while not entry.job.finished:
            await entry.changed.wait()
        return entry.job

    async def watch(self, job_id: str) -> AsyncIterator[Job]:
        entry = self._entry(job_id)
        while True:
            job, changed = entry.job, entry.changed
            yield job
            if job.state in FINAL_JOB_STATES:
                return
            await changed.wait()


def _read(file: Path) -> Job:
    """The job saved in ``file``; ValueError, TypeError or KeyError when it is not one."""
    row = json.loads(file.read_text())
    if not isinstance(row, dict):
        raise TypeError(f"a JSON object was expected, not {type(row).__name__}")
    job = Job(**{**row, "progress": JobProgress(**row.get("progress") or {})})
    if not isinstance(job.id, str) or not isinstance(job.created_at, (int, float)):
        raise TypeError("'id' must be a string and 'created_at' a number")
    return job
