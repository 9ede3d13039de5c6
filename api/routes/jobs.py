"""Jobs: submit, list, read, candidates, live events, cancel, artifacts. Workers run them, not these handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse

from api import crud
from api.deps import DbDep, PrincipalDep, SettingsDep, StreamPrincipalDep, owner_filter
from api.errors import validation_error
from api.schemas import CandidateList, ErrorOut, JobAccepted, JobList, JobOut
from api.sse import EventStreamResponse, job_events
from automcu.jobs.service import JobError, prepare_job
from automcu.jobs.spec import JobSpec
from automcu.storage.repository import TERMINAL, get_job, request_cancel

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[str, PathParam(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="the job's id")]
NOT_FOUND = {404: {"model": ErrorOut, "description": "no such job (or another token's job)"}}
LIMIT_DOC = "page size, at most the server's page_max (500 by default)"


def _check_limit(limit: int, page_max: int) -> None:
    if limit > page_max:
        raise validation_error(("query", "limit"), f"Input should be less than or equal to {page_max}")


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted,
             responses={422: {"description": "invalid spec: unknown board/dataset, incomplete custom hardware, ..."},
                        413: {"description": "request body too large"}})
def create_job(spec: JobSpec, principal: PrincipalDep, db: DbDep, request: Request, response: Response) -> JobAccepted:
    """Queue a search. A worker picks it up; follow it with `GET /jobs/{id}` or `/jobs/{id}/events`."""
    try:
        job = prepare_job(spec, db, owner=principal.name, on_server=True)  # catalog boards only, no file leaks
    except JobError as exc:
        raise validation_error(("body", exc.field) if exc.field else ("body",), str(exc)) from None
    response.headers["Location"] = str(request.url_for("read_job", job_id=job.id))
    return JobAccepted(id=job.id, status="queued")


@router.get("", response_model=JobList)
def list_jobs(
    principal: PrincipalDep, db: DbDep, settings: SettingsDep, request: Request,
    limit: Annotated[int, Query(ge=1, description=LIMIT_DOC)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    job_status: Annotated[Literal["queued", "running", "succeeded", "failed", "cancelled"] | None,
                          Query(alias="status")] = None,
) -> Response:
    """Your jobs (an admin token: everyone's), newest first. A new job, and every change of a job's status, is
    listed at once; a running job's counts (and whether its lease has lapsed, `stale`) may be up to the server's
    `list_counts_seconds` (1 s by default) old. `GET /jobs/{id}` is always current."""
    _check_limit(limit, settings.api.page_max)
    return _json(crud.list_jobs_json(db, owner_filter(principal), limit, offset, job_status, settings.lease_seconds,
                                     request.app.state.list_cache, settings.api.list_counts_seconds,
                                     request.app.state.page_cache))


@router.get("/{job_id}", response_model=JobOut, responses=NOT_FOUND)
def read_job(job_id: JobId, principal: PrincipalDep, db: DbDep, settings: SettingsDep, request: Request) -> Response:
    """Status, spec, counts and the best candidate so far (`best` as `automcu search` prints it)."""
    return _json(crud.job_detail_json(db, job_id, settings.lease_seconds, _api_base(request),
                                      owner_filter(principal), request.app.state.job_cache))


@router.get("/{job_id}/candidates", response_model=CandidateList, responses=NOT_FOUND)
def list_candidates(
    job_id: JobId, principal: PrincipalDep, db: DbDep, settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, description=LIMIT_DOC)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    sort: Annotated[str, Query(pattern=crud.SORT_PATTERN,
                               description="a column, `-column` for descending: " + ", ".join(crud.CANDIDATE_SORTS))]
    = "id",
    cand_status: Annotated[Literal["proposed", "infeasible", "evaluated", "failed", "pruned"] | None,
                           Query(alias="status")] = None,
) -> CandidateList:
    """Every candidate the job proposed: feasibility figures, violations, accuracies."""
    _check_limit(limit, settings.api.page_max)
    get_job(db, job_id, owner_filter(principal))
    items, total = crud.page_candidates(db, job_id, cand_status, sort, limit, offset)
    return CandidateList(items=items, total=total)


@router.get("/{job_id}/events", responses={**NOT_FOUND, 200: {"content": {"text/event-stream": {}},
            "description": "`id:`/`event:`/`data:` records; a final `end` event when the job is terminal"}})
def job_events_stream(
    job_id: JobId, principal: StreamPrincipalDep, db: DbDep, settings: SettingsDep, request: Request,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="replay events after this id")] = None,
) -> StreamingResponse:
    """Server-sent events: replays from `Last-Event-ID` (or `?after=`), follows live, ends when the job is terminal."""
    get_job(db, job_id, owner_filter(principal))
    start = after or 0
    if last_event_id is not None and last_event_id.strip().isdigit():
        start = int(last_event_id.strip())
    gen = job_events(request, db, job_id, start, settings.api.sse_poll_seconds, settings.api.sse_ping_seconds)
    return EventStreamResponse(gen, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/{job_id}/cancel", response_model=JobOut,
             responses={**NOT_FOUND, 409: {"model": ErrorOut, "description": "the job has already ended"}})
def cancel_job(job_id: JobId, principal: PrincipalDep, db: DbDep, settings: SettingsDep, request: Request
               ) -> Response:
    """A queued job is cancelled at once; a running one stops after its current step."""
    owner = owner_filter(principal)
    job = get_job(db, job_id, owner)
    if job.status in TERMINAL:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"job {job.id} has already ended ({job.status})")
    request_cancel(db, job_id, owner)
    return _json(crud.job_detail_json(db, job_id, settings.lease_seconds, _api_base(request), owner,
                                      request.app.state.job_cache))


@router.get("/{job_id}/artifacts/{name}", response_class=FileResponse,
            responses={**NOT_FOUND, 200: {"content": {"application/octet-stream": {}}}})
def download_artifact(
    job_id: JobId, principal: PrincipalDep, db: DbDep, settings: SettingsDep,
    name: Annotated[str, PathParam(max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")],
) -> FileResponse:
    """A file the job recorded (model, report, ...), by its name in the job's `artifacts`; nothing else is reachable."""
    job = get_job(db, job_id, owner_filter(principal))
    recorded = crud.artifact_paths(job).get(name)
    if recorded is None:
        raise HTTPException(404, detail=f"job {job.id} has no artifact {name!r}")
    path = Path(recorded)
    if not path.is_absolute():
        path = settings.data_dir / path
    if not path.is_file():
        raise HTTPException(404, detail=f"artifact {name!r} of job {job.id} is no longer on disk")
    return FileResponse(path, filename=path.name, media_type="application/octet-stream")


def _json(body: bytes) -> Response:
    """An answer already rendered from its response model (no second validation and encoding by FastAPI)."""
    return Response(content=body, media_type="application/json")


def _api_base(request: Request) -> str:
    return str(request.app.state.api_prefix)
