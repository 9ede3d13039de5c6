"""`automcu jobs`, `show`, `resume`, `cancel`."""

from __future__ import annotations

from typing import Annotated

import typer

from automcu.cli.common import UserError, emit_json, guarded
from automcu.cli.render import out, print_jobs, print_lineage, print_summary
from automcu.cli.search_run import open_db, run_with_progress
from automcu.core.config import get_settings
from automcu.storage.repository import (
    JobNotFound,
    candidate_brief,
    candidates_of,
    get_job,
    job_record,
    job_summary,
    list_jobs,
    request_cancel,
)

DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: per-user SQLite)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]


def _job(db_url: str | None, job_id: str):  # type: ignore[no-untyped-def]
    db = open_db(db_url)
    try:
        return db, get_job(db, job_id)
    except JobNotFound as exc:
        raise UserError(str(exc)) from None


def _lineage(cands: list, record: dict, which: str) -> list[dict]:  # type: ignore[type-arg]
    from automcu.engine.lineage import lineage
    from search_spaces.nb201.space import ArchError, parse_arch

    if which == "best":
        if not record.get("best"):
            raise UserError("the job has no evaluated candidate yet; name an arch with --lineage ARCH")
        arch = record["best"]["arch"]
    else:
        try:
            arch = parse_arch(which).to_string()
        except ArchError as exc:
            raise UserError(str(exc)) from None
    chain = lineage(cands, arch)
    if not chain:
        raise UserError(f"{arch} is not a candidate of job {record['id']}")
    return chain


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def jobs(db: DbOpt = None, json_out: JsonOpt = False,
             limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 50) -> None:
        """List jobs, newest first."""
        database = open_db(db)
        lease = get_settings().lease_seconds
        items, total = list_jobs(database, limit=limit)
        rows = [job_record(j, candidates_of(database, j.id), lease) for j in items]
        if json_out:
            emit_json(rows)
        else:
            print_jobs(rows)
            out.print(f"{len(rows)} of {total} jobs")

    @app.command()
    @guarded
    def show(job_id: str, db: DbOpt = None, json_out: JsonOpt = False,
             candidates: Annotated[bool, typer.Option(help="include every candidate")] = False,
             lineage_of: Annotated[str | None, typer.Option(
                 "--lineage", help="the ancestry of this arch (`best`: the winner's): who proposed each step, why",
                 show_default=False)] = None) -> None:
        """One job: its spec, status, best candidate and counts."""
        database, job = _job(db, job_id)
        cands = candidates_of(database, job.id)
        record = job_record(job, cands, get_settings().lease_seconds)
        if lineage_of is not None:
            record["lineage"] = _lineage(cands, record, lineage_of)
        if candidates:
            record["candidates"] = [
                {**candidate_brief(c), "status": c.status, "proposer": c.proposer, "reason": c.reason,
                 "parent": c.parent, "violations": c.violations, "eval_order": c.eval_order} for c in cands]
        if json_out:
            emit_json(record)
        else:
            print_summary(job_summary(job, cands, get_settings().lease_seconds))
            for key in ("dataset", "board", "hardware", "max_latency_ms", "task", "task_spec", "stop_reason", "error"):
                if record.get(key) is not None:
                    out.print(f"{key}: {record[key]}")
            if lineage_of is not None:
                print_lineage(record["lineage"])

    @app.command()
    @guarded
    def resume(job_id: str, db: DbOpt = None, json_out: JsonOpt = False,
               quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
               force: Annotated[bool, typer.Option(
                   "--force", help="take over the lease even if a live process holds it (that process stops "
                                   "at its next write; what it was evaluating is paid again)")] = False) -> None:
        """Finish a job whose process died (or that failed): nothing evaluated is lost or paid twice."""
        database, job = _job(db, job_id)
        if job.status in ("succeeded", "cancelled"):
            raise UserError(f"job {job.id} has already {'finished' if job.status == 'succeeded' else 'been cancelled'}"
                            f" ({job.status}); nothing to resume")
        if force and job.status == "running" and not quiet:
            out.print(f"--force: taking over the lease of {job.lease_owner}; if that process is still alive it "
                      "stops at its next write, and any evaluation it had in flight is paid again")
        summary = run_with_progress(database, job, quiet=quiet, allow_failed=True, force=force)
        emit_json(summary) if json_out else print_summary(summary)

    @app.command()
    @guarded
    def cancel(job_id: str, db: DbOpt = None, json_out: JsonOpt = False) -> None:
        """Ask a queued or running job to stop."""
        database, job = _job(db, job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            raise UserError(f"job {job.id} has already finished ({job.status}); nothing to cancel")
        job = request_cancel(database, job.id)
        emit_json({"id": job.id, "status": job.status}) if json_out else out.print(f"job {job.id}: {job.status}")
