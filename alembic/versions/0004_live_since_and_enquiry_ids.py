"""Launches remember when they went live; enquiry ids are never reused on SQLite

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 16:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("live_since", app.db.UTCDateTime(), nullable=True))
    # Launches live already: as good a guess as there is.
    op.execute("UPDATE launch SET live_since = updated_at WHERE status = 'live'")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite reuses the highest rowid after a delete unless the table says AUTOINCREMENT;
        # autogenerate cannot see this option, so the rebuild is written by hand.
        with op.batch_alter_table("enquiry", recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("enquiry", recreate="always", table_kwargs={"sqlite_autoincrement": False}):
            pass
    with op.batch_alter_table("launch", schema=None) as batch_op:
        batch_op.drop_column("live_since")
