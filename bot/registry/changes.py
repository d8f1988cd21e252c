"""Staff changes to the registry: edit an entry, record a person's announcement consent (with
a reason), delete one on request.

Both write the audit log in the same transaction as the change (bot.admin.audit with
``session=``) when called from a request, or through `record` given by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping

import sqlalchemy as sa
from flask import Flask

from bot.config import setting
from bot.db import request_scrub, session_scope, transaction
from bot.models import Actor, Contact, utcnow
from bot.registry import fields as F
from bot.registry.forget import ANONYMISED_ACTOR, anonymised_actor_params, forget_contact

#: Fields staff may edit on the form (the phone only on an entry without a contact: the
#: phone of a person who writes to the bot is their contact's and changes with it).
EDITABLE = ("kind", "name", "org_name", "contact_name", "gender", "birth_year", "quartier",
            "quartier_text", "sector", "trade", "legal_form", "members_count", "formalised",
            "protection", "needs", "language", "phone")


class RegistryChangeError(ValueError):
    """A change that cannot be made (entry missing, already deleted, duplicate phone); the
    message is French, for the staff member."""


def update_actor(app: Flask, actor_id: int, values: Mapping[str, Any], *,
                 audit: Callable[..., None] | None = None,
                 now: datetime | None = None) -> list[str]:
    """Write the edited `values` (a subset of EDITABLE, already validated) to actor
    `actor_id`; return the names of the fields that changed (sorted), [] when none did.

    The birth decade and the completeness follow the edit. `audit(session=…, fields=[…])` is
    called in the same transaction when something changed (only names, never values: the
    audit log holds no personal data). Raises RegistryChangeError when the entry is missing
    or deleted, or when the new phone is already another entry's.
    """
    now = now or utcnow()
    with session_scope(app) as session:
        actor = session.get(Actor, actor_id, with_for_update=True)
        if actor is None or actor.deleted_at is not None:
            raise RegistryChangeError("Cette fiche n'existe pas ou a été supprimée.")
        changed = []
        for name, value in values.items():
            if name not in EDITABLE:
                raise ValueError(f"not an editable field: {name}")
            if name == "phone" and actor.contact_id is not None:
                continue
            if getattr(actor, name) != value:
                changed.append(name)
        if "phone" in changed and values["phone"]:
            taken = session.scalar(sa.select(Actor.id).where(
                Actor.phone == values["phone"], Actor.id != actor_id,
                Actor.deleted_at.is_(None)).limit(1))
            if taken:
                raise RegistryChangeError("Ce numéro est déjà celui d'une autre fiche du "
                                          "registre.")
        if not changed:
            return []
        for name in changed:
            setattr(actor, name, values[name])
        actor.birth_band = F.year_band(actor.birth_year)
        actor.completeness = F.completeness(
            {c: getattr(actor, c) for c in EDITABLE},
            bool(setting(app.config, "ESSBOT_ASK_PROTECTION")))
        actor.updated_at = now
        if audit is not None:
            audit(session=session, fields=sorted(changed))
        return sorted(changed)


#: Longest reason an agent gives for changing a person's announcement consent.
REASON_CHARS = 200


def set_announcements(app: Flask, actor_id: int, value: bool, reason: str, *,
                      audit: Callable[..., None] | None = None,
                      now: datetime | None = None) -> bool:
    """An agent records that the person of actor `actor_id` accepts (`value` True) or refuses
    (False) announcements, for `reason` (what they said and how: "a accepté au téléphone le
    2/12"). The consent is the contact's (issue 12: bot.broadcasts.reach reads it there), with
    source ``agent`` and time `now`; an entry without a contact (an older import) gets one.
    `audit(session=…, value=…, reason=…)` is called in the same transaction. STOP still wins:
    an opted-out person stays out until they send START. Returns True when the state changed.
    Raises RegistryChangeError (French) without a reason, for a missing or deleted entry, or
    one without a phone.
    """
    now = now or utcnow()
    reason = " ".join((reason or "").split())[:REASON_CHARS]
    if not reason:
        raise RegistryChangeError("Indiquez la raison du changement (ce que la personne a dit, "
                                  "et quand).")
    with session_scope(app) as session:
        actor = session.get(Actor, actor_id, with_for_update=True)
        if actor is None or actor.deleted_at is not None:
            raise RegistryChangeError("Cette fiche n'existe pas ou a été supprimée.")
        contact = session.get(Contact, actor.contact_id) if actor.contact_id else None
        if contact is None:
            if not actor.phone:
                raise RegistryChangeError("Cette fiche n'a pas de numéro de téléphone.")
            contact = session.scalar(sa.select(Contact).where(Contact.phone == actor.phone))
            if contact is None:
                contact = Contact(phone=actor.phone, language=actor.language, created_at=now,
                                  updated_at=now)
                session.add(contact)
                session.flush()
            actor.contact_id = contact.id
        changed = contact.announcements is not value
        contact.announcements = value
        contact.announcements_source = "agent"
        contact.announcements_at = now
        contact.updated_at = now
        if audit is not None:
            audit(session=session, value="oui" if value else "non", reason=reason)
        return changed


def delete_actor(app: Flask, actor_id: int, now: datetime | None = None) -> bool:
    """Delete the personal data of actor `actor_id` on request, with the same effect as the
    person's SUPPRIMER (docs/domain.md §3, right to delete; bot.registry.forget): the
    entry keeps only anonymous counts (kind, gender, birth decade, quartier, sector, legal
    form, needs), the person's messages are blanked, the contact's phone is replaced and it
    is opted out. An imported entry without a contact is anonymised alone.

    Returns True when something was deleted, False when the entry was already deleted.
    Raises RegistryChangeError when there is no such entry.
    """
    now = now or utcnow()
    a = Actor.__table__
    contact_id = None
    with transaction(app) as conn:
        row = conn.execute(sa.select(a.c.contact_id, a.c.deleted_at, a.c.birth_year,
                                     a.c.created_at, a.c.registered_at)
                           .where(a.c.id == actor_id)).first()
        if row is None:
            raise RegistryChangeError("Cette fiche n'existe pas.")
        if row.deleted_at is not None:
            return False
        if row.contact_id is None:
            conn.execute(sa.update(a).where(a.c.id == actor_id).values(**ANONYMISED_ACTOR),
                         anonymised_actor_params(row, now))
            request_scrub(conn)
            return True
        contact_id = row.contact_id
    # Outside the first transaction: forget_contact opens its own (never nest them).
    forget_contact(app, contact_id, now)
    return True

