"""Insight: spike alerts, re-links of "other" notes, the fix lifecycle, token roles, edit versions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:25:43.162939
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db


revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('claim_key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('hypothesis_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('window_start', app.db.UTCDateTime(), nullable=False),
    sa.Column('observed_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('normal', sa.Float(), nullable=False),
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
    sa.ForeignKeyConstraint(['hypothesis_id'], ['hypothesis.id'], name=op.f('fk_alert_hypothesis_id_hypothesis'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_alert_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert')),
    sa.UniqueConstraint('claim_key', name=op.f('uq_alert_claim_key'))
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index('ix_alert_launch_created', ['launch_id', 'created_at'], unique=False)

    op.create_table('relink',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('hypothesis_id', sa.Integer(), nullable=False),
    sa.Column('enquiry_ids', sa.JSON(), nullable=False),
    sa.Column('relinked_by', sa.String(length=100), nullable=False),
    sa.Column('relinked_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('undone_by', sa.String(length=100), nullable=True),
    sa.Column('undone_at', app.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['hypothesis_id'], ['hypothesis.id'], name=op.f('fk_relink_hypothesis_id_hypothesis'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_relink_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relink'))
    )
    with op.batch_alter_table('relink', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relink_launch_id'), ['launch_id'], unique=False)

    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), server_default='integration', nullable=False))

    with op.batch_alter_table('hypothesis', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fix_shipped_at', app.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('fix_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('launch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alert_min_count', sa.Integer(), server_default='10', nullable=False))
        batch_op.add_column(sa.Column('alert_factor', sa.Float(), server_default='3', nullable=False))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('launch', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('alert_factor')
        batch_op.drop_column('alert_min_count')

    with op.batch_alter_table('hypothesis', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('fix_url')
        batch_op.drop_column('fix_shipped_at')

    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('role')

    with op.batch_alter_table('relink', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_relink_launch_id'))

    op.drop_table('relink')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_launch_created')

    op.drop_table('alert')
