"""The registry list of the staff interface: its filters and its paginated query.

Filters are read from a plain GET form (so the URL of a filtered list can be shared), checked,
and turned into SQL over the ``actor`` table alone (no join: the list stays fast with 50,000
actors). Values of the registry fields are those of the registration dialog, checked with the
registry's filter rules (bot.registry.filters.normalize, which broadcast segments use too): a
quartier typed "badialan 1" is read as "Badialan I" the way a person's answer is.

The list is ordered newest first (``id`` descending, the primary key) and cut with
LIMIT/OFFSET; the filtered columns are indexed (migration 0007: quartier, sector, deleted_at,
phone). Name searches (``LIKE '%…%'``) scan the table, which stays well under the 500 ms budget
at 50,000 rows (README, figures).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.models import Actor
from bot.phones import exclude_test_phones
from bot.registry.filters import FilterValueError, age_condition, needs_condition, normalize
from bot.registry.fields import CHANNEL_LABELS, quartier_names

#: Rows per page of the registry list.
PER_PAGE = 50

#: Filter fields of the registry list (GET parameters), in the order of the form.
FILTER_FIELDS = ("quartier", "sector", "kind", "gender", "age", "needs", "language", "channel",
                 "status")

#: Values of the ``status`` filter: "" (default) is every actor not deleted.
STATUSES = {"": "Tous (sauf supprimés)", "registered": "Inscription confirmée",
            "unfinished": "Inscription inachevée", "deleted": "Supprimés (anonymes)",
            "all": "Tous, supprimés compris"}

#: Age bands offered in the form ("-25" = at most 25, "60-" = at least 60). The first is the
#: youth band of APEJ (docs/domain.md §2: ages 15–40). Any other band typed in the URL also works.
AGE_BANDS = {"15-40": "15–40 ans (jeunes, tranche APEJ)", "-24": "moins de 25 ans",
             "-39": "moins de 40 ans", "41-59": "41–59 ans", "60-": "60 ans et plus",
             "inconnu": "âge inconnu"}

#: Columns the list can be sorted by (GET ``sort=KEY`` ascending, ``sort=-KEY`` descending):
#: key -> SQL expressions over the ``actor`` table. Ties are broken by ``id`` (newest first)
#: so that paging is stable. "age" sorts by birth year reversed (younger first when
#: ascending would be surprising: ascending age = latest birth year first).
SORT_KEYS = ("code", "name", "kind", "gender", "age", "quartier", "sector", "channel",
             "status", "created")
#: The default order: newest first.
DEFAULT_SORT = "-created"


def sort_order(sort: str) -> tuple[str, list[sa.ColumnElement[Any]]]:
    """The checked sort key of `sort` (a GET value such as ``"name"`` or ``"-age"``; anything
    unknown gives DEFAULT_SORT) and its ORDER BY expressions, NULLs last either way."""
    sort = sort if sort.lstrip("-") in SORT_KEYS else DEFAULT_SORT
    key, descending = sort.lstrip("-"), sort.startswith("-")
    a = Actor.__table__
    columns: dict[str, list[Any]] = {
        "code": [a.c.registration_code], "name": [sa.func.coalesce(a.c.org_name, a.c.name)],
        "kind": [a.c.kind], "gender": [a.c.gender], "quartier": [a.c.quartier],
        "sector": [a.c.sector], "channel": [a.c.channel],
        # Older people have smaller birth years: age ascending = birth year descending.
        "age": [a.c.birth_year], "status": [a.c.registered_at],
        "created": [],
    }
    reverse = descending != (key == "age")
    order: list[Any] = []
    for column in columns[key]:
        order.append(column.is_(None))  # NULLs last (SQLite and PostgreSQL differ otherwise)
        order.append(column.desc() if reverse else column.asc())
    order.append(a.c.id.desc() if (descending or key != "created") else a.c.id.asc())
    return sort, order

_CODE = re.compile(r"^[A-Za-z]+\d*-\d+$")


class FilterError(ValueError):
    """A filter value that cannot be read; the message (French) says which and why."""


@dataclass
class RegistryFilter:
    """Checked filters of the registry list.

    `q`: free search (name, organisation, contact person, registration code, or phone digits);
    `values`: ``{field: [canonical values]}`` for the segment fields (quartier, sector, kind,
    gender, needs, age, language) plus ``channel`` (sms, whatsapp, console, import: the channel
    the person registered on); `status`: a key of STATUSES.
    """

    q: str = ""
    values: dict[str, list[str]] = field(default_factory=dict)
    status: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> tuple["RegistryFilter", list[str]]:
        """Read the GET parameters of the list (a werkzeug MultiDict or a plain mapping).

        Returns the filter and a list of French error messages for the values that were
        ignored (an unknown quartier…), so the page still answers.
        """
        errors: list[str] = []
        getlist = getattr(args, "getlist", None)
        raw: dict[str, list[str]] = {}
        for name in FILTER_FIELDS:
            values = getlist(name) if getlist else args.get(name)
            if values is None:
                continue
            if not isinstance(values, (list, tuple)):
                values = [values]
            values = [str(v).strip() for v in values if str(v).strip()]
            if values:
                raw[name] = values
        status = (raw.pop("status", [""]) or [""])[0]
        if status not in STATUSES:
            errors.append(f"Filtre « état » : valeur inconnue « {status} ».")
            status = ""
        values: dict[str, list[str]] = {}
        for name, items in raw.items():
            try:
                values.update(_check(name, items))
            except FilterError as exc:
                errors.append(str(exc))
        q = str(args.get("q") or "").strip()[:100]
        return cls(q=q, values=values, status=status), errors

    @classmethod
    def from_items(cls, items: Iterable[str], include_deleted: bool = False) -> "RegistryFilter":
        """Read the CLI's ``--filter FIELD=VALUE[,VALUE…]`` items (also ``q=…`` and
        ``status=…``). Raises FilterError on a bad item."""
        values: dict[str, list[str]] = {}
        q, status = "", "all" if include_deleted else ""
        for item in items:
            if "=" not in item:
                raise FilterError(f"Filtre « {item} » : écrivez CHAMP=VALEUR, "
                                  "ex. quartier=Badialan I.")
            name, _, value = item.partition("=")
            name = name.strip().lower()
            if name == "q":
                q = value.strip()
                continue
            if name == "status":
                if value.strip() not in STATUSES:
                    raise FilterError(f"Filtre « status » : valeur inconnue « {value} » ; "
                                      f"valeurs : {', '.join(k for k in STATUSES if k)}.")
                status = value.strip()
                continue
            if name not in FILTER_FIELDS:
                raise FilterError(f"Filtre inconnu « {name} » ; champs : "
                                  f"{', '.join(FILTER_FIELDS)}, q.")
            parts = [v.strip() for v in value.split(",") if v.strip()]
            checked = _check(name, parts)
            merged = values.setdefault(name, [])
            merged.extend(v for v in checked[name] if v not in merged)
        return cls(q=q, values=values, status=status)

    def as_dict(self) -> dict[str, Any]:
        """The filters as JSON-able data (for the audit log and query strings): only the
        fields that are set; never a phone number (phone digits searched are replaced)."""
        out: dict[str, Any] = {k: v for k, v in self.values.items()}
        if self.q:
            out["q"] = "<téléphone>" if _phone_digits(self.q) else self.q
        if self.status:
            out["status"] = self.status
        return out

    def query_args(self) -> dict[str, Any]:
        """GET parameters that reproduce this filter (for links: pages, export)."""
        args: dict[str, Any] = {k: (v[0] if len(v) == 1 else v) for k, v in self.values.items()}
        if self.q:
            args["q"] = self.q
        if self.status:
            args["status"] = self.status
        return args

    def first(self, name: str) -> str:
        """The first value of filter `name`, or "" (for the form's selects)."""
        return (self.values.get(name) or [""])[0]


def _check(name: str, items: list[str]) -> dict[str, list[str]]:
    """Canonical values of one filter field; FilterError (French) when one is unknown."""
    if name == "channel":
        bad = [v for v in items if v.lower() not in CHANNEL_LABELS]
        if bad:
            raise FilterError(f"Filtre « canal » : valeur inconnue « {bad[0]} » ; valeurs : "
                              f"{', '.join(CHANNEL_LABELS)}.")
        return {name: list(dict.fromkeys(v.lower() for v in items))}
    if name == "age" and "inconnu" in items:
        rest = [v for v in items if v != "inconnu"]
        checked = _check(name, rest)[name] if rest else []
        return {name: ["inconnu", *checked]}
    try:
        return normalize({name: items})
    except FilterValueError:
        labels = {"quartier": "quartier", "sector": "secteur", "kind": "type", "gender": "genre",
                  "needs": "besoin", "age": "âge", "language": "langue"}
        hint = {"quartier": ", ".join(quartier_names()), "age": "15-40, -25 ou 60-",
                "language": "fr, bm"}.get(name)
        if hint is None:
            from bot.registry.fields import options

            hint = ", ".join(k for k, _ in options().get(name, ()))
        raise FilterError(f"Filtre « {labels.get(name, name)} » : valeur inconnue "
                          f"« {', '.join(items)} » ; valeurs : {hint}.") from None


def _phone_digits(q: str) -> str | None:
    """The digits to look for in phones when `q` is a phone number or part of one (at least
    4 digits and nothing but digits, spaces, dots, dashes and a leading +); else None."""
    if not re.fullmatch(r"\+?[\d\s.\-()]{4,}", q):
        return None
    digits = re.sub(r"\D", "", q)
    if digits.startswith("00"):
        digits = digits[2:]
    return digits if len(digits) >= 4 else None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def conditions(filt: RegistryFilter, now: datetime,
               timezone: str = "Africa/Bamako") -> list[sa.ColumnElement[bool]]:
    """SQL conditions (to AND) over the ``actor`` table for `filt`.

    `now` (aware) and `timezone` give the current year for age bands (only the birth year is
    known: age = current year in Bamako − birth year, as broadcasts count it).
    """
    a = Actor.__table__
    # The staff simulator's test contacts (bot.phones) are not people of the registry: never
    # listed, counted or exported.
    where: list[sa.ColumnElement[bool]] = [exclude_test_phones(a.c.phone)]
    status = filt.status
    if status == "deleted":
        where.append(a.c.deleted_at.is_not(None))
    elif status != "all":
        where.append(a.c.deleted_at.is_(None))
    if status == "registered":
        where.append(a.c.registered_at.is_not(None))
    elif status == "unfinished":
        where.append(a.c.registered_at.is_(None))
    year = now.astimezone(ZoneInfo(timezone)).year
    for name, values in filt.values.items():
        if name in ("quartier", "sector", "kind", "gender", "language", "channel"):
            where.append(a.c[name].in_(values))
        elif name == "needs":
            where.append(needs_condition(values))  # the same rules as broadcast segments
        elif name == "age":
            where.append(age_condition(values, year))
    if filt.q:
        digits = _phone_digits(filt.q)
        if digits:
            where.append(a.c.phone.like(_like(digits), escape="\\"))
        elif _CODE.match(filt.q):
            where.append(a.c.registration_code == filt.q.upper())
        else:
            from bot.understanding import fold

            # The folded column finds "Traoré" from "traore"; rows written without it (by
            # hand, or a seeding script) are still found by a plain case-insensitive match.
            folded = fold(filt.q)
            pattern = _like(filt.q)
            where.append(sa.or_(
                *([a.c.search_text.like(_like(folded), escape="\\")] if folded else []),
                *[a.c[c].ilike(pattern, escape="\\")
                  for c in ("name", "org_name", "contact_name", "trade")]))
    return where


#: Columns shown in the list (the page needs no more).
LIST_COLUMNS = ("id", "registration_code", "kind", "name", "org_name", "contact_name", "phone",
                "gender", "birth_year", "birth_band", "quartier", "quartier_text", "sector",
                "language", "channel", "completeness", "registered_at", "deleted_at",
                "created_at")


@dataclass
class Page:
    """One page of the list: `rows` (mappings of LIST_COLUMNS), `total` matching actors,
    `page` (1-based), `pages` (at least 1), `per_page`."""

    rows: list[Mapping[str, Any]]
    total: int
    page: int
    pages: int
    per_page: int


def page_numbers(page: int, pages: int, around: int = 2) -> list[int | None]:
    """The page links of a pager: the first and last pages, and `around` pages either side of
    `page` (1-based), None where pages are skipped: ``page_numbers(50, 985)`` is
    ``[1, None, 48, 49, 50, 51, 52, None, 985]``."""
    shown = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    out: list[int | None] = []
    for number in shown:
        if out and number - (out[-1] or 0) > 1:
            out.append(None)
        out.append(number)
    return out


def fetch_page(conn: sa.Connection, filt: RegistryFilter, page: int = 1, *, now: datetime,
               per_page: int = PER_PAGE, timezone: str = "Africa/Bamako",
               sort: str = DEFAULT_SORT) -> Page:
    """Read page `page` (1-based; clamped to the last page) of the actors matching `filt`,
    in the order of `sort` (see :func:`sort_order`; newest first by default), with the total
    count: two queries, LIMIT/OFFSET."""
    a = Actor.__table__
    where = conditions(filt, now, timezone)
    _sort, order = sort_order(sort)
    total = conn.execute(sa.select(sa.func.count()).select_from(a).where(*where)).scalar_one()
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = conn.execute(
        sa.select(*[a.c[c] for c in LIST_COLUMNS]).where(*where)
        .order_by(*order).limit(per_page).offset((page - 1) * per_page)).mappings().all()
    return Page(list(rows), int(total), page, pages, per_page)
