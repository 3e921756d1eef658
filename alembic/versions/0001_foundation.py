"""Foundation: launches, hypotheses and their revisions, enquiries, users, audit events

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 14:57:46.763264
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db


revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', app.db.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=False),
    sa.Column('target_id', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_target', ['target_type', 'target_id'], unique=False)

    op.create_table('launch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('product_area', sa.String(length=200), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('digest_times', sa.JSON(), nullable=False),
    sa.Column('slack_channel', sa.String(length=100), nullable=True),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('segments', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_launch')),
    sa.UniqueConstraint('slug', name=op.f('uq_launch_slug'))
    )
    op.create_table('tally_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tally_user')),
    sa.UniqueConstraint('username', name=op.f('uq_tally_user_username'))
    )
    op.create_table('enquiry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('segment', sa.String(length=32), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('is_other', sa.Boolean(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['tally_user.id'], name=op.f('fk_enquiry_agent_id_tally_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_enquiry_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enquiry')),
    sa.UniqueConstraint('launch_id', 'idempotency_key', name=op.f('uq_enquiry_launch_id_idempotency_key'))
    )
    with op.batch_alter_table('enquiry', schema=None) as batch_op:
        batch_op.create_index('ix_enquiry_agent', ['agent_id', 'created_at'], unique=False)
        batch_op.create_index('ix_enquiry_dimensions', ['launch_id', 'channel', 'segment', 'is_other', 'created_at'], unique=False)
        batch_op.create_index('ix_enquiry_time', ['launch_id', 'created_at'], unique=False)

    op.create_table('hypothesis',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('area', sa.String(length=100), nullable=False),
    sa.Column('owner_team', sa.String(length=100), nullable=False),
    sa.Column('expected_per_day', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_hypothesis_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hypothesis')),
    sa.UniqueConstraint('launch_id', 'key', name=op.f('uq_hypothesis_launch_id_key'))
    )
    op.create_table('enquiry_hypothesis',
    sa.Column('enquiry_id', sa.Integer(), nullable=False),
    sa.Column('hypothesis_id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['enquiry_id'], ['enquiry.id'], name=op.f('fk_enquiry_hypothesis_enquiry_id_enquiry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hypothesis_id'], ['hypothesis.id'], name=op.f('fk_enquiry_hypothesis_hypothesis_id_hypothesis')),
    sa.ForeignKeyConstraint(['launch_id'], ['launch.id'], name=op.f('fk_enquiry_hypothesis_launch_id_launch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('enquiry_id', 'hypothesis_id', name=op.f('pk_enquiry_hypothesis'))
    )
    with op.batch_alter_table('enquiry_hypothesis', schema=None) as batch_op:
        batch_op.create_index('ix_enquiry_hypothesis_count', ['launch_id', 'hypothesis_id', 'created_at'], unique=False)

    op.create_table('hypothesis_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hypothesis_id', sa.Integer(), nullable=False),
    sa.Column('old_text', sa.String(length=500), nullable=False),
    sa.Column('changed_by', sa.String(length=100), nullable=False),
    sa.Column('changed_at', app.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hypothesis_id'], ['hypothesis.id'], name=op.f('fk_hypothesis_revision_hypothesis_id_hypothesis'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hypothesis_revision'))
    )
    with op.batch_alter_table('hypothesis_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hypothesis_revision_hypothesis_id'), ['hypothesis_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('hypothesis_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hypothesis_revision_hypothesis_id'))

    op.drop_table('hypothesis_revision')
    with op.batch_alter_table('enquiry_hypothesis', schema=None) as batch_op:
        batch_op.drop_index('ix_enquiry_hypothesis_count')

    op.drop_table('enquiry_hypothesis')
    op.drop_table('hypothesis')
    with op.batch_alter_table('enquiry', schema=None) as batch_op:
        batch_op.drop_index('ix_enquiry_time')
        batch_op.drop_index('ix_enquiry_dimensions')
        batch_op.drop_index('ix_enquiry_agent')

    op.drop_table('enquiry')
    op.drop_table('tally_user')
    op.drop_table('launch')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_target')

    op.drop_table('audit_event')
