"""Read-only queries behind the routes: pages, counts and the best candidate, in one short session each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, aliased

from agents.messages import Violation
from api.schemas import Artifact, BestCandidate, CandidateOut, JobBrief, JobCounts, JobOut
from automcu.storage.db import Database
from automcu.storage.models import Candidate, Job
from automcu.storage.repository import JobNotFound, display_status

#: Sortable candidate columns (``-name`` sorts descending; missing values always last).
CANDIDATE_SORTS: dict[str, Any] = {
    "id": Candidate.id,
    "step": Candidate.step,
    "eval_order": Candidate.eval_order,
    "val_acc": Candidate.val_acc,
    "test_acc": Candidate.test_acc,
    "flash_bytes": Candidate.flash_bytes,
    "peak_sram_bytes": Candidate.peak_sram_bytes,
    "latency_ms": Candidate.latency_ms,
    "macs": Candidate.macs,
    "params": Candidate.params,
    "index": Candidate.index,
}
SORT_PATTERN = "^-?(" + "|".join(CANDIDATE_SORTS) + ")$"


def _counts(s: Session, job_ids: list[str]) -> dict[str, dict[str, float]]:
    if not job_ids:
        return {}
    evaluated = Candidate.status == "evaluated"
    q = (
        select(
            Candidate.job_id,
            func.count(),
            func.sum(case((Candidate.status == "infeasible", 1), else_=0)),
            func.sum(case((evaluated, 1), else_=0)),
            func.sum(case((evaluated, func.coalesce(Candidate.train_seconds, 0.0)), else_=0.0)),
        )
        .where(Candidate.job_id.in_(job_ids))
        .group_by(Candidate.job_id)
    )
    return {
        row[0]: {"n_proposed": row[1], "n_infeasible": row[2] or 0, "n_evaluated": row[3] or 0, "sim": row[4] or 0.0}
        for row in s.execute(q)
    }


def _brief(job: Job, counts: dict[str, float] | None, lease_seconds: float) -> dict[str, Any]:
    c = counts or {}
    return {
        "id": job.id, "status": display_status(job, lease_seconds), "dataset": job.dataset, "board": job.board,
        "budget": job.budget, "proposer": job.proposer, "owner": job.owner, "created_at": job.created_at,
        "started_at": job.started_at, "finished_at": job.finished_at,
        **JobCounts(n_proposed=int(c.get("n_proposed", 0)), n_infeasible=int(c.get("n_infeasible", 0)),
                    n_evaluated=int(c.get("n_evaluated", 0))).model_dump(),
    }


def list_jobs(
    db: Database, owner: str | None, limit: int, offset: int, status: str | None, lease_seconds: float
) -> tuple[list[JobBrief], int]:
    with db.read_session() as s:
        q = select(Job)
        count_q = select(func.count()).select_from(Job)
        if owner is not None:
            q, count_q = q.where(Job.owner == owner), count_q.where(Job.owner == owner)
        if status is not None:
            q, count_q = q.where(Job.status == status), count_q.where(Job.status == status)
        jobs = list(s.scalars(q.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)))
        total = int(s.scalar(count_q) or 0)
        counts = _counts(s, [j.id for j in jobs])
    return [JobBrief(**_brief(j, counts.get(j.id), lease_seconds)) for j in jobs], total


def artifact_paths(job: Job) -> dict[str, str]:
    """The job's downloadable files: name → path, from ``job.artifacts`` (string values only)."""
    found: dict[str, str] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, str) and key:
            found.setdefault(key, value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))

    walk(job.artifacts or {}, "")
    return found


def _detail_query(job_id: str) -> Select[Any]:
    """One statement: the job, its candidate counts (correlated subqueries) and its best candidate (outer join)."""
    def count(where: Any, value: Any = 1) -> Any:
        return (select(func.sum(case((where, value), else_=0))).where(Candidate.job_id == Job.id)
                .correlate(Job).scalar_subquery())

    evaluated = Candidate.status == "evaluated"
    best_id = (select(Candidate.id)
               .where(Candidate.job_id == Job.id, evaluated, Candidate.val_acc.is_not(None))
               .order_by(Candidate.val_acc.desc(), Candidate.eval_order.asc()).limit(1)
               .correlate(Job).scalar_subquery())
    best = aliased(Candidate, name="best")
    return (
        select(Job, best,
               select(func.count()).where(Candidate.job_id == Job.id).correlate(Job).scalar_subquery()
               .label("n_proposed"),
               count(Candidate.status == "infeasible").label("n_infeasible"),
               count(evaluated).label("n_evaluated"),
               count(evaluated, func.coalesce(Candidate.train_seconds, 0.0)).label("sim"))
        .outerjoin(best, best.id == best_id)
        .where(Job.id == job_id)
    )


def job_detail(db: Database, job_id: str, lease_seconds: float, base_url: str, owner: str | None = None) -> JobOut:
    """The job as ``owner`` may see it (another owner's: not found), its counts and best, in one session."""
    with db.read_session() as s:
        row = s.execute(_detail_query(job_id)).first()  # the job, its counts and its best: one round trip
        if row is None or (owner is not None and row.Job.owner != owner):
            raise JobNotFound(job_id)
        job, best = row.Job, row.best
        counts = {"n_proposed": row.n_proposed or 0, "n_infeasible": row.n_infeasible or 0,
                  "n_evaluated": row.n_evaluated or 0, "sim": row.sim or 0.0}
    artifacts = [Artifact(name=name, url=f"{base_url}/jobs/{job.id}/artifacts/{name}")
                 for name in artifact_paths(job)]
    return JobOut(
        **_brief(job, counts, lease_seconds),
        hardware=job.hardware, max_latency_ms=job.max_latency_ms, task=job.task, task_spec=job.task_spec,
        proposer_used=job.proposer_used, seed=job.seed, epochs=job.epochs, heartbeat_at=job.heartbeat_at,
        cancel_requested=bool(job.cancel_requested), stop_reason=job.stop_reason, error=job.error,
        best=BestCandidate(arch=best.arch, index=best.index, val_acc=best.val_acc, test_acc=best.test_acc,
                           flash_bytes=best.flash_bytes, peak_sram_bytes=best.peak_sram_bytes,
                           latency_ms=best.latency_ms) if best else None,
        simulated_train_seconds=round(float((counts or {}).get("sim", 0.0)), 3),
        wall_seconds=round(job.wall_seconds or 0.0, 3),
        artifacts=artifacts,
    )


def _violation_text(raw: list[Any] | None) -> list[str]:
    out = []
    for v in raw or []:
        try:
            out.append(Violation(**v).describe())
        except Exception:  # a record written by an older version: show it as it is
            out.append(str(v))
    return out


def candidate_out(c: Candidate) -> CandidateOut:
    return CandidateOut(
        id=c.id, arch=c.arch, index=c.index, status=c.status, feasible=c.status != "infeasible",  # type: ignore[arg-type]
        step=c.step, proposer=c.proposer, reason=c.reason, parent=c.parent, violations=list(c.violations or []),
        violation_text=_violation_text(c.violations), flash_bytes=c.flash_bytes, peak_sram_bytes=c.peak_sram_bytes,
        latency_ms=c.latency_ms, macs=c.macs, params=c.params, eval_order=c.eval_order, val_acc=c.val_acc,
        test_acc=c.test_acc, train_seconds=c.train_seconds, error=c.error, created_at=c.created_at,
        evaluated_at=c.evaluated_at,
    )


def page_candidates(
    db: Database, job_id: str, status: str | None, sort: str, limit: int, offset: int
) -> tuple[list[CandidateOut], int]:
    desc = sort.startswith("-")
    col = CANDIDATE_SORTS[sort.lstrip("-")]
    with db.read_session() as s:
        q = select(Candidate).where(Candidate.job_id == job_id)
        count_q = select(func.count()).select_from(Candidate).where(Candidate.job_id == job_id)
        if status is not None:
            q, count_q = q.where(Candidate.status == status), count_q.where(Candidate.status == status)
        q = q.order_by(col.is_(None), col.desc() if desc else col.asc(), Candidate.id)
        rows = list(s.scalars(q.limit(limit).offset(offset)))
        total = int(s.scalar(count_q) or 0)
    return [candidate_out(c) for c in rows], total
