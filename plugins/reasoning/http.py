"""The reasoning sessions' routes (``/api/v1/reasoning/...``): start, stop, status, history,
results (the whole tree) and the modes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from litestar import get, post, route
from litestar.exceptions import (
    ClientException, ServiceUnavailableException, TooManyRequestsException,
)
from litestar.params import Body, JSONBody, PathParameter, QueryParameter
from pygent_sdk.jobs import FINAL_JOB_STATES, Job, JobError, JobsBusy, TooManyJobs
from pygent_sdk.reasoning import MODES, TREE_SEARCH, ReasoningError, TreeSettings
from pygent_sdk.structs import config_struct, given

from .sessions import LiveTree, Sessions

SessionId = Annotated[str, PathParameter(min_length=1, max_length=64, description="A session's id.")]
Problem = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000, pattern=r"\S",
                                      description="The problem or question (not only spaces).")]
ModeName = Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                       description="A requestable mode (see /reasoning/modes).")]
"""Any name: the session's check refuses one that is not requestable, saying why (``cot``)."""
Settings = config_struct(TreeSettings, "ReasoningSettings")
READ, WRITE = {"permission": "read"}, {"permission": "write"}


class StartFields(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The fields of a start body besides the problem."""

    mode: ModeName | None = None
    task: str | None = None
    collection: str | None = None
    model: str | None = None
    settings: Settings | None = None  # type: ignore[valid-type]


class StartByProblem(StartFields, kw_only=True):
    """The problem, its mode and task, and the search's settings (overriding ``[tot]``)."""

    problem: Problem


class StartByQuery(StartFields, kw_only=True):
    """The same, the problem named ``query`` as the original system named it."""

    query: Problem


def _schema(struct: type, tasks: Sequence[str]) -> dict[str, Any]:
    """``struct``'s JSON schema with the settings inline and ``task`` one of ``tasks``."""
    schema = msgspec.json.schema(struct)
    found = dict(schema["$defs"][struct.__name__])
    settings = schema["$defs"]["ReasoningSettings"]
    found["properties"] = {**found["properties"], "settings": {"anyOf": [settings, {"type": "null"}]},
                           "task": {"anyOf": [{"enum": list(tasks)}, {"type": "null"}]},
                           "mode": {"anyOf": [{"enum": list(MODES)}, {"type": "null"}]}}
    return found


def start_body(tasks: Sequence[str]) -> Any:
    """The type of a start body: the problem or the query, with the tasks there are."""
    return Annotated[dict[str, Any], Body(
        description='The problem as "problem" (or as "query", not both), the mode, task, collection, '
                    "model and search settings.",
        schema_extra={"anyOf": [_schema(StartByProblem, tasks), _schema(StartByQuery, tasks)]},
    )]


def start_params(body: Any) -> dict[str, Any]:
    """A session's params from a start body or frame; ReasoningError (400) naming the field."""
    if not isinstance(body, dict):
        raise ReasoningError('Bad reasoning request: the body must be a JSON object with a "problem"')
    if "problem" in body and "query" in body:
        raise ReasoningError('Bad reasoning request: give "problem" or "query", not both')
    struct = StartByQuery if "query" in body and "problem" not in body else StartByProblem
    try:
        data = msgspec.convert(body, struct)
    except msgspec.ValidationError as error:
        raise ReasoningError(f"Bad reasoning request: {error}") from None
    params = {f: getattr(data, f) for f in data.__struct_fields__}
    params["problem"] = params.pop("query", None) or params["problem"]
    params["settings"] = given(data.settings) if data.settings is not None else {}
    return params


class StopIn(msgspec.Struct, forbid_unknown_fields=True):
    session_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class StartedOut(msgspec.Struct):
    session_id: str
    state: str
    mode: str


class ProgressOut(msgspec.Struct):
    done: float
    total: float | None
    fraction: float | None
    message: str


class SessionOut(msgspec.Struct):
    session_id: str
    state: str
    problem: str
    mode: str | None
    """The mode asked for (``adaptive`` may run another: see the result's ``mode``)."""
    task: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    progress: ProgressOut
    nodes: int
    """The tree's nodes, the root included (``max_nodes`` counts those besides the root)."""
    answer: str | None
    stopped: str | None
    error: str | None


class StatusOut(msgspec.Struct):
    session: SessionOut | None
    """The session asked for with ``?session_id=``."""
    running: list[SessionOut]
    counts: dict[str, int]
    """Kept sessions by state."""


class NodeOut(msgspec.Struct):
    id: str
    parent_id: str | None
    depth: int
    state: str
    thought: str
    status: str
    value: float | None
    reason: str
    answer: str | None
    verified: bool | None


class TreeOut(msgspec.Struct, kw_only=True):
    task: str | None = None
    problem: str | None = None
    answer: str | None = None
    solution_id: str | None = None
    path: list[str] = []
    verified: bool | None = None
    stopped: str | None = None
    """Why the search ended (None: it is still running)."""
    solved: bool = False
    confidence: float | None = None
    nodes: list[NodeOut] = []
    seconds: float = 0.0
    model_seconds: float = 0.0
    model_calls: int = 0
    cache_hits: int = 0
    usage: dict[str, int] = {}
    settings: dict[str, Any] = {}


class ResultOut(msgspec.Struct, kw_only=True):
    session_id: str
    state: str
    """The session's job state; ``running`` and ``submitted`` answer with the live tree so far
    (its first 5,000 nodes at most; ``failed`` and ``cancelled`` ones keep theirs while remembered)."""
    query: str
    requested: str | None
    mode: str | None = None
    why: str | None = None
    answer: str | None = None
    found: bool = False
    """False when no answer was found (``answer`` then says why) or the session has not ended."""
    confidence: float | None = None
    confidence_source: str | None = None
    complexity: str | None = None
    timings: dict[str, float] = {}
    tree: TreeOut | None = None
    passages: list[dict[str, Any]] = []
    searches: list[dict[str, Any]] = []
    cached: bool = False
    usage: dict[str, int] = {}
    error: str | None = None


class ModeOut(msgspec.Struct):
    name: str
    description: str
    requestable: bool
    """False for a mode only ``adaptive`` picks (``cot``): a start body naming it gets a 400."""


class ModesOut(msgspec.Struct):
    default: str
    modes: list[ModeOut]


def _tree(job: Job) -> dict[str, Any] | None:
    result = job.result if isinstance(job.result, dict) else None
    return result.get("tree") if result else None


def session_out(job: Job, live: LiveTree | None) -> SessionOut:
    p, tree = job.progress, _tree(job)
    nodes = len(tree["nodes"]) if tree else live.size if live else 0
    answer = job.result.get("answer") if isinstance(job.result, dict) else None
    return SessionOut(job.id, job.state, str(job.params.get("problem", "")), job.params.get("mode"),
                      job.params.get("task"), job.created_at, job.started_at, job.finished_at,
                      ProgressOut(p.done, p.total, p.fraction, p.message), nodes, answer,
                      tree.get("stopped") if tree else None, job.error)


def result_out(job: Job, live: LiveTree | None) -> ResultOut:
    base = {"session_id": job.id, "state": job.state, "query": str(job.params.get("problem", "")),
            "requested": job.params.get("mode"), "error": job.error}
    if job.state == "completed" and isinstance(job.result, dict):
        found = {k: v for k, v in job.result.items() if k in ResultOut.__struct_fields__ and k not in base}
        return msgspec.convert({**found, **base}, ResultOut)
    if live is None:
        return ResultOut(**base)
    nodes = [msgspec.convert(n, NodeOut) for n in live.nodes.values()]
    return ResultOut(**base, tree=TreeOut(task=job.params.get("task"), problem=base["query"], nodes=nodes,
                                          stopped=(live.finished or {}).get("stopped")))


def busy(error: JobsBusy) -> ServiceUnavailableException:
    """503 with Retry-After: another pygent process owns the jobs directory for now."""
    return ServiceUnavailableException(str(error), headers={"Retry-After": str(error.retry_after)})


def routes(sessions: Sessions) -> list[Any]:
    """Litestar handlers over ``sessions``; none without the jobs plugin."""
    if sessions.jobs is None:
        sessions.context.log.info("no jobs plugin: the /reasoning routes are not served")
        return []

    def session(session_id: str) -> Job:
        return sessions.get(session_id)  # UnknownJob: 404

    async def start(data: Any) -> StartedOut:
        params = start_params(data)
        try:
            job = await sessions.start(params)
        except TooManyJobs as error:
            raise TooManyRequestsException(str(error)) from None
        except JobsBusy as error:  # before JobError: another process owns the jobs directory
            raise busy(error) from None
        except (ReasoningError, JobError) as error:  # UnknownMode/UnknownTask are 400 here, not 404
            raise ClientException(f"Bad reasoning request: {error}") from None
        return StartedOut(job.id, job.state, job.params["mode"])

    start.__annotations__["data"] = start_body(sorted(sessions.context.service(TREE_SEARCH).tasks()))
    start = post("/reasoning/start", status_code=202, opt=WRITE,
                 summary="Start a reasoning session in the background (a reasoning job)")(start)

    @post("/reasoning/stop", status_code=200, opt=WRITE,
          summary="Stop a session: the search ends with its best partial result (a finished one is answered unchanged)")
    async def stop(data: JSONBody[StopIn]) -> SessionOut:
        try:
            job = await sessions.stop(data.session_id)
        except JobsBusy as error:
            raise busy(error) from None
        return session_out(job, sessions.live(job.id))

    @get("/reasoning/status", opt=READ,
         summary="One session's state and progress (?session_id=), the running ones and counts by state")
    async def status(
        session_id: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
    ) -> StatusOut:
        one = session_out(session(session_id), sessions.live(session_id)) if session_id else None
        kept = sessions.list()
        counts: dict[str, int] = {}
        for job in kept:
            counts[job.state] = counts.get(job.state, 0) + 1
        running = [session_out(j, sessions.live(j.id)) for j in kept if j.state not in FINAL_JOB_STATES]
        return StatusOut(one, running, counts)

    @get("/reasoning/history", opt=READ, summary="Stored sessions, newest first")
    async def history(
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
    ) -> list[SessionOut]:
        return [session_out(j, sessions.live(j.id)) for j in sessions.list()[:limit]]

    @get("/reasoning/results/{session_id:str}", opt=READ,
         summary="A session's result with the whole tree (the live tree so far while it runs)")
    async def results(session_id: SessionId) -> ResultOut:
        job = session(session_id)
        return result_out(job, sessions.live(job.id))

    @route("/reasoning/modes", http_method=["GET", "POST"], status_code=200, opt=READ,
           summary="The pipeline's modes and what each does")
    async def modes() -> ModesOut:
        described = sessions.pipeline.modes()
        names = [*MODES, *(m for m in described if m not in MODES)]
        return ModesOut(sessions.default_mode, [ModeOut(m, described.get(m, ""), m in MODES) for m in names])

    return [start, stop, status, history, results, modes]

