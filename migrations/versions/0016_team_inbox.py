"""team_inbox

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-02

Issue 20: the inbox of a team: internal notes on tickets (``ticket_note``) and saved replies
per language (``saved_reply``).
"""
import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0016'
down_revision = '0013'  # re-chained: 0012 → 0014 → 0015 → 0013 → 0016
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ticket_note',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('staff_email', sa.String(length=120), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'],
                                name=op.f('fk_ticket_note_ticket_id_ticket'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_note')),
    )
    op.create_index(op.f('ix_ticket_note_ticket_id'), 'ticket_note', ['ticket_id'])
    op.create_table(
        'saved_reply',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('title', sa.String(length=80), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_by', sa.String(length=120), nullable=True),
        sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_reply')),
    )
    op.create_index(op.f('ix_saved_reply_language'), 'saved_reply', ['language'])


def downgrade() -> None:
    op.drop_index(op.f('ix_saved_reply_language'), table_name='saved_reply')
    op.drop_table('saved_reply')
    op.drop_index(op.f('ix_ticket_note_ticket_id'), table_name='ticket_note')
    op.drop_table('ticket_note')
