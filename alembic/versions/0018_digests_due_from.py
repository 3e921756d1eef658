"""launch.digests_due_from: live_since, also moved by edits that put new slots in the past

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-15 09:00:00

A digest time moved earlier (13:00 to 12:50 at 13:10), another time zone or an earlier start put
slots in the past that were never in the schedule when their time came: the scheduler sent a second
digest over a window already posted, marked late, or recorded them as missed. The new column starts
as live_since (when the launch went live); edits that add slots in the past move it on. live_since
stays, still written when a launch goes live, for the replicas of the version before during a
rolling upgrade: a rename would have failed every query of theirs on a launch until restarted.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("launch") as batch:
        batch.add_column(sa.Column("digests_due_from", app.db.UTCDateTime(), nullable=True))
    op.execute("UPDATE launch SET digests_due_from = live_since")


def downgrade() -> None:
    with op.batch_alter_table("launch") as batch:
        batch.drop_column("digests_due_from")
