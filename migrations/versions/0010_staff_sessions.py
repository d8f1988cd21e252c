"""staff_sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29

A session version per staff account: logout, a password or role change and deactivation end
every open session of the account (newcomer's test: a deactivated agent kept working).
"""
from alembic import op
import sqlalchemy as sa

import bot.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_column('session_version')

