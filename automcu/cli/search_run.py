"""Shared by `search`, `batch` and `resume`: validate a spec, create the job, run it with progress."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from automcu.cli.common import UserError, console, open_db
from automcu.core.config import get_settings
from automcu.jobs import service as jobs
from automcu.jobs.spec import JobSpec
from automcu.storage.db import Database
from automcu.storage.models import Job
from automcu.storage.repository import candidates_of, create_job, job_summary

__all__ = ["open_db", "prepare_job", "run_with_progress"]


def prepare_job(spec: JobSpec, db: Database | str | None, owner: str | None = None) -> tuple[Database, Job]:
    """The CLI's :func:`automcu.jobs.prepare_job`: board files by path allowed, errors as exit messages."""
    try:
        hardware = jobs.validate_spec(spec)  # before the database is opened: bad input creates nothing
    except jobs.JobError as exc:
        raise UserError(str(exc)) from None
    database = db if isinstance(db, Database) else open_db(db)
    return database, create_job(database, spec, hardware, owner=owner)


def space_fit(job: Job) -> dict[str, Any]:
    """How many archs of the whole space the estimator says fit the job's target, counted over every arch
    (``{space_feasible, space_size}``; both None for an unconstrained job). The planner computed the same
    set for this process when it ran the job, so this is a cache hit after a search. The mcu space (1.4 M
    archs) is not swept: ``space_feasible`` is None there, never a guess."""
    if not job.hardware and job.max_latency_ms is None:
        return {"space_feasible": None, "space_size": None}
    from agents.feasibility import feasible_set
    from automcu.hardware.spec import HardwareSpec
    from search_spaces.nb201.space import SPACE_SIZE
    from search_spaces.spaces import space_size

    if (job.space or "nb201") != "nb201":
        return {"space_feasible": None, "space_size": space_size(job.space)}

    hardware = HardwareSpec(**job.hardware) if job.hardware else None
    return {"space_feasible": len(feasible_set(job.dataset, hardware, job.max_latency_ms)),
            "space_size": int(SPACE_SIZE)}


def _plain_every(budget: int) -> int:
    """Evaluations between two progress lines when stderr is not a terminal (about ten lines a job)."""
    return max(1, budget // 10)


def waiting_line(job_id: str, data: dict[str, Any]) -> str:
    """One progress line while the proposer awaits its endpoint (an LLM reply, or the backoff before a retry)."""
    what = "backing off before retrying" if data.get("backoff") else "waiting for a reply"
    return (f"job {job_id}: {data.get('proposer', 'proposer')} {what}: {data['elapsed_s']:.0f} s of "
            f"{data['limit_s']:.0f} s (try {int(data['try'])}; falls back to the offline proposer once "
            f"{data['deadline_left_s']:.0f} s more are lost)")


def rung_line(job_id: str, data: dict[str, Any], budget: int) -> str:
    """One progress line of an asha job: which rung the candidate trained, its accuracy, the pruner's decision."""
    what = {"promoted": "promoted to the next rung", "pruned": "pruned",
            "completed": "completed the top rung" + (" (new best)" if data.get("improved") else "")}[data["decision"]]
    return (f"job {job_id}: {data['n_evaluated']}/{budget} evaluated; index {data['index']} rung "
            f"{data['rung'] + 1}/{data['top_rung'] + 1} ({data['epochs']} ep, {data['data_fraction']:.0%} of the "
            f"images): val {data['val_acc']:.2f} %, {what}")


def run_with_progress(db: Database, job: Job, quiet: bool = False, allow_failed: bool = False,
                      force: bool = False) -> dict[str, Any]:
    from automcu.engine.planner import JobBusy, run_job

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(), console=console, transient=True, disable=quiet,
    ) as bar:
        task = bar.add_task(f"job {job.id}", total=job.budget, best="")
        asha = (job.fidelity or "full") == "asha"

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if asha and kind in ("rung_promoted", "pruned", "evaluated"):
                on_rung(kind, data)
            elif kind == "evaluated":
                best = f"val {data['val_acc']:.2f}" if data.get("improved") else None
                bar.update(task, completed=data["n_evaluated"], **({"best": best} if best else {}))
                n = data["n_evaluated"]
                if not quiet and not console.is_terminal and (n % _plain_every(job.budget) == 0 or n == job.budget):
                    console.print(f"job {job.id}: {n}/{job.budget} evaluated {bar.tasks[0].fields['best']}".rstrip(),
                                  soft_wrap=True)
            elif kind == "asha_resumed" and not quiet:
                console.print(f"job {job.id}: resuming asha with {data['rungs']} stored rungs of "
                              f"{data['candidates']} candidates (not trained again)", soft_wrap=True, highlight=False)
            elif kind == "proposer_fallback":
                console.print(f"[yellow]proposer fallback:[/] {data['reason']}", soft_wrap=True, highlight=False)
            elif kind == "proposer_waiting" and not quiet:
                console.print(waiting_line(job.id, data), soft_wrap=True, highlight=False)

        def on_rung(kind: str, data: dict[str, Any]) -> None:
            """Asha: every rung's decision is a line (rungs are seconds to minutes of training each)."""
            if data.get("improved"):
                bar.update(task, best=f"val {data['val_acc']:.2f}")
            bar.update(task, completed=data["n_evaluated"])
            if quiet:
                return
            console.print(rung_line(job.id, data, job.budget), soft_wrap=True, highlight=False)

        try:
            run_job(db, job.id, progress=on_event, allow_failed=allow_failed, force=force)
        except JobBusy as exc:
            raise UserError(str(exc)) from None
        except KeyboardInterrupt:  # the planner released the lease and marked the job interrupted
            bar.stop()
            console.print(f"interrupted: job {job.id} stopped; resume it with `automcu resume {job.id}`")
            raise SystemExit(130) from None
    from automcu.storage.repository import get_job

    final = get_job(db, job.id)
    return job_summary(final, candidates_of(db, job.id), get_settings().lease_seconds)
