"""One planner step stored in one transaction, with batched Core inserts (no ORM unit of work per row).

The first statement is the lease fence: it renews the lease and adds the step's wall time, and matches no row
when this worker no longer holds the job, so a worker that lost the job writes nothing. The same statement
returns the job's cancel flag, so the loop learns of a cancel request without a read of its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, update

from automcu.storage.db import Database
from automcu.storage.models import AgentMessage, Candidate, Event, Job, utcnow
from automcu.storage.repository import LeaseLost

_jobs = Job.__table__
_candidates = Candidate.__table__
_messages = AgentMessage.__table__
_events = Event.__table__
# built once (a statement is cheap to run from the compiled cache, not to construct)
_FENCE = (update(_jobs)
          .where(_jobs.c.id == bindparam("b_job"), _jobs.c.lease_owner == bindparam("b_worker"),
                 _jobs.c.status == "running")
          .values(heartbeat_at=bindparam("b_now"), wall_seconds=_jobs.c.wall_seconds + bindparam("b_wall"))
          .returning(_jobs.c.cancel_requested))
_INSERT_CANDIDATES = insert(_candidates).returning(_candidates.c.id, sort_by_parameter_order=True)
_INSERT_MESSAGES = insert(_messages)
_INSERT_EVENTS = insert(_events)


def write_step(db: Database, job_id: str, worker: str, *, candidates: list[dict[str, Any]],
               messages: list[dict[str, Any]], events: list[dict[str, Any]],
               wall_delta: float = 0.0) -> tuple[list[int], bool]:
    """Store a step: (ids of the new candidates in the order given, whether a cancel was requested).

    Rows are column dicts; ``job_id`` is filled in. Raises :class:`LeaseLost` (and stores nothing) when the
    lease is gone.
    """
    now = utcnow()
    with db.engine.begin() as conn:
        row = conn.execute(_FENCE, {"b_job": job_id, "b_worker": worker, "b_now": now, "b_wall": wall_delta}).first()
        if row is None:
            raise LeaseLost(f"job {job_id}: lease no longer held by {worker}")
        ids: list[int] = []
        if candidates:
            res = conn.execute(_INSERT_CANDIDATES, [{**c, "job_id": job_id, "created_at": now} for c in candidates])
            ids = [int(r[0]) for r in res]
        if messages:
            conn.execute(_INSERT_MESSAGES, [{**m, "job_id": job_id, "created_at": now} for m in messages])
        if events:
            conn.execute(_INSERT_EVENTS, [{**e, "job_id": job_id, "created_at": now} for e in events])
    return ids, bool(row[0])


def message(step: int, agent: str, direction: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"step": step, "agent": agent, "direction": direction, "payload": payload}


def event(kind: str, **payload: Any) -> dict[str, Any]:
    return {"kind": kind, "payload": payload}
