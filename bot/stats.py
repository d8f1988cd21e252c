"""Anonymous statistics of the ESS registry, for the staff dashboard (issue 6) and scripts.

Everything here is counts: no name, phone or free text leaves these functions. Counts are
computed in the database by ``GROUP BY`` queries that each return a few hundred groups at most
(several low-cardinality dimensions share one scan; each dimension is then summed out in
Python), so the work per page is a handful of scans whatever the registry's size, and the
transfer stays small (50,000 actors: see bench/admin.py).

Population of the distributions: **confirmed registrations** (``registered_at`` set), in the
chosen period (by confirmation date), *including the entries anonymised after a deletion
request*: bot/models ``Actor`` keeps kind, gender, birth decade (``birth_band``), canonical
quartier, sector, legal form and needs after a deletion, precisely so that these counts stay
right. What a deletion erases cannot be counted: the exact birth year (so the age band of a
deleted entry is unknown; its decade is still counted), the social-protection answer (possible
health data, docs/domain.md §3), the language and the channel.

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

from bot.i18n import S_
from bot.models import Actor, Contact, Message
from bot.phones import exclude_test_phones
from bot.models.content import Ticket
from bot.engine import REGISTRATION
from bot.engine.schema import load_dialogs
from bot.registry import fields as F


#: The youth band of APEJ (Agence pour la Promotion de l'Emploi des Jeunes): ages 15 to 40
#: (docs/domain.md §2, apej.ml/qui-sommes-nous).
YOUTH_BAND = (15, 40)

#: Age bands shown on the dashboard: (key, label, lowest age, highest age); None = open end.
#: Only the youth band is a rule (APEJ); the other cuts just split the rest for reading.
AGE_BANDS: tuple[tuple[str, str, int | None, int | None], ...] = (
    ("moins15", S_("Moins de 15 ans"), None, YOUTH_BAND[0] - 1),
    ("jeunes", S_("15–40 ans (jeunes, APEJ)"), YOUTH_BAND[0], YOUTH_BAND[1]),
    ("41-59", S_("41–59 ans"), YOUTH_BAND[1] + 1, 59),
    ("60plus", S_("60 ans et plus"), 60, None),
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
    Period("30j", S_("30 derniers jours"), 30, "week"),
    Period("12m", S_("12 derniers mois"), 365, "month"),
    Period("tout", S_("Depuis le début"), None, "month"),
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
    dialogs = load_dialogs()
    options = F.options()
    labels: dict[str, dict[str, str]] = {
        field: dict(options[field])
        for field in ("kind", "gender", "sector", "legal_form", "protection", "needs")
        if field in options}
    places = dialogs.places(REGISTRATION)
    quartiers = {name: name for name in places.names()}
    outside = dict(places.outside_label).get("fr")
    if outside:
        quartiers[outside] = outside
    labels["quartier"] = quartiers
    return labels


def area_name() -> str:
    """The deployment area's name from the places file (e.g. "Commune III")."""
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
               now: datetime) -> sa.ColumnElement:
    """SQL for the local calendar day of a UTC timestamp `column` (a date on PostgreSQL,
    ``YYYY-MM-DD`` text on SQLite).

    PostgreSQL converts with the time-zone database; SQLite has none, so the zone's offset at
    `now` is applied (exact for Africa/Bamako, UTC+0 all year; within an hour around a DST
    change elsewhere).
    """
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.timezone(timezone, column), sa.Date)
    offset = int(now.astimezone(ZoneInfo(timezone)).utcoffset().total_seconds())
    if offset == 0:
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC: the day is the first 10 characters
        # (a third of strftime's cost on 50,000 rows).
        return sa.func.substr(column, 1, 10)
    return sa.func.strftime("%Y-%m-%d", column, f"{offset:+d} seconds")


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def headline(conn: sa.Connection, now: datetime) -> Headline:
    """The top numbers at `now` (aware UTC): four aggregate queries (actor, contact, ticket,
    message). See :class:`Headline`."""
    a, c, t, m = Actor.__table__, Contact.__table__, Ticket.__table__, Message.__table__
    live = a.c.deleted_at.is_(None)
    row = conn.execute(sa.select(
        sa.func.sum(sa.case((sa.and_(live, a.c.registered_at.is_not(None)), 1), else_=0)),
        sa.func.sum(sa.case((sa.and_(live, a.c.registered_at.is_(None)), 1), else_=0)),
        sa.func.sum(sa.case((a.c.deleted_at.is_not(None), 1), else_=0)),
    ).where(exclude_test_phones(a.c.phone))).one()
    contacts = conn.execute(sa.select(
        sa.func.count(), sa.func.sum(sa.case((c.c.opted_out, 1), else_=0))
    ).where(sa.not_(c.c.phone.like("deleted:%")), exclude_test_phones(c.c.phone))).one()
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
    count: their dates are kept. One ``GROUP BY`` (start day, confirmation day)."""
    a = Actor.__table__
    start = period_start(period, now, timezone)
    today = now.astimezone(ZoneInfo(timezone)).date()
    started_day = _local_day(conn, a.c.created_at, timezone, now)
    confirmed_day = _local_day(conn, a.c.registered_at, timezone, now)
    query = sa.select(started_day, confirmed_day, sa.func.count()).where(
        exclude_test_phones(a.c.phone)).group_by(started_day, confirmed_day)
    if start is not None:
        query = query.where(sa.or_(a.c.created_at >= start, a.c.registered_at >= start))
    first = start.astimezone(ZoneInfo(timezone)).date() if start is not None else None
    started: Counter = Counter()
    confirmed: Counter = Counter()
    for s_day, c_day, n in conn.execute(query):
        s_day, c_day = _as_date(s_day), _as_date(c_day)
        if s_day is not None and (first is None or s_day >= first):
            started[s_day] += int(n)
        if c_day is not None and (first is None or c_day >= first):
            confirmed[c_day] += int(n)
    if first is None:
        first = min([*started, *confirmed], default=today)
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
                # "juin 25" read as the 25th of June: months as MM/AAAA on the chart.
                buckets[k] = Bucket(start=k, label=_month_label(k), short=k.strftime("%m/%Y"))
            else:
                buckets[k] = Bucket(start=k, label=k.strftime("%d/%m/%Y"),
                                    short=k.strftime("%d/%m"))
        day = (k.replace(day=28) + timedelta(days=4)).replace(day=1) \
            if period.bucket == "month" else k + timedelta(days=7 - k.weekday())
    for d, n in started.items():
        if key(d) in buckets:
            buckets[key(d)].started += n
    for d, n in confirmed.items():
        if key(d) in buckets:
            buckets[key(d)].confirmed += n
    return sorted(buckets.values(), key=lambda b: b.start)


def _grouped(conn: sa.Connection, columns: list[sa.ColumnElement], where: list) -> list[tuple]:
    """``SELECT columns, count(*) … GROUP BY columns`` as a list of tuples (count last)."""
    return [tuple(r) for r in conn.execute(
        sa.select(*columns, sa.func.count()).where(*where).group_by(*columns))]


def _marginal(rows: list[tuple], index: int, keep=None) -> Counter:
    """Counts of the values in column `index` of `rows` from :func:`_grouped` (summed over
    the other columns); `keep(row)` selects rows."""
    counts: Counter = Counter()
    for row in rows:
        if keep is None or keep(row):
            counts[row[index]] += int(row[-1])
    return counts


def _shares(rows: list[Row], population: int) -> list[Row]:
    for row in rows:
        row.share = round(100.0 * row.count / population, 1) if population else 0.0
    return rows


def _single(counts: Counter, name: str, title: str, population: int,
            labels: dict[str, str], *, order: str = "count", note: str = "") -> Distribution:
    """A single-choice dimension from its `counts` by stored value: rows in `labels` order
    (`order="labels"`) or by count, descending; values not in `labels` with their raw text;
    no answer (None) last."""
    rows = [Row(k, labels[k], counts.get(k, 0)) for k in labels]
    rows += [Row(str(k), str(k), n) for k, n in counts.items() if k is not None and k not in labels]
    if order == "count":
        rows.sort(key=lambda r: -r.count)
    if counts.get(None):
        rows.append(Row(UNKNOWN, S_("Non renseigné"), counts[None]))
    return Distribution(name, title, _shares(rows, population), population, note=note)


def _multiple(counts_by_text: Counter, name: str, title: str, population: int,
              labels: dict[str, str], *, note: str = "") -> Distribution:
    """A multiple-choice dimension stored as a JSON list, from the counts of each stored
    list's text (a few dozen distinct combinations): each option counted once per entry. An
    entry with no list (or an empty one) counts as "Non renseigné"."""
    counts: Counter = Counter()
    unknown = 0
    for raw, n in counts_by_text.items():
        keys = json.loads(raw) if raw else None
        if not keys:
            unknown += n
            continue
        for k in set(keys):
            counts[k] += n
    rows = [Row(k, labels[k], counts.get(k, 0)) for k in labels]
    rows += [Row(str(k), str(k), n) for k, n in counts.items() if k not in labels]
    rows.sort(key=lambda r: -r.count)
    if unknown:
        rows.append(Row(UNKNOWN, S_("Non renseigné"), unknown))
    return Distribution(name, title, _shares(rows, population), population, multiple=True,
                        note=note)


def _ages(counts: Counter, population: int, year: int) -> Distribution:
    """Age bands (AGE_BANDS) from counts by (birth year, deleted): age = current year − birth
    year, as the broadcast segments count it. Anonymised entries have no birth year any more:
    they get their own row (their decade is in the "decade" distribution)."""
    bands: Counter = Counter()
    for (birth, deleted), n in counts.items():
        if birth is None:
            bands[ERASED if deleted else UNKNOWN] += n
            continue
        age = year - int(birth)
        for key, _label, low, high in AGE_BANDS:
            if (low is None or age >= low) and (high is None or age <= high):
                bands[key] += n
                break
    rows = [Row(key, label, bands.get(key, 0)) for key, label, _l, _h in AGE_BANDS]
    if bands.get(UNKNOWN):
        rows.append(Row(UNKNOWN, S_("Non renseigné"), bands[UNKNOWN]))
    if bands.get(ERASED):
        rows.append(Row(ERASED, S_("Effacé (fiche supprimée)"), bands[ERASED]))
    return Distribution("age", S_("Âge"), _shares(rows, population), population,
                        note=S_("Âge = année en cours − année de naissance. Tranche jeunes "
                                "de l'APEJ : 15 à 40 ans."))


def _decades(counts: Counter, population: int) -> Distribution:
    """Birth decades (``birth_band``, kept after a deletion), oldest first."""
    rows = [Row(str(k), str(k).replace("-", "–"), n)
            for k, n in sorted((k, n) for k, n in counts.items() if k)]
    if counts.get(None):
        rows.append(Row(UNKNOWN, S_("Non renseigné"), counts[None]))
    return Distribution("decade", S_("Décennie de naissance"), _shares(rows, population),
                        population)


def compute(conn: sa.Connection, period: Period, now: datetime, *,
            timezone: str = "Africa/Bamako") -> Stats:
    """All the dashboard's numbers for `period` at `now` (aware UTC), read through `conn`.

    Eight aggregate queries, four of them over the registry: (kind, gender, sector,
    quartier), (birth year, birth decade, deleted), (needs, protection, deleted) — each a
    ``GROUP BY`` of a few hundred groups at most, split per dimension here —, and (start day,
    confirmation day) for the time chart; plus the top numbers. Labels of the returned rows
    are French msgids (the dashboard translates them with the admin catalog; option labels
    and quartier names are already French).
    """
    a = Actor.__table__
    labels = registry_labels()
    start = period_start(period, now, timezone)
    if start is None and conn.dialect.name == "sqlite":
        # Nearly every row is registered: a full scan beats the registered_at index, which
        # SQLite (without ANALYZE statistics) picks for IS NOT NULL, then looking up the table
        # once per row: twice as slow on 50,000 actors. A CASE cannot use an index. (Not on
        # PostgreSQL: its statistics choose the scan, and the CASE would hide them.)
        where: list[Any] = [sa.case((a.c.registered_at.is_(None), 0), else_=1) == 1]
    elif start is None:
        where = [a.c.registered_at.is_not(None)]
    else:
        where = [a.c.registered_at.is_not(None), a.c.registered_at >= start]
    # Simulator test contacts (bot.phones) are not people of the commune.
    where.append(exclude_test_phones(a.c.phone))
    deleted = a.c.deleted_at.is_not(None)
    who = _grouped(conn, [a.c.kind, a.c.gender, a.c.sector, a.c.quartier], where)
    births = _grouped(conn, [a.c.birth_year, a.c.birth_band, deleted], where)
    lists = _grouped(conn, [sa.cast(a.c.needs, sa.Text), sa.cast(a.c.protection, sa.Text),
                            deleted], where)
    population = sum(int(r[-1]) for r in births)
    erased = sum(int(r[-1]) for r in births if r[2])
    stats = Stats(period=period, now=now, headline=headline(conn, now),
                  buckets=time_buckets(conn, period, now, timezone), population=population,
                  population_deleted=erased)
    year = now.astimezone(ZoneInfo(timezone)).year
    ages: Counter = Counter()
    for birth, _band, is_deleted, n in births:
        ages[(birth, bool(is_deleted))] += int(n)
    dims = [
        _single(_marginal(who, 0), "kind", S_("Individus et organisations"), population,
                labels.get("kind", {}), order="labels"),
        _single(_marginal(who, 1), "gender", S_("Genre"), population,
                labels.get("gender", {}), order="labels",
                note=S_("Pour une organisation : la personne à contacter.")),
        _ages(ages, population, year),
        _decades(_marginal(births, 1), population),
        _single(_marginal(who, 3), "quartier", S_("Quartier"), population,
                labels.get("quartier", {})),
        _single(_marginal(who, 2), "sector", S_("Secteur d'activité"), population,
                labels.get("sector", {})),
        _multiple(_marginal(lists, 1, keep=lambda r: not r[2]), "protection",
                  S_("Protection sociale déclarée"), population - erased,
                  labels.get("protection", {}),
                  note=S_("Question facultative, plusieurs réponses possibles. Les fiches "
                          "supprimées n'en gardent rien (donnée de santé possible).")),
        _multiple(_marginal(lists, 0), "needs", S_("Besoins exprimés"), population,
                  labels.get("needs", {}), note=S_("Plusieurs réponses possibles.")),
    ]
    stats.distributions = {d.name: d for d in dims}
    return stats
