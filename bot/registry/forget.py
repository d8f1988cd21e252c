"""Deletion of a person's personal data (right to delete, docs/domain.md "Personal data"):
one home for the person's SUPPRIMER (bot.conversations), a staff deletion
(bot.registry.changes.delete_actor) and the retention purge (``essbot actors purge``).

What stays is anonymous: the registry entry keeps kind, gender, quartier, sector, legal form,
needs and the birth decade (for the statistics); every message body and ticket text of the
contact is blanked; the contact row stays (messages point at it) with its phone replaced by a
placeholder, so the same phone writing again starts afresh as a new contact.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bot import content_store
from bot.db import transaction
from bot.models import Actor, Contact, Conversation, Message, utcnow
from bot.registry.fields import year_band

log = logging.getLogger(__name__)

#: What a deletion leaves of a registry entry: every personal field None; kind, gender,
#: quartier, sector, legal form, needs and the birth decade (bind "birth_band") stay. Bound
#: "now" is the deletion time.
ANONYMISED_ACTOR = dict(
    contact_id=None, registration_code=None, phone=None, name=None, org_name=None,
    contact_name=None, birth_year=None, birth_band=sa.bindparam("birth_band"),
    quartier_text=None, trade=None, members_count=None, formalised=None, protection=None,
    consent_at=None, channel=None, language=None, search_text=None,
    deleted_at=sa.bindparam("now"), updated_at=sa.bindparam("now"))

_a, _m, _c, _v = Actor.__table__, Message.__table__, Contact.__table__, Conversation.__table__
#: Built once (SQLAlchemy Core, bound parameters), as the conversation path's statements.
_ANONYMISE_ACTOR = sa.update(_a).where(_a.c.contact_id == sa.bindparam("owner_id")).values(
    **ANONYMISED_ACTOR)
_REDACT_MESSAGES = sa.update(_m).where(_m.c.contact_id == sa.bindparam("owner_id")).values(
    body="", media=[], attributes={"redacted": True})


def erase_contact(conn: sa.Connection, contact: dict[str, Any], birth_year: int | None,
                  now: datetime) -> dict[str, Any]:
    """Remove the personal data of `contact` (a dict with "id" and "phone"; its "phone" is
    replaced in place) inside the open transaction `conn`: anonymise its registry entry
    (`birth_year` gives the decade kept), blank its messages and tickets.

    Returns the changes of the contact row for the caller to write with its own: placeholder
    phone, no language, opted out, no last inbound times. The caller keeps the person's
    language for the answer of this very turn.
    """
    conn.execute(_ANONYMISE_ACTOR, {"owner_id": contact["id"], "birth_band": year_band(birth_year),
                                    "now": now})
    conn.execute(_REDACT_MESSAGES, {"owner_id": contact["id"]})
    content_store.redact_tickets(conn, contact["id"])
    log.info("deleted the personal data of contact %s on request", contact["id"])
    placeholder = f"deleted:{contact['id']}"
    contact["phone"] = placeholder
    return {"phone": placeholder, "language": None, "opted_out": True, "opted_out_at": now,
            "last_inbound_sms_at": None, "last_inbound_whatsapp_at": None}


def forget_contact(app: Flask, contact_id: int, now: datetime | None = None) -> None:
    """Delete the personal data of one contact, as SUPPRIMER does, in its own transaction
    (`now`: aware UTC, default the current time), and reset its conversation. Used by staff
    deletions and by `essbot actors purge` when the retention period (ESSBOT_RETENTION_DAYS)
    is over. Locks the contact first, like a message would. Raises NoResultFound for an
    unknown contact."""
    now = now or utcnow()
    with transaction(app) as conn:
        row = conn.execute(sa.select(_c.c.id, _c.c.phone).where(_c.c.id == contact_id)
                           .with_for_update()).one()
        birth_year = conn.execute(sa.select(_a.c.birth_year).where(
            _a.c.contact_id == contact_id)).scalar()
        changes = erase_contact(conn, {"id": contact_id, "phone": row.phone}, birth_year, now)
        conn.execute(sa.update(_c).where(_c.c.id == contact_id).values(updated_at=now, **changes))
        conn.execute(sa.update(_v).where(_v.c.contact_id == contact_id)
                     .values(dialog=None, node=None, answers={}, updated_at=now))
