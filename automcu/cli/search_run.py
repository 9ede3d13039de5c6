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


def validate_spec(spec: JobSpec) -> HardwareSpec | None:
    """Everything about a spec that can be wrong, checked before anything is stored; its hardware."""
    try:
        hardware = spec.resolve_hardware()
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if spec.proposer == "llm" and not get_settings().llm_configured:
        raise UserError("proposer 'llm' needs AUTOMCU_LLM_BASE_URL (an OpenAI-compatible endpoint); "
                        "use --proposer evolution to search offline")
    if spec.real_data:
        check_real_data(spec.dataset, spec.data_path)
    return hardware


def check_real_data(dataset: str, data_path: str | None) -> None:
    """A real-data search needs its files (and the train extra) before anything is stored."""
    from automcu.data import DatasetError, load_dataset
    from automcu.deploy.extras import MissingExtraError, require_extra

    try:
        require_extra("torch", "sklearn")
    except MissingExtraError as exc:
        raise UserError(f"searching on {dataset} trains networks: {exc}") from None
    try:
        load_dataset(dataset, data_path)
    except (DatasetError, OSError) as exc:
        raise UserError(str(exc)) from None


def prepare_job(spec: JobSpec, db: Database | str | None, owner: str | None = None) -> tuple[Database, Job]:
    """Validate the spec, then store the queued job (task text is turned into a spec by the planner's first step)."""
    hardware = validate_spec(spec)
    database = db if isinstance(db, Database) else open_db(db)
    return database, create_job(database, spec, hardware, owner=owner)


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
