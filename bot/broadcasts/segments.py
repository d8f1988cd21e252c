"""Segments: who a broadcast is for, as filters over the contact and the registry (Actor).

A segment definition is a mapping ``{field: [value, …]}``: values of one field are alternatives
(OR), fields combine (AND); the empty definition is every contact who has not opted out ("all
contacts who opted in" of issue 7; opted-out contacts are counted, then excluded by the
planner). Staff write filters as ``FIELD=VALUE[,VALUE…]`` (``essbot broadcast create --filter
quartier=Badialan I --filter age=18-35``).

Fields (registry fields come from the registration dialog, dialogs/registration.yaml):

==============  =============================================================================
``quartier``    canonical quartier of the actor; typed names are matched like a person's answer
                (bot.understanding.match_quartier: "badialan 1" → "Badialan I")
``sector``      actor's sector (option keys of the dialog: commerce, textile…)
``kind``        individu | organisation
``gender``      femme | homme
``needs``       the actor declared this need (formation, financement…)
``age``         age band from the birth year: ``18-35``, ``-25`` (at most), ``60-`` (at least);
                only the birth year is known, so age = current year (Bamako) − birth year
``language``    fr | bm (the contact's language, else the actor's, else the default)
``channel``     sms | whatsapp: the person has written to the bot on that channel
``registered``  oui | non: has a confirmed registry entry (``registered_at``)
==============  =============================================================================

Fields not in the registry yet (e.g. a youth flag, a programme) cannot be filtered; ``age``
stands for "the youths".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

import sqlalchemy as sa

from bot.broadcasts.errors import SegmentError
from bot.models import Actor, Contact
from bot.phones import DEMO_PHONE_PREFIX
from bot.registry import filters
from bot.registry.filters import age_condition, needs_condition
from bot.phones import exclude_test_phones

#: Fields a segment can filter on, in the order shown to staff (the registry's filter fields).
FIELDS = filters.FIELDS


def normalize(definition: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Check a segment definition and return it in canonical form: the registry's reading of
    filter values (bot.registry.filters.normalize, which says what it returns), raising
    SegmentError (with the same code) instead of its FilterValueError."""
    try:
        return filters.normalize(definition)
    except filters.FilterValueError as exc:
        raise SegmentError(str(exc), exc.code) from exc


def parse_filters(items: Iterable[str]) -> dict[str, list[str]]:
    """Read ``FIELD=VALUE[,VALUE…]`` filters (the CLI's ``--filter``) into a checked definition.

    A repeated field adds alternatives. Raises SegmentError on an item without ``=`` or any
    error of `normalize`.
    """
    definition: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise SegmentError(f"filter {item!r}: write FIELD=VALUE, e.g. quartier=Badialan I")
        field, _, value = item.partition("=")
        values = [v for v in (part.strip() for part in value.split(",")) if v] or [""]
        definition.setdefault(field.strip().lower(), []).extend(values)
    return normalize(definition)


def effective_language(default_language: str) -> sa.ColumnElement[str]:
    """SQL for the language a contact is written to: theirs, else their actor's, else
    `default_language` ("fr" or "bm")."""
    c, a = Contact.__table__, Actor.__table__
    return sa.func.coalesce(c.c.language, a.c.language, sa.literal(default_language))


def conditions(definition: Mapping[str, list[str]], *, default_language: str,
               now: datetime, timezone: str = "Africa/Bamako") -> list[sa.ColumnElement[bool]]:
    """SQL conditions (to AND together) selecting the segment, over ``contact`` LEFT JOIN
    ``actor`` (see `base_from`).

    `definition` must come from `normalize`. `now` (aware) and `timezone` give the current
    year for age bands. Contacts whose data was deleted (phone ``deleted:…``) never match,
    nor the staff simulator's test contacts (bot.phones.is_test_phone): a broadcast never
    reaches them and segment counts never include them.
    """
    from zoneinfo import ZoneInfo


    c, a = Contact.__table__, Actor.__table__
    # Demo contacts (`essbot actors seed-demo`, numbers outside Mali's plan) are never sent
    # to either: a real SIM or Twilio would waste sends on them (newcomer's test).
    where: list[sa.ColumnElement[bool]] = [sa.not_(c.c.phone.like("deleted:%")),
                                           exclude_test_phones(c.c.phone),
                                           sa.not_(c.c.phone.like(DEMO_PHONE_PREFIX + "%"))]
    year = now.astimezone(ZoneInfo(timezone)).year
    for field, values in definition.items():
        if field in ("quartier", "sector", "kind", "gender"):
            where.append(a.c[field].in_(values))
        elif field == "needs":
            where.append(needs_condition(values))
        elif field == "age":
            where.append(age_condition(values, year))
        elif field == "language":
            where.append(effective_language(default_language).in_(values))
        elif field == "channel":
            columns = {"sms": c.c.last_inbound_sms_at, "whatsapp": c.c.last_inbound_whatsapp_at}
            where.append(sa.or_(*[columns[v].is_not(None) for v in values]))
        elif field == "registered":
            registered = a.c.registered_at.is_not(None)
            options = [registered if v == "oui" else sa.or_(a.c.id.is_(None),
                                                             a.c.registered_at.is_(None))
                       for v in values]
            where.append(sa.or_(*options))
    return where


def base_from() -> sa.FromClause:
    """``contact`` LEFT JOIN ``actor`` (a contact has at most one actor): what segments filter."""
    c, a = Contact.__table__, Actor.__table__
    return c.outerjoin(a, a.c.contact_id == c.c.id)


def count(conn: sa.Connection, definition: Mapping[str, list[str]], *, default_language: str,
          now: datetime, timezone: str = "Africa/Bamako") -> dict[str, int]:
    """Count a segment as staff build it: ``{"contacts": matching contacts, "opted_out": of
    whom opted out, "reachable": the others}`` (one query)."""
    c = Contact.__table__
    where = conditions(definition, default_language=default_language, now=now, timezone=timezone)
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.sum(sa.case((c.c.opted_out, 1), else_=0)))
        .select_from(base_from()).where(*where)).one()
    total, opted_out = int(row[0] or 0), int(row[1] or 0)
    return {"contacts": total, "opted_out": opted_out, "reachable": total - opted_out}
