"""Information content and hand-over tickets (issue 4).

`Article` is the database copy of one record of ``dialogs/content/*.yaml`` (bot/content.py
:class:`bot.content.Article`), one column per language per text field (docs/architecture.md: content
that staff edit lives in the database with one field per language). It is seeded by
`essbot content seed` (bot/content_store.py); `seed_hash` is the hash of the seeded version,
so a re-seed updates only rows staff did not edit (`edited_by_staff`, or a content hash that
no longer matches `seed_hash`).

`Ticket` is one hand-over to staff: opened by AGENT, a failed search, three misses or a
WhatsApp voice note or image; answered with `essbot tickets reply` (later the staff UI).
Lifecycle: open → assigned → closed (STYLE.md: small lifecycles as data with guards; see
:data:`TICKET_STATUSES`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from bot.models.base import Base, utcnow

#: Text fields of an article; each is stored as ``<field>_fr`` and ``<field>_bm``.
ARTICLE_TEXT_FIELDS = ("title", "short", "details", "eligibility", "how_to_apply", "where")
#: Ticket statuses and the moves allowed between them (open → assigned → closed; a closed
#: ticket is reopened when the person asks again).
TICKET_STATUSES = ("open", "assigned", "closed")
TICKET_MOVES = {"open": {"assigned", "closed"}, "assigned": {"open", "closed"},
                "closed": {"open"}}


class Article(Base):
    """One scheme or topic of the information menu, in French and Bambara.

    `slug` is the content file's id (``"inps_volontaire"``); texts are ``title_fr``,
    ``title_bm``, ``short_fr``… (see :data:`ARTICLE_TEXT_FIELDS`); `keywords` and
    `synonyms` are ``{"fr": [...], "bm": [...]}``. `source` and `verified` ("YYYY",
    "YYYY-MM" or "YYYY-MM-DD") are required on every record (docs/domain.md: every article shows
    where its facts come from). `position` keeps the file order for menus.
    """

    __tablename__ = "article"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(40), unique=True)
    category: so.Mapped[str] = so.mapped_column(sa.String(32))
    position: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    title_fr: so.Mapped[str] = so.mapped_column(sa.String(120))
    title_bm: so.Mapped[str] = so.mapped_column(sa.String(120))
    short_fr: so.Mapped[str] = so.mapped_column(sa.Text)
    short_bm: so.Mapped[str] = so.mapped_column(sa.Text)
    details_fr: so.Mapped[str] = so.mapped_column(sa.Text)
    details_bm: so.Mapped[str] = so.mapped_column(sa.Text)
    eligibility_fr: so.Mapped[str] = so.mapped_column(sa.Text)
    eligibility_bm: so.Mapped[str] = so.mapped_column(sa.Text)
    how_to_apply_fr: so.Mapped[str] = so.mapped_column(sa.Text)
    how_to_apply_bm: so.Mapped[str] = so.mapped_column(sa.Text)
    where_fr: so.Mapped[str] = so.mapped_column(sa.Text)
    where_bm: so.Mapped[str] = so.mapped_column(sa.Text)
    source: so.Mapped[str] = so.mapped_column(sa.Text)
    verified: so.Mapped[str] = so.mapped_column(sa.String(10))
    verified_note: so.Mapped[str | None] = so.mapped_column(sa.Text)
    uncertain: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    bm_review: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    keywords: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    synonyms: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    seed_hash: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    edited_by_staff: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    edited_at: so.Mapped[datetime | None]
    edited_by: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Article {self.slug}>"


class Ticket(Base):
    """One hand-over to staff: who (`contact_id`), why (`reason`: "asked", "no_match",
    "misses", "media"), the question that opened it, a snapshot of the last messages
    (`snapshot`: list of ``{"id", "direction", "body", "at"}``, blanked on deletion), and
    how it was answered (`answered_at`, `reply_channel`: "sms" | "whatsapp" | "none" when it
    could not be sent, `reply_message_id`). Times are UTC.
    """

    __tablename__ = "ticket"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    contact_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("contact.id", ondelete="SET NULL"), index=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="open",
                                              server_default="open")
    reason: so.Mapped[str] = so.mapped_column(sa.String(32))
    question: so.Mapped[str | None] = so.mapped_column(sa.Text)
    channel: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    language: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    message_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL"))
    snapshot: so.Mapped[list[Any]] = so.mapped_column(default=list)
    assigned_to: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)
    answered_at: so.Mapped[datetime | None]
    reply_channel: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    reply_message_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL"))
    closed_at: so.Mapped[datetime | None]

    def __repr__(self) -> str:  # no phone, no text: reprs end up in logs
        return f"<Ticket {self.id} {self.status}>"


class TicketNote(Base):
    """An internal note of staff on a ticket (issue 20): never sent to the person, shown on
    the ticket page to the team. `body` may hold personal details: never logged; deleted with
    the person's data (bot/registry/forget.py). Times are UTC."""

    __tablename__ = "ticket_note"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    ticket_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    staff_email: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    def __repr__(self) -> str:  # no text: reprs end up in logs
        return f"<TicketNote {self.id} ticket={self.ticket_id}>"


class SavedReply(Base):
    """A reply staff saved to reuse (issue 20), in one `language` ("fr" or "bm"): a short
    `title` to pick it and the `text` sent. The ticket page offers those of the person's
    language."""

    __tablename__ = "saved_reply"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    language: so.Mapped[str] = so.mapped_column(sa.String(8), index=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(80))
    text: so.Mapped[str] = so.mapped_column(sa.Text)
    created_by: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<SavedReply {self.id} {self.language}>"
