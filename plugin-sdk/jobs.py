"""The jobs capability: long background work (reasoning sessions, evolutions, ingestion) with
progress, cancellation, a result, and state that survives a restart.

A plugin offers a kind of job through ``pygent_job_kinds``; anyone starts one through the
service::

    jobs = self.context.service(JOBS)
    job = await jobs.start("ingest", {"path": "docs/"})          # a registered kind
    job = await jobs.start("tot", {"task": task}, fn=my_session)  # or ad-hoc work, labelled
    async for snapshot in jobs.watch(job.id): ...                 # progress until it ends

The work is an async function of a :class:`JobContext`; it reports progress with
``await ctx.progress(done, total, message)`` and returns a JSON-serialisable result. A job that
was running when the process died comes back ``interrupted``, with its last progress.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from .errors import PygentError
from .events import Event, event
from .markers import hookspec
from .plugin import PluginConfig
from .services import ServiceKey

JobState = Literal["submitted", "running", "completed", "failed", "canceled", "interrupted"]
"""``submitted`` (waiting for a slot), ``running``, then one of the final states:
``completed``, ``failed``, ``canceled``, or ``interrupted`` (the process stopped or died)."""
FINAL_JOB_STATES: frozenset[str] = frozenset({"completed", "failed", "canceled", "interrupted"})


@dataclasses.dataclass(frozen=True, slots=True)
class JobProgress:
    """How far a job has come: ``done`` of ``total`` (None: unknown) and what it is doing."""

    done: float = 0.0
    total: float | None = None
    message: str = ""

    @property
    def fraction(self) -> float | None:
        """``done / total`` between 0 and 1, or None when the total is unknown."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """A job as the service reports it (a snapshot)."""

    id: str
    kind: str
    params: Mapping[str, Any]
    state: JobState
    created_at: float
    progress: JobProgress = JobProgress()
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None
    """What the work returned (JSON-serialisable), once ``completed``."""
    error: str | None = None
    """Why it ``failed``, or what interrupted it."""

    @property
    def finished(self) -> bool:
        return self.state in FINAL_JOB_STATES


@runtime_checkable
class JobContext(Protocol):
    """What the work of a job gets: its id, kind and params, and a way to report progress."""

    id: str
    kind: str
    params: Mapping[str, Any]

    async def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        """Report progress: published as ``job.progress`` and saved (at most once a second)."""
        ...


JobFn = Callable[[JobContext], Awaitable[Any]]
"""The work of a job: returns its (JSON-serialisable) result; cancelled on ``cancel``."""


@dataclasses.dataclass(frozen=True, slots=True)
class JobKind:
    """A kind of job a plugin offers through ``pygent_job_kinds``."""

    name: str
    description: str
    run: JobFn
    Params: type[PluginConfig] = PluginConfig
    """Validates ``params`` at ``start`` (unknown keys are errors); the work reads the validated
    values from ``ctx.params``."""


@runtime_checkable
class Jobs(Protocol):
    """The jobs service (the ``jobs`` plugin answers ``pygent_jobs``)."""

    def kinds(self) -> Sequence[JobKind]: ...

    async def start(
        self, kind: str, params: Mapping[str, Any] | None = None, *, fn: JobFn | None = None
    ) -> Job:
        """Start a job of registered ``kind`` (params validated by its ``Params``), or run ``fn``
        labelled ``kind``. Returns at once (``submitted`` or ``running``)."""
        ...

    def list(self, *, kind: str | None = None, state: JobState | None = None) -> list[Job]:
        """Kept jobs, newest first."""
        ...

    def get(self, job_id: str) -> Job: ...

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job that has not finished; a finished one is returned unchanged."""
        ...

    async def wait(self, job_id: str) -> Job:
        """The job once it has finished."""
        ...

    def watch(self, job_id: str) -> AsyncIterator[Job]:
        """The job now, then after each change (coalesced), ending with its final state."""
        ...


class JobError(PygentError):
    """A job request the service cannot honour: unknown kind, bad params."""


class UnknownJob(JobError, LookupError):
    """No kept job has this id."""


class TooManyJobs(JobError):
    """Too many jobs already wait for a slot (``[jobs] max_queued``); HTTP 429."""


class JobsBusy(JobError):
    """Another process owns the jobs directory: this one cannot start or cancel jobs until that
    process ends; HTTP 503, with ``Retry-After: retry_after`` (seconds)."""

    retry_after = 2


class JobsHooks:
    """Hooks of the jobs capability; the ``jobs`` plugin registers them."""

    @hookspec
    def pygent_job_kinds(self) -> list[JobKind]:
        """Contribute kinds of job others may start by name (e.g. over ``POST /api/v1/jobs``).

        Implemented by plugins with long work to offer (ingestion, evolution, reasoning). Names
        must be unique; the first plugin wins.

        :return: The plugin's :class:`JobKind` objects.
        """

    @hookspec(firstresult=True)
    def pygent_jobs(self) -> Jobs | None:
        """Return the jobs service; the ``jobs`` plugin answers.

        Ask for it with ``context.service(JOBS)``.
        """


JOBS: ServiceKey[Jobs] = ServiceKey("pygent_jobs", Jobs, provider="jobs")
"""The jobs service: ``context.service(JOBS)``."""


@event("job.started")
class JobStarted(Event):
    """Job ``job_id`` of ``kind`` started running."""

    job_id: str
    kind: str


@event("job.progress")
class JobProgressed(Event):
    """Job ``job_id`` reported progress: ``done`` of ``total`` (None: unknown), ``message``."""

    job_id: str
    kind: str
    done: float
    total: float | None
    message: str


@event("job.finished")
class JobFinished(Event):
    """Job ``job_id`` ended in ``state`` (completed, failed, canceled, interrupted)."""

    job_id: str
    kind: str
    state: str
    error: str | None
