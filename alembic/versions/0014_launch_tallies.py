"""Kept counts of a launch from its start to its latest closed slot, for whole-launch tallies

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-11 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import app.db
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "launch_tally",
        sa.Column("launch_id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("through", app.db.UTCDateTime(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("computed_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["launch_id"], ["launch.id"], name=op.f("fk_launch_tally_launch_id_launch"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("launch_id", "timezone", "version", "through", name=op.f("pk_launch_tally")),
    )


def downgrade() -> None:
    op.drop_table("launch_tally")
