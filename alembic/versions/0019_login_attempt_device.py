"""login_attempt.device: failures from a browser the account's owner signed in with, counted apart

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-16 09:00:00

The per-account lock counted failures per address. In a customer centre everyone signs in from
one outgoing address, so a colleague typing five wrong passwords for someone else's user name
locked that person out for the window, on her own browser too. A browser that proved the password
before (its device cookie) now has its failures counted by that cookie instead; the column holds a
hash of it. Null for every other attempt, and for those before this revision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempt") as batch:
        batch.add_column(sa.Column("device", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_attempt") as batch:
        batch.drop_column("device")
