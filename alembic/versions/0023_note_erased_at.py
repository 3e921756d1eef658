"""enquiry.note_erased_at: when its note was erased, so a retry is compared by its note otherwise

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-20 09:00:00

A retry's note was not compared with an enquiry that had none, as if it had been erased (by
retention or a lead): a retry that added a note to an enquiry sent without one was answered as a
replay, and its note was lost. Erasing a note now sets this column, and only then is the note left
out of the comparison. Whether a note was erased before this revision is not known: every enquiry
without a note gets the upgrade's time, so a retry of one stored before is matched as it was.
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


def upgrade() -> None:
    with op.batch_alter_table("enquiry") as batch:
        batch.add_column(sa.Column("note_erased_at", app.db.UTCDateTime(), nullable=True))
    enquiry = sa.table("enquiry", sa.column("note", sa.String), sa.column("note_erased_at", app.db.UTCDateTime()))
    op.execute(
        enquiry.update().where(enquiry.c.note.is_(None)).values(note_erased_at=dt.datetime.now(dt.UTC))
    )


def downgrade() -> None:
    with op.batch_alter_table("enquiry") as batch:
        batch.drop_column("note_erased_at")
