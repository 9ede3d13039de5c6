"""Shared by `search`, `batch` and `resume`: validate a spec, create the job, run it with progress."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from automcu.cli.common import UserError, console
from automcu.config import get_settings
from automcu.hardware.spec import HardwareSpec
from automcu.jobspec import JobSpec
from automcu.storage.db import Database, StorageError, open_database
from automcu.storage.models import Job
from automcu.storage.repository import candidates_of, create_job, job_summary


def open_db(url: str | None) -> Database:
    try:
        return open_database(url)
    except StorageError as exc:
        raise UserError(str(exc)) from None


def prepare_job(spec: JobSpec, db_url: str | None, owner: str | None = None) -> tuple[Database, Job]:
    """Validate everything that can be wrong before anything is stored, then store the queued job."""
    try:
        hardware = spec.resolve_hardware()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    task_spec: dict[str, Any] | None = None
    settings = get_settings()
    if spec.proposer == "llm" and not settings.llm_configured:
        raise UserError("proposer 'llm' needs AUTOMCU_LLM_BASE_URL (an OpenAI-compatible endpoint); "
                        "use --proposer evolution to search offline")
    if spec.task and settings.llm_configured:
        spec, hardware, task_spec = apply_task_text(spec, hardware)
    db = open_db(db_url)
    return db, create_job(db, spec, hardware, owner=owner, task_spec=task_spec)


def apply_task_text(spec: JobSpec, hardware: HardwareSpec | None) -> tuple[JobSpec, HardwareSpec | None, dict]:
    """First planner step with an LLM: task text → typed spec; explicit flags always win."""
    from automcu.task_spec import merge_task_spec, parse_task

    derived = parse_task(spec.task)
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


def run_with_progress(db: Database, job: Job, quiet: bool = False, allow_failed: bool = False) -> dict[str, Any]:
    from automcu.planner import JobBusy, run_job

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(), console=console, transient=True, disable=quiet,
    ) as bar:
        task = bar.add_task(f"job {job.id}", total=job.budget, best="")

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "evaluated":
                best = f"val {data['val_acc']:.2f}" if data.get("improved") else None
                bar.update(task, completed=data["n_evaluated"], **({"best": best} if best else {}))
            elif kind == "proposer_fallback":
                console.print(f"[yellow]proposer fallback:[/] {data['reason']}")

        try:
            run_job(db, job.id, progress=on_event, allow_failed=allow_failed)
        except JobBusy as exc:
            raise UserError(str(exc)) from None
    from automcu.storage.repository import get_job

    final = get_job(db, job.id)
    return job_summary(final, candidates_of(db, job.id), get_settings().lease_seconds)
