"""Readiness probe: a row per process that /readyz writes to learn whether writes work

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 17:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('readiness_probe',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('at', app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_readiness_probe'))
    )


def downgrade() -> None:
    op.drop_table('readiness_probe')
