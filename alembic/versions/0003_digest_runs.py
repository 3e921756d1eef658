"""Digest runs: one row per launch and slot, claimed before sending

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 15:21:20.658554
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db


revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('digest_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('slot_key', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('slot_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('window_start', app.db.UTCDateTime(), nullable=False),
    sa.Column('window_end', app.db.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=False),
    sa.Column('claimed_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('next_attempt_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('sent_at', app.db.UTCDateTime(), nullable=True),
    sa.Column('channel', sa.String(length=100), nullable=True),
    sa.Column('slack_ts', sa.String(length=32), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('blocks', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_digest_run_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digest_run')),
    sa.UniqueConstraint('slot_key', name=op.f('uq_digest_run_slot_key'))
    )
    with op.batch_alter_table('digest_run', schema=None) as batch_op:
        batch_op.create_index('ix_digest_run_launch_slot', ['launch_id', 'slot_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('digest_run', schema=None) as batch_op:
        batch_op.drop_index('ix_digest_run_launch_slot')

    op.drop_table('digest_run')
