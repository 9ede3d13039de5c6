"""Reads of a job's counts and best candidate use one index: candidates(job_id, status, val_acc).

It replaces ix_candidates_job_status (job_id, status), its prefix. ``if_not_exists``/``if_exists``: a database
made by ``create_all`` from newer models (stamped 0001, then upgraded) may already have the new one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_candidates_job_status_val_acc", "candidates", ["job_id", "status", "val_acc"],
                    if_not_exists=True)
    op.drop_index("ix_candidates_job_status", table_name="candidates", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_candidates_job_status", "candidates", ["job_id", "status"], if_not_exists=True)
    op.drop_index("ix_candidates_job_status_val_acc", table_name="candidates", if_exists=True)
