"""Schema through Alembic: fresh databases, databases made by create_all before migrations, concurrent starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pg_server import pg_url, postgres_server  # noqa: F401  (fixtures)
from sqlalchemy import create_engine, inspect, text

from automcu.storage.db import Database, StorageError
from automcu.storage.migrate import head_revision
from automcu.storage.models import Base
from automcu.storage.repository import candidates_of, get_job

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return str(request.getfixturevalue("pg_url"))


def _revision(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as c:
        revs = [r[0] for r in c.execute(text("SELECT version_num FROM alembic_version"))]
    engine.dispose()
    return revs


def test_fresh_database_is_migrated_to_exactly_the_models(any_url: str) -> None:
    db = Database(any_url)
    assert db.create_schema() == [f"upgraded to {head_revision()}"]
    assert db.create_schema() == []  # already current: nothing to do
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert _revision(any_url) == [head_revision()]
    db.dispose()


def test_database_made_by_create_all_is_stamped_and_upgraded_with_its_data(any_url: str) -> None:
    legacy = create_engine(any_url)
    Base.metadata.create_all(legacy)  # how the schema was made before migrations …
    with legacy.begin() as c:  # … with the models of that time (no attempts, no data_path)
        c.execute(text("ALTER TABLE candidates DROP COLUMN attempts"))
        c.execute(text("ALTER TABLE jobs DROP COLUMN data_path"))  # added by 0003
        c.execute(text("ALTER TABLE jobs DROP COLUMN space"))  # added by 0005
        c.execute(text("INSERT INTO jobs (id, status, dataset, budget, proposer, seed, epochs, benchmark, verify, "
                       "batch_size, created_at, cancel_requested, wall_seconds) VALUES ('old1', 'succeeded', "
                       "'cifar10', 5, 'random', 0, 200, 'table', 'none', 1, CURRENT_TIMESTAMP, false, 1.5)"))
        c.execute(text("INSERT INTO candidates (job_id, arch, \"index\", iso_key, status, step, proposer, "
                       "created_at, val_acc) VALUES ('old1', '|a|', 1, 'k', 'evaluated', 0, 'random', "
                       "CURRENT_TIMESTAMP, 91.5)"))
    legacy.dispose()
    db = Database(any_url)
    assert db.create_schema() == ["stamped 0001 (made before migrations)", f"upgraded to {head_revision()}"]
    assert _revision(any_url) == [head_revision()]
    assert get_job(db, "old1").status == "succeeded" and get_job(db, "old1").space == "nb201"  # 0005's default
    [cand] = candidates_of(db, "old1")
    assert cand.val_acc == 91.5 and cand.attempts == 0
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    db.dispose()


def test_many_processes_starting_at_once_migrate_once(any_url: str) -> None:
    code = ("import sys; from automcu.storage.db import Database; "
            "print(Database(sys.argv[1]).create_schema())")
    procs = [subprocess.Popen([sys.executable, "-c", code, any_url], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    did = [out.strip() for out, _ in outs]
    assert sorted(did) == ["[" + repr(f"upgraded to {head_revision()}") + "]"] + ["[]"] * 3  # one migrated
    assert _revision(any_url) == [head_revision()]


def test_foreign_or_newer_databases_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    partial = f"sqlite:///{tmp_path / 'partial.db'}"
    engine = create_engine(partial)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE jobs (id TEXT PRIMARY KEY)"))
    with pytest.raises(StorageError, match=r"has tables \['jobs'\] but not .*not an AutoMCU database"):
        Database(partial).create_schema()

    newer = f"sqlite:///{tmp_path / 'newer.db'}"
    Database(newer).create_schema()
    engine = create_engine(newer)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StorageError, match="newer than this AutoMCU"):
        Database(newer).create_schema()
    assert "jobs" in inspect(create_engine(newer)).get_table_names()


def test_unreachable_postgres_is_a_one_line_error() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StorageError) as err:
        Database("postgresql+psycopg://u:secret@127.0.0.1:1/db").create_schema()
    assert "\n" not in str(err.value) and "secret" not in str(err.value) and "127.0.0.1" in str(err.value)
