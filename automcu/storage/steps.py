"""One planner step stored in one transaction, with batched Core inserts (no ORM unit of work per row).

The first statement is the lease fence: it renews the lease and adds the step's wall time, and matches no row
when this worker no longer holds the job, so a worker that lost the job writes nothing. The same statement
returns the job's cancel flag, so the loop learns of a cancel request without a read of its own.

On SQLite the rows go straight to the driver (``executemany`` on the sqlite3 connection SQLAlchemy holds,
inside its transaction), each value converted by the column type's own SQLAlchemy bind processor, so what is
stored is exactly what the Core insert stores; this keeps a lookup search's step near the cost of the raw
insert (``benchmarks/planner_speed.py`` measures both). Other databases use the Core statements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.engine import Connection, Dialect

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
    extra = {"job_id": job_id, "created_at": now}
    with db.engine.begin() as conn:
        row = conn.execute(_FENCE, {"b_job": job_id, "b_worker": worker, "b_now": now, "b_wall": wall_delta}).first()
        if row is None:
            raise LeaseLost(f"job {job_id}: lease no longer held by {worker}")
        if db.is_sqlite:
            ids = _driver_insert(conn, candidates, messages, events, extra)
        else:
            ids = _core_insert(conn, candidates, messages, events, extra)
    return ids, bool(row[0])


def _core_insert(conn: Connection, candidates: list[dict[str, Any]], messages: list[dict[str, Any]],
                 events: list[dict[str, Any]], extra: dict[str, Any]) -> list[int]:
    ids: list[int] = []
    if candidates:
        ids = [int(r[0]) for r in conn.execute(_INSERT_CANDIDATES, [{**c, **extra} for c in candidates])]
    if messages:
        conn.execute(_INSERT_MESSAGES, [{**m, **extra} for m in messages])
    if events:
        conn.execute(_INSERT_EVENTS, [{**e, **extra} for e in events])
    return ids


class _DriverInsert:
    """INSERT of whole rows of one table through the sqlite3 cursor, values converted as SQLAlchemy would."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        cols = [c for c in table.columns if not c.primary_key]
        self.names = [c.name for c in cols]
        procs: list[Callable[[Any], Any] | None] = [c.type._cached_bind_processor(dialect) for c in cols]
        self.procs = procs
        # a column a row leaves out gets its scalar default, as in a Core insert
        self.defaults = {c.name: c.default.arg for c in cols if c.default is not None and c.default.is_scalar}
        quoted = ", ".join(f'"{n}"' for n in self.names)
        self.sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" for _ in cols)})'
        self.sql_returning = self.sql + ' RETURNING "id"'

    def params(self, row: dict[str, Any], extra: dict[str, Any]) -> tuple[Any, ...]:
        merged = {**self.defaults, **row, **extra}
        # a column the row leaves out is SQL NULL, as in a Core insert (a JSON column's processor would write 'null')
        return tuple([merged.get(n) if proc is None or n not in merged else proc(merged[n])
                      for n, proc in zip(self.names, self.procs, strict=True)])


_driver: dict[int, tuple[_DriverInsert, _DriverInsert, _DriverInsert]] = {}


def _driver_insert(conn: Connection, candidates: list[dict[str, Any]], messages: list[dict[str, Any]],
                   events: list[dict[str, Any]], extra: dict[str, Any]) -> list[int]:
    key = id(conn.dialect)
    if key not in _driver:
        _driver[key] = tuple(_DriverInsert(t, conn.dialect) for t in (_candidates, _messages, _events))  # type: ignore[assignment]
    cand, msg, ev = _driver[key]
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        ids = [int(cur.execute(cand.sql_returning, cand.params(c, extra)).fetchone()[0]) for c in candidates]
        if messages:
            cur.executemany(msg.sql, [msg.params(m, extra) for m in messages])
        if events:
            cur.executemany(ev.sql, [ev.params(e, extra) for e in events])
    finally:
        cur.close()
    return ids


def message(step: int, agent: str, direction: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"step": step, "agent": agent, "direction": direction, "payload": payload}


def event(kind: str, **payload: Any) -> dict[str, Any]:
    return {"kind": kind, "payload": payload}
