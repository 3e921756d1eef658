"""Kept counts of the closed 15-minute slots of a launch's open day, shared by every process

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import app.db
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slot_tally",
        sa.Column("launch_id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("starts_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("computed_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["launch_id"], ["launch.id"], name=op.f("fk_slot_tally_launch_id_launch"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("launch_id", "timezone", "version", "starts_at", name=op.f("pk_slot_tally")),
    )


def downgrade() -> None:
    op.drop_table("slot_tally")
