"""Resume after a crash or Ctrl-C: dead local leases taken over at once, live ones refused with who and when."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import update

from automcu.engine.planner import JobBusy, run_job
from automcu.jobs.spec import JobSpec
from automcu.storage.db import Database, open_database
from automcu.storage.models import Job, utcnow
from automcu.storage.repository import (
    candidates_of,
    claim_job,
    claim_next_job,
    create_job,
    get_job,
    lease_owner_gone,
    messages_of,
)


def _job(db_url: str, **kw: Any) -> tuple[Database, Job]:
    db = open_database(db_url)
    spec = JobSpec(**{"dataset": "cifar10", "budget": 20, **kw})
    return db, create_job(db, spec, spec.resolve_hardware())


def _hold(db: Database, job_id: str, owner: str) -> None:
    with db.transaction() as s:
        s.execute(update(Job).where(Job.id == job_id).values(status="running", lease_owner=owner,
                                                              heartbeat_at=utcnow()))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lease_of_a_dead_local_process_is_taken_over_at_once(db_url: str) -> None:
    db, job = _job(db_url)
    dead = f"{socket.gethostname()}:{_dead_pid()}:1"
    assert lease_owner_gone(dead)
    _hold(db, job.id, dead)
    assert claim_job(db, job.id, "me:1:1", lease_seconds=3600)
    assert get_job(db, job.id).lease_owner == "me:1:1"


def test_worker_claims_a_job_whose_local_owner_died(db_url: str) -> None:
    db, job = _job(db_url)
    _hold(db, job.id, f"{socket.gethostname()}:{_dead_pid()}:1")
    assert claim_next_job(db, "worker:2:2", lease_seconds=3600) == job.id


def test_live_or_remote_lease_is_refused_with_holder_and_lapse_time(db_url: str) -> None:
    db, job = _job(db_url)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for owner in (f"{socket.gethostname()}:{live.pid}:1", f"other-host-{socket.gethostname()}:{_dead_pid()}:1"):
            _hold(db, job.id, owner)
            assert not lease_owner_gone(owner)
            assert not claim_job(db, job.id, "me:1:1", lease_seconds=3600)
            with pytest.raises(JobBusy) as err:
                run_job(db, job.id, allow_failed=True)
            assert owner in str(err.value) and "lapses at" in str(err.value) and "--force" in str(err.value)
            assert claim_job(db, job.id, "me:1:1", lease_seconds=3600, force=True)
            assert get_job(db, job.id).lease_owner == "me:1:1"
    finally:
        live.kill()
        live.wait()


def test_ctrl_c_marks_the_job_interrupted_and_resume_finishes_it(db_url: str) -> None:
    db, job = _job(db_url, budget=30, seed=3)

    def interrupt(kind: str, data: dict[str, Any]) -> None:
        if kind == "evaluated" and data["n_evaluated"] == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(db, job.id, progress=interrupt)
    stopped = get_job(db, job.id)
    assert stopped.stop_reason == "interrupted" and stopped.lease_owner is None
    assert f"automcu resume {job.id}" in (stopped.error or "")
    run_job(db, job.id, allow_failed=True)
    done = get_job(db, job.id)
    assert done.status == "succeeded"
    cands = candidates_of(db, job.id)
    orders = sorted(c.eval_order for c in cands if c.status == "evaluated")
    assert orders == list(range(1, 31)) and len({c.arch for c in cands}) == len(cands)
    db2, again = _job(db_url, budget=30, seed=3)
    run_job(db2, again.id)
    best = max((c for c in cands if c.status == "evaluated"), key=lambda c: (c.val_acc, -c.eval_order))
    ref = [c for c in candidates_of(db2, again.id) if c.status == "evaluated"]
    assert best.arch == max(ref, key=lambda c: (c.val_acc, -c.eval_order)).arch


def test_stored_proposer_requests_are_bounded(db_url: str) -> None:
    sizes = {}
    for budget in (10, 80):
        db, job = _job(db_url, budget=budget, proposer="random")
        run_job(db, job.id)
        ins = [m for m in messages_of(db, job.id) if m.agent == "proposer" and m.direction == "in"]
        assert all("seen" not in m.payload and "evaluated" not in m.payload for m in ins)
        assert ins[-1].payload["history"]["n_seen"] == len(candidates_of(db, job.id)) - 1
        sizes[budget] = max(len(json.dumps(m.payload)) for m in ins)
    assert sizes[80] < sizes[10] + 600  # the rejected-id window is bounded; nothing grows with the history
