"""A step stored through the sqlite3 driver fast path is stored exactly as the SQLAlchemy Core insert stores it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from automcu.engine.planner import run_job
from automcu.hardware.catalog import get_board
from automcu.jobs.spec import JobSpec
from automcu.storage import steps
from automcu.storage.db import Database
from automcu.storage.repository import create_job

SKIP = {"id", "job_id", "created_at", "evaluated_at"}


def _rows(db: Database, job_id: str) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with db.engine.connect() as conn:
        for table, order in (("candidates", "id"), ("agent_messages", "id"), ("events", "id")):
            result = conn.execute(text(f"SELECT * FROM {table} WHERE job_id = :j ORDER BY {order}"), {"j": job_id})
            keys = [k for k in result.keys() if k not in SKIP]
            out[table] = [tuple(r._mapping[k] for k in keys) for r in result]
    return out


@pytest.mark.parametrize("proposer, board, latency", [("random", "STM32F411", 300.0), ("evolution", None, None)])
def test_driver_fast_path_stores_what_the_core_insert_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             proposer: str, board: str | None,
                                                             latency: float | None) -> None:
    spec = JobSpec(dataset="cifar10", budget=40, proposer=proposer, seed=5, max_latency_ms=latency)
    hardware = get_board(board) if board else None
    stored = {}
    for path in ("driver", "core"):
        db = Database(f"sqlite:///{tmp_path / path}.db")
        db.create_schema()
        if path == "core":
            monkeypatch.setattr(steps, "_driver_insert", steps._core_insert)
        job = create_job(db, spec, hardware)
        assert run_job(db, job.id).status == "succeeded"
        stored[path] = _rows(db, job.id)
    assert stored["driver"]["candidates"] and any(r for r in stored["driver"]["events"])
    for table in ("candidates", "agent_messages", "events"):
        assert stored["driver"][table] == stored["core"][table], table
    with Database(f"sqlite:///{tmp_path / 'driver'}.db").engine.connect() as conn:  # timestamps are SQLAlchemy's
        created = conn.execute(text("SELECT created_at FROM candidates LIMIT 1")).scalar()
    assert isinstance(created, str) and len(created) >= 19 and created[4] == "-" and created[10] == " "
