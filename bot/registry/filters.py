"""The registry's filter fields and how their values are read: one home for the registry list
(bot.registry.query), broadcast segments (bot.broadcasts.segments) and everything built on them.

A filter definition is ``{field: [value, …]}``: values of one field are alternatives (OR),
fields combine (AND). Values are checked against the registry's own lists (option keys of the
registration dialog, bot.registry.fields; the quartiers of the places file, read like a
person's answer: "badialan 1" is "Badialan I"), age bands are ``"18-35"``, ``"-25"``, ``"60-"``,
yes/no fields ``"oui"``/``"non"``. `needs_condition` and `age_condition` are the SQL readings
that both the registry list and segments use.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import sqlalchemy as sa

from bot.engine import REGISTRATION
from bot.engine.schema import load_dialogs
from bot.models import Actor
from bot.registry import fields as F
from bot.understanding import match_quartier


class FilterValueError(ValueError):
    """A filter value that cannot be read (unknown field, unknown value, bad age band).
    ``str(exc)`` is the English reason for the CLI; ``code`` ("invalid", "quartier",
    "age_band") chooses the staff's French sentence (bot.broadcasts.errors.STAFF_MESSAGES)."""

    def __init__(self, message: str, code: str = "invalid"):
        super().__init__(message)
        self.code = code


#: Fields a filter can name, in the order shown to staff (registry list and segments).
FIELDS = ("quartier", "sector", "kind", "gender", "needs", "age", "language", "channel",
          "registered")

_YES = {"oui", "yes", "1", "true", "awo"}
_NO = {"non", "no", "0", "false", "ayi"}
_AGE = re.compile(r"^\s*(\d{1,3})?\s*-\s*(\d{1,3})?\s*$|^\s*(\d{1,3})\s*$")


def option_fields() -> dict[str, tuple[str, ...]]:
    """The choice fields a filter can name and their option keys, in the dialog's order:
    ``{"sector": (…), "kind": (…), "gender": (…), "needs": (…)}`` (bot.registry.fields)."""
    return {field: F.option_keys(field) for field in ("sector", "kind", "gender", "needs")}


def _quartier(value: str) -> str:
    """The canonical quartier named by `value`; FilterValueError when none or several fit."""
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
        raise FilterValueError(f"quartier {value!r} is ambiguous: {', '.join(match.candidates)}",
                           "quartier")
    raise FilterValueError(f"unknown quartier {value!r}; known: {', '.join(places.names())}",
                       "quartier")


def _age_band(value: str) -> str:
    m = _AGE.match(value)
    if not m:
        raise FilterValueError(f"age band {value!r}: write 18-35, -25 or 60-", "age_band")
    if m.group(3):
        return f"{int(m.group(3))}-{int(m.group(3))}"
    low, high = m.group(1), m.group(2)
    if low is None and high is None:
        raise FilterValueError(f"age band {value!r}: write 18-35, -25 or 60-", "age_band")
    if low is not None and high is not None and int(low) > int(high):
        raise FilterValueError(f"age band {value!r}: the lower age comes first", "age_band")
    return f"{int(low) if low else ''}-{int(high) if high else ''}"


def normalize(definition: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Check a segment definition and return it in canonical form.

    Takes ``{field: value or [values]}``; returns ``{field: [canonical values]}`` with fields
    in FIELDS order, values deduplicated (canonical quartier names, option keys, age bands as
    ``"18-35"``, ``"oui"``/``"non"``). Raises FilterValueError naming the field and what it accepts.
    """
    out: dict[str, list[str]] = {}
    for field, raw in (definition or {}).items():
        field = str(field).strip().lower()
        if field not in FIELDS:
            raise FilterValueError(f"unknown filter field {field!r}; "
                                   f"use one of {', '.join(FIELDS)}")
        values = raw if isinstance(raw, (list, tuple)) else [raw]
        clean: list[str] = []
        for value in values:
            value = str(value).strip()
            if not value:
                raise FilterValueError(f"filter {field}: empty value")
            clean.append(_canonical(field, value))
        merged = out.setdefault(field, [])
        merged.extend(v for v in clean if v not in merged)
    return {f: out[f] for f in FIELDS if f in out}


def _canonical(field: str, value: str) -> str:
    low = value.lower()
    if field == "quartier":
        return _quartier(value)
    if field in ("sector", "kind", "gender", "needs"):
        options = option_fields().get(field, ())
        if options and low not in options:
            raise FilterValueError(f"filter {field}: unknown value {value!r}; use one of "
                               f"{', '.join(options)}")
        return low
    if field == "age":
        return _age_band(value)
    if field == "language":
        if low not in ("fr", "bm"):
            raise FilterValueError(f"filter language: {value!r} is not fr or bm")
        return low
    if field == "channel":
        if low not in ("sms", "whatsapp"):
            raise FilterValueError(f"filter channel: {value!r} is not sms or whatsapp")
        return low
    if low in _YES:
        return "oui"
    if low in _NO:
        return "non"
    raise FilterValueError(f"filter registered: {value!r} is not oui or non")




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


