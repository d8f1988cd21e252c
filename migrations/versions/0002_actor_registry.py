"""actor registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

The ESS registry (issue 3): one row per registered person or organisation.
"""
from alembic import op
import sqlalchemy as sa

import bot.models

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('actor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('registration_code', sa.String(length=24), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('name', sa.String(length=120), nullable=True),
    sa.Column('org_name', sa.String(length=120), nullable=True),
    sa.Column('contact_name', sa.String(length=120), nullable=True),
    sa.Column('gender', sa.String(length=16), nullable=True),
    sa.Column('birth_year', sa.Integer(), nullable=True),
    sa.Column('birth_band', sa.String(length=16), nullable=True),
    sa.Column('quartier', sa.String(length=80), nullable=True),
    sa.Column('quartier_text', sa.String(length=200), nullable=True),
    sa.Column('sector', sa.String(length=32), nullable=True),
    sa.Column('trade', sa.String(length=200), nullable=True),
    sa.Column('legal_form', sa.String(length=32), nullable=True),
    sa.Column('members_count', sa.Integer(), nullable=True),
    sa.Column('formalised', sa.Boolean(), nullable=True),
    sa.Column('protection', sa.JSON(), nullable=True),
    sa.Column('needs', sa.JSON(), nullable=False),
    sa.Column('consent_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consent_version', sa.String(length=32), nullable=True),
    sa.Column('completeness', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('registered_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_actor_contact_id_contact'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_actor')),
    sa.UniqueConstraint('contact_id', name=op.f('uq_actor_contact_id')),
    sa.UniqueConstraint('registration_code', name=op.f('uq_actor_registration_code'))
    )


def downgrade() -> None:
    op.drop_table('actor')
