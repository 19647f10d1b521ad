"""The research workflow's routes: start a ``research-analysis`` job, follow it, read its report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, get, post
from litestar.exceptions import HTTPException, NotFoundException, TooManyRequestsException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, PathParameter, QueryParameter
from pygent_sdk.jobs import FINAL_JOB_STATES, Job, JobError, Jobs, TooManyJobs

from .workflow import KIND, Workflows

JobId = Annotated[str, PathParameter(min_length=1, max_length=64, description="A workflow's (job's) id.")]
Question = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
READ, WRITE = {"permission": "read"}, {"permission": "write"}


class StartByQuestion(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The question to research and the run's settings."""

    question: Question
    collection: str | None = None
    model: str | None = None
    max_subquestions: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    k: Annotated[int, msgspec.Meta(ge=1, le=50)] = 4
    mode: Literal["vector", "keyword", "hybrid"] = "hybrid"


class StartByTopic(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The same, the question named ``topic`` as the original system named it."""

    topic: Question
    collection: str | None = None
    model: str | None = None
    max_subquestions: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3
    k: Annotated[int, msgspec.Meta(ge=1, le=50)] = 4
    mode: Literal["vector", "keyword", "hybrid"] = "hybrid"


def _schema(struct: type) -> dict[str, Any]:
    return msgspec.json.schema(struct)["$defs"][struct.__name__]


StartBody = Annotated[dict[str, Any], Body(
    description='The question as "question" (or as "topic", not both) and the run\'s settings.',
    schema_extra={"anyOf": [_schema(StartByQuestion), _schema(StartByTopic)]},
)]


_INTEGERS = ("max_subquestions", "k")


def start_params(body: dict[str, Any]) -> dict[str, Any]:
    """The job's params from a start body; JobError (400) naming what is wrong."""
    struct = StartByTopic if "topic" in body and "question" not in body else StartByQuestion
    body = {k: int(v) if k in _INTEGERS and isinstance(v, float) and v.is_integer() else v
            for k, v in body.items()}  # as JSON Schema reads: 5.0 is an integer
    try:
        data = msgspec.convert(body, struct)
    except msgspec.ValidationError as error:
        raise JobError(f"Bad research request: {error}") from None
    params = {f: getattr(data, f) for f in data.__struct_fields__}
    params["question"] = params.pop("topic", None) or params["question"]
    return params


class ProgressOut(msgspec.Struct):
    done: float
    total: float | None
    fraction: float | None
    message: str


class WorkflowOut(msgspec.Struct):
    id: str
    kind: str
    state: str
    question: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    progress: ProgressOut
    error: str | None


class ReportOut(msgspec.Struct):
    id: str
    state: str
    question: str
    found: bool
    success: bool
    report: str
    references: list[dict[str, Any]]
    subquestions: list[dict[str, Any]]
    stopped: str
    usage: dict[str, int]


class LogEntryOut(msgspec.Struct):
    ts: float
    kind: str
    summary: str


class LogOut(msgspec.Struct):
    id: str
    state: str
    message: str
    entries: list[LogEntryOut]
    error: str | None


def workflow_out(job: Job) -> WorkflowOut:
    p = job.progress
    return WorkflowOut(job.id, job.kind, job.state, str(job.params.get("question", "")),
                       job.created_at, job.started_at, job.finished_at,
                       ProgressOut(p.done, p.total, p.fraction, p.message), job.error)


def routes(jobs: Jobs, workflows: Workflows) -> list[Any]:
    """Litestar handlers over ``jobs`` for the workflows ``workflows`` runs."""

    def workflow(job_id: str) -> Job:
        job = jobs.get(job_id)  # UnknownJob: 404
        if job.kind != KIND:
            raise NotFoundException(f"job {job_id!r} is a {job.kind!r} job, not a workflow")
        return job

    @post(f"/workflows/{KIND}", status_code=202, opt=WRITE,
          summary="Start a research analysis in the background (the research agent as a job)")
    async def start(data: StartBody) -> WorkflowOut:
        params = start_params(data)
        try:
            return workflow_out(await jobs.start(KIND, params))
        except TooManyJobs as error:
            raise TooManyRequestsException(str(error)) from None

    @get(f"/workflows/{KIND}/{{job_id:str}}/status", opt=READ,
         summary="A research analysis's state and progress")
    async def status(job_id: JobId) -> WorkflowOut:
        return workflow_out(workflow(job_id))

    @get(f"/workflows/{KIND}/{{job_id:str}}/result", opt=READ,
         summary="A research analysis's report and references (202 while it runs)",
         responses={202: ResponseSpec(WorkflowOut, description="Still running: its status"),
                    409: ResponseSpec(dict[str, Any], description="It ended without a report")})
    async def result(job_id: JobId) -> Response[Any]:
        job = workflow(job_id)
        if job.state not in FINAL_JOB_STATES:
            return Response(workflow_out(job), status_code=202, headers={"Retry-After": "2"})
        if job.state != "completed" or not isinstance(job.result, dict):
            raise HTTPException(f"workflow {job_id!r} ended {job.state} without a report"
                                + (f": {job.error}" if job.error else ""), status_code=409)
        r = job.result
        return Response(ReportOut(job.id, job.state, r["question"], r["found"], r["success"],
                                  r["report"], r["references"], r["subquestions"], r["stopped"],
                                  r["usage"]))

    @post("/workflows/stop/{job_id:str}", status_code=200, opt=WRITE,
          summary="Stop a workflow (a finished one is answered unchanged)")
    async def stop(job_id: JobId) -> WorkflowOut:
        workflow(job_id)
        return workflow_out(await jobs.cancel(job_id))

    @get("/workflows", opt=READ, summary="Workflows, newest first; optionally in one state")
    async def list_workflows(
        job_state: Annotated[str | None, QueryParameter(name="state")] = None,
    ) -> list[WorkflowOut]:
        return [workflow_out(j) for j in jobs.list(kind=KIND, state=job_state)]  # type: ignore[arg-type]

    @get("/workflows/{job_id:str}/logs", opt=READ,
         summary="A workflow's log: each step of its research run so far")
    async def logs(job_id: JobId) -> LogOut:
        job = workflow(job_id)
        entries = [LogEntryOut(e["ts"], e["kind"], e["summary"]) for e in workflows.log(job.id, job.result)]
        return LogOut(job.id, job.state, job.progress.message, entries, job.error)

    return [start, status, result, stop, list_workflows, logs]
