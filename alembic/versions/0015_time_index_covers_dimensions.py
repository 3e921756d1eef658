"""PostgreSQL: the enquiry time index carries channel, segment and other (an index-only GROUP BY)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12 09:00:00

The minutes of a tally around its kept 15-minute slots are read and grouped on PostgreSQL
(app/tallies/counting.py); with the dimensions in the index that read never visits the table.
SQLite has no INCLUDE and keeps counting those minutes by seeks: nothing changes there.
The index is built again while the table is locked for writes: on a large table, run this
upgrade outside the launch's busy hours (docs/operations.md).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_enquiry_time", table_name="enquiry")
    op.create_index(
        "ix_enquiry_time",
        "enquiry",
        ["launch_id", "created_at"],
        postgresql_include=["channel", "segment", "is_other"],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_enquiry_time", table_name="enquiry")
    op.create_index("ix_enquiry_time", "enquiry", ["launch_id", "created_at"])
