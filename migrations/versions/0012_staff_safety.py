"""staff_safety

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02

Issue 14: a personal DIFFUSER PIN per staff account (hashed, wrong PINs counted, lockout) and
the login throttle's failures kept in the database (``login_failure``), so every process of
the embedded default counts the same attempts.
"""
import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('diffuser_pin_hash', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('diffuser_pin_failures', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('diffuser_locked_until', bot.models.UTCDateTime(timezone=True),
                                      nullable=True))
    op.create_table(
        'login_failure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.String(length=8), nullable=False),
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure')),
    )
    op.create_index('ix_login_failure_key_at', 'login_failure', ['scope', 'key', 'at'])
    op.create_index(op.f('ix_login_failure_at'), 'login_failure', ['at'])


def downgrade() -> None:
    op.drop_index(op.f('ix_login_failure_at'), table_name='login_failure')
    op.drop_index('ix_login_failure_key_at', table_name='login_failure')
    op.drop_table('login_failure')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_column('diffuser_locked_until')
        batch_op.drop_column('diffuser_pin_failures')
        batch_op.drop_column('diffuser_pin_hash')
