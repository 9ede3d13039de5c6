import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from automcu.jobs.spec import JobSpec
from automcu.storage.db import Database, StorageError, open_database
from automcu.storage.models import Candidate
from automcu.storage.repository import (
    candidates_of,
    claim_job,
    create_job,
    display_status,
    get_job,
    list_jobs,
)


def _cand(job_id: str, arch: str) -> Candidate:
    return Candidate(job_id=job_id, arch=arch, index=1, iso_key="k", status="proposed", step=0, proposer="random")


def test_job_and_candidate_roundtrip(db_url: str) -> None:
    db = open_database(db_url)
    job = create_job(db, JobSpec(dataset="CIFAR10", budget=5), None, owner="alice")
    with db.transaction() as s:
        s.add(_cand(job.id, "|a|"))
    got = get_job(db, job.id)
    assert got.dataset == "cifar10" and got.status == "queued" and got.owner == "alice"
    assert [c.arch for c in candidates_of(db, job.id)] == ["|a|"]
    jobs, total = list_jobs(db, owner="alice")
    assert total == 1 and jobs[0].id == job.id
    assert list_jobs(db, owner="bob") == ([], 0)


def test_candidate_is_unique_per_job(db_url: str) -> None:
    db = open_database(db_url)
    job = create_job(db, JobSpec(dataset="cifar10"), None)
    with db.transaction() as s:
        s.add(_cand(job.id, "|a|"))
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(_cand(job.id, "|a|"))
    assert len(candidates_of(db, job.id)) == 1


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    open_database(f"sqlite:///{path}")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot create database folder"):
        Database(f"sqlite:///{blocker}/sub/automcu.db")
    with pytest.raises(StorageError, match="not a database URL"):
        Database("nonsense")


def test_lease_claim_is_exclusive_and_lapses(db_url: str) -> None:
    db = open_database(db_url)
    job = create_job(db, JobSpec(dataset="cifar10"), None)
    assert claim_job(db, job.id, "w1", lease_seconds=30)
    assert not claim_job(db, job.id, "w2", lease_seconds=30)
    assert display_status(get_job(db, job.id), 30) == "running"
    assert display_status(get_job(db, job.id), -1) == "stale"
    assert claim_job(db, job.id, "w2", lease_seconds=-1)  # lapsed lease: another worker takes over
    assert get_job(db, job.id).lease_owner == "w2"
