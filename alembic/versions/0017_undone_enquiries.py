"""Undone enquiries' idempotency keys, so a retry of one is not logged again

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-14 09:00:00

An undo deleted the enquiry and with it the only record of its key: a browser still holding the
tick (its answer lost) or an integration retrying then logged it a second time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "undone_enquiry",
        sa.Column("launch_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("undone_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["launch_id"], ["launch.id"], name=op.f("fk_undone_enquiry_launch_id_launch"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("launch_id", "idempotency_key", name=op.f("pk_undone_enquiry")),
    )


def downgrade() -> None:
    op.drop_table("undone_enquiry")
