"""PostgreSQL through the same models: storage, atomic job claiming under contention, workers sharing one database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pg_server import pg_url, postgres_server  # noqa: F401  (fixtures)
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from automcu.jobs.spec import JobSpec
from automcu.storage.db import open_database
from automcu.storage.models import Candidate, Event
from automcu.storage.repository import candidates_of, claim_next_job, create_job, get_job

ROOT = Path(__file__).resolve().parents[1]


def _job(db, budget: int = 4, seed: int = 0) -> str:  # type: ignore[no-untyped-def]
    return create_job(db, JobSpec(dataset="cifar10", budget=budget, proposer="random", seed=seed), None).id


def test_storage_roundtrip_and_unique_candidates(pg_url: str) -> None:  # noqa: F811
    db = open_database(pg_url)
    job_id = _job(db)
    row = {"job_id": job_id, "arch": "|a|", "index": 1, "iso_key": "k", "status": "proposed", "step": 0,
           "proposer": "random"}
    with db.transaction() as s:
        s.add(Candidate(**row))
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(Candidate(**row))
    assert [c.arch for c in candidates_of(db, job_id)] == ["|a|"]
    assert get_job(db, job_id).created_at.tzinfo is not None


@pytest.mark.timeout(60)  # a claimer that keeps re-claiming its own job would loop forever
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_claimers_never_take_the_same_job(backend: str, request: pytest.FixtureRequest,
                                                      db_url: str) -> None:
    url = db_url if backend == "sqlite" else str(request.getfixturevalue("pg_url"))
    db = open_database(url)
    jobs = [_job(db, seed=i) for i in range(20)]
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()
    start = threading.Barrier(6)

    def claimer(name: str) -> None:
        start.wait()
        while (job_id := claim_next_job(db, name, lease_seconds=300)) is not None:
            with lock:
                claimed.setdefault(job_id, []).append(name)
            # each claimer runs its job under its own lease; the next claim must skip it

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(jobs)
    assert all(len(owners) == 1 for owners in claimed.values()), claimed
    assert {get_job(db, j).lease_owner for j in jobs} == {o for owners in claimed.values() for o in owners}
    assert len({o for owners in claimed.values() for o in owners}) > 1  # the work was really shared


def test_two_worker_processes_share_one_postgres_database(pg_url: str) -> None:  # noqa: F811
    db = open_database(pg_url)
    jobs = {_job(db, budget=5, seed=i): 5 for i in range(8)}
    cmd = [sys.executable, "-m", "automcu.cli.app", "worker", "--db", pg_url, "--poll", "0.1", "--exit-when-idle",
           "--json"]
    env = {**os.environ, "AUTOMCU_SIMULATED_TIME_SCALE": "2e-5"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
             for _ in range(2)]
    ran = [json.loads(p.communicate(60)[0])["jobs_run"] for p in procs]
    assert sum(ran) == len(jobs)
    with db.read_session() as s:
        starts = dict(s.execute(select(Event.job_id, func.count()).where(Event.kind == "started")
                                .group_by(Event.job_id)).all())
    assert starts == dict.fromkeys(jobs, 1)  # no job ran twice
    for job_id, budget in jobs.items():
        assert get_job(db, job_id).status == "succeeded"
        orders = sorted(c.eval_order for c in candidates_of(db, job_id, "evaluated"))
        assert orders == list(range(1, budget + 1))


def test_search_cli_on_postgres(pg_url: str) -> None:  # noqa: F811
    out = subprocess.run([sys.executable, "-m", "automcu.cli.app", "search", "--dataset", "cifar10", "--board",
                          "stm32f746", "--budget", "6", "--proposer", "evolution", "--db", pg_url, "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["status"] == "succeeded" and summary["n_evaluated"] == 6 and summary["best"]["arch"]


def test_api_job_list_pages_and_reads_on_postgres(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    """The list's one-row page signature (string_agg on PostgreSQL) and the job read, through the real app."""
    from fastapi.testclient import TestClient
    from sqlalchemy import update

    from api.core.security import create_token
    from api.main import create_app
    from automcu.core.config import Settings
    from automcu.storage.models import Job, utcnow

    db = open_database(pg_url)
    headers = {"Authorization": f"Bearer {create_token(db, 'alice')}"}
    ids = [create_job(db, JobSpec(dataset="cifar10", budget=4, proposer="random"), None, owner="alice").id
           for _ in range(3)]
    with TestClient(create_app(Settings(db_url=pg_url, data_dir=tmp_path))) as client:
        def listed(query: str = "") -> dict:  # type: ignore[type-arg]
            r = client.get(f"/api/v1/jobs?limit=2{query}", headers=headers)
            assert r.status_code == 200, r.text
            return dict(r.json())

        page = listed()
        assert page["total"] == 3 and [j["id"] for j in page["items"]] == ids[::-1][:2]
        assert listed() == page  # the cached page
        with db.transaction() as s:
            s.execute(update(Job).where(Job.id == ids[2]).values(status="cancelled", finished_at=utcnow()))
        assert listed()["items"][0]["status"] == "cancelled"
        assert listed("&status=queued")["total"] == 2
        assert client.get(f"/api/v1/jobs/{ids[0]}", headers=headers).json()["status"] == "queued"
