"""Backfill: when an enquiry was recorded and where it came from; counts versioned per launch

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('enquiry', sa.Column('recorded_at', app.db.UTCDateTime(), nullable=True))
    op.add_column('enquiry', sa.Column('source', sa.String(length=16), server_default='checklist', nullable=False))
    # Until now every enquiry was recorded when it happened, and only integrations had tokens.
    op.execute("UPDATE enquiry SET recorded_at = created_at")
    op.execute("UPDATE enquiry SET source = 'api' WHERE token_id IS NOT NULL")
    op.add_column('launch', sa.Column('counts_version', sa.Integer(), server_default='0', nullable=False))
    # Derived data (counted again on demand): the new key and hour-by-hour format start empty.
    op.drop_table('day_tally')
    op.create_table('day_tally',
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('computed_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_day_tally_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('launch_id', 'timezone', 'day', 'version', name=op.f('pk_day_tally'))
    )


def downgrade() -> None:
    op.drop_table('day_tally')
    op.create_table('day_tally',
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('computed_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_day_tally_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('launch_id', 'timezone', 'day', name=op.f('pk_day_tally'))
    )
    with op.batch_alter_table('launch') as batch:
        batch.drop_column('counts_version')
    with op.batch_alter_table('enquiry') as batch:
        batch.drop_column('source')
        batch.drop_column('recorded_at')
