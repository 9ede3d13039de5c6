"""Multi-fidelity (asha) searches: the job's fidelity and rung options, each candidate's rungs.

``jobs.fidelity`` is ``full`` for every job made before (the default); ``min_epochs``, ``reduction_factor`` and
``min_data_fraction`` are NULL for those. ``candidates.rung`` (the highest rung trained) and ``candidates.rungs``
(one entry per rung trained) are NULL for full-fidelity candidates. Each column is added only where missing: a
database made by ``create_all`` from newer models (stamped, then upgraded) may have it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JOB_COLUMNS = (
    ("fidelity", lambda: sa.Column("fidelity", sa.String(8), nullable=False, server_default=sa.text("'full'"))),
    ("min_epochs", lambda: sa.Column("min_epochs", sa.Integer(), nullable=True)),
    ("reduction_factor", lambda: sa.Column("reduction_factor", sa.Integer(), nullable=True)),
    ("min_data_fraction", lambda: sa.Column("min_data_fraction", sa.Float(), nullable=True)),
)
CANDIDATE_COLUMNS = (
    ("rung", lambda: sa.Column("rung", sa.Integer(), nullable=True)),
    ("rungs", lambda: sa.Column("rungs", sa.JSON(), nullable=True)),
)


def _existing(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    for table, columns in (("jobs", JOB_COLUMNS), ("candidates", CANDIDATE_COLUMNS)):
        have = _existing(table)
        for name, make in columns:
            if name not in have:
                op.add_column(table, make())


def downgrade() -> None:
    for table, columns in (("candidates", CANDIDATE_COLUMNS), ("jobs", JOB_COLUMNS)):
        with op.batch_alter_table(table) as batch:
            for name, _ in reversed(columns):
                batch.drop_column(name)
