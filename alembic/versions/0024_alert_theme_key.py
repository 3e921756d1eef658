"""alert.theme_key: the stems of an alerted theme

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 02:30:00

Before raising a theme alert, the themes alerted earlier in the window were found by reading their
stored phrase again as a note; a bare English phrase has no small words, so it was stemmed as Norwegian
("failing badly": failing, badly rather than fail, bad) and the same theme was alerted twice. The
alert now keeps the theme's stems. Existing rows keep none (NULL): for them the phrase is read as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("theme_key", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("theme_key")
