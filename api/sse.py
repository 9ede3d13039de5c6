"""Server-sent events of one job: replay after an event id, then follow until the job is terminal.

Every client following a job reads one shared :class:`JobFeed`: a single task polls the database for
that job's new events and status and wakes the clients, so N clients cost one poll per period, not N.
The feed lives while it has clients; a client that disconnects is cancelled by the response and
leaves at once (the last one stops the poll). :class:`EventStreamResponse` closes the event generator
however the response ends: a cancellation that lands while a chunk is being sent leaves the generator
suspended at its ``yield``, and without the explicit close its ``finally`` (leaving the feed) would wait
for the garbage collector, keeping the job's poll alive meanwhile.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections.abc import AsyncIterator
from datetime import timezone
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from automcu.storage.db import Database
from automcu.storage.models import Event, Job
from automcu.storage.repository import TERMINAL, events_of

BATCH = 500


def format_event(ev: Event) -> str:
    ts = ev.created_at.replace(tzinfo=ev.created_at.tzinfo or timezone.utc).isoformat() if ev.created_at else None
    data = {"id": ev.id, "kind": ev.kind, "created_at": ts, **ev.payload}
    return f"id: {ev.id}\nevent: {ev.kind}\ndata: {json.dumps(data, default=str)}\n\n"


def _job_status(db: Database, job_id: str) -> str | None:
    with db.read_session() as s:
        job = s.get(Job, job_id)
        return job.status if job else None


class JobFeed:
    """One job's events (formatted once), read by one polling task, shared by every client of the job."""

    def __init__(self, db: Database, job_id: str, poll_seconds: float) -> None:
        self.db, self.job_id, self.poll_seconds = db, job_id, poll_seconds
        self.ids: list[int] = []
        self.texts: list[str] = []
        self.final_status: str | None = None  # set once the job is terminal and every event is read
        self.clients = 0
        self._tick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _read_new(self, limit: int) -> int:
        events: list[Event] = await anyio.to_thread.run_sync(
            events_of, self.db, self.job_id, self.ids[-1] if self.ids else 0, limit)
        for ev in events:
            self.ids.append(ev.id)
            self.texts.append(format_event(ev))
        return len(events)

    async def _poll(self) -> None:
        try:
            while True:
                while await self._read_new(BATCH) == BATCH:
                    self._wake()
                status = await anyio.to_thread.run_sync(_job_status, self.db, self.job_id)
                if status is None or status in TERMINAL:
                    # status and the `finished` event commit together: one more read sees everything before the end
                    await self._read_new(100_000)
                    self.final_status = status or "deleted"
                    self._wake()
                    return
                self._wake()
                await anyio.sleep(self.poll_seconds)
        except Exception as exc:  # a database error ends the streams (clients reconnect with Last-Event-ID)
            self.final_status = f"error: {type(exc).__name__}"
            self._wake()

    def _wake(self) -> None:
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def wait(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await self._tick.wait()

    def after(self, last: int) -> tuple[int, list[str]]:
        """The formatted events with id > ``last`` and the id of the newest one."""
        start = bisect.bisect_right(self.ids, last)
        return (self.ids[-1] if len(self.ids) > start else last), self.texts[start:]


_feeds: dict[tuple[int, str, str], JobFeed] = {}


def _join(db: Database, job_id: str, poll_seconds: float) -> JobFeed:
    key = (id(asyncio.get_running_loop()), db.url, job_id)
    feed = _feeds.get(key)
    if feed is None:
        feed = _feeds[key] = JobFeed(db, job_id, poll_seconds)
        feed.start()
    feed.clients += 1
    return feed


def _leave(feed: JobFeed) -> None:
    feed.clients -= 1
    if feed.clients <= 0:
        feed.stop()
        for key, value in list(_feeds.items()):
            if value is feed:
                del _feeds[key]


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response that closes its generator when it ends, cancelled or not."""

    def __init__(self, events: AsyncIterator[str], headers: dict[str, str] | None = None) -> None:
        super().__init__(events, media_type="text/event-stream", headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()


def feed_count() -> int:
    """Feeds (polling tasks) alive now: one per followed job."""
    return len(_feeds)


async def job_events(
    request: Request, db: Database, job_id: str, after: int, poll_seconds: float, ping_seconds: float
) -> AsyncIterator[str]:
    """Every event with id > ``after``; ends with an ``end`` event once the job is terminal and drained."""
    feed = _join(db, job_id, poll_seconds)
    try:
        last = after
        last_sent = time.monotonic()
        yield "retry: 2000\n\n"
        while True:
            done = feed.final_status is not None  # read before the events: everything up to the end is in
            last, texts = feed.after(last)
            for text in texts:
                yield text
            if texts:
                last_sent = time.monotonic()
            if done:
                end: dict[str, Any] = {"status": feed.final_status, "last_event_id": last}
                yield f"event: end\ndata: {json.dumps(end)}\n\n"
                return
            if not texts and await request.is_disconnected():
                return
            if time.monotonic() - last_sent >= ping_seconds:
                last_sent = time.monotonic()
                yield ": ping\n\n"
            await feed.wait(ping_seconds)
    finally:
        _leave(feed)
