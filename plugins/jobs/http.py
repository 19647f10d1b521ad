"""The jobs plugin's routes: list, start, read, cancel, and progress as Server-Sent Events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Union

import msgspec
from litestar import get, post
from litestar.exceptions import ServiceUnavailableException, TooManyRequestsException
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from pygent_sdk.jobs import Job, JobKind, Jobs, JobsBusy, TooManyJobs
from pygent_sdk.structs import camel, config_struct, given

JobId = Annotated[str, PathParameter(min_length=1, max_length=64, description="A job's id.")]
READ, WRITE = {"permission": "read"}, {"permission": "write"}


class ProgressOut(msgspec.Struct):
    done: float
    total: float | None
    fraction: float | None
    message: str


class JobOut(msgspec.Struct):
    id: str
    kind: str
    params: dict[str, Any]
    state: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    progress: ProgressOut
    result: Any
    error: str | None


class JobKindOut(msgspec.Struct):
    name: str
    description: str
    params: dict[str, Any]
    """The JSON schema of the kind's params."""


class StartJob(msgspec.Struct, forbid_unknown_fields=True):
    kind: str
    params: dict[str, Any] = {}


def busy(error: JobsBusy) -> ServiceUnavailableException:
    """503 with Retry-After: another process owns the jobs directory, for now."""
    return ServiceUnavailableException(str(error), headers={"Retry-After": str(error.retry_after)})


def job_out(job: Job) -> JobOut:
    p = job.progress
    return JobOut(job.id, job.kind, dict(job.params), job.state, job.created_at, job.started_at,
                  job.finished_at, ProgressOut(p.done, p.total, p.fraction, p.message), job.result,
                  job.error)


def start_body(kinds: Sequence[JobKind]) -> Any:
    """The body of ``POST /jobs``: ``kind`` picks the variant, ``params`` has exactly that kind's
    keys and bounds."""
    if not kinds:
        return StartJob
    variants = []
    for kind in kinds:
        name = camel(kind.name)
        params = config_struct(kind.Params, f"{name}JobParams")
        variants.append(msgspec.defstruct(
            f"Start{name}Job", [("params", params, msgspec.field(default_factory=params))],
            tag_field="kind", tag=kind.name, forbid_unknown_fields=True, kw_only=True,
        ))
    return Union[tuple(variants)]  # noqa: UP007


def routes(jobs: Jobs) -> list[Any]:
    """Litestar handlers over ``jobs``."""
    body = start_body(jobs.kinds())

    @get("/jobs", summary="Jobs, newest first; optionally of one kind or state", opt=READ)
    async def list_jobs(
        kind: FromQuery[str | None] = None,
        job_state: Annotated[str | None, QueryParameter(name="state")] = None,
    ) -> list[JobOut]:
        return [job_out(j) for j in jobs.list(kind=kind, state=job_state)]  # type: ignore[arg-type]

    @get("/jobs/kinds", summary="Kinds of job that can be started by name", opt=READ)
    async def list_kinds() -> list[JobKindOut]:
        return [JobKindOut(k.name, k.description, k.Params.model_json_schema()) for k in jobs.kinds()]

    async def start_job(data: Any) -> JobOut:
        try:
            if isinstance(data, StartJob):  # no kind is registered: the service says so
                return job_out(await jobs.start(data.kind, data.params))
            return job_out(await jobs.start(type(data).__struct_config__.tag, given(data.params)))
        except TooManyJobs as error:
            raise TooManyRequestsException(str(error)) from None
        except JobsBusy as error:
            raise busy(error) from None

    start_job.__annotations__["data"] = JSONBody[body]
    start_job = post("/jobs", summary="Start a job of a registered kind", status_code=202,
                     opt=WRITE)(start_job)

    @get("/jobs/{job_id:str}", summary="One job: state, progress, result", opt=READ)
    async def get_job(job_id: JobId) -> JobOut:
        return job_out(jobs.get(job_id))

    @post("/jobs/{job_id:str}/cancel", summary="Cancel a job", status_code=200, opt=WRITE)
    async def cancel_job(job_id: JobId) -> JobOut:
        try:
            return job_out(await jobs.cancel(job_id))
        except JobsBusy as error:
            raise busy(error) from None

    @get("/jobs/{job_id:str}/events", opt=READ,
         summary="A job's progress as Server-Sent Events: job (each change), then finished")
    async def job_events(job_id: JobId) -> ServerSentEvent:
        jobs.get(job_id)  # 404 before the stream starts

        async def events() -> AsyncIterator[ServerSentEventMessage]:
            async for job in jobs.watch(job_id):
                data = msgspec.json.encode(job_out(job)).decode()
                yield ServerSentEventMessage(data=data, event="finished" if job.finished else "job")

        return ServerSentEvent(events())

    return [list_jobs, list_kinds, start_job, get_job, cancel_job, job_events]
