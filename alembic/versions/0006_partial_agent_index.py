"""An agent's own enquiries: the index leaves out enquiries logged through the API (no agent)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_NULL = sa.text("agent_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index('ix_enquiry_agent', table_name='enquiry')
    op.create_index(
        'ix_enquiry_agent',
        'enquiry',
        ['agent_id', 'created_at'],
        unique=False,
        sqlite_where=NOT_NULL,
        postgresql_where=NOT_NULL,
    )


def downgrade() -> None:
    op.drop_index('ix_enquiry_agent', table_name='enquiry')
    op.create_index('ix_enquiry_agent', 'enquiry', ['agent_id', 'created_at'], unique=False)
