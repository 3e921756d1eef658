"""Day tallies: the counts of closed local days, computed once and shared by every process

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 17:58:50.628310
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db


revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('day_tally',
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('computed_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_day_tally_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('launch_id', 'timezone', 'day', name=op.f('pk_day_tally'))
    )


def downgrade() -> None:
    op.drop_table('day_tally')
