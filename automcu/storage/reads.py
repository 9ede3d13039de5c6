"""Read-only statements behind the REST reads, in SQLAlchemy Core: rows, not ORM objects; one statement each.

A job's counts and its best candidate come from SQL (counts and ``max`` over the index
``candidates(job_id, status, val_acc)``), never from loading its candidates. One statement per read also means one
consistent snapshot on SQLite (the job row and its counts can't come from two moments).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, func, literal, select
from sqlalchemy.orm import aliased

from automcu.storage.models import Candidate, Job

JOBS = Job.__table__
#: the columns a listed job needs (``heartbeat_at`` for the stale status)
BRIEF_COLUMNS = ("id", "status", "dataset", "board", "budget", "proposer", "space", "owner", "created_at",
                 "started_at", "finished_at", "heartbeat_at")
BEST_COLUMNS = ("arch", "index", "val_acc", "test_acc", "flash_bytes", "peak_sram_bytes", "latency_ms")


#: candidates whose evaluation ended, counted against the budget (``pruned``: an asha candidate stopped early)
ENDED = ("evaluated", "pruned")


def _count(status: str | tuple[str, ...] | None = None) -> Any:
    """Candidates of the outer query's job (with ``status``, or one of them): an index-only count."""
    q = select(func.count()).select_from(Candidate).where(Candidate.job_id == Job.id)
    if isinstance(status, tuple):
        q = q.where(Candidate.status.in_(status))
    elif status is not None:
        q = q.where(Candidate.status == status)
    return q.correlate(Job).scalar_subquery()


def _counts() -> list[Any]:
    return [_count().label("n_proposed"), _count("infeasible").label("n_infeasible"),
            _count(ENDED).label("n_evaluated")]


# Statements are built once (building one costs far more than running it) and take the job id as a parameter.
_JOB_ROW = select(JOBS).where(JOBS.c.id == bindparam("job_id"))


def job_row(conn: Connection, job_id: str) -> Row[Any] | None:
    """The job's own row (every column), no candidates: a primary-key lookup."""
    return conn.execute(_JOB_ROW, {"job_id": job_id}).first()


@cache
def _detail_statement() -> Select[Any]:
    evaluated = (Candidate.job_id == Job.id) & (Candidate.status == "evaluated")
    top = (select(func.max(Candidate.val_acc)).where(evaluated).correlate(Job).scalar_subquery())
    best_id = (select(Candidate.id).where(evaluated, Candidate.val_acc == top)
               .order_by(Candidate.eval_order.asc(), Candidate.id.asc()).limit(1).correlate(Job).scalar_subquery())
    ended = (Candidate.job_id == Job.id) & Candidate.status.in_(ENDED)
    sim = (select(func.coalesce(func.sum(func.coalesce(Candidate.train_seconds, 0.0)), 0.0)).where(ended)
           .correlate(Job).scalar_subquery())
    best = aliased(Candidate, name="best")
    return (select(*JOBS.c, *_counts(), _count("pruned").label("n_pruned"), sim.label("sim"),
                   *(getattr(best, c).label(f"best_{c}") for c in BEST_COLUMNS))
            .outerjoin(best, best.id == best_id)
            .where(Job.id == bindparam("job_id")))


def job_detail(conn: Connection, job_id: str) -> Row[Any] | None:
    """The job's row, its counts (``n_proposed``, ``n_infeasible``, ``n_evaluated`` (pruned included),
    ``n_pruned``, ``sim``: simulated training seconds of the evaluated and pruned ones) and its best candidate
    (``best_arch``, ``best_index``, ... or NULLs): the evaluated candidate with the highest ``val_acc``, the
    first evaluated among equals. One statement."""
    return conn.execute(_detail_statement(), {"job_id": job_id}).first()


@cache
def _page_statements(by_owner: bool, by_status: bool) -> tuple[Select[Any], Select[Any]]:
    where = []
    if by_owner:
        where.append(Job.owner == bindparam("owner"))
    if by_status:
        where.append(Job.status == bindparam("status"))
    page = (select(*(JOBS.c[c] for c in BRIEF_COLUMNS)).where(*where)
            .order_by(Job.created_at.desc(), Job.id).limit(bindparam("limit")).offset(bindparam("offset")))
    return page, select(func.count()).select_from(Job).where(*where)


def job_page(conn: Connection, owner: str | None, status: str | None, limit: int, offset: int,
             total: int | None = None) -> tuple[list[Row[Any]], int]:
    """A page of jobs (``BRIEF_COLUMNS``), newest first, and how many match (``total`` when the caller has just
    counted them in the same transaction, e.g. with :func:`page_signature`)."""
    page, count = _page_statements(owner is not None, status is not None)
    params = {"owner": owner, "status": status, "limit": limit, "offset": offset}
    rows = list(conn.execute(page, params))
    if offset == 0 and len(rows) < limit:  # the whole list: no statement for the total
        return rows, len(rows)
    if total is not None:
        return rows, total
    return rows, int(conn.execute(count, params).scalar_one())


@cache
def _signature_statement(by_owner: bool, by_status: bool) -> Select[Any]:
    where = []
    if by_owner:
        where.append(Job.owner == bindparam("owner"))
    if by_status:
        where.append(Job.status == bindparam("status"))
    page = (select(Job.id, Job.status).where(*where).order_by(Job.created_at.desc(), Job.id)
            .limit(bindparam("limit")).offset(bindparam("offset")).subquery())
    total = select(func.count()).select_from(Job).where(*where).scalar_subquery()
    return select(func.aggregate_strings(page.c.id + literal(":") + page.c.status, ","), total).select_from(page)


def page_signature(conn: Connection, owner: str | None, status: str | None, limit: int, offset: int
                   ) -> tuple[str, int]:
    """What a page of jobs is made of, in one row: its jobs' ``id:status`` and how many jobs match.

    Two reads of a page with the same signature list the same jobs in the same states; only a running job's
    counts and heartbeat can differ between them. One statement, one row, so that a cached page is checked with
    a single step of the database (a 50-row read costs a step, and a handover of the GIL, per row)."""
    params = {"owner": owner, "status": status, "limit": limit, "offset": offset}
    members, total = conn.execute(_signature_statement(owner is not None, status is not None), params).one()
    return members or "", int(total)


_COUNTS = (select(Candidate.job_id, Candidate.status, func.count())
           .where(Candidate.job_id.in_(bindparam("ids", expanding=True)))
           .group_by(Candidate.job_id, Candidate.status))


def counts_of(conn: Connection, job_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """``(n_proposed, n_infeasible, n_evaluated)`` of each job: one pass over each job's index entries.

    Read after the jobs' rows: a job seen terminal gets its final counts (they change only while it is not)."""
    out = dict.fromkeys(job_ids, (0, 0, 0))
    for job_id, status, n in conn.execute(_COUNTS, {"ids": job_ids}) if job_ids else ():
        proposed, infeasible, evaluated = out[job_id]
        out[job_id] = (proposed + n, infeasible + n * (status == "infeasible"), evaluated + n * (status in ENDED))
    return out


_PARTIAL = (select(Candidate).where(Candidate.job_id == bindparam("job_id"), Candidate.status == "proposed",
                                    Candidate.rung.is_not(None), Candidate.val_acc.is_not(None))
            .order_by(Candidate.rung.desc(), Candidate.val_acc.desc(), Candidate.id.asc()).limit(1))


def best_partial_row(conn: Connection, job_id: str) -> Row[Any] | None:
    """Asha, no candidate through the top rung yet: the unpruned candidate at the highest rung reached, best
    there (``summaries.best_partial`` in SQL); None when no rung was trained."""
    return conn.execute(_PARTIAL, {"job_id": job_id}).first()
