"""How a job and its candidates are shown: status (``stale``), best candidate, memory split, the job record.

Pure functions over anything with a job's or a candidate's attributes: the ORM rows of
``automcu.storage.models`` or the plain rows of ``automcu.storage.sqlite_reads`` (the CLI's fast read path).
No SQLAlchemy (nor any other third-party) import here, so the fast path starts without it;
``automcu.storage.repository`` re-exports every name.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Protocol


class JobLike(Protocol):
    """The job fields these functions read (``automcu.storage.models.Job`` has them)."""

    id: str
    status: str
    dataset: str
    board: str | None
    hardware: dict[str, Any] | None
    max_latency_ms: float | None
    task: str | None
    task_spec: dict[str, Any] | None
    budget: int
    proposer: str
    proposer_used: str | None
    seed: int
    epochs: int
    owner: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    stop_reason: str | None
    error: str | None
    wall_seconds: float
    artifacts: dict[str, Any] | None


class CandidateLike(Protocol):
    """The candidate fields these functions read (``automcu.storage.models.Candidate`` has them)."""

    arch: str
    index: int
    status: str
    val_acc: float | None
    test_acc: float | None
    flash_bytes: int | None
    peak_sram_bytes: int | None
    latency_ms: float | None
    eval_order: int | None
    train_seconds: float | None


def _aware(ts: datetime | None) -> datetime | None:
    if ts is not None and ts.tzinfo is None:
        return ts.replace(tzinfo=timezone.utc)
    return ts


def is_stale(job: JobLike, lease_seconds: float) -> bool:
    """A running job whose heartbeat lapsed: its process died (or hangs)."""
    hb = _aware(job.heartbeat_at)
    return job.status == "running" and (
        hb is None or datetime.now(timezone.utc) - hb > timedelta(seconds=lease_seconds))


def display_status(job: JobLike, lease_seconds: float) -> str:
    return "stale" if is_stale(job, lease_seconds) else job.status


def best_candidate(cands: list[Any]) -> Any:
    """The evaluated candidate with the highest ``val_acc`` (the first evaluated among equals), or None;
    ``cands`` are :class:`CandidateLike` (ORM or plain rows: the same kind comes back)."""
    evaluated = [c for c in cands if c.status == "evaluated" and c.val_acc is not None]
    if not evaluated:
        return None
    return max(evaluated, key=lambda c: (c.val_acc, -(c.eval_order or 0)))


def memory_split(flash_bytes: int | None, peak_sram_bytes: int | None,
                 hardware: dict[str, Any] | None) -> dict[str, Any]:
    """Flash and SRAM as model/arena + runtime = total, against the limit (``*_limit_bytes`` None without
    hardware). ``flash_bytes``/``peak_sram_bytes`` are the totals (the estimator adds the board's runtime)."""
    hw = hardware or {}
    rt_flash = int(float(hw.get("runtime_flash_kb") or 0) * 1024)
    rt_sram = int(float(hw.get("runtime_sram_kb") or 0) * 1024)
    return {
        "flash_model_bytes": None if flash_bytes is None else flash_bytes - rt_flash,
        "flash_runtime_bytes": rt_flash, "flash_total_bytes": flash_bytes,
        "flash_limit_bytes": int(float(hw["flash_kb"]) * 1024) if hw.get("flash_kb") else None,
        "sram_arena_bytes": None if peak_sram_bytes is None else peak_sram_bytes - rt_sram,
        "sram_runtime_bytes": rt_sram, "sram_total_bytes": peak_sram_bytes,
        "sram_limit_bytes": int(float(hw["sram_kb"]) * 1024) if hw.get("sram_kb") else None,
    }


def best_partial(cands: list[Any]) -> Any:
    """Multi-fidelity, no candidate through the top rung: the unpruned candidate at the highest rung reached,
    with the best ``val_acc`` there (the first evaluated among equals), or None. Pruned ones never qualify."""
    started = [c for c in cands if c.status == "proposed" and getattr(c, "rung", None) is not None
               and c.val_acc is not None]
    if not started:
        return None
    return max(started, key=lambda c: (c.rung, c.val_acc, -c.id if isinstance(getattr(c, "id", None), int) else 0))


def candidate_brief(c: CandidateLike, hardware: dict[str, Any] | None = None) -> dict[str, Any]:
    """The contract's candidate fields plus the memory split of :func:`memory_split` (``hardware``: the
    job's hardware dict, whose runtime sizes the estimator added to the totals); a multi-fidelity candidate
    also has ``rung`` (the highest trained) and ``rungs`` (each one trained, with its decision)."""
    out = {
        "arch": c.arch, "index": c.index, "val_acc": c.val_acc, "test_acc": c.test_acc,
        "flash_bytes": c.flash_bytes, "peak_sram_bytes": c.peak_sram_bytes, "latency_ms": c.latency_ms,
        **memory_split(c.flash_bytes, c.peak_sram_bytes, hardware),
    }
    if getattr(c, "rungs", None):
        out.update(rung=c.rung, rungs=c.rungs)  # type: ignore[attr-defined]
    return out


def _fidelity_summary(job: JobLike, cands: list[Any], best: Any) -> dict[str, Any]:
    """An asha job's counts (pruned, rungs trained) and, without a top-rung winner yet, the best partial one."""
    if (getattr(job, "fidelity", None) or "full") != "asha":
        return {}
    out: dict[str, Any] = {"fidelity": "asha", "n_pruned": sum(c.status == "pruned" for c in cands),
                           "n_rungs": sum(len(getattr(c, "rungs", None) or []) for c in cands)}
    if best is None:
        partial = best_partial(cands)
        if partial is not None:
            out["best"] = {**candidate_brief(partial, job.hardware), "top_rung": False}
            out["best_note"] = (f"no candidate completed the top rung yet: the best at the highest rung reached "
                                f"(rung {partial.rung}), not a fully trained winner")
    else:
        out["best"] = {**candidate_brief(best, job.hardware), "top_rung": True}
    return out


def job_summary(job: JobLike, cands: list[Any], lease_seconds: float = 30.0) -> dict[str, Any]:
    """The contract's search result: {job_id, status, best, n_proposed, n_infeasible, n_evaluated, ...}."""
    best = best_candidate(cands)
    evaluated = [c for c in cands if c.status in ("evaluated", "pruned")]  # pruned: asha, counted in the budget
    out = {
        "job_id": job.id,
        "status": display_status(job, lease_seconds),
        "best": candidate_brief(best, job.hardware) if best else None,
        "n_proposed": len(cands),
        "n_infeasible": sum(c.status == "infeasible" for c in cands),
        "n_evaluated": len(evaluated),
        "simulated_train_seconds": round(sum(c.train_seconds or 0.0 for c in evaluated), 3),
        "wall_seconds": round(job.wall_seconds, 3),
        "stop_reason": job.stop_reason,  # why the search stopped (None while it runs)
    }
    out.update(_fidelity_summary(job, cands, best))
    return out


def job_record(job: JobLike, cands: list[Any] | None = None, lease_seconds: float = 30.0) -> dict[str, Any]:
    """A job as listed/shown: id, status, spec, timestamps and (when candidates are given) the summary."""
    out: dict[str, Any] = {
        "id": job.id, "status": display_status(job, lease_seconds), "dataset": job.dataset, "board": job.board,
        "hardware": job.hardware, "max_latency_ms": job.max_latency_ms, "task": job.task, "task_spec": job.task_spec,
        "budget": job.budget, "proposer": job.proposer, "proposer_used": job.proposer_used, "seed": job.seed,
        "epochs": job.epochs, "owner": job.owner, "created_at": job.created_at, "started_at": job.started_at,
        "finished_at": job.finished_at, "heartbeat_at": job.heartbeat_at, "stop_reason": job.stop_reason,
        "error": job.error, "artifacts": job.artifacts, "space": getattr(job, "space", None) or "nb201",
        "fidelity": getattr(job, "fidelity", None) or "full",
    }
    if out["fidelity"] == "asha":
        from automcu.core.fidelity import fidelity_record

        out["asha"] = fidelity_record(job)
    if cands is not None:
        summary = job_summary(job, cands, lease_seconds)
        summary.pop("job_id")
        summary.pop("status")
        out.update(summary)
    return out


__all__ = ["CandidateLike", "JobLike", "best_candidate", "best_partial", "candidate_brief", "display_status",
           "is_stale", "job_record", "job_summary", "memory_split"]
