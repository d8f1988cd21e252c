"""Segments: who a broadcast is for, as filters over the contact and the registry (Actor).

A segment definition is a mapping ``{field: [value, …]}``: values of one field are alternatives
(OR), fields combine (AND); the empty definition is "everyone": every contact, of whom the
planner sends to those with announcement consent who have not opted out (issue 12; the others
are counted under their reason, bot.broadcasts.reach). Staff write filters as
``FIELD=VALUE[,VALUE…]`` (``essbot broadcast create --filter
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

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable, Mapping

import sqlalchemy as sa

from bot.broadcasts.errors import SegmentError
from bot.models import Actor, Contact
from bot.engine import REGISTRATION
from bot.engine.schema import load_dialogs
from bot.understanding import match_quartier

#: Fields a segment can filter on, in the order shown to staff.
FIELDS = ("quartier", "sector", "kind", "gender", "needs", "age", "language", "channel",
          "registered")

_YES = {"oui", "yes", "1", "true", "awo"}
_NO = {"non", "no", "0", "false", "ayi"}
_AGE = re.compile(r"^\s*(\d{1,3})?\s*-\s*(\d{1,3})?\s*$|^\s*(\d{1,3})\s*$")


@lru_cache(maxsize=1)
def _options() -> dict[str, tuple[str, ...]]:
    """Option keys of the registration dialog's choice questions, by stored field."""
    found: dict[str, tuple[str, ...]] = {}
    for node in load_dialogs().get(REGISTRATION).nodes.values():
        store = getattr(node, "store", None)
        if store in ("sector", "kind", "gender", "needs") and node.options:
            found[store] = tuple(str(o.key) for o in node.options)
    return found


def _quartier(value: str) -> str:
    """The canonical quartier named by `value`; SegmentError when none or several fit."""
    places = load_dialogs().places(REGISTRATION)
    if value in places.names():
        return value
    # People living outside the commune are stored with the dialog's "outside" label
    # ("Hors de la Commune III"): a value staff can choose like any quartier.
    outside = dict(places.outside_label).get("fr")
    if outside and value.strip().casefold() in (outside.casefold(), "hors commune"):
        return outside
    match = match_quartier(value, places)
    if match.kind == "quartier" and match.name:
        return match.name
    if match.candidates:
        raise SegmentError(f"quartier {value!r} is ambiguous: {', '.join(match.candidates)}",
                           "quartier")
    raise SegmentError(f"unknown quartier {value!r}; known: {', '.join(places.names())}",
                       "quartier")


def _age_band(value: str) -> str:
    m = _AGE.match(value)
    if not m:
        raise SegmentError(f"age band {value!r}: write 18-35, -25 or 60-", "age_band")
    if m.group(3):
        return f"{int(m.group(3))}-{int(m.group(3))}"
    low, high = m.group(1), m.group(2)
    if low is None and high is None:
        raise SegmentError(f"age band {value!r}: write 18-35, -25 or 60-", "age_band")
    if low is not None and high is not None and int(low) > int(high):
        raise SegmentError(f"age band {value!r}: the lower age comes first", "age_band")
    return f"{int(low) if low else ''}-{int(high) if high else ''}"


def normalize(definition: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Check a segment definition and return it in canonical form.

    Takes ``{field: value or [values]}``; returns ``{field: [canonical values]}`` with fields
    in FIELDS order, values deduplicated (canonical quartier names, option keys, age bands as
    ``"18-35"``, ``"oui"``/``"non"``). Raises SegmentError naming the field and what it accepts.
    """
    out: dict[str, list[str]] = {}
    for field, raw in (definition or {}).items():
        field = str(field).strip().lower()
        if field not in FIELDS:
            raise SegmentError(f"unknown filter field {field!r}; use one of {', '.join(FIELDS)}")
        values = raw if isinstance(raw, (list, tuple)) else [raw]
        clean: list[str] = []
        for value in values:
            value = str(value).strip()
            if not value:
                raise SegmentError(f"filter {field}: empty value")
            clean.append(_canonical(field, value))
        merged = out.setdefault(field, [])
        merged.extend(v for v in clean if v not in merged)
    return {f: out[f] for f in FIELDS if f in out}


def _canonical(field: str, value: str) -> str:
    low = value.lower()
    if field == "quartier":
        return _quartier(value)
    if field in ("sector", "kind", "gender", "needs"):
        options = _options().get(field, ())
        if options and low not in options:
            raise SegmentError(f"filter {field}: unknown value {value!r}; use one of "
                               f"{', '.join(options)}")
        return low
    if field == "age":
        return _age_band(value)
    if field == "language":
        if low not in ("fr", "bm"):
            raise SegmentError(f"filter language: {value!r} is not fr or bm")
        return low
    if field == "channel":
        if low not in ("sms", "whatsapp"):
            raise SegmentError(f"filter channel: {value!r} is not sms or whatsapp")
        return low
    if low in _YES:
        return "oui"
    if low in _NO:
        return "non"
    raise SegmentError(f"filter registered: {value!r} is not oui or non")


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
    year for age bands. Contacts whose data was deleted (phone ``deleted:…``) never match:
    they are nobody any more. The staff simulator's test contacts and the demo contacts do
    match, so that previews count them — as left out, under ``test_phone`` and
    ``demo_contact`` (bot.broadcasts.reach.decide: a broadcast never reaches them).
    """
    from zoneinfo import ZoneInfo

    c, a = Contact.__table__, Actor.__table__
    where: list[sa.ColumnElement[bool]] = [sa.not_(c.c.phone.like("deleted:%"))]
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


def needs_condition(values: list[str]) -> sa.ColumnElement[bool]:
    """SQL: the actor declared at least one of the need keys `values`. Portable "JSON list
    contains": the list is stored as JSON text (``["a", "b"]``) on SQLite and PostgreSQL alike;
    keys are plain words, "_" is escaped for LIKE. Shared with the staff registry's filters."""
    text = sa.cast(Actor.__table__.c.needs, sa.Text)
    return sa.or_(*[text.like('%"' + v.replace("_", "\\_") + '"%', escape="\\")
                    for v in values])


def age_condition(bands: list[str], year: int) -> sa.ColumnElement[bool]:
    """SQL: the actor's age in `year` (year − birth year: only the year is known) is in one of
    `bands` ("15-40", "-25", "60-"; "inconnu" = no birth year). Shared with the registry."""
    birth = Actor.__table__.c.birth_year
    options = []
    for band in bands:
        if band == "inconnu":
            options.append(birth.is_(None))
            continue
        low, _, high = band.partition("-")
        parts = [birth.is_not(None)]
        if low:
            parts.append(birth <= year - int(low))
        if high:
            parts.append(birth >= year - int(high))
        options.append(sa.and_(*parts))
    return sa.or_(*options)


def base_from() -> sa.FromClause:
    """``contact`` LEFT JOIN ``actor`` (a contact has at most one actor): what segments filter."""
    c, a = Contact.__table__, Actor.__table__
    return c.outerjoin(a, a.c.contact_id == c.c.id)
