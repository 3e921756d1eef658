"""enquiry.note_erased_at: when its note was erased, so a retry is compared by its note otherwise

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 02:25:00

A retry's note was not compared with an enquiry that had none, as if it had been erased (by
retention or a lead): a retry that added a note to an enquiry sent without one was answered as a
replay, and its note was lost. Erasing a note now sets this column, and only then is the note left
out of the comparison. Whether a note was erased before this revision is not known. Only an enquiry
sent with an idempotency key can be retried, and clients retry within minutes: those of the last
RETRIED days stored without a note get the upgrade's time, so a retry in flight over the upgrade is
matched as it was. Older ones are left unmarked: marking every enquiry without a note (most of them)
rewrote nearly the whole table, a long write on a large launch, for retries that do not come days later.
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


RETRIED = dt.timedelta(days=2)


def upgrade() -> None:
    with op.batch_alter_table("enquiry") as batch:
        batch.add_column(sa.Column("note_erased_at", app.db.UTCDateTime(), nullable=True))
    enquiry = sa.table(
        "enquiry",
        sa.column("note", sa.String),
        sa.column("idempotency_key", sa.String),
        sa.column("recorded_at", app.db.UTCDateTime()),
        sa.column("created_at", app.db.UTCDateTime()),
        sa.column("note_erased_at", app.db.UTCDateTime()),
    )
    now = dt.datetime.now(dt.UTC)
    op.execute(
        enquiry.update()
        .where(
            enquiry.c.note.is_(None),
            enquiry.c.idempotency_key.is_not(None),
            sa.func.coalesce(enquiry.c.recorded_at, enquiry.c.created_at) >= now - RETRIED,
        )
        .values(note_erased_at=now)
    )


def downgrade() -> None:
    with op.batch_alter_table("enquiry") as batch:
        batch.drop_column("note_erased_at")
