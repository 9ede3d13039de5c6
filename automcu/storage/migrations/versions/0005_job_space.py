"""Jobs name the search space they search: ``nb201`` (every job made before, the default) or ``mcu``.

Added only where missing: a database made by ``create_all`` from newer models (stamped, then upgraded) may have it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "space" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("jobs")}:
        return
    op.add_column("jobs", sa.Column("space", sa.String(16), nullable=False, server_default=sa.text("'nb201'")))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("space")
