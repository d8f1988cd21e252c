"""Database models (SQLAlchemy 2, typed `Mapped` columns).

`Contact` is one person (one E.164 phone, reached on SMS and/or WhatsApp),
`Conversation` their dialog state, `Message` every inbound and outbound message.
Migrations live in `migrations/` (Alembic); keep them in step with these classes
(`tests/test_db.py` compares the two).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from bot.models.base import NAMING_CONVENTION, Base, UTCDateTime, utcnow  # noqa: F401
from bot.phones import mask
from bot.understanding import fold

#: Channels a message can travel on. "console" is the terminal chat and the simulator.
CHANNELS = ("sms", "whatsapp", "console")
#: Where a contact's announcement consent (`Contact.announcements`) came from: the consent of
#: the registration dialog, a column of an imported list, a keyword the person sent (ABONNER),
#: a staff member (audited, with a reason).
ANNOUNCEMENT_SOURCES = ("registration", "import", "keyword", "agent")


class Contact(Base):
    """One person, identified by an E.164 phone number (`+22370000001`).

    The same phone reached on SMS and on WhatsApp is one contact. `language` is
    None until the person chooses. `last_inbound_whatsapp_at` drives the WhatsApp
    24-hour customer service window (Twilio: free-form messages only within 24 h
    of the user's last message).
    """

    __tablename__ = "contact"

    #: The WhatsApp customer service window, in seconds (docs/twilio.md "WhatsApp"): free-form
    #: messages only within 24 hours of the person's last message. The one definition.
    WHATSAPP_WINDOW_S = 24 * 3600

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # E.164, or a WhatsApp business-scoped user id (bot.phones.MAX_ADDRESS_CHARS).
    phone: so.Mapped[str] = so.mapped_column(sa.String(160), unique=True)
    language: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    last_channel: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    last_inbound_sms_at: so.Mapped[datetime | None]
    last_inbound_whatsapp_at: so.Mapped[datetime | None]
    opted_out: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    opted_out_at: so.Mapped[datetime | None]
    opted_in_at: so.Mapped[datetime | None]
    # Consent to receive announcements (issue 12): True (yes), False (said no), None (never
    # asked). Its source is one of ANNOUNCEMENT_SOURCES and its time when it was last set.
    # STOP (opted_out) always wins over it: bot.broadcasts.reach.decide.
    announcements: so.Mapped[bool | None]
    announcements_source: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    announcements_at: so.Mapped[datetime | None]
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)

    conversation: so.Mapped[Conversation | None] = so.relationship(back_populates="contact")

    @property
    def channels(self) -> list[str]:
        """Channels the person has written from, as a list like ``["sms", "whatsapp"]``."""
        found = []
        if self.last_inbound_sms_at is not None:
            found.append("sms")
        if self.last_inbound_whatsapp_at is not None:
            found.append("whatsapp")
        return found

    def whatsapp_window_open(self, now: datetime) -> bool:
        """Whether a free-form WhatsApp message may be sent at `now` (aware datetime).

        Rule: Twilio/Meta 24-hour customer service window from the last inbound message.
        """
        return Contact.window_open(self.last_inbound_whatsapp_at, now)

    @classmethod
    def window_open(cls, last_inbound_whatsapp_at: datetime | None, now: datetime) -> bool:
        """The 24-hour WhatsApp window's rule for a last inbound time (a column read without
        the ORM): open when the person wrote on WhatsApp less than WHATSAPP_WINDOW_S seconds
        before `now`. The one definition (docs/twilio.md "WhatsApp")."""
        last = last_inbound_whatsapp_at
        return last is not None and (now - last).total_seconds() < cls.WHATSAPP_WINDOW_S

    def __repr__(self) -> str:  # never the full phone: reprs end up in logs
        return f"<Contact {self.id} {mask(self.phone)}>"


class Conversation(Base):
    """The dialog state of one contact: where they are and what they answered.

    `version` is an optimistic lock (SQLAlchemy `version_id_col`): a writer that
    loaded an older version gets StaleDataError instead of overwriting newer state.
    """

    __tablename__ = "conversation"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    contact_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("contact.id", ondelete="CASCADE"), unique=True
    )
    dialog: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    node: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    answers: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    version: so.Mapped[int] = so.mapped_column(default=1)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)

    contact: so.Mapped[Contact] = so.relationship(back_populates="conversation")

    __mapper_args__ = {"version_id_col": version}


class Message(Base):
    """One message in or out, on one channel.

    `provider_sid` is Twilio's MessageSid (unique: Twilio retries deliver the same
    sid twice and the second must not be processed). Outbound replies point at the
    inbound message they answer (`reply_to_id`), so a retried webhook gets the same
    TwiML. `status` follows Twilio's message statuses; see `bot.channels.twilio`.
    `segments` and `encoding` are what the text costs on SMS (bot/sms.py).
    """

    __tablename__ = "message"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # Indexed by ix_message_contact_created (contact_id first).
    contact_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("contact.id", ondelete="CASCADE"))
    direction: so.Mapped[str] = so.mapped_column(sa.String(3))  # "in" | "out"
    channel: so.Mapped[str] = so.mapped_column(sa.String(16))
    provider_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    body: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    media: so.Mapped[list[Any]] = so.mapped_column(default=list)
    attributes: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    status: so.Mapped[str] = so.mapped_column(sa.String(24))
    error_code: so.Mapped[int | None]
    segments: so.Mapped[int | None]
    encoding: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    reply_to_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL"), index=True
    )
    broadcast_id: so.Mapped[int | None] = so.mapped_column(index=True)
    processed_at: so.Mapped[datetime | None]
    processing_error: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    # Indexed for the dashboard's "messages of the last 7 days" (migration 0009).
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    status_at: so.Mapped[datetime | None]

    __table_args__ = (sa.Index("ix_message_contact_created", "contact_id", "created_at"),)


class Actor(Base):
    """One entry of the commune's ESS registry: a person or an organisation (issue 3).

    Filled by the registration dialog (dialogs/registration.yaml) as the person answers, from
    the moment they consent (Loi 2013-015: nothing is stored before `consent_at`, and
    `consent_version` says which consent text they agreed to). `registration_code` (e.g.
    ``ESS3-000123``) is given when they confirm the summary (`registered_at`);
    `completeness` is the share (0-100) of the questions that apply which are answered.
    Lists (`protection`, `needs`) hold option keys of the dialog. After a deletion request
    (`deleted_at`), every personal field is None and only anonymous counts remain: kind,
    gender, `birth_band` (decade), quartier (canonical name only), sector, legal form, needs.
    """

    __tablename__ = "actor"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    contact_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("contact.id", ondelete="SET NULL"), unique=True
    )
    registration_code: so.Mapped[str | None] = so.mapped_column(sa.String(24), unique=True)
    phone: so.Mapped[str | None] = so.mapped_column(sa.String(160))
    language: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    channel: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    kind: so.Mapped[str | None] = so.mapped_column(sa.String(16))  # individu | organisation
    name: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    org_name: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    contact_name: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    gender: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    birth_year: so.Mapped[int | None]
    birth_band: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    quartier: so.Mapped[str | None] = so.mapped_column(sa.String(80))
    quartier_text: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    sector: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    trade: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    legal_form: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    members_count: so.Mapped[int | None]
    formalised: so.Mapped[bool | None]
    protection: so.Mapped[list[Any] | None]
    needs: so.Mapped[list[Any]] = so.mapped_column(default=list)
    consent_at: so.Mapped[datetime | None]
    consent_version: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    completeness: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    # Folded name, organisation, contact person and trade, for the staff search (accent- and
    # case-insensitive on every database): bot.registry.fields.search_key.
    search_text: so.Mapped[str | None] = so.mapped_column(sa.String(400))
    # Dates indexed for the dashboard (migration 0009): periods filter on registered_at and
    # created_at; the latest updated_at keys its cache (and `actors purge` reads it).
    registered_at: so.Mapped[datetime | None] = so.mapped_column(index=True)
    deleted_at: so.Mapped[datetime | None]
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, index=True)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow,
                                                       index=True)

    # The staff registry pages (bot/registry/query.py) filter on these and look phones up
    # for duplicates; the list is ordered by id, so each index also serves "newest first".
    __table_args__ = (sa.Index("ix_actor_phone", "phone"),
                      sa.Index("ix_actor_quartier", "quartier"),
                      sa.Index("ix_actor_sector", "sector"),
                      sa.Index("ix_actor_deleted_at", "deleted_at"))

    def __repr__(self) -> str:  # no name or phone: reprs end up in logs
        return f"<Actor {self.id} {self.registration_code or '-'}>"


def search_key(*texts: str | None) -> str | None:
    """The folded text the registry search looks in (`Actor.search_text`; bot.understanding.fold:
    case and accents off, so "traore" finds "Traoré"), from the name, organisation, contact
    person and trade of an entry; None when all are empty. Cut to 400 characters (the column).
    Also given by bot.registry.fields."""
    key = " ".join(fold(t) for t in texts if t)
    return key[:400] or None


@sa.event.listens_for(Actor, "before_insert")
@sa.event.listens_for(Actor, "before_update")
def _actor_search_text(mapper: Any, connection: Any, actor: Actor) -> None:
    """Keep the folded search text of ORM writes in step (Core writes, as in
    bot/conversations.py, set it themselves)."""
    actor.search_text = search_key(actor.name, actor.org_name, actor.contact_name, actor.trade)


from bot.models import content as content_models  # noqa: E402,F401  (issue 4 tables)
from bot.models import broadcasts as broadcast_models  # noqa: E402,F401  (issue 7 tables)
from bot.models import staff as staff_models  # noqa: E402,F401  (issue 6 tables)
from bot.models import registry as registry_models  # noqa: E402,F401  (issue 6 registry)
from bot.models import api as api_models  # noqa: E402,F401  (issue 21 tables)
