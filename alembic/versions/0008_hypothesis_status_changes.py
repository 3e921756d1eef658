"""Hypothesis status changes: from what to what, who and when (the drill-down's history)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('hypothesis_status_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hypothesis_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('changed_by', sa.String(length=100), nullable=False),
    sa.Column('changed_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hypothesis_id'], ['hypothesis.id'], name=op.f('fk_hypothesis_status_change_hypothesis_id_hypothesis'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hypothesis_status_change'))
    )
    with op.batch_alter_table('hypothesis_status_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hypothesis_status_change_hypothesis_id'), ['hypothesis_id'], unique=False)
    # No backfill: earlier changes were not recorded, and guessing their times would mislead.


def downgrade() -> None:
    with op.batch_alter_table('hypothesis_status_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hypothesis_status_change_hypothesis_id'))

    op.drop_table('hypothesis_status_change')
