"""Anonymous statistics of the ESS registry, for the staff dashboard (issue 6) and scripts.

Everything here is counts: no name, phone or free text leaves these functions. Counts are
computed in the database, one ``GROUP BY`` per dimension, so the cost grows with the number of
distinct values (a few dozen), not with the registry (50,000 actors: see bench/admin.py).

Population of the distributions: **confirmed registrations** (``registered_at`` set), in the
chosen period (by confirmation date), *including the entries anonymised after a deletion
request*: bot/models ``Actor`` keeps kind, gender, birth decade (``birth_band``), canonical
quartier, sector, legal form and needs after a deletion, precisely so that these counts stay
right. What a deletion erases cannot be counted: the exact birth year (so the age band of a
deleted entry is unknown; its decade is still counted), the social-protection answer (possible
health data, FACTS.md §3), the language and the channel.

Labels are French and come from the data files, never re-listed here: option labels of
dialogs/registration.yaml, quartier names of dialogs/places/commune3.yaml.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.i18n import N_
from bot.models import Actor, Contact, Message
from bot.models.content import Ticket

#: The youth band of APEJ (Agence pour la Promotion de l'Emploi des Jeunes): ages 15 to 40
#: (FACTS.md §2, apej.ml/qui-sommes-nous).
YOUTH_BAND = (15, 40)

#: Age bands shown on the dashboard: (key, label, lowest age, highest age); None = open end.
#: Only the youth band is a rule (APEJ); the other cuts just split the rest for reading.
AGE_BANDS: tuple[tuple[str, str, int | None, int | None], ...] = (
    ("moins15", N_("Moins de 15 ans"), None, YOUTH_BAND[0] - 1),
    ("jeunes", N_("15–40 ans (jeunes, APEJ)"), YOUTH_BAND[0], YOUTH_BAND[1]),
    ("41-59", N_("41–59 ans"), YOUTH_BAND[1] + 1, 59),
    ("60plus", N_("60 ans et plus"), 60, None),
)

#: Key of the rows that hold "no answer" in every dimension (None in the database).
UNKNOWN = "_inconnu"
#: Key of the age row of anonymised entries: their birth year was erased, the decade kept.
ERASED = "_efface"


@dataclass(frozen=True)
class Period:
    """A period of the dashboard's filter: `key` (in the URL), French `label`, how far back
    (`days`; None = everything) and the bucket of the time chart ("week" or "month")."""

    key: str
    label: str
    days: int | None
    bucket: str


#: The period filter, in the order offered. "12m" counts whole calendar months (the current
#: one included), "30j" the last 30 days including today.
PERIODS: dict[str, Period] = {p.key: p for p in (
    Period("30j", N_("30 derniers jours"), 30, "week"),
    Period("12m", N_("12 derniers mois"), 365, "month"),
    Period("tout", N_("Depuis le début"), None, "month"),
)}
DEFAULT_PERIOD = "tout"


@dataclass
class Row:
    """One line of a distribution: option `key` (None-like keys start with "_"), French
    `label`, `count`, and `share` of the dimension's population (0–100, one decimal)."""

    key: str
    label: str
    count: int
    share: float = 0.0


@dataclass
class Distribution:
    """Counts of one dimension over `population` entries. For a multiple-choice question
    (`multiple`: needs, protection) shares do not add up to 100: one entry can count in
    several rows. `note` says what is left out (French, may be empty)."""

    name: str
    title: str
    rows: list[Row]
    population: int
    multiple: bool = False
    note: str = ""


@dataclass
class Bucket:
    """One bar of the registrations-over-time chart: the bucket's first day (local time) in
    the period, its French `label`, registrations `started` (consent given, the actor row
    created) and `confirmed` (summary validated) in it."""

    start: date
    label: str
    #: A shorter label for the chart's axis ("mai 25").
    short: str = ""
    started: int = 0
    confirmed: int = 0


@dataclass
class Headline:
    """The numbers at the top of the dashboard (current state, not filtered by period).

    `registered`: confirmed entries not deleted; `unfinished`: entries started (consent
    given) but not confirmed, not deleted; `deleted`: entries anonymised after a deletion
    request (still in the anonymous counts); `contacts`: phones that wrote to the bot (deleted
    ones excluded); `opted_out`: of them, those who sent STOP; `open_tickets`: hand-over
    tickets not closed; `messages_in` / `messages_out`: messages received / sent in the last
    7 days.
    """

    registered: int = 0
    unfinished: int = 0
    deleted: int = 0
    contacts: int = 0
    opted_out: int = 0
    open_tickets: int = 0
    messages_in: int = 0
    messages_out: int = 0


@dataclass
class Stats:
    """Everything the dashboard shows, computed at `now` (aware UTC) for `period`."""

    period: Period
    now: datetime
    headline: Headline
    buckets: list[Bucket]
    distributions: dict[str, Distribution] = field(default_factory=dict)
    #: Confirmed registrations of the period (the population of the distributions).
    population: int = 0
    #: Of them, entries anonymised after a deletion request.
    population_deleted: int = 0


# ------------------------------------------------------------------------------------------
# Labels from the data files
# ------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def registry_labels() -> dict[str, dict[str, str]]:
    """French labels of the registry's option keys, by field, read from
    dialogs/registration.yaml (``{"sector": {"commerce": "Commerce", …}, …}``) and the
    quartier names of the places file (``{"quartier": {"Badialan I": "Badialan I", …}}``, the
    "outside" answer last).

    A choice's label is the one the dialog shows, except where the dialog addresses the person
    ("Vous-même" for kind, "Une femme" for gender): there the key itself ("Individu") or the
    option's short label ("Femme") reads better on a staff page.
    """
    from bot.engine import REGISTRATION
    from bot.engine.schema import load_dialogs

    dialogs = load_dialogs()
    labels: dict[str, dict[str, str]] = {}
    for node in dialogs.get(REGISTRATION).nodes.values():
        store = getattr(node, "store", None)
        if store in ("kind", "gender", "sector", "legal_form", "protection", "needs") \
                and node.options:
            if store == "kind":
                labels[store] = {o.key: o.key.capitalize() for o in node.options}
            elif store == "gender":
                labels[store] = {o.key: o.short or o.label for o in node.options}
            else:
                labels[store] = {o.key: o.label for o in node.options}
    places = dialogs.places(REGISTRATION)
    quartiers = {name: name for name in places.names()}
    outside = dict(places.outside_label).get("fr")
    if outside:
        quartiers[outside] = outside
    labels["quartier"] = quartiers
    return labels


def area_name() -> str:
    """The deployment area's name from the places file (e.g. "Commune III")."""
    from bot.engine import REGISTRATION
    from bot.engine.schema import load_dialogs

    return load_dialogs().places(REGISTRATION).area or ""


# ------------------------------------------------------------------------------------------
# Queries
# ------------------------------------------------------------------------------------------

def period_start(period: Period, now: datetime, timezone: str) -> datetime | None:
    """First instant (aware UTC) of `period` at `now` in local `timezone`: local midnight
    29 days before today for "30j", the first day of the month 11 months back for "12m",
    None for "tout"."""
    if period.days is None:
        return None
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    if period.bucket == "month":
        month = today.year * 12 + today.month - 1 - 11
        first = date(month // 12, month % 12 + 1, 1)
    else:
        first = today - timedelta(days=period.days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(ZoneInfo("UTC"))


def _local_day(conn: sa.Connection, column: sa.ColumnElement, timezone: str,
               now: datetime) -> sa.ColumnElement[str]:
    """SQL for the local calendar day (``YYYY-MM-DD`` text) of a UTC timestamp `column`.

    PostgreSQL converts with the time-zone database; SQLite has none, so the zone's offset at
    `now` is applied (exact for Africa/Bamako, UTC+0 all year; within an hour around a DST
    change elsewhere).
    """
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone(timezone, column), "YYYY-MM-DD")
    offset = int(now.astimezone(ZoneInfo(timezone)).utcoffset().total_seconds())
    if offset == 0:
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC: the day is the first 10 characters
        # (a third of strftime's cost on 50,000 rows).
        return sa.func.substr(column, 1, 10)
    return sa.func.strftime("%Y-%m-%d", column, f"{offset:+d} seconds")


def headline(conn: sa.Connection, now: datetime) -> Headline:
    """The top numbers at `now` (aware UTC): four aggregate queries (actor, contact, ticket,
    message). See :class:`Headline`."""
    a, c, t, m = Actor.__table__, Contact.__table__, Ticket.__table__, Message.__table__
    live = a.c.deleted_at.is_(None)
    row = conn.execute(sa.select(
        sa.func.sum(sa.case((sa.and_(live, a.c.registered_at.is_not(None)), 1), else_=0)),
        sa.func.sum(sa.case((sa.and_(live, a.c.registered_at.is_(None)), 1), else_=0)),
        sa.func.sum(sa.case((a.c.deleted_at.is_not(None), 1), else_=0)),
    )).one()
    contacts = conn.execute(sa.select(
        sa.func.count(), sa.func.sum(sa.case((c.c.opted_out, 1), else_=0))
    ).where(sa.not_(c.c.phone.like("deleted:%")))).one()
    tickets = conn.execute(sa.select(sa.func.count()).where(t.c.status != "closed")).scalar()
    week = dict(conn.execute(
        sa.select(m.c.direction, sa.func.count())
        .where(m.c.created_at >= now - timedelta(days=7)).group_by(m.c.direction)).all())
    return Headline(registered=int(row[0] or 0), unfinished=int(row[1] or 0),
                    deleted=int(row[2] or 0), contacts=int(contacts[0] or 0),
                    opted_out=int(contacts[1] or 0), open_tickets=int(tickets or 0),
                    messages_in=int(week.get("in", 0)), messages_out=int(week.get("out", 0)))


def _month_label(day: date, pattern: str = "MMM yyyy") -> str:
    from babel.dates import format_date

    return format_date(day, pattern, locale="fr")


def time_buckets(conn: sa.Connection, period: Period, now: datetime,
                 timezone: str) -> list[Bucket]:
    """Registrations started (``created_at``) and confirmed (``registered_at``) per week
    (Monday first; the first bucket starts with the period) or per calendar month, in local
    time, from the period's start (or the first registration) to today. Deleted entries
    count: their dates are kept. Two ``GROUP BY day`` queries."""
    a = Actor.__table__
    start = period_start(period, now, timezone)
    today = now.astimezone(ZoneInfo(timezone)).date()
    per_day: dict[str, Counter] = {"started": Counter(), "confirmed": Counter()}
    for name, column in (("started", a.c.created_at), ("confirmed", a.c.registered_at)):
        day = _local_day(conn, column, timezone, now)
        query = sa.select(day, sa.func.count()).where(column.is_not(None)).group_by(day)
        if start is not None:
            query = query.where(column >= start)
        for text, n in conn.execute(query):
            if text:
                per_day[name][date.fromisoformat(text[:10])] += int(n)
    first = start.astimezone(ZoneInfo(timezone)).date() if start is not None else min(
        (d for counter in per_day.values() for d in counter), default=today)
    first = min(first, today)

    def key(day: date) -> date:
        if period.bucket == "month":
            return day.replace(day=1)
        return max(first, day - timedelta(days=day.weekday()))

    buckets: dict[date, Bucket] = {}
    day = first
    while day <= today:
        k = key(day)
        if k not in buckets:
            if period.bucket == "month":
                buckets[k] = Bucket(start=k, label=_month_label(k),
                                    short=_month_label(k, "MMM yy"))
            else:
                buckets[k] = Bucket(start=k, label=k.strftime("%d/%m/%Y"),
                                    short=k.strftime("%d/%m"))
        day = (k.replace(day=28) + timedelta(days=4)).replace(day=1) \
            if period.bucket == "month" else k + timedelta(days=7 - k.weekday())
    for name, counter in per_day.items():
        for d, n in counter.items():
            bucket = buckets.get(key(d))
            if bucket is not None:
                setattr(bucket, name, getattr(bucket, name) + n)
    return sorted(buckets.values(), key=lambda b: b.start)


def _shares(rows: list[Row], population: int) -> list[Row]:
    for row in rows:
        row.share = round(100.0 * row.count / population, 1) if population else 0.0
    return rows


def _single(conn: sa.Connection, name: str, title: str, where: list, population: int,
            labels: dict[str, str], *, order: str = "count", note: str = "") -> Distribution:
    """A single-choice dimension: one GROUP BY over `name`; rows in `labels` order (or by
    count, descending), unknown values with their raw text, no answer last."""
    a = Actor.__table__
    counts = {k: int(n) for k, n in conn.execute(
        sa.select(a.c[name], sa.func.count()).where(*where).group_by(a.c[name]))}
    rows = [Row(k, labels[k], counts.get(k, 0)) for k in labels]
    rows += [Row(str(k), str(k), n) for k, n in counts.items() if k is not None and k not in labels]
    if order == "count":
        rows.sort(key=lambda r: -r.count)
    if counts.get(None):
        rows.append(Row(UNKNOWN, N_("Non renseigné"), counts[None]))
    return Distribution(name, title, _shares(rows, population), population, note=note)


def _multiple(conn: sa.Connection, name: str, title: str, where: list, population: int,
              labels: dict[str, str], *, note: str = "") -> Distribution:
    """A multiple-choice dimension stored as a JSON list: one GROUP BY over the list's text
    (a few dozen distinct combinations), then each option counted in Python. An entry with
    no list (or an empty one) counts as "Non renseigné"."""
    a = Actor.__table__
    text = sa.cast(a.c[name], sa.Text)
    counts: Counter = Counter()
    unknown = 0
    for raw, n in conn.execute(sa.select(text, sa.func.count()).where(*where).group_by(text)):
        keys = json.loads(raw) if raw else None
        if not keys:
            unknown += int(n)
            continue
        for k in set(keys):
            counts[k] += int(n)
    rows = [Row(k, labels[k], counts.get(k, 0)) for k in labels]
    rows += [Row(str(k), str(k), n) for k, n in counts.items() if k not in labels]
    rows.sort(key=lambda r: -r.count)
    if unknown:
        rows.append(Row(UNKNOWN, N_("Non renseigné"), unknown))
    return Distribution(name, title, _shares(rows, population), population, multiple=True,
                        note=note)


def _ages(conn: sa.Connection, where: list, population: int, year: int) -> Distribution:
    """Age bands (AGE_BANDS) from the birth year (age = current year − birth year, as the
    broadcast segments count it). One GROUP BY birth year. Anonymised entries have no birth
    year any more: they get their own row (their decade is in the "decade" distribution)."""
    a = Actor.__table__
    counts: Counter = Counter()
    for birth, deleted, n in conn.execute(
            sa.select(a.c.birth_year, a.c.deleted_at.is_not(None), sa.func.count())
            .where(*where).group_by(a.c.birth_year, a.c.deleted_at.is_not(None))):
        if birth is None:
            counts[ERASED if deleted else UNKNOWN] += int(n)
            continue
        age = year - int(birth)
        for key, _label, low, high in AGE_BANDS:
            if (low is None or age >= low) and (high is None or age <= high):
                counts[key] += int(n)
                break
    rows = [Row(key, label, counts.get(key, 0)) for key, label, _l, _h in AGE_BANDS]
    if counts.get(UNKNOWN):
        rows.append(Row(UNKNOWN, N_("Non renseigné"), counts[UNKNOWN]))
    if counts.get(ERASED):
        rows.append(Row(ERASED, N_("Effacé (fiche supprimée)"), counts[ERASED]))
    return Distribution("age", N_("Âge"), _shares(rows, population), population,
                        note=N_("Âge = année en cours − année de naissance. Tranche jeunes "
                                "de l'APEJ : 15 à 40 ans."))


def _decades(conn: sa.Connection, where: list, population: int) -> Distribution:
    """Birth decades (``birth_band``, kept after a deletion), oldest first."""
    a = Actor.__table__
    counts = dict(conn.execute(sa.select(a.c.birth_band, sa.func.count()).where(*where)
                               .group_by(a.c.birth_band)).all())
    rows = [Row(str(k), str(k).replace("-", "–"), int(n))
            for k, n in sorted((k, n) for k, n in counts.items() if k)]
    if counts.get(None):
        rows.append(Row(UNKNOWN, N_("Non renseigné"), int(counts[None])))
    return Distribution("decade", N_("Décennie de naissance"), _shares(rows, population),
                        population)


def compute(conn: sa.Connection, period: Period, now: datetime, *,
            timezone: str = "Africa/Bamako") -> Stats:
    """All the dashboard's numbers for `period` at `now` (aware UTC), read through `conn`.

    About 15 aggregate queries, none returning more rows than distinct values. Labels of the
    returned rows are French msgids (the dashboard translates them with the admin catalog;
    option labels and quartier names are already French).
    """
    a = Actor.__table__
    labels = registry_labels()
    start = period_start(period, now, timezone)
    where: list[Any] = [a.c.registered_at.is_not(None)]
    if start is not None:
        where.append(a.c.registered_at >= start)
    row = conn.execute(sa.select(
        sa.func.count(), sa.func.sum(sa.case((a.c.deleted_at.is_not(None), 1), else_=0)))
        .where(*where)).one()
    population, deleted = int(row[0] or 0), int(row[1] or 0)
    year = now.astimezone(ZoneInfo(timezone)).year
    stats = Stats(period=period, now=now, headline=headline(conn, now),
                  buckets=time_buckets(conn, period, now, timezone), population=population,
                  population_deleted=deleted)
    live = [*where, a.c.deleted_at.is_(None)]
    dims = [
        _single(conn, "kind", N_("Individus et organisations"), where, population,
                labels.get("kind", {}), order="labels"),
        _single(conn, "gender", N_("Genre"), where, population, labels.get("gender", {}),
                order="labels",
                note=N_("Pour une organisation : la personne à contacter.")),
        _ages(conn, where, population, year),
        _decades(conn, where, population),
        _single(conn, "quartier", N_("Quartier"), where, population,
                labels.get("quartier", {})),
        _single(conn, "sector", N_("Secteur d'activité"), where, population,
                labels.get("sector", {})),
        _multiple(conn, "protection", N_("Protection sociale déclarée"), live,
                  population - deleted, labels.get("protection", {}),
                  note=N_("Question facultative, plusieurs réponses possibles. Les fiches "
                          "supprimées n'en gardent rien (donnée de santé possible).")),
        _multiple(conn, "needs", N_("Besoins exprimés"), where, population,
                  labels.get("needs", {}), note=N_("Plusieurs réponses possibles.")),
    ]
    stats.distributions = {d.name: d for d in dims}
    return stats
