"""Read-only queries behind the routes: pages, counts and the best candidate, rendered to JSON."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select

from agents.messages import Violation
from api.cache import ListCache, Rendered, RenderedJobs, RenderedPage, RenderedPages
from api.schemas import Artifact, BestCandidate, CandidateOut, JobBrief, JobOut
from automcu.storage import reads
from automcu.storage.db import Database
from automcu.storage.models import Candidate, Job
from automcu.storage.repository import TERMINAL, JobNotFound, display_status, memory_split

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
    "rung": Candidate.rung,
}
SORT_PATTERN = "^-?(" + "|".join(CANDIDATE_SORTS) + ")$"


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive timestamps; they are UTC (the models store utcnow())."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _brief(job: Any, lease_seconds: float, counts: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """A job as listed, from a row holding ``reads.BRIEF_COLUMNS`` (and the ``n_*`` counts unless given)."""
    n = counts if counts is not None else (job.n_proposed, job.n_infeasible, job.n_evaluated)
    return {
        "id": job.id, "status": display_status(job, lease_seconds), "dataset": job.dataset, "board": job.board,
        "budget": job.budget, "proposer": job.proposer, "space": job.space or "nb201", "owner": job.owner,
        "created_at": _utc(job.created_at),
        "started_at": _utc(job.started_at), "finished_at": _utc(job.finished_at),
        "n_proposed": int(n[0] or 0), "n_infeasible": int(n[1] or 0), "n_evaluated": int(n[2] or 0),
    }


def _item(row: Any, lease_seconds: float, counts: tuple[int, int, int]) -> bytes:
    # a row of our own columns, already of the model's types: built without a second validation
    item = JobBrief.model_construct(**_brief(row, lease_seconds, counts))
    return item.__pydantic_serializer__.to_json(item)


def list_jobs_json(
    db: Database, owner: str | None, limit: int, offset: int, status: str | None, lease_seconds: float,
    cache: ListCache | None = None, counts_seconds: float = 0.0, pages: RenderedPages | None = None,
) -> bytes:
    """``{items, total}`` as JSON (a :class:`JobList`).

    With ``pages``: a page rendered before whose signature (its jobs' ids and states, and the total) is unchanged
    is the answer, for one one-row statement (a page with a running job: for ``counts_seconds`` at most).
    Otherwise the page, then the counts of the jobs ``cache`` can't answer for, in one statement."""
    cache = cache if cache is not None else ListCache(0)
    now = time.monotonic()
    key = (owner, status, limit, offset)
    parts: dict[str, bytes] = {}
    counts: dict[str, tuple[int, int, int]] = {}
    with db.engine.connect() as conn:
        signature = reads.page_signature(conn, owner, status, limit, offset) if pages is not None else None
        if pages is not None and signature is not None and (body := pages.get(key, signature, now)) is not None:
            return body
        rows, total = reads.job_page(conn, owner, status, limit, offset,
                                     total=signature[1] if signature is not None else None)
        for r in rows:
            if r.status in TERMINAL:
                if (item := cache.items.get(tuple(r))) is not None:
                    parts[r.id] = item
            elif (hit := cache.counts.get(r.id)) is not None and hit[0] > now:
                counts[r.id] = hit[1]
        counts.update(reads.counts_of(conn, [r.id for r in rows if r.id not in parts and r.id not in counts]))
    for r in rows:
        if r.id in parts:
            continue
        parts[r.id] = _item(r, lease_seconds, counts[r.id])
        if r.status in TERMINAL:
            cache.put_item(tuple(r), parts[r.id])
        elif counts_seconds > 0:
            cache.put_counts(r.id, now + counts_seconds, counts[r.id])
    body = b'{"items":[' + b",".join(parts[r.id] for r in rows) + b'],"total":' + str(total).encode() + b"}"
    if pages is not None and signature is not None:
        live = any(r.status not in TERMINAL and r.status != "queued" for r in rows)
        if not live:
            pages.put(key, RenderedPage(signature, None, body))
        elif counts_seconds > 0:
            pages.put(key, RenderedPage(signature, now + counts_seconds, body))
    return body


def artifact_paths(job: Any) -> dict[str, str]:
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


def _asha_best(conn: Any, row: Any) -> tuple[dict[str, Any], BestCandidate | None]:
    """An asha job's extra fields, and its best: the top-rung winner, or the best at the highest rung reached."""
    from automcu.core.fidelity import fidelity_record

    extra: dict[str, Any] = {"fidelity": "asha", "asha": fidelity_record(row), "n_pruned": int(row.n_pruned or 0)}
    if row.best_arch is not None:
        best = BestCandidate(**{c: getattr(row, f"best_{c}") for c in reads.BEST_COLUMNS},
                             **memory_split(row.best_flash_bytes, row.best_peak_sram_bytes, row.hardware),
                             top_rung=True)
        return extra, best
    p = reads.best_partial_row(conn, row.id)
    if p is None:
        return extra, None
    extra["best_note"] = (f"no candidate completed the top rung yet: the best at the highest rung reached "
                          f"(rung {p.rung}), not a fully trained winner")
    return extra, BestCandidate(**{c: getattr(p, c) for c in reads.BEST_COLUMNS}, rung=p.rung, top_rung=False,
                                **memory_split(p.flash_bytes, p.peak_sram_bytes, row.hardware))


def _job_out(row: Any, lease_seconds: float, base_url: str, conn: Any = None) -> JobOut:
    artifacts = [Artifact(name=name, url=f"{base_url}/jobs/{row.id}/artifacts/{name}")
                 for name in artifact_paths(row)]
    best = BestCandidate(**{c: getattr(row, f"best_{c}") for c in reads.BEST_COLUMNS},
                         **memory_split(row.best_flash_bytes, row.best_peak_sram_bytes, row.hardware)) \
        if row.best_arch is not None else None
    extra: dict[str, Any] = {}
    if (getattr(row, "fidelity", None) or "full") == "asha" and conn is not None:
        extra, best = _asha_best(conn, row)
    return JobOut(
        **_brief(row, lease_seconds),
        hardware=row.hardware, max_latency_ms=row.max_latency_ms, task=row.task, task_spec=row.task_spec,
        proposer_used=row.proposer_used, seed=row.seed, epochs=row.epochs,
        heartbeat_at=row.heartbeat_at,
        cancel_requested=bool(row.cancel_requested), stop_reason=row.stop_reason, error=row.error, best=best,
        simulated_train_seconds=round(float(row.sim or 0.0), 3), wall_seconds=round(row.wall_seconds or 0.0, 3),
        artifacts=artifacts, **extra,
    )


def job_detail_json(db: Database, job_id: str, lease_seconds: float, base_url: str, owner: str | None = None,
                    cache: RenderedJobs | None = None) -> bytes:
    """The job as ``owner`` may see it (another owner's: not found), its counts and best, as JSON.

    One statement; a finished job already in ``cache`` costs a primary-key lookup of its row instead (see
    :mod:`api.cache`)."""
    key = (job_id, base_url)
    with db.engine.connect() as conn:
        if cache is not None and (hit := cache.get(key)) is not None:
            now = reads.job_row(conn, job_id)
            if now is not None and tuple(now) == hit.row:
                if owner is not None and hit.owner != owner:
                    raise JobNotFound(job_id)
                return hit.body
            cache.drop(key)  # resumed, given artifacts, deleted: read it again
        row = reads.job_detail(conn, job_id)
        if row is None or (owner is not None and row.owner != owner):
            raise JobNotFound(job_id)
        out = _job_out(row, lease_seconds, base_url, conn)
    body = out.__pydantic_serializer__.to_json(out)
    if cache is not None and row.status in TERMINAL:
        cache.put(key, Rendered(row=tuple(row)[:len(reads.JOBS.c)], owner=row.owner, body=body))
    return body


def _violation_text(raw: list[Any] | None) -> list[str]:
    out = []
    for v in raw or []:
        try:
            out.append(Violation(**v).describe())
        except Exception:  # a record written by an older version: show it as it is
            out.append(str(v))
    return out


def candidate_out(c: Candidate, hardware: dict[str, Any] | None = None) -> CandidateOut:
    return CandidateOut(
        **memory_split(c.flash_bytes, c.peak_sram_bytes, hardware),
        id=c.id, arch=c.arch, index=c.index, status=c.status, feasible=c.status != "infeasible",  # type: ignore[arg-type]
        step=c.step, proposer=c.proposer, reason=c.reason, parent=c.parent, violations=list(c.violations or []),
        violation_text=_violation_text(c.violations), flash_bytes=c.flash_bytes, peak_sram_bytes=c.peak_sram_bytes,
        latency_ms=c.latency_ms, macs=c.macs, params=c.params, eval_order=c.eval_order, val_acc=c.val_acc,
        test_acc=c.test_acc, train_seconds=c.train_seconds, error=c.error, created_at=c.created_at,
        evaluated_at=c.evaluated_at, rung=c.rung, rungs=c.rungs,  # type: ignore[arg-type]
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
        hardware = s.scalar(select(Job.hardware).where(Job.id == job_id))
    return [candidate_out(c, hardware) for c in rows], total
