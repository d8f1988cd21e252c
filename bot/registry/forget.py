"""Deletion of a person's personal data (right to delete, docs/domain.md "Personal data"):
one home for the person's SUPPRIMER (bot.conversations), a staff deletion
(bot.registry.changes.delete_actor) and the retention purge (``essbot actors purge`` and the
queue's daily task, :func:`purge_expired`).

What stays is anonymous: the registry entry keeps kind, gender, quartier, sector, legal form,
needs and the birth decade (for the statistics), and its times only to the month; every
message body and ticket text of the contact is blanked, the provider's ids (MessageSid, the
gateway's id) are dropped and message times cut to the month — an exact time or a SID next to
the counts left could re-identify the person, as the export already says
(bot/registry/export.py). The contact row stays (messages point at it) with its phone replaced
by a placeholder, so the same phone writing again starts afresh as a new contact. The erased
bytes also leave SQLite's files (bot.db.request_scrub); PostgreSQL keeps dead row versions
until VACUUM (README "Deleting data").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bot.db import get_engine, request_scrub, transaction
from bot.models import Actor, Contact, Conversation, Message, utcnow
from bot.models.broadcasts import Outbox
from bot.models.content import Ticket, TicketNote
from bot.registry.fields import year_band

log = logging.getLogger(__name__)

#: What a deletion leaves of a registry entry: every personal field None; kind, gender,
#: quartier, sector, legal form, needs and the birth decade (bind "birth_band") stay. Its
#: times keep only the month (binds "now", "created_month", "registered_month"; see
#: :func:`anonymised_actor_params`).
ANONYMISED_ACTOR = dict(
    contact_id=None, registration_code=None, phone=None, name=None, org_name=None,
    contact_name=None, birth_year=None, birth_band=sa.bindparam("birth_band"),
    quartier_text=None, trade=None, members_count=None, formalised=None, protection=None,
    consent_at=None, channel=None, language=None, search_text=None,
    created_at=sa.bindparam("created_month"), registered_at=sa.bindparam("registered_month"),
    deleted_at=sa.bindparam("now"), updated_at=sa.bindparam("now"))

_a, _m, _c, _v = Actor.__table__, Message.__table__, Contact.__table__, Conversation.__table__
_o, _t, _n = Outbox.__table__, Ticket.__table__, TicketNote.__table__
#: Built once (SQLAlchemy Core, bound parameters), as the conversation path's statements.
_ANONYMISE_ACTOR = sa.update(_a).where(_a.c.contact_id == sa.bindparam("owner_id")).values(
    **ANONYMISED_ACTOR)
_REDACT_MESSAGES = sa.update(_m).where(_m.c.contact_id == sa.bindparam("owner_id")).values(
    body="", media=[], attributes={"redacted": True})


def month_start(value: datetime) -> datetime:
    """The first instant (UTC) of the month of `value` (an aware datetime): what a deletion
    keeps of a time."""
    return value.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def anonymised_actor_params(actor: Any, now: datetime) -> dict[str, Any]:
    """The bound values of ANONYMISED_ACTOR for `actor` (a row or mapping with
    ``birth_year``, ``created_at``, ``registered_at``; None when there is no entry) deleted
    at `now`: the birth decade, and every kept time cut to its month."""
    if actor is None:
        def get(key: str) -> Any:
            return None
    elif isinstance(actor, Mapping):
        get = actor.get
    else:
        def get(key: str) -> Any:
            return getattr(actor, key, None)
    registered = get("registered_at")
    return {"birth_band": year_band(get("birth_year")), "now": month_start(now),
            "created_month": month_start(get("created_at") or now),
            "registered_month": month_start(registered) if registered else None}


def erase_message_traces(conn: sa.Connection, contact_id: int,
                         keep_sid_of: int | None = None) -> None:
    """What a deletion does to the contact's messages besides blanking their bodies: drop the
    provider's ids (a MessageSid finds the phone in the Twilio console or the gateway's log)
    of messages and broadcast rows, and cut message times to the month. `keep_sid_of` is the
    inbound message being answered (SUPPRIMER's own confirmation): its id stays so that a
    provider retry of it is recognised, not taken for a new person."""
    conn.execute(sa.update(_m).where(_m.c.contact_id == contact_id,
                                     _m.c.id != (keep_sid_of or 0)).values(provider_sid=None))
    conn.execute(sa.update(_o).where(_o.c.contact_id == contact_id).values(provider_sid=None))
    months = {month_start(at) for at in conn.execute(
        sa.select(_m.c.created_at).where(_m.c.contact_id == contact_id)).scalars()}
    for month in months:
        following = (month + timedelta(days=32)).replace(day=1)
        conn.execute(sa.update(_m).where(
            _m.c.contact_id == contact_id, _m.c.created_at >= month, _m.c.created_at < following)
            .values(created_at=month,
                    processed_at=sa.case((_m.c.processed_at.is_(None), None), else_=month),
                    status_at=sa.case((_m.c.status_at.is_(None), None), else_=month)))


def erase_contact(conn: sa.Connection, contact: dict[str, Any], actor: Any, now: datetime,
                  keep_sid_of: int | None = None) -> dict[str, Any]:
    """Remove the personal data of `contact` (a dict with "id" and "phone"; its "phone" is
    replaced in place) inside the open transaction `conn`: anonymise its registry entry
    (`actor`: its row or mapping, or None), blank its messages and tickets, drop provider ids
    and exact times (:func:`erase_message_traces`; `keep_sid_of`: the inbound message being
    answered), and ask for the erased bytes to be scrubbed from the files after commit.

    Returns the changes of the contact row for the caller to write with its own: placeholder
    phone, no language, opted out, no announcement consent (None: never asked — a person who
    writes again from the number starts afresh, issue 12), times cut to the month. The caller
    keeps the person's language for the answer of this very turn.
    """
    conn.execute(_ANONYMISE_ACTOR, {"owner_id": contact["id"],
                                    **anonymised_actor_params(actor, now)})
    conn.execute(_REDACT_MESSAGES, {"owner_id": contact["id"]})
    erase_message_traces(conn, contact["id"], keep_sid_of)
    # Tickets: the question and the snapshot of messages go; the ticket stays, closed.
    conn.execute(sa.update(_t).where(_t.c.contact_id == contact["id"]).values(
        question=None, snapshot=[], status="closed"))
    # Staff's internal notes on those tickets may name the person: they go too.
    conn.execute(sa.delete(_n).where(_n.c.ticket_id.in_(
        sa.select(_t.c.id).where(_t.c.contact_id == contact["id"]))))
    created = conn.execute(sa.select(_c.c.created_at).where(_c.c.id == contact["id"])).scalar()
    log.info("deleted the personal data of contact %s on request", contact["id"])
    # The erased bytes must leave the database files too (SQLite's WAL): after commit.
    request_scrub(conn)
    placeholder = f"deleted:{contact['id']}"
    contact["phone"] = placeholder
    month = month_start(now)
    return {"phone": placeholder, "language": None, "opted_out": True,
            "opted_out_at": month, "opted_in_at": None, "updated_at": month,
            "announcements": None, "announcements_source": None, "announcements_at": None,
            "created_at": month_start(created or now),
            "last_inbound_sms_at": None, "last_inbound_whatsapp_at": None}


def forget_contact(app: Flask, contact_id: int, now: datetime | None = None) -> None:
    """Delete the personal data of one contact, as SUPPRIMER does, in its own transaction
    (`now`: aware UTC, default the current time), and reset its conversation. Used by staff
    deletions and by :func:`purge_expired`. Locks the contact first, like a message would.
    Raises NoResultFound for an unknown contact."""
    now = now or utcnow()
    with transaction(app) as conn:
        row = conn.execute(sa.select(_c.c.id, _c.c.phone).where(_c.c.id == contact_id)
                           .with_for_update()).one()
        actor = conn.execute(sa.select(_a.c.birth_year, _a.c.created_at, _a.c.registered_at)
                             .where(_a.c.contact_id == contact_id)).first()
        changes = erase_contact(conn, {"id": contact_id, "phone": row.phone}, actor, now)
        conn.execute(sa.update(_c).where(_c.c.id == contact_id).values(**changes))
        conn.execute(sa.update(_v).where(_v.c.contact_id == contact_id)
                     .values(dialog=None, node=None, answers={}, updated_at=month_start(now)))


def purge_expired(app: Flask, now: datetime | None = None, dry_run: bool = False) -> int:
    """Forget (as SUPPRIMER does, :func:`forget_contact`) every contact whose registry entry
    was not updated for ESSBOT_RETENTION_DAYS days (Loi 2013-015: a limited retention
    period, the one the consent text announces). Returns how many were (with `dry_run`:
    would be) forgotten. Run daily by the task queue (bot.broadcasts.tasks) and by
    `essbot actors purge`; running it twice at once forgets nobody twice over (an entry
    already deleted is skipped by the next run)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=int(app.config["ESSBOT_RETENTION_DAYS"]))
    with get_engine(app).connect() as conn:
        expired = conn.execute(sa.select(_a.c.contact_id).where(
            _a.c.deleted_at.is_(None), _a.c.contact_id.is_not(None),
            _a.c.updated_at < cutoff)).scalars().all()
    if not dry_run:
        for contact_id in expired:
            forget_contact(app, contact_id, now)
        if expired:
            log.info("retention: forgot %d contacts not updated since %s", len(expired),
                     cutoff.date())
    return len(expired)
