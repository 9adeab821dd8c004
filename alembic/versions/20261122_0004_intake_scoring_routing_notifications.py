"""Intake, scoring v2, routing and notifications: tenant settings, lead counters, offers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:32:32.338925
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('lead_offers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('offered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_offers_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_lead_offers_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_lead_offers_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_offers')),
    sa.UniqueConstraint('lead_id', 'user_id', name='uq_lead_offers_lead_user')
    )
    with op.batch_alter_table('lead_offers', schema=None) as batch_op:
        batch_op.create_index('ix_lead_offers_status_expires', ['status', 'expires_at'], unique=False)
        batch_op.create_index('ix_lead_offers_user_status', ['user_id', 'status'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tenant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.String(length=500), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('read_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_notifications_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_notifications_tenant_id_tenants')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notifications_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_read_created', ['user_id', 'read_at', 'created_at'], unique=False)

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submissions', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('inbound_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('first_reply_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('first_human_touch_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.alter_column('lead_id',
               existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
               nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_messages_recipient_user_id_users'), 'users', ['recipient_user_id'], ['id'])

    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('default_region', sa.String(length=2), nullable=False, server_default='US'))
        batch_op.add_column(sa.Column('scoring', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('routing_mode', sa.String(length=16), nullable=False, server_default='round_robin'))
        batch_op.add_column(sa.Column('claim_window_minutes', sa.Integer(), nullable=False, server_default='5'))
        batch_op.add_column(sa.Column('escalate_after_hours', sa.Integer(), nullable=False, server_default='24'))
        batch_op.add_column(sa.Column('notify_agents_sms', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('notify_agents_email', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_assigned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    _backfill_lead_counters()


def _backfill_lead_counters() -> None:
    """Replies, reply speed and first human touch of existing leads, from their messages."""
    seconds = (
        "EXTRACT(EPOCH FROM (r.first_in - leads.first_response_at))"
        if op.get_bind().dialect.name == "postgresql"
        else "CAST((julianday(r.first_in) - julianday(leads.first_response_at)) * 86400 AS INTEGER)"
    )
    op.execute(
        "UPDATE leads SET inbound_count = (SELECT count(*) FROM messages m "
        "WHERE m.lead_id = leads.id AND m.direction = 'inbound')"
    )
    op.execute(
        f"UPDATE leads SET first_reply_seconds = (SELECT {seconds} FROM (SELECT min(m.created_at) AS first_in "
        "FROM messages m WHERE m.lead_id = leads.id AND m.direction = 'inbound' "
        "AND m.created_at >= leads.first_response_at) r) WHERE leads.first_response_at IS NOT NULL"
    )
    op.execute(
        "UPDATE leads SET first_human_touch_at = (SELECT min(m.sent_at) FROM messages m "
        "WHERE m.lead_id = leads.id AND m.sent_by_user_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_assigned_at')

    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('notify_agents_email')
        batch_op.drop_column('notify_agents_sms')
        batch_op.drop_column('escalate_after_hours')
        batch_op.drop_column('claim_window_minutes')
        batch_op.drop_column('routing_mode')
        batch_op.drop_column('scoring')
        batch_op.drop_column('default_region')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_messages_recipient_user_id_users'), type_='foreignkey')
        batch_op.alter_column('lead_id',
               existing_type=sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
               nullable=False)
        batch_op.drop_column('recipient_user_id')

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('first_human_touch_at')
        batch_op.drop_column('first_reply_seconds')
        batch_op.drop_column('inbound_count')
        batch_op.drop_column('submissions')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_read_created')

    op.drop_table('notifications')
    with op.batch_alter_table('lead_offers', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_offers_user_status')
        batch_op.drop_index('ix_lead_offers_status_expires')

    op.drop_table('lead_offers')
