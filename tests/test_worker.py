"""Workers: queued and stale jobs are resumed after a crash or restart; nothing is evaluated twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from automcu.core.config import get_settings
from automcu.engine.planner import run_job
from automcu.engine.worker import Worker, WorkerPool
from automcu.jobs.spec import JobSpec
from automcu.storage.db import Database, open_database
from automcu.storage.models import Job, utcnow
from automcu.storage.repository import candidates_of, create_job, events_of, get_job

ROOT = Path(__file__).resolve().parents[1]


def _job(db: Database, budget: int = 12, **kw: Any) -> str:
    return create_job(db, JobSpec(dataset="cifar10", budget=budget, proposer="random", **kw), None, owner="t").id


def _evaluated(db: Database, job_id: str) -> list[int]:
    return sorted(c.eval_order for c in candidates_of(db, job_id, "evaluated") if c.eval_order is not None)


def _wait(pred: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _worker(db_url: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "automcu.cli.app", "worker", "--db", db_url, "--poll", "0.1", *args],
                            env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_worker_runs_queued_and_resumes_a_stale_job(db_url: str) -> None:
    db = open_database(db_url)
    crashed, queued = _job(db), _job(db, budget=5)

    def die_after_three(kind: str, data: dict[str, Any]) -> None:
        if kind == "evaluated" and data["n_evaluated"] == 3:
            # the process "dies" right after its third evaluation was stored (SystemExit leaves the lease held,
            # as a killed process does; Ctrl-C instead marks the job interrupted, see test_resume_lease.py)
            raise SystemExit(1)

    with pytest.raises(SystemExit):
        run_job(db, crashed, progress=die_after_three)
    assert get_job(db, crashed).status == "running" and _evaluated(db, crashed) == [1, 2, 3]
    worker = Worker(db, poll_seconds=0.05)
    assert worker.claimable() == [queued]  # the crashed job still holds a live lease
    with db.transaction() as s:  # its heartbeat lapses
        s.execute(update(Job).where(Job.id == crashed).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert worker.claimable() == [crashed, queued]
    assert worker.run(exit_when_idle=True) == 2
    for job_id, budget in ((crashed, 12), (queued, 5)):
        assert get_job(db, job_id).status == "succeeded"
        assert _evaluated(db, job_id) == list(range(1, budget + 1))  # nothing lost, nothing paid twice
    assert [e.kind for e in events_of(db, crashed)].count("started") == 2


def test_killed_worker_process_is_taken_over_by_another(db_url: str) -> None:
    db = open_database(db_url)
    job_id = _job(db, budget=40)
    slow = {"AUTOMCU_LEASE_SECONDS": "1", "AUTOMCU_SIMULATED_TIME_SCALE": "4e-5"}  # ~0.1 s per evaluation
    first = _worker(db_url, **slow)
    try:
        _wait(lambda: len(_evaluated(db, job_id)) >= 3)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    done_before = len(_evaluated(db, job_id))
    assert get_job(db, job_id).status == "running" and done_before < 40
    time.sleep(1.2)  # the lease lapses: the job reads as stale
    second = _worker(db_url, "--exit-when-idle", AUTOMCU_LEASE_SECONDS="1")
    assert second.wait(60) == 0
    assert get_job(db, job_id).status == "succeeded" and _evaluated(db, job_id) == list(range(1, 41))


def test_sigterm_releases_the_lease_so_a_restart_resumes_at_once(db_url: str) -> None:
    db = open_database(db_url)
    job_id = _job(db, budget=40)
    first = _worker(db_url, AUTOMCU_SIMULATED_TIME_SCALE="4e-5")  # default 30 s lease
    _wait(lambda: len(_evaluated(db, job_id)) >= 2)
    first.terminate()
    assert first.wait(15) != 0
    job = get_job(db, job_id)
    assert job.status == "running" and job.heartbeat_at is None
    assert "released" in [e.kind for e in events_of(db, job_id)]
    started = time.monotonic()
    assert _worker(db_url, "--exit-when-idle").wait(60) == 0
    assert time.monotonic() - started < 20  # not after the 30 s lease
    assert get_job(db, job_id).status == "succeeded" and _evaluated(db, job_id) == list(range(1, 41))


def test_cancel_of_a_job_whose_worker_died_is_honoured(db_url: str) -> None:
    db = open_database(db_url)
    job_id = _job(db)
    with db.transaction() as s:
        s.execute(update(Job).where(Job.id == job_id).values(status="running", lease_owner="gone:1:1",
                                                             cancel_requested=True,
                                                             heartbeat_at=utcnow() - timedelta(hours=1)))
    assert Worker(db).run(exit_when_idle=True) == 0
    job = get_job(db, job_id)
    assert job.status == "cancelled" and job.finished_at is not None
    assert events_of(db, job_id)[-1].kind == "finished"


def test_pool_runs_jobs_and_restarts_dead_workers(db_url: str) -> None:
    db = open_database(db_url)
    pool = WorkerPool(2, db_url, poll_seconds=0.1, check_seconds=0.2).start()
    try:
        jobs = [_job(db, budget=4) for _ in range(3)]
        _wait(lambda: all(get_job(db, j).status == "succeeded" for j in jobs), 60)
        victim = pool.procs[0]
        victim.kill()
        _wait(lambda: pool.restarts == 1 and pool.procs[0].pid != victim.pid and pool.procs[0].poll() is None)
        late = _job(db, budget=3)
        _wait(lambda: get_job(db, late).status == "succeeded", 60)
    finally:
        pool.stop()
    assert all(p.poll() is not None for p in pool.procs)
    get_settings.cache_clear()
