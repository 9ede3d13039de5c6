"""SQLAlchemy 2 models: jobs, candidates, agent messages, events, API tokens.

A change here needs a new revision under ``automcu/storage/migrations/versions`` (tests/test_migrations.py
checks that the migrated schema equals these models).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
#: ``pruned``: a multi-fidelity (asha) candidate stopped after a rung below the top (never a job's winner)
CANDIDATE_STATUSES = ("proposed", "infeasible", "evaluated", "failed", "pruned")


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    owner: Mapped[str | None] = mapped_column(String(128), index=True)
    dataset: Mapped[str] = mapped_column(String(64))
    board: Mapped[str | None] = mapped_column(String(128))
    hardware: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    max_latency_ms: Mapped[float | None] = mapped_column(Float)
    task: Mapped[str | None] = mapped_column(Text)
    task_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    budget: Mapped[int] = mapped_column(Integer)
    proposer: Mapped[str] = mapped_column(String(32))  # as requested (auto|llm|evolution|random)
    proposer_used: Mapped[str | None] = mapped_column(String(32))  # what actually runs now
    seed: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int] = mapped_column(Integer, default=200)
    benchmark: Mapped[str] = mapped_column(String(32), default="table")
    verify: Mapped[str] = mapped_column(String(8), default="none")
    max_sim_seconds: Mapped[float | None] = mapped_column(Float)
    max_wall_seconds: Mapped[float | None] = mapped_column(Float)
    patience: Mapped[int | None] = mapped_column(Integer)  # stop after this many rounds with no improvement
    batch_size: Mapped[int] = mapped_column(Integer, default=1)
    data_path: Mapped[str | None] = mapped_column(Text)  # real-data jobs: the dataset's folder
    compress: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # hand the winner to the backend when set
    space: Mapped[str] = mapped_column(String(16), default="nb201", server_default=text("'nb201'"))  # nb201 | mcu
    # full | asha (automcu.core.fidelity); the asha options are NULL for a full-fidelity job
    fidelity: Mapped[str] = mapped_column(String(8), default="full", server_default=text("'full'"))
    min_epochs: Mapped[int | None] = mapped_column(Integer)
    reduction_factor: Mapped[int | None] = mapped_column(Integer)
    min_data_fraction: Mapped[float | None] = mapped_column(Float)

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    wall_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # accumulated over runs (resumes)
    artifacts: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    candidates: Mapped[list[Candidate]] = relationship(back_populates="job", cascade="all, delete-orphan")


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("job_id", "arch", name="uq_candidates_job_arch"),
        # a job's counts by status and its best candidate (max val_acc) read from the index alone
        Index("ix_candidates_job_status_val_acc", "job_id", "status", "val_acc"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    arch: Mapped[str] = mapped_column(String(160))
    index: Mapped[int] = mapped_column(Integer)
    iso_key: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    step: Mapped[int] = mapped_column(Integer)  # proposal round
    proposer: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(String(160))
    violations: Mapped[list[Any] | None] = mapped_column(JSON)
    margins: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    flash_bytes: Mapped[int | None] = mapped_column(Integer)
    peak_sram_bytes: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    macs: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[int | None] = mapped_column(Integer)
    verified: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    eval_order: Mapped[int | None] = mapped_column(Integer)  # 1-based order of evaluation
    val_acc: Mapped[float | None] = mapped_column(Float)
    test_acc: Mapped[float | None] = mapped_column(Float)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))  # evaluations dispatched
    # asha jobs: the highest rung trained, and each rung trained (rung, epochs, data_fraction, val_acc, test_acc,
    # seconds, decision, seq); bounded by the job's rung count. NULL for full-fidelity jobs.
    rung: Mapped[int | None] = mapped_column(Integer)
    rungs: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    evaluated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    job: Mapped[Job] = relationship(back_populates="candidates")


class AgentMessage(Base):
    __tablename__ = "agent_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    agent: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))  # "in" | "out"
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
