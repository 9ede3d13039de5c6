"""Job workers: poll the database for queued and stale jobs, claim them and run them to the end.

A worker is a plain process (``automcu worker``); ``automcu serve`` starts a pool of them beside the
API, so a slow job never blocks a request. Any number of workers may share one database: the planner
claims a job atomically (a lease renewed by heartbeats), so each job runs in one place at a time, and
a job whose worker died (its heartbeat lapsed) is taken over and resumed by the next worker that polls.
A worker stopped with SIGTERM/SIGINT releases the lease of the job it was running, so a restart
resumes it at once instead of after the lease time.

The worker runs the planner; the planner's evaluations go through the executor the settings select
(``automcu.executors``: in-process by default, a local process pool, or Ray via ``AUTOMCU_RAY_ADDRESS``).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import FrameType

from sqlalchemy import or_, select, update

from automcu.core.config import Settings, get_settings
from automcu.storage.db import Database, open_database
from automcu.storage.models import Job, utcnow
from automcu.storage.repository import add_event, claim_next_job

log = logging.getLogger("automcu.engine.worker")


class Worker:
    """Runs claimable jobs one after another in this process."""

    def __init__(self, db: Database, settings: Settings | None = None, poll_seconds: float = 1.0) -> None:
        self.db = db
        self.settings = settings or get_settings()
        self.poll_seconds = poll_seconds
        self.current: str | None = None  # the job being run now
        self._stop = threading.Event()
        self.jobs_run = 0

    # ----- what to run ---------------------------------------------------------------------------
    def _lapsed(self):  # type: ignore[no-untyped-def]
        return utcnow() - timedelta(seconds=self.settings.lease_seconds)

    def claimable(self, limit: int = 20) -> list[str]:
        """Queued jobs and running jobs whose worker stopped beating, oldest first."""
        stale = (Job.status == "running") & or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < self._lapsed())
        with self.db.read_session() as s:
            q = (select(Job.id).where((Job.status == "queued") | stale, Job.cancel_requested.is_(False))
                 .order_by(Job.created_at, Job.id).limit(limit))
            return list(s.scalars(q))

    def reap_cancelled(self) -> list[str]:
        """Stale jobs with a cancel request have no one left to honour it: mark them cancelled."""
        lapsed = self._lapsed()
        done: list[str] = []
        with self.db.transaction() as s:
            ids = list(s.scalars(select(Job.id).where(
                Job.status == "running", Job.cancel_requested.is_(True),
                or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < lapsed))))
            for job_id in ids:
                res = s.execute(update(Job).where(
                    Job.id == job_id, Job.status == "running",
                    or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < lapsed),
                ).values(status="cancelled", finished_at=utcnow(), stop_reason="cancelled by user"))
                if res.rowcount:
                    add_event(s, job_id, "finished", status="cancelled", reason="cancelled by user", error=None)
                    done.append(job_id)
        return done

    # ----- running -------------------------------------------------------------------------------
    def run_once(self) -> str | None:
        """Claim and run one job to its end; its id, or None when there was nothing to claim.

        The claim is atomic across processes sharing the database (``claim_next_job``: row locks with
        SKIP LOCKED on PostgreSQL, a conditional UPDATE on SQLite), so no job runs in two places.
        """
        from automcu.engine.planner import JobBusy, run_job, worker_id

        for job_id in self.reap_cancelled():
            log.info("job %s: cancelled (its worker had died)", job_id)
        if self._stop.is_set():
            return None
        job_id = claim_next_job(self.db, worker_id(), self.settings.lease_seconds)
        if job_id is None:
            return None
        self.current = job_id
        try:
            log.info("job %s: claimed", job_id)
            job = run_job(self.db, job_id)
            log.info("job %s: %s (%s)", job_id, job.status, job.stop_reason)
        except JobBusy as exc:
            log.info("job %s: %s", job_id, exc)  # taken over, or cancelled, before it started here
            return job_id
        except (KeyboardInterrupt, SystemExit):
            self.current = None
            self.release(job_id)
            log.info("job %s: lease released; the next worker resumes it", job_id)
            raise
        except Exception as exc:  # the planner recorded the job as failed; keep serving others
            log.error("job %s: failed: %s: %s", job_id, type(exc).__name__, exc)
        finally:
            self.current = None
        self.jobs_run += 1
        return job_id

    def release(self, job_id: str) -> None:
        """Give up this process's lease on ``job_id`` so the next worker resumes it without waiting."""
        from automcu.engine.planner import worker_id

        with self.db.transaction() as s:
            s.execute(update(Job).where(Job.id == job_id, Job.status == "running", Job.lease_owner == worker_id())
                      .values(heartbeat_at=None))
            add_event(s, job_id, "released", worker=worker_id())

    def stop(self) -> None:
        self._stop.set()

    def run(self, exit_when_idle: bool = False, max_jobs: int | None = None,
            alive: Callable[[], bool] | None = None) -> int:
        """Serve until stopped (or idle / ``max_jobs`` done / ``alive()`` false); the number of jobs run."""
        while not self._stop.is_set():
            if alive is not None and not alive():
                log.info("parent process gone; worker exits")
                break
            try:
                ran = self.run_once()
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # e.g. the database briefly unreachable
                log.error("poll failed: %s: %s", type(exc).__name__, exc)
                ran = None
            if max_jobs is not None and self.jobs_run >= max_jobs:
                break
            if ran is None:
                if exit_when_idle:
                    break
                self._stop.wait(self.poll_seconds)
        return self.jobs_run


def serve_forever(db_url: str | None = None, poll_seconds: float = 1.0, exit_when_idle: bool = False,
                  max_jobs: int | None = None, parent_pid: int | None = None) -> int:
    """A worker process's main loop, with SIGTERM/SIGINT releasing the running job's lease."""
    worker = Worker(open_database(db_url), poll_seconds=poll_seconds)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        worker.stop()
        if worker.current is not None:
            raise SystemExit(128 + signum)  # interrupts the planner; the lease is released below

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    alive = (lambda: os.getppid() == parent_pid) if parent_pid else None
    return worker.run(exit_when_idle=exit_when_idle, max_jobs=max_jobs, alive=alive)


class WorkerPool:
    """``n`` worker subprocesses (``automcu worker``) beside the API; dead ones are restarted."""

    def __init__(self, n: int, db_url: str, poll_seconds: float = 1.0, check_seconds: float = 2.0,
                 nice: int = 10) -> None:
        self.n = n
        self.nice = nice  # workers are batch work: the API beside them stays responsive on a busy machine
        self.db_url = db_url
        self.poll_seconds = poll_seconds
        self.check_seconds = check_seconds
        self.procs: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "automcu.cli.app", "worker", "--db", self.db_url,
               "--poll", str(self.poll_seconds), "--parent-pid", str(os.getpid()), "--nice", str(self.nice)]
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)

    def start(self) -> WorkerPool:
        with self._lock:
            self.procs = [self._spawn() for _ in range(self.n)]
        self._supervisor = threading.Thread(target=self._supervise, name="worker-pool", daemon=True)
        self._supervisor.start()
        return self

    def _supervise(self) -> None:
        while not self._stop.wait(self.check_seconds):
            with self._lock:
                for i, proc in enumerate(self.procs):
                    if proc.poll() is not None and not self._stop.is_set():
                        log.warning("worker pid %d exited with %s; starting another", proc.pid, proc.returncode)
                        self.procs[i] = self._spawn()
                        self.restarts += 1

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every worker (each releases its job's lease), then kill what is left after ``timeout``."""
        self._stop.set()
        with self._lock:
            for proc in self.procs:
                if proc.poll() is None:
                    proc.terminate()
            deadline = time.monotonic() + timeout
            for proc in self.procs:
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]
