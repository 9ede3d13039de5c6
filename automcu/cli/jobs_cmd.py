"""`automcu jobs`, `show`, `resume`, `cancel`.

Heavy modules (the planner, the job service, rich progress) are imported inside the commands that need
them, so `jobs` and `show` start fast: on a SQLite file at the newest schema they read through the stdlib
``sqlite3`` (``automcu.storage.sqlite_reads``, no SQLAlchemy import), otherwise through SQLAlchemy; both give
the same rows to the same ``automcu.storage.summaries`` helpers. Every JOB_ID may be a prefix unique in the
database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from automcu.cli.common import (
    UserError,
    emit_json,
    fast_reader,
    guarded,
    job_ref,
    only_match,
    open_db,
    resolve_job,
    settings_values,
)

if TYPE_CHECKING:
    from automcu.storage.db import Database
    from automcu.storage.models import Candidate, Job

DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: per-user SQLite)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
JobArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="job id, or a prefix of it unique in the database "
                                                               "(see `automcu jobs`)")]

#: `show --candidates --sort` keys: (description, key function, reverse).
SORTS: dict[str, str] = {
    "acc": "validation accuracy, best first (then feasible unevaluated, then infeasible)",
    "order": "proposal order, first first",
    "latency": "estimated latency, fastest first",
    "flash": "total Flash, smallest first",
    "sram": "peak SRAM, smallest first",
}


def _job(db_url: str | None, job_id: str) -> tuple[Database, Job]:
    db = open_db(db_url)
    return db, resolve_job(db, job_id)


def _fast_jobs(db_url: str | None, limit: int, lease: float) -> tuple[list[dict[str, Any]], int] | None:
    """`jobs` through the stdlib-sqlite3 reader: the records and the total; None when it does not apply."""
    from automcu.storage.sqlite_reads import FastReadUnavailable
    from automcu.storage.summaries import job_record

    reader = fast_reader(db_url)
    if reader is None:
        return None
    try:
        with reader:
            items, total = reader.jobs(limit)
            return [job_record(j, reader.candidates(j.id), lease) for j in items], total
    except FastReadUnavailable:
        return None


def _fast_job(db_url: str | None, ref: str) -> tuple[Any, list[Any]] | None:
    """`show`'s job (full id or unique prefix, as :func:`resolve_job`) and its candidates through the
    stdlib-sqlite3 reader; None when it does not apply. An unknown or ambiguous id is a UserError."""
    from automcu.storage.sqlite_reads import FastReadUnavailable

    reader = fast_reader(db_url)
    if reader is None:
        return None
    try:
        with reader:
            text = job_ref(ref)
            job = reader.job(text) or only_match(text, reader.jobs_with_prefix(text))
            return job, reader.candidates(job.id)
    except FastReadUnavailable:
        return None


def _lease() -> float:
    return settings_values()[1]


def _lineage(cands: list[Candidate], record: dict[str, Any], which: str) -> list[dict[str, Any]]:
    from automcu.engine.lineage import lineage
    from search_spaces.spaces import parse_in_space

    if which == "best":
        if not record.get("best"):
            raise UserError("the job has no evaluated candidate yet; name an arch with --lineage ARCH")
        arch = record["best"]["arch"]
    else:
        try:
            arch = parse_in_space(record.get("space") or "nb201", which).text
        except ValueError as exc:
            raise UserError(str(exc)) from None
    chain = lineage(cands, arch)
    if not chain:
        raise UserError(f"{arch} is not a candidate of job {record['id']}")
    return chain


def _sort_key(sort: str) -> Any:
    big = float("inf")
    rank = {"evaluated": 0, "feasible": 1, "proposed": 1, "infeasible": 2}

    def key(c: dict[str, Any]) -> tuple[Any, ...]:
        if sort == "acc":
            return (rank.get(c["status"], 3), -(c["val_acc"] if c["val_acc"] is not None else -big),
                    c["eval_order"] or 0, c["order"])
        if sort == "order":
            return (c["order"],)
        field = {"latency": "latency_ms", "flash": "flash_bytes", "sram": "peak_sram_bytes"}[sort]
        return (c[field] if c[field] is not None else big, c["order"])

    return key


def candidate_rows(cands: list[Candidate] | list[Any], hardware: dict[str, Any] | None, sort: str = "acc"
                   ) -> list[dict[str, Any]]:
    """Every candidate as in `show --json --candidates`, sorted by ``sort`` (see :data:`SORTS`); ``cands``: ORM
    rows or the fast reader's."""
    from automcu.storage.summaries import candidate_brief

    rows = []
    for i, c in enumerate(cands, 1):
        rows.append({**candidate_brief(c, hardware), "status": c.status, "proposer": c.proposer,
                     "reason": c.reason, "parent": c.parent, "violations": c.violations,
                     "eval_order": c.eval_order, "order": i})
    return sorted(rows, key=_sort_key(sort))


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def jobs(db: DbOpt = None, json_out: JsonOpt = False,
             limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 50) -> None:
        """List jobs, newest first."""
        from automcu.cli.render import out, print_jobs

        lease = _lease()
        fast = _fast_jobs(db, limit, lease)
        if fast is not None:
            rows, total = fast
        else:
            from automcu.storage.repository import candidates_of, job_record, list_jobs

            database = open_db(db)
            items, total = list_jobs(database, limit=limit)
            rows = [job_record(j, candidates_of(database, j.id), lease) for j in items]
        if json_out:
            emit_json(rows)
        else:
            print_jobs(rows)
            out.print(f"{len(rows)} of {total} jobs")

    @app.command()
    @guarded
    def show(job_id: JobArg, db: DbOpt = None, json_out: JsonOpt = False,
             candidates: Annotated[bool, typer.Option(
                 help="list the candidates (text: a page of --limit rows, sorted by --sort)")] = False,
             limit: Annotated[int, typer.Option(min=1, help="with --candidates: rows per page (text output)")] = 20,
             page: Annotated[int, typer.Option(min=1, help="with --candidates: which page (text output)")] = 1,
             sort: Annotated[str, typer.Option(
                 help="with --candidates: " + "; ".join(f"{k}: {v}" for k, v in SORTS.items()))] = "acc",
             lineage_of: Annotated[str | None, typer.Option(
                 "--lineage", help="the ancestry of this arch (`best`: the winner's): who proposed each step, why",
                 show_default=False)] = None) -> None:
        """One job: spec, status, best candidate; --candidates lists them.

        With --candidates, text output shows a page of --limit rows sorted by --sort (each arch whole on its
        own line); --json lists every candidate.
        """
        from automcu.cli.render import out, print_candidates, print_lineage, print_summary, record_target_line
        from automcu.storage.summaries import job_record, job_summary

        if sort not in SORTS:
            raise UserError(f"unknown --sort {sort!r}; choose one of {', '.join(SORTS)}")
        fast = _fast_job(db, job_id) if lineage_of is None else None  # --lineage walks ORM rows
        if fast is not None:
            job, cands = fast
        else:
            from automcu.storage.repository import candidates_of

            database, job = _job(db, job_id)
            cands = candidates_of(database, job.id)
        lease = _lease()
        record = job_record(job, cands, lease)
        if lineage_of is not None:
            record["lineage"] = _lineage(cands, record, lineage_of)
        rows = candidate_rows(cands, job.hardware, sort) if candidates else []
        if candidates:
            record["candidates"] = rows  # --json: every candidate (no paging)
        if json_out:
            emit_json(record)
            return
        print_summary(job_summary(job, cands, lease), dataset=job.dataset)
        out.print(record_target_line(record), soft_wrap=True, highlight=False)
        for key in ("dataset", "space", "task", "task_spec", "error"):
            if record.get(key) is not None and not (key == "space" and record[key] == "nb201"):
                out.print(f"{key}: {record[key]}", soft_wrap=True, highlight=False)
        if lineage_of is not None:
            print_lineage(record["lineage"])
        if candidates:
            print_candidates(rows, job.id, sort=sort, sort_text=SORTS[sort], limit=limit, page=page)

    @app.command()
    @guarded
    def resume(job_id: JobArg, db: DbOpt = None, json_out: JsonOpt = False,
               quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
               force: Annotated[bool, typer.Option(
                   "--force", help="take over the lease even if a live process holds it (that process stops "
                                   "at its next write; what it was evaluating is paid again)")] = False) -> None:
        """Finish a job whose process died (or that failed).

        Nothing evaluated is lost or paid twice.
        """
        from automcu.cli.render import out, print_summary
        from automcu.cli.search_run import run_with_progress

        database, job = _job(db, job_id)
        if job.status in ("succeeded", "cancelled"):
            raise UserError(f"job {job.id} has already {'finished' if job.status == 'succeeded' else 'been cancelled'}"
                            f" ({job.status}); nothing to resume")
        if force and job.status == "running" and not quiet:
            out.print(f"--force: taking over the lease of {job.lease_owner}; if that process is still alive it "
                      "stops at its next write, and any evaluation it had in flight is paid again")
        summary = run_with_progress(database, job, quiet=quiet, allow_failed=True, force=force)
        emit_json(summary) if json_out else print_summary(summary, dataset=job.dataset)

    @app.command()
    @guarded
    def cancel(job_id: JobArg, db: DbOpt = None, json_out: JsonOpt = False) -> None:
        """Ask a queued or running job to stop."""
        from automcu.cli.render import out
        from automcu.storage.repository import request_cancel

        database, job = _job(db, job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            raise UserError(f"job {job.id} has already finished ({job.status}); nothing to cancel")
        job = request_cancel(database, job.id)
        emit_json({"id": job.id, "status": job.status}) if json_out else out.print(f"job {job.id}: {job.status}")
