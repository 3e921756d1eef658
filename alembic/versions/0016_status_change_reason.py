"""Why a hypothesis's status changed, where it was not a person's choice: "not_in_file"

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-13 09:00:00

An import retires a hypothesis its file no longer lists, and brings it back when the key
reappears; one a person retired in the app stays retired when an unchanged file is imported
again (a status left out keeps what was set in the app). The reason tells the two apart.
Rows from before have none: a hypothesis an import retired before this upgrade is taken for one a
person retired, and comes back only with `status: open` in its file.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hypothesis_status_change") as batch:
        batch.add_column(sa.Column("reason", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hypothesis_status_change") as batch:
        batch.drop_column("reason")
