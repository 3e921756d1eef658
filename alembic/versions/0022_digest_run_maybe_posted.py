"""digest_run.maybe_posted: whether a failed try may be in Slack all the same

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-19 09:00:00

A digest sent by hand that Slack answered with a 5xx (stored, then failed) waited to be retried;
pressing Send now again marked it replaced without looking and posted a second copy. The run now
keeps whether its last failed try may have posted, so Send now looks in the channel first. Existing
rows start as false: a bot's retry looks in the channel before posting whatever this says.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("digest_run") as batch:
        batch.add_column(sa.Column("maybe_posted", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("digest_run") as batch:
        batch.drop_column("maybe_posted")
