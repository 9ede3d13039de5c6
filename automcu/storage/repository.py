"""Queries and updates on jobs and candidates, in short transactions."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from automcu.hardware.spec import HardwareSpec
from automcu.storage.db import Database
from automcu.storage.models import AgentMessage, Candidate, Event, Job, utcnow

# the pure read-side helpers (no SQLAlchemy: the CLI reads fast with them) live in summaries; re-exported here
from automcu.storage.summaries import _aware
from automcu.storage.summaries import best_candidate as best_candidate
from automcu.storage.summaries import candidate_brief as candidate_brief
from automcu.storage.summaries import display_status as display_status
from automcu.storage.summaries import is_stale as is_stale
from automcu.storage.summaries import job_record as job_record
from automcu.storage.summaries import job_summary as job_summary
from automcu.storage.summaries import memory_split as memory_split

TERMINAL = ("succeeded", "failed", "cancelled")


class JobNotFound(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r} (see `automcu jobs`)")


class JobRequest(Protocol):
    """What storing a new job reads of its spec (``automcu.jobs.spec.JobSpec`` is one; storage does not import it)."""

    dataset: str
    max_latency_ms: float | None
    task: str | None
    budget: int
    proposer: str
    seed: int
    epochs: int
    data_path: str | None
    verify: str
    max_sim_seconds: float | None
    max_wall_seconds: float | None
    patience: int | None
    batch_size: int
    compress: Any
    space: str
    fidelity: str
    min_epochs: int | None
    reduction_factor: int | None
    min_data_fraction: float | None

    def model_dump(self, *, exclude_none: bool = False) -> dict[str, Any]: ...


def new_job_id() -> str:
    return secrets.token_hex(6)


def create_job(
    db: Database,
    spec: JobRequest,
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
        data_path=spec.data_path,
        verify=spec.verify,
        max_sim_seconds=spec.max_sim_seconds,
        max_wall_seconds=spec.max_wall_seconds,
        patience=spec.patience,
        batch_size=spec.batch_size,
        space=spec.space,
        fidelity=getattr(spec, "fidelity", "full"),
        min_epochs=getattr(spec, "min_epochs", None),
        reduction_factor=getattr(spec, "reduction_factor", None),
        min_data_fraction=getattr(spec, "min_data_fraction", None),
        compress=compress if compress is not None else (spec.compress.model_dump() if spec.compress else None),
    )
    with db.transaction() as s:
        s.add(job)
        s.flush()
        payload = spec.model_dump(exclude_none=True)
        if payload.get("fidelity") == "full":
            payload.pop("fidelity")  # the default: a full-fidelity job's record reads as before
        s.add(Event(job_id=job.id, kind="created", payload={"spec": payload}))
    return job


def get_job(db: Database, job_id: str, owner: str | None = None) -> Job:
    """The job; with ``owner`` set, another owner's job is reported as not found."""
    with db.read_session() as s:
        job = s.get(Job, job_id)
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(job_id)
    return job


def list_jobs(db: Database, owner: str | None = None, limit: int = 100, offset: int = 0) -> tuple[list[Job], int]:
    with db.read_session() as s:
        q = select(Job)
        count_q = select(func.count()).select_from(Job)
        if owner is not None:
            q = q.where(Job.owner == owner)
            count_q = count_q.where(Job.owner == owner)
        jobs = list(s.scalars(q.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)))
        total = int(s.scalar(count_q) or 0)
    return jobs, total


def candidates_of(db: Database, job_id: str, status: str | None = None) -> list[Candidate]:
    with db.read_session() as s:
        q = select(Candidate).where(Candidate.job_id == job_id)
        if status:
            q = q.where(Candidate.status == status)
        return list(s.scalars(q.order_by(Candidate.id)))


def events_of(db: Database, job_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
    with db.read_session() as s:
        q = select(Event).where(Event.job_id == job_id, Event.id > after_id).order_by(Event.id).limit(limit)
        return list(s.scalars(q))


def messages_of(db: Database, job_id: str) -> list[AgentMessage]:
    with db.read_session() as s:
        return list(s.scalars(select(AgentMessage).where(AgentMessage.job_id == job_id).order_by(AgentMessage.id)))


def add_event(s: Session, job_id: str, kind: str, **payload: Any) -> None:
    s.add(Event(job_id=job_id, kind=kind, payload=payload))


def request_cancel(db: Database, job_id: str, owner: str | None = None) -> Job:
    job = get_job(db, job_id, owner)
    with db.transaction() as s:
        if job.status == "queued":
            s.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(
                status="cancelled", cancel_requested=True, finished_at=utcnow(), stop_reason="cancelled by user"))
        elif job.status == "running":
            s.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
        add_event(s, job_id, "cancel_requested")
    return get_job(db, job_id)


def record_artifacts(db: Database, job_id: str, artifacts: dict[str, str], summary: dict[str, Any]) -> Job:
    """Merge files (name → path) into ``job.artifacts`` and log a ``compressed`` event with ``summary``."""
    with db.transaction() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise JobNotFound(job_id)
        job.artifacts = {**(job.artifacts or {}), **artifacts}
        add_event(s, job_id, "compressed", **summary)
    return get_job(db, job_id)


# ----- leases -----------------------------------------------------------------------------------
def _claimable(worker: str, lease_seconds: float, allow_failed: bool = False,  # type: ignore[no-untyped-def]
               reentrant: bool = True):
    """Queued; running with a lapsed heartbeat; under ``worker``'s own lease (if re-entrant); failed if asked."""
    lapsed = utcnow() - timedelta(seconds=lease_seconds)
    running = Job.status == "running"
    cond = (Job.status == "queued") | (running & (Job.heartbeat_at.is_(None) | (Job.heartbeat_at < lapsed)))
    if reentrant:
        cond = cond | (running & (Job.lease_owner == worker))
    if allow_failed:
        cond = cond | (Job.status == "failed")
    return cond & Job.cancel_requested.is_(False)


def _take_lease(s: Session, job_id: str, worker: str, lease_seconds: float, allow_failed: bool = False) -> bool:
    now = utcnow()
    res = s.execute(update(Job).where(Job.id == job_id, _claimable(worker, lease_seconds, allow_failed)).values(
        status="running", lease_owner=worker, heartbeat_at=now, started_at=func.coalesce(Job.started_at, now),
        error=None))
    return bool(res.rowcount)


def lease_owner_gone(owner: str | None) -> bool:
    """The lease owner (``HOST:PID:THREAD``) is a process on this host that no longer exists."""
    parts = (owner or "").split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _take_over(s: Session, job_id: str, old_owner: str, worker: str) -> bool:
    """Take a running job's lease from ``old_owner`` (only if it still holds it)."""
    res = s.execute(update(Job).where(Job.id == job_id, Job.status == "running", Job.lease_owner == old_owner,
                                      Job.cancel_requested.is_(False))
                    .values(lease_owner=worker, heartbeat_at=utcnow(), error=None))
    if res.rowcount:
        add_event(s, job_id, "lease_taken_over", worker=worker, previous=old_owner)
    return bool(res.rowcount)


def lease_holder_message(job: Job, lease_seconds: float) -> str:
    """Who holds a running job's lease and when it lapses, for a refused claim."""
    where = "a live process on this host" if (job.lease_owner or "").split(":")[0] == socket.gethostname() \
        else "a process on another host"
    hb = _aware(job.heartbeat_at)
    lapse = ""
    if hb is not None:
        at = hb + timedelta(seconds=lease_seconds)
        lapse = f"; the lease lapses at {at:%H:%M:%S} UTC (in {max(0.0, (at - utcnow()).total_seconds()):.0f} s) " \
                "unless renewed"
    return (f"job {job.id} is running in another process (lease held by {job.lease_owner}, {where}){lapse}; "
            f"`automcu resume {job.id} --force` takes it over anyway")


def claim_job(db: Database, job_id: str, worker: str, lease_seconds: float, allow_failed: bool = False,
              force: bool = False) -> bool:
    """Atomically take the job's lease: queued, or running with a lapsed heartbeat (or failed, to retry).

    A conditional UPDATE, so of several processes racing for one job exactly one wins (SQLite and PostgreSQL).
    Re-entrant: the worker that already holds the lease keeps it (``claim_next_job`` then ``Planner.run``).
    A lease whose owner is a dead process on this host is taken over at once; with ``force``, any lease is.
    """
    with db.transaction() as s:
        if _take_lease(s, job_id, worker, lease_seconds, allow_failed):
            return True
        owner = s.scalar(select(Job.lease_owner).where(Job.id == job_id, Job.status == "running"))
        if owner is not None and (force or lease_owner_gone(owner)):
            return _take_over(s, job_id, owner, worker)
        return False


def claim_next_job(db: Database, worker: str, lease_seconds: float) -> str | None:
    """Take the lease of the oldest claimable job; its id, or None when there is none.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent workers each lock a different row without
    waiting on each other. SQLite (one writer at a time): try the oldest claimable jobs with the atomic
    conditional UPDATE of ``claim_job`` until one is won. Either way no job is claimed twice.
    """
    cond = _claimable(worker, lease_seconds, reentrant=False)  # a job this worker already runs is not "next"
    order = (Job.created_at, Job.id)
    if db.engine.dialect.name == "postgresql":
        with db.transaction() as s:
            job_id = s.scalar(select(Job.id).where(cond).order_by(*order).limit(1).with_for_update(skip_locked=True))
            if job_id is None:
                return _claim_dead_local(db, worker)
            now = utcnow()
            res = s.execute(update(Job).where(Job.id == job_id, cond).values(
                status="running", lease_owner=worker, heartbeat_at=now,
                started_at=func.coalesce(Job.started_at, now), error=None))
            return job_id if res.rowcount else None
    with db.read_session() as s:
        ids = list(s.scalars(select(Job.id).where(cond).order_by(*order).limit(20)))
    for job_id in ids:
        with db.transaction() as s:
            now = utcnow()
            res = s.execute(update(Job).where(Job.id == job_id, cond).values(
                status="running", lease_owner=worker, heartbeat_at=now,
                started_at=func.coalesce(Job.started_at, now), error=None))
            if res.rowcount:
                return job_id
    return _claim_dead_local(db, worker)


def _claim_dead_local(db: Database, worker: str) -> str | None:
    """A running job whose lease owner is a process on this host that died: taken over without waiting."""
    with db.read_session() as s:
        rows = s.execute(select(Job.id, Job.lease_owner).where(
            Job.status == "running", Job.lease_owner.like(f"{socket.gethostname()}:%"),
            Job.cancel_requested.is_(False)).order_by(Job.created_at, Job.id).limit(50)).all()
    for job_id, owner in rows:
        if lease_owner_gone(owner):
            with db.transaction() as s:
                if _take_over(s, job_id, owner, worker):
                    return str(job_id)
    return None


def heartbeat(db: Database, job_id: str, worker: str) -> bool:
    """Renew the lease; False when another worker took it over."""
    with db.transaction() as s:
        res = s.execute(update(Job).where(Job.id == job_id, Job.lease_owner == worker, Job.status == "running")
                        .values(heartbeat_at=utcnow()))
        return bool(res.rowcount)


# ----- evaluations under the lease ----------------------------------------------------------------
class LeaseLost(RuntimeError):
    """This worker no longer holds the job's lease (another took it over): it must stop writing."""


def _fence(s: Session, job_id: str, worker: str, **values: Any) -> None:
    """First statement of a fenced write: renew the lease, or raise when it is gone (takes the row's write lock)."""
    res = s.execute(update(Job).where(Job.id == job_id, Job.lease_owner == worker, Job.status == "running")
                    .values(heartbeat_at=utcnow(), **values))
    if res.rowcount != 1:
        raise LeaseLost(f"job {job_id}: lease no longer held by {worker}")


def count_attempts(db: Database, job_id: str, worker: str, cand_ids: list[int]) -> dict[int, int]:
    """Count one more evaluation attempt of each still-proposed candidate, before it is dispatched; id → attempts."""
    with db.transaction() as s:
        _fence(s, job_id, worker)
        s.execute(update(Candidate).where(Candidate.id.in_(cand_ids), Candidate.status == "proposed")
                  .values(attempts=Candidate.attempts + 1))
        rows = s.execute(select(Candidate.id, Candidate.attempts).where(Candidate.id.in_(cand_ids))).all()
    return {int(i): int(a) for i, a in rows}


def record_evaluation(db: Database, job_id: str, worker: str, cand_id: int, order: int, improved: bool,
                      values: dict[str, Any], messages: list[AgentMessage], wall_delta: float,
                      event: dict[str, Any] | None = None) -> bool:
    """Store one evaluation result exactly once as evaluation number ``order``; False if it was not stored.

    One transaction: the lease fence first, so only the worker holding the job writes and its in-memory count
    of evaluations (loaded when it claimed the job, advanced by its own writes) is the stored count; the
    caller passes ``order`` = that count + 1 within the budget, and whether the result beats the incumbent.
    The candidate moves from proposed to evaluated only once (False when it already had). With ``event``, an
    ``evaluated`` event carrying it plus ``n_evaluated`` and ``improved`` is stored alongside.
    """
    with db.transaction() as s:
        _fence(s, job_id, worker, wall_seconds=Job.wall_seconds + wall_delta)
        res = s.execute(update(Candidate).where(Candidate.id == cand_id, Candidate.status == "proposed").values(
            status="evaluated", eval_order=order, evaluated_at=utcnow(), error=None, **values))
        if res.rowcount != 1:
            return False
        s.add_all(messages)
        if event is not None:
            add_event(s, job_id, "evaluated", **event, n_evaluated=order, improved=improved)
    return True


def record_failure(db: Database, job_id: str, worker: str, cand_id: int, arch: str, error: str) -> None:
    """The evaluation raised (or its worker was lost too often): the candidate is failed, not retried again."""
    with db.transaction() as s:
        _fence(s, job_id, worker)
        s.execute(update(Candidate).where(Candidate.id == cand_id, Candidate.status == "proposed")
                  .values(status="failed", error=error))
        add_event(s, job_id, "evaluation_failed", arch=arch, error=error)


def record_rung(db: Database, job_id: str, worker: str, cand_id: int, entry: dict[str, Any], status: str,
                order: int | None, improved: bool, messages: list[AgentMessage], wall_delta: float,
                event: dict[str, Any]) -> bool:
    """Store one rung of a multi-fidelity candidate exactly once; False if it was not stored.

    ``entry`` (rung, epochs, data_fraction, val_acc, test_acc, seconds, decision, seq) is appended to the
    candidate's ``rungs``; its ``val_acc``/``test_acc`` become the candidate's, its seconds add to its
    ``train_seconds``. ``status`` stays ``proposed`` for a promoted candidate (its next rung is still to train),
    or ends it: ``pruned``, or ``evaluated`` after the top rung, as evaluation number ``order``. One fenced
    transaction (as :func:`record_evaluation`); a rung already stored (or a candidate no longer proposed) is
    refused, so a result that arrives twice is stored once. The event's kind is the decision's
    (``rung_promoted``, ``pruned`` or ``evaluated``).
    """
    with db.transaction() as s:
        _fence(s, job_id, worker, wall_seconds=Job.wall_seconds + wall_delta)
        row = s.execute(select(Candidate.rung, Candidate.rungs, Candidate.train_seconds).where(
            Candidate.id == cand_id, Candidate.status == "proposed")).first()
        if row is None or (row.rung is not None and row.rung >= entry["rung"]):
            return False
        final = status != "proposed"
        values: dict[str, Any] = dict(
            rung=entry["rung"], rungs=[*(row.rungs or []), entry], status=status, val_acc=entry["val_acc"],
            test_acc=entry["test_acc"], train_seconds=(row.train_seconds or 0.0) + entry["seconds"], error=None)
        if final:
            values.update(eval_order=order, evaluated_at=utcnow())
        s.execute(update(Candidate).where(Candidate.id == cand_id, Candidate.status == "proposed").values(**values))
        s.add_all(messages)
        kind = {"proposed": "rung_promoted", "pruned": "pruned"}.get(status, "evaluated")
        extra = {"n_evaluated": order, "improved": improved} if final else {}
        add_event(s, job_id, kind, **event, **extra)
    return True
