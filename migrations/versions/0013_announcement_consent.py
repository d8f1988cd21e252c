"""announcement_consent

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Issue 12: announcement consent is a state of the contact (``announcements`` True/False/None,
``announcements_source``, ``announcements_at``). Existing data gets the state it already had
in practice, written down (README "Who receives announcements"):

- a contact whose registry entry was confirmed through the bot (``registered_at`` set, not an
  import, not deleted) consented at registration (the consent text says "pour vous
  informer"): yes, source ``registration``, at the entry's ``consent_at`` (else
  ``registered_at``);
- a contact the import created for an ``annonces = oui`` row (entry of channel ``import``,
  contact opted in at its creation, the importer's mark): yes, source ``import``, at that time;
- everyone else: None (never asked) — they are not announcement recipients until they consent.
"""
import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0013'
down_revision = '0015'  # re-chained after 0014 (carrier) and 0015 (partner API)
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('announcements', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('announcements_source', sa.String(length=16),
                                      nullable=True))
        batch_op.add_column(sa.Column('announcements_at', bot.models.UTCDateTime(timezone=True),
                                      nullable=True))
    contact = sa.table('contact', sa.column('id'), sa.column('announcements'),
                       sa.column('announcements_source'), sa.column('announcements_at'),
                       sa.column('opted_in_at'), sa.column('created_at'))
    actor = sa.table('actor', sa.column('contact_id'), sa.column('channel'),
                     sa.column('registered_at'), sa.column('consent_at'),
                     sa.column('deleted_at'))
    registered = (sa.select(sa.func.coalesce(actor.c.consent_at, actor.c.registered_at))
                  .where(actor.c.contact_id == contact.c.id, actor.c.registered_at.is_not(None),
                         actor.c.deleted_at.is_(None),
                         sa.or_(actor.c.channel.is_(None), actor.c.channel != 'import'))
                  .scalar_subquery())
    op.execute(sa.update(contact).where(registered.is_not(None))
               .values(announcements=True, announcements_source='registration',
                       announcements_at=registered))
    imported = (sa.select(actor.c.contact_id).where(
        actor.c.contact_id == contact.c.id, actor.c.channel == 'import',
        actor.c.deleted_at.is_(None)).exists())
    op.execute(sa.update(contact).where(contact.c.announcements.is_(None), imported,
                                        contact.c.opted_in_at.is_not(None),
                                        contact.c.opted_in_at == contact.c.created_at)
               .values(announcements=True, announcements_source='import',
                       announcements_at=contact.c.opted_in_at))


def downgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('announcements_at')
        batch_op.drop_column('announcements_source')
        batch_op.drop_column('announcements')
