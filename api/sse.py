"""Server-sent events of one job: replay after an event id, then follow until the job is terminal."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import timezone
from typing import Any

import anyio
from fastapi import Request

from automcu.storage.db import Database
from automcu.storage.models import Event, Job
from automcu.storage.repository import TERMINAL, events_of

BATCH = 500


def format_event(ev: Event) -> str:
    ts = ev.created_at.replace(tzinfo=ev.created_at.tzinfo or timezone.utc).isoformat() if ev.created_at else None
    data = {"id": ev.id, "kind": ev.kind, "created_at": ts, **ev.payload}
    return f"id: {ev.id}\nevent: {ev.kind}\ndata: {json.dumps(data, default=str)}\n\n"


def _job_status(db: Database, job_id: str) -> str | None:
    with db.sessions() as s:
        job = s.get(Job, job_id)
        return job.status if job else None


async def job_events(
    request: Request, db: Database, job_id: str, after: int, poll_seconds: float, ping_seconds: float
) -> AsyncIterator[str]:
    """Every event with id > ``after``; ends with an ``end`` event once the job is terminal and drained."""
    last = after
    last_sent = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        events: list[Event] = await anyio.to_thread.run_sync(events_of, db, job_id, last, BATCH)
        for ev in events:
            last = ev.id
            yield format_event(ev)
        if events:
            last_sent = time.monotonic()
        if len(events) == BATCH:
            continue
        status = await anyio.to_thread.run_sync(_job_status, db, job_id)
        if status is None or status in TERMINAL:
            # status and the `finished` event commit together: one more read sees everything before the end
            tail: list[Event] = await anyio.to_thread.run_sync(events_of, db, job_id, last, 100_000)
            for ev in tail:
                last = ev.id
                yield format_event(ev)
            end: dict[str, Any] = {"status": status or "deleted", "last_event_id": last}
            yield f"event: end\ndata: {json.dumps(end)}\n\n"
            return
        if await request.is_disconnected():
            return
        if time.monotonic() - last_sent >= ping_seconds:
            last_sent = time.monotonic()
            yield ": ping\n\n"
        await anyio.sleep(poll_seconds)
