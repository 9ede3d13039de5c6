"""Queries and updates on jobs and candidates, in short transactions."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from automcu.hardware.spec import HardwareSpec
from automcu.jobspec import JobSpec
from automcu.storage.db import Database
from automcu.storage.models import AgentMessage, Candidate, Event, Job, utcnow

TERMINAL = ("succeeded", "failed", "cancelled")


class JobNotFound(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r} (see `automcu jobs`)")


def new_job_id() -> str:
    return secrets.token_hex(6)


def create_job(
    db: Database,
    spec: JobSpec,
    hardware: HardwareSpec | None,
    owner: str | None = None,
    task_spec: dict[str, Any] | None = None,
    compress: dict[str, Any] | None = None,
) -> Job:
    job = Job(
        id=new_job_id(),
        status="queued",
        owner=owner,
        dataset=spec.dataset,
        board=hardware.name if hardware else None,
        hardware=hardware.model_dump() if hardware else None,
        max_latency_ms=spec.max_latency_ms,
        task=spec.task,
        task_spec=task_spec,
        budget=spec.budget,
        proposer=spec.proposer,
        seed=spec.seed,
        epochs=spec.epochs,
        verify=spec.verify,
        max_sim_seconds=spec.max_sim_seconds,
        max_wall_seconds=spec.max_wall_seconds,
        patience=spec.patience,
        batch_size=spec.batch_size,
        compress=compress,
    )
    with db.session() as s:
        s.add(job)
        s.flush()
        s.add(Event(job_id=job.id, kind="created", payload={"spec": spec.model_dump(exclude_none=True)}))
    return job


def get_job(db: Database, job_id: str, owner: str | None = None) -> Job:
    """The job; with ``owner`` set, another owner's job is reported as not found."""
    with db.sessions() as s:
        job = s.get(Job, job_id)
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(job_id)
    return job


def list_jobs(db: Database, owner: str | None = None, limit: int = 100, offset: int = 0) -> tuple[list[Job], int]:
    with db.sessions() as s:
        q = select(Job)
        count_q = select(func.count()).select_from(Job)
        if owner is not None:
            q = q.where(Job.owner == owner)
            count_q = count_q.where(Job.owner == owner)
        jobs = list(s.scalars(q.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)))
        total = int(s.scalar(count_q) or 0)
    return jobs, total


def candidates_of(db: Database, job_id: str, status: str | None = None) -> list[Candidate]:
    with db.sessions() as s:
        q = select(Candidate).where(Candidate.job_id == job_id)
        if status:
            q = q.where(Candidate.status == status)
        return list(s.scalars(q.order_by(Candidate.id)))


def events_of(db: Database, job_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
    with db.sessions() as s:
        q = select(Event).where(Event.job_id == job_id, Event.id > after_id).order_by(Event.id).limit(limit)
        return list(s.scalars(q))


def messages_of(db: Database, job_id: str) -> list[AgentMessage]:
    with db.sessions() as s:
        return list(s.scalars(select(AgentMessage).where(AgentMessage.job_id == job_id).order_by(AgentMessage.id)))


def add_event(s: Session, job_id: str, kind: str, **payload: Any) -> None:
    s.add(Event(job_id=job_id, kind=kind, payload=payload))


def request_cancel(db: Database, job_id: str, owner: str | None = None) -> Job:
    job = get_job(db, job_id, owner)
    with db.session() as s:
        if job.status == "queued":
            s.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(
                status="cancelled", cancel_requested=True, finished_at=utcnow(), stop_reason="cancelled by user"))
        elif job.status == "running":
            s.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
        add_event(s, job_id, "cancel_requested")
    return get_job(db, job_id)


# ----- leases -----------------------------------------------------------------------------------
def _aware(ts: datetime | None) -> datetime | None:
    if ts is not None and ts.tzinfo is None:
        return ts.replace(tzinfo=timezone.utc)
    return ts


def is_stale(job: Job, lease_seconds: float) -> bool:
    """A running job whose heartbeat lapsed: its process died (or hangs)."""
    hb = _aware(job.heartbeat_at)
    return job.status == "running" and (hb is None or utcnow() - hb > timedelta(seconds=lease_seconds))


def display_status(job: Job, lease_seconds: float) -> str:
    return "stale" if is_stale(job, lease_seconds) else job.status


def claim_job(db: Database, job_id: str, worker: str, lease_seconds: float, allow_failed: bool = False) -> bool:
    """Atomically take the job's lease: queued, or running with a lapsed heartbeat (or failed, to retry)."""
    now = utcnow()
    lapsed = now - timedelta(seconds=lease_seconds)
    claimable = (Job.status == "queued") | ((Job.status == "running") & (
        (Job.heartbeat_at.is_(None)) | (Job.heartbeat_at < lapsed)))
    if allow_failed:
        claimable = claimable | (Job.status == "failed")
    with db.session() as s:
        res = s.execute(update(Job).where(Job.id == job_id, claimable, Job.cancel_requested.is_(False)).values(
            status="running", lease_owner=worker, heartbeat_at=now, started_at=func.coalesce(Job.started_at, now),
            error=None))
        return bool(res.rowcount)


def heartbeat(db: Database, job_id: str, worker: str) -> bool:
    """Renew the lease; False when another worker took it over."""
    with db.session() as s:
        res = s.execute(update(Job).where(Job.id == job_id, Job.lease_owner == worker, Job.status == "running")
                        .values(heartbeat_at=utcnow()))
        return bool(res.rowcount)


# ----- summaries --------------------------------------------------------------------------------
def best_candidate(cands: list[Candidate]) -> Candidate | None:
    evaluated = [c for c in cands if c.status == "evaluated" and c.val_acc is not None]
    if not evaluated:
        return None
    return max(evaluated, key=lambda c: (c.val_acc, -(c.eval_order or 0)))


def candidate_brief(c: Candidate) -> dict[str, Any]:
    return {
        "arch": c.arch, "index": c.index, "val_acc": c.val_acc, "test_acc": c.test_acc,
        "flash_bytes": c.flash_bytes, "peak_sram_bytes": c.peak_sram_bytes, "latency_ms": c.latency_ms,
    }


def job_summary(job: Job, cands: list[Candidate], lease_seconds: float = 30.0) -> dict[str, Any]:
    """The contract's search result: {job_id, status, best, n_proposed, n_infeasible, n_evaluated, ...}."""
    best = best_candidate(cands)
    evaluated = [c for c in cands if c.status == "evaluated"]
    return {
        "job_id": job.id,
        "status": display_status(job, lease_seconds),
        "best": candidate_brief(best) if best else None,
        "n_proposed": len(cands),
        "n_infeasible": sum(c.status == "infeasible" for c in cands),
        "n_evaluated": len(evaluated),
        "simulated_train_seconds": round(sum(c.train_seconds or 0.0 for c in evaluated), 3),
        "wall_seconds": round(job.wall_seconds, 3),
    }


def job_record(job: Job, cands: list[Candidate] | None = None, lease_seconds: float = 30.0) -> dict[str, Any]:
    """A job as listed/shown: id, status, spec, timestamps and (when candidates are given) the summary."""
    out: dict[str, Any] = {
        "id": job.id, "status": display_status(job, lease_seconds), "dataset": job.dataset, "board": job.board,
        "hardware": job.hardware, "max_latency_ms": job.max_latency_ms, "task": job.task, "task_spec": job.task_spec,
        "budget": job.budget, "proposer": job.proposer, "proposer_used": job.proposer_used, "seed": job.seed,
        "epochs": job.epochs, "owner": job.owner, "created_at": job.created_at, "started_at": job.started_at,
        "finished_at": job.finished_at, "heartbeat_at": job.heartbeat_at, "stop_reason": job.stop_reason,
        "error": job.error, "artifacts": job.artifacts,
    }
    if cands is not None:
        summary = job_summary(job, cands, lease_seconds)
        summary.pop("job_id")
        summary.pop("status")
        out.update(summary)
    return out
