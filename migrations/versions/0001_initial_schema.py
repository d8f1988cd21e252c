"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

import bot.models

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('last_channel', sa.String(length=16), nullable=True),
    sa.Column('last_inbound_sms_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_inbound_whatsapp_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opted_out', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('opted_out_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opted_in_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact')),
    sa.UniqueConstraint('phone', name=op.f('uq_contact_phone'))
    )
    op.create_table('conversation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('dialog', sa.String(length=64), nullable=True),
    sa.Column('node', sa.String(length=64), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_conversation_contact_id_contact'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation')),
    sa.UniqueConstraint('contact_id', name=op.f('uq_conversation_contact_id'))
    )
    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('media', sa.JSON(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('segments', sa.Integer(), nullable=True),
    sa.Column('encoding', sa.String(length=8), nullable=True),
    sa.Column('reply_to_id', sa.Integer(), nullable=True),
    sa.Column('broadcast_id', sa.Integer(), nullable=True),
    sa.Column('processed_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('processing_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_message_contact_id_contact'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reply_to_id'], ['message.id'], name=op.f('fk_message_reply_to_id_message'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_message_provider_sid'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_broadcast_id'), ['broadcast_id'], unique=False)
        batch_op.create_index('ix_message_contact_created', ['contact_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_reply_to_id'), ['reply_to_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_reply_to_id'))
        batch_op.drop_index('ix_message_contact_created')
        batch_op.drop_index(batch_op.f('ix_message_broadcast_id'))

    op.drop_table('message')
    op.drop_table('conversation')
    op.drop_table('contact')
