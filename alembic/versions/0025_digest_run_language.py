"""digest_run.language: the language a digest was composed in

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 06:40:00

The digests page marks each stored digest's text with its language, for screen readers (it may not be
the page's). It was marked with the language of Slack messages as set now, which an operator may have
changed since: English digests were marked Norwegian. Existing rows keep none (NULL): shown unmarked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("digest_run") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("digest_run") as batch:
        batch.drop_column("language")
