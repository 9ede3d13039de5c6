"""`automcu worker`: run queued (and stale) jobs from the database until stopped."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from automcu.cli.common import emit_json, guarded, open_db

EXECUTORS = ("inprocess", "process", "ray")


def register(app: typer.Typer) -> None:
    @app.command()
    @guarded
    def worker(
        db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: per-user SQLite)")] = None,
        poll: Annotated[float, typer.Option(min=0.05, help="seconds between polls when idle")] = 1.0,
        exit_when_idle: Annotated[bool, typer.Option("--exit-when-idle", help="stop when nothing is left")] = False,
        max_jobs: Annotated[int | None, typer.Option(min=1, help="stop after this many jobs")] = None,
        parent_pid: Annotated[int | None, typer.Option(hidden=True, help="exit when this process is gone")] = None,
        nice: Annotated[int, typer.Option(min=0, max=19, help="lower this process's CPU priority by N")] = 0,
        executor: Annotated[str | None, typer.Option(
            help="where evaluations run: inprocess | process | ray (default: AUTOMCU_EXECUTOR, else ray when "
                 "a Ray address is set, else inprocess)")] = None,
        executor_workers: Annotated[int | None, typer.Option(
            min=1, help="process-pool size, or CPUs of a Ray started locally (default: all CPUs)")] = None,
        ray_address: Annotated[str | None, typer.Option(
            help="Ray cluster: HOST:6379 on a cluster node, ray://HOST:10001 from outside")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="print {jobs_run} at the end")] = False,
    ) -> None:
        """Run queued jobs (and those whose worker died) from a database.

        Several workers may share one database; each claims a job by its lease.
        """
        from automcu.cli.common import UserError
        from automcu.engine.worker import serve_forever

        if executor is not None and executor not in EXECUTORS:
            raise UserError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
        for var, value in (("AUTOMCU_EXECUTOR", executor), ("AUTOMCU_EXECUTOR_WORKERS", executor_workers),
                           ("AUTOMCU_RAY_ADDRESS", ray_address)):
            if value is not None:
                os.environ[var] = str(value)  # executor settings are read from the environment
        from automcu.core.config import get_settings

        get_settings.cache_clear()  # the settings root is read again with these
        from automcu.executors import shared_executor
        from automcu.executors.ray_executor import ExecutorUnavailable

        try:
            shared_executor()  # a missing extra or an unreachable cluster is reported now, not per job
        except (ExecutorUnavailable, ValueError) as exc:
            raise UserError(str(exc)) from None

        if nice and hasattr(os, "nice"):
            os.nice(nice)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s worker[%(process)d] %(message)s")
        database = open_db(db)
        ran = serve_forever(database.url, poll_seconds=poll, exit_when_idle=exit_when_idle, max_jobs=max_jobs,
                            parent_pid=parent_pid)
        if json_out:
            emit_json({"jobs_run": ran})
