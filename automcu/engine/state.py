"""A job's history in memory: loaded once when the planner starts or resumes, then appended to as steps are stored.

Everything the loop reads per step (what was seen, the evaluations in order, the incumbent, the recent
rejections, what is still to evaluate) is kept here with O(1) updates, so the cost of a step does not grow
with the job's history. The database stays the record; this is rebuilt from it on resume.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.messages import EvaluatedCandidate, RejectedCandidate, Violation
from automcu.storage.models import Candidate
from search_spaces.nb201.space import SPACE_SIZE as NB201_SIZE

RECENT_REJECTED = 20


@dataclass
class CandidateRow:
    """What the loop needs of a stored candidate."""

    id: int
    arch: str
    index: int
    iso_key: str
    status: str
    step: int
    margins: dict[str, Any] = field(default_factory=dict)
    violations: list[Any] = field(default_factory=list)
    flash_bytes: int | None = None
    peak_sram_bytes: int | None = None
    latency_ms: float | None = None
    eval_order: int | None = None
    val_acc: float | None = None
    test_acc: float | None = None
    train_seconds: float | None = None
    error: str | None = None
    rung: int | None = None  # asha: the highest rung trained
    rungs: list[Any] | None = None  # asha: each rung trained, as stored

    @classmethod
    def of(cls, c: Candidate) -> CandidateRow:
        return cls(id=c.id, arch=c.arch, index=c.index, iso_key=c.iso_key, status=c.status, step=c.step,
                   margins=c.margins or {}, violations=c.violations or [], flash_bytes=c.flash_bytes,
                   peak_sram_bytes=c.peak_sram_bytes, latency_ms=c.latency_ms, eval_order=c.eval_order,
                   val_acc=c.val_acc, test_acc=c.test_acc, train_seconds=c.train_seconds, error=c.error,
                   rung=c.rung, rungs=list(c.rungs) if c.rungs else None)


def chain_digest(previous: str, archs: list[str]) -> str:
    """SHA-256 chained over the seen archs in order: each step's digest from the last one and what it added."""
    return hashlib.sha256((previous + "\n" + "\n".join(archs)).encode()).hexdigest() if archs else previous


class JobState:
    def __init__(self, candidates: list[CandidateRow], next_step: int, space_size: int = NB201_SIZE) -> None:
        """``space_size``: archs in the job's space (candidates' ``index`` is their number there)."""
        self.step = next_step
        self.evaluated: list[EvaluatedCandidate] = []
        self.n_evaluated = 0
        self.sim_seconds = 0.0
        self.best: tuple[float, int] | None = None  # (val_acc, eval_order) of the incumbent
        self.seen: list[str] = []
        self.seen_set: set[str] = set()
        self.seen_keys: set[str] = set()
        self.seen_mask = np.zeros(space_size, dtype=bool)  # by index in the space, for the ran-dry fallback
        self.rejected: deque[RejectedCandidate] = deque(maxlen=RECENT_REJECTED)
        self.rejected_ids: deque[int] = deque(maxlen=RECENT_REJECTED)
        self.pending: list[CandidateRow] = []  # feasible, stored, not yet evaluated
        self.last_id: int | None = None
        self.productive_steps: set[int] = set()  # steps that added a feasible candidate
        self.digest = ""
        run: list[str] = []
        for i, c in enumerate(candidates):
            self.add(c)
            run.append(c.arch)
            if i + 1 == len(candidates) or candidates[i + 1].step != c.step:  # the digest chains step by step
                self.added(run)
                run = []
        # evaluations that failed in a row in this run (a resume, e.g. after the data was fixed, starts at 0)
        self.failed_streak, self.last_failure = 0, ""
        # pruned candidates (asha) count against the budget and inform the proposer, never as the incumbent
        ended = (c for c in candidates if c.status in ("evaluated", "pruned"))
        for c in sorted(ended, key=lambda c: c.eval_order or 0):
            self.note_evaluated(c)

    def add(self, c: CandidateRow) -> None:
        """A stored candidate (in id order)."""
        self.seen.append(c.arch)
        self.seen_set.add(c.arch)
        self.seen_keys.add(c.iso_key)
        self.seen_mask[c.index] = True
        self.last_id = c.id
        if c.status != "infeasible":
            self.productive_steps.add(c.step)
        if c.status == "proposed":
            self.pending.append(c)
        elif c.status == "infeasible":
            self.rejected.append(RejectedCandidate(arch=c.arch, violations=[Violation(**v) for v in c.violations]))
            self.rejected_ids.append(c.id)

    def added(self, archs: list[str]) -> None:
        """The digest after a step stored these new candidates."""
        self.digest = chain_digest(self.digest, archs)

    def note_failed(self, error: str) -> None:
        self.failed_streak += 1
        self.last_failure = error

    def note_result(self) -> None:
        """An evaluation came back (at any rung): the run of failures in a row is over."""
        self.failed_streak = 0

    def note_evaluated(self, c: CandidateRow) -> None:
        self.evaluated.append(EvaluatedCandidate(
            arch=c.arch, val_acc=c.val_acc or 0.0, flash_bytes=c.flash_bytes, peak_sram_bytes=c.peak_sram_bytes,
            latency_ms=c.latency_ms, margins=c.margins))
        self.n_evaluated += 1
        self.sim_seconds += c.train_seconds or 0.0
        order = c.eval_order or self.n_evaluated
        if c.status == "pruned":
            return
        if c.val_acc is not None and (self.best is None or c.val_acc > self.best[0]):
            self.best = (c.val_acc, order)

    def best_partial(self) -> CandidateRow | None:
        """Asha, no candidate through the top rung yet: the unpruned one at the highest rung reached, best there."""
        started = [c for c in self.pending if c.rung is not None and c.val_acc is not None]
        return max(started, key=lambda c: (c.rung or 0, c.val_acc or 0.0), default=None)

    def best_position(self) -> int | None:
        """Position of the incumbent in ``evaluated`` (eval orders are 1..n, in order)."""
        return None if self.best is None else self.best[1] - 1

    def unexplored(self, feasible: np.ndarray) -> np.ndarray:
        """Feasible indices not yet proposed in this job (exact, counted now)."""
        return feasible[~self.seen_mask[feasible]]

    def improves(self, val_acc: float) -> bool:
        return self.best is None or val_acc > self.best[0]
