"""contact_address

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-02

Issue 13: a contact's address may be a WhatsApp business-scoped user id (up to 135
characters, bot.phones), not only an E.164 number: contact.phone and actor.phone widen from 32
to 160 characters. Nothing else changes.
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('contact', 'actor'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('phone', existing_type=sa.String(length=32),
                                  type_=sa.String(length=160))


def downgrade() -> None:
    for table in ('actor', 'contact'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('phone', existing_type=sa.String(length=160),
                                  type_=sa.String(length=32))
