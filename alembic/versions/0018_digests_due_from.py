"""launch.live_since becomes digests_due_from: also moved by edits that put new slots in the past

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-15 09:00:00

A digest time moved earlier (13:00 to 12:50 at 13:10), another time zone or an earlier start put
slots in the past that were never in the schedule when their time came: the scheduler sent a second
digest over a window already posted, marked late, or recorded them as missed. The column keeps its
values (when the launch went live); edits that move past slots now set it too.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("launch") as batch:
        batch.alter_column("live_since", new_column_name="digests_due_from")


def downgrade() -> None:
    with op.batch_alter_table("launch") as batch:
        batch.alter_column("digests_due_from", new_column_name="live_since")
