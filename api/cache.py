"""Rendered reads of finished jobs, and job lists' parts, kept per API process.

A terminal job (succeeded, failed, cancelled) reads the same until its row changes: it is resumed (a failed job
can be), or the compression hand-off records artifacts. So an entry holds the job's row as it was rendered, and a
hit costs one primary-key lookup of that row: equal, the stored bytes are the answer; different, the entry is
dropped and the job is read in full. Counts and the best candidate can only change while the job is not terminal,
and a job that leaves a terminal state and comes back to one has new timestamps, so its row differs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rendered:
    row: tuple[Any, ...]  # the job's columns when it was rendered
    owner: str | None
    body: bytes  # the JSON answer


class RenderedJobs:
    """A small LRU of :class:`Rendered` by (job id, API base), thread-safe."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Rendered] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Rendered | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple[str, str], entry: Rendered) -> None:
        with self._lock:
            self._items[key] = entry
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


class ListCache:
    """What a job list reuses, per API process.

    - A finished job's item, as JSON, by its whole row: its counts are final, and a row that changes (a resumed
      job) is a new key, so an entry is never stale.
    - A running job's counts for ``counts_seconds``: a list may show them that much older (a job read,
      ``GET /jobs/{id}``, is always exact); counting thousands of candidates of every running job on each list
      read is what made lists slow while workers run.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.items: dict[tuple[Any, ...], bytes] = {}
        self.counts: dict[str, tuple[float, tuple[int, int, int]]] = {}

    def put_item(self, key: tuple[Any, ...], body: bytes) -> None:
        if len(self.items) >= self.size:
            self.items.clear()
        self.items[key] = body

    def put_counts(self, job_id: str, until: float, counts: tuple[int, int, int]) -> None:
        if len(self.counts) >= self.size:
            self.counts.clear()
        self.counts[job_id] = (until, counts)


@dataclass(frozen=True)
class RenderedPage:
    signature: tuple[str, int]  # :func:`automcu.storage.reads.page_signature` when it was rendered
    expires: float | None  # monotonic deadline (a page with a running job), or None
    body: bytes


class RenderedPages:
    """Whole rendered job lists by (owner, status, limit, offset), checked against the page's signature.

    A page whose jobs are all queued or finished is the same answer as long as its signature is; a page with a
    running job is reused for at most the server's ``list_counts_seconds`` (its counts may be that old, as the
    list's documentation says). Thread-safe, a small LRU."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[tuple[Any, ...], RenderedPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], signature: tuple[str, int], now: float) -> bytes | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit.signature != signature or (hit.expires is not None and hit.expires <= now):
                return None
            self._items.move_to_end(key)
            return hit.body

    def put(self, key: tuple[Any, ...], page: RenderedPage) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = page
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
