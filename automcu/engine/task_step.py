"""The planner's first step with an LLM configured: the job's task text → a structured spec.

It runs inside the worker that claimed the job (never in a request handler: the chat call may take
seconds and retries). Explicit fields of the submitted spec always win; what the text adds (a board
or raw limits when none was given, a latency limit) is written onto the job, and the derived spec is
stored as ``task_spec`` together with the agent's in/out messages, so it runs once per job even
across a kill and resume.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from automcu.core.config import Settings
from automcu.hardware.spec import HardwareSpec
from automcu.jobs.spec import JobSpec
from automcu.storage.db import Database
from automcu.storage.models import AgentMessage, Event, Job
from automcu.storage.repository import add_event

TASK_STEP = 0


def apply_task_text(spec: JobSpec, hardware: HardwareSpec | None,
                    settings: Settings | None = None) -> tuple[JobSpec, HardwareSpec | None, dict[str, Any]]:
    """Task text → typed spec merged under the explicit one; returns the new spec, its hardware, the derived spec."""
    from automcu.jobs.task_spec import merge_task_spec, parse_task

    derived = parse_task(spec.task, settings)
    if derived is None:
        return spec, hardware, {}
    custom = spec.hardware.model_dump() if spec.hardware else {}
    explicit = {"dataset": spec.dataset, "board": spec.board, "max_latency_ms": spec.max_latency_ms, **custom}
    merged = merge_task_spec(derived, explicit)
    fields = spec.model_dump(exclude={"hardware", "board", "max_latency_ms", "dataset"})
    hw = {k: merged[k] for k in ("sram_kb", "flash_kb", "clock_mhz", "core") if merged.get(k) is not None}
    try:
        new = JobSpec(**fields, dataset=merged["dataset"], board=merged["board"],
                      max_latency_ms=merged["max_latency_ms"], hardware=hw or None)
        new_hw = new.resolve_hardware()
    except ValueError as exc:  # the text named limits that don't make a target: keep the explicit spec
        derived.notes.append(f"derived spec ignored: {exc}")
        return spec, hardware, derived.model_dump()
    return new, new_hw, derived.model_dump()


def _submitted_spec(db: Database, job: Job) -> JobSpec:
    """The spec exactly as submitted (the ``created`` event), so explicit means what the user gave."""
    with db.read_session() as s:
        created = s.scalars(
            select(Event).where(Event.job_id == job.id, Event.kind == "created").order_by(Event.id).limit(1)
        ).first()
    if created is not None and isinstance(created.payload.get("spec"), dict):
        return JobSpec(**created.payload["spec"])
    return JobSpec(dataset=job.dataset, board=job.board, max_latency_ms=job.max_latency_ms, task=job.task,
                   budget=job.budget, proposer=job.proposer, seed=job.seed, epochs=job.epochs)


def derive_job_spec(db: Database, job: Job, settings: Settings) -> Job:
    """Run the task step once for a job that has task text, an LLM configured and no derived spec yet."""
    if not job.task or not job.task.strip() or not settings.llm_configured or job.task_spec is not None:
        return job
    spec = _submitted_spec(db, job)
    hardware = HardwareSpec(**job.hardware) if job.hardware else None
    new_spec, new_hw, derived = apply_task_text(spec, hardware, settings)
    with db.transaction() as s:
        row = s.get(Job, job.id)
        assert row is not None
        row.task_spec = derived
        row.dataset = new_spec.dataset
        row.max_latency_ms = new_spec.max_latency_ms
        row.hardware = new_hw.model_dump() if new_hw else None
        row.board = new_hw.name if new_hw else None
        s.add(AgentMessage(job_id=job.id, step=TASK_STEP, agent="task", direction="in", payload={"task": job.task}))
        s.add(AgentMessage(job_id=job.id, step=TASK_STEP, agent="task", direction="out", payload=derived))
        add_event(s, job.id, "task_spec", task_spec=derived, board=row.board, max_latency_ms=row.max_latency_ms)
        s.flush()
        s.expunge(row)
    return row
