"""The initial schema: jobs, candidates, agent messages, events, API tokens.

Exactly what ``Base.metadata.create_all`` made before migrations existed, so such databases are
stamped at this revision and upgraded from here.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(128), nullable=True),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("board", sa.String(128), nullable=True),
        sa.Column("hardware", sa.JSON(), nullable=True),
        sa.Column("max_latency_ms", sa.Float(), nullable=True),
        sa.Column("task", sa.Text(), nullable=True),
        sa.Column("task_spec", sa.JSON(), nullable=True),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("proposer", sa.String(32), nullable=False),
        sa.Column("proposer_used", sa.String(32), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("benchmark", sa.String(32), nullable=False),
        sa.Column("verify", sa.String(8), nullable=False),
        sa.Column("max_sim_seconds", sa.Float(), nullable=True),
        sa.Column("max_wall_seconds", sa.Float(), nullable=True),
        sa.Column("patience", sa.Integer(), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("compress", sa.JSON(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("heartbeat_at", TZ, nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("artifacts", sa.JSON(), nullable=True),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_owner", "jobs", ["owner"])
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])

    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("arch", sa.String(160), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("iso_key", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("proposer", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("parent", sa.String(160), nullable=True),
        sa.Column("violations", sa.JSON(), nullable=True),
        sa.Column("margins", sa.JSON(), nullable=True),
        sa.Column("flash_bytes", sa.Integer(), nullable=True),
        sa.Column("peak_sram_bytes", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("macs", sa.Integer(), nullable=True),
        sa.Column("params", sa.Integer(), nullable=True),
        sa.Column("verified", sa.JSON(), nullable=True),
        sa.Column("eval_order", sa.Integer(), nullable=True),
        sa.Column("val_acc", sa.Float(), nullable=True),
        sa.Column("test_acc", sa.Float(), nullable=True),
        sa.Column("train_seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("evaluated_at", TZ, nullable=True),
        sa.UniqueConstraint("job_id", "arch", name="uq_candidates_job_arch"),
    )
    op.create_index("ix_candidates_job_status", "candidates", ["job_id", "status"])
    op.create_index("ix_candidates_job_id", "candidates", ["job_id"])

    op.create_table(
        "agent_messages",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_agent_messages_job_id", "agent_messages", ["job_id"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_events_job_id", "events", ["job_id"])

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("api_tokens", "events", "agent_messages", "candidates", "jobs"):
        op.drop_table(table)
