"""A fix time kept only with a status that says a fix shipped

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-18 09:00:00

Until now a hypothesis could keep a fix time with the status open, confirmed or not seen (given with
that status by the editor, a file or the API, or left by a status set back): the launch page, the
drill-down and the digest reported a fix that was not there, and setting the status to fix shipped
later took that old time back instead of now. The app refuses such a time now and clears it when the
status goes back; these rows get the same.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE hypothesis SET fix_shipped_at = NULL "
        "WHERE fix_shipped_at IS NOT NULL AND status IN ('open', 'confirmed', 'not_seen')"
    )


def downgrade() -> None:
    pass  # the times cleared were wrong ones; nothing to put back
