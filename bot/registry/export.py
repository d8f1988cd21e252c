"""Export of the registry to CSV or Excel, shared by ``essbot actors export`` and the staff page
``/admin/registry/export`` (one function, same columns and cells)."""

from __future__ import annotations

import csv
import re
from datetime import datetime
from typing import Any, Callable, Sequence

import sqlalchemy as sa

from bot.models import Actor, utcnow
from bot.registry.query import RegistryFilter, conditions

#: Columns of the export, in order (issue 3 lists the first 21).
EXPORT_COLUMNS = (
    "registration_code", "phone", "language", "channel", "kind", "name", "org_name",
    "contact_name", "gender", "birth_year", "quartier", "sector", "trade", "legal_form",
    "members_count", "formalised", "protection", "needs", "consent_at", "created_at",
    "updated_at", "quartier_text", "birth_band", "completeness", "registered_at",
    "consent_version", "deleted_at",
)

#: CSV field separator: ";", what Excel expects in French-speaking locales (a comma-separated
#: file opens there in a single column; newcomer's test). The import reads both.
CSV_DELIMITER = ";"

#: Formats and their MIME types.
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection":
#: = + - @, tab and carriage return).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_PHONE = re.compile(r"\+\d{6,15}")


def neutralise(text: str) -> str:
    """`text` made safe for a spreadsheet: a leading formula character gets an apostrophe in
    front (``=HYPERLINK(…)`` → ``'=HYPERLINK(…)``, shown as text by Excel and LibreOffice), as
    OWASP's CSV Injection page recommends. An E.164 phone (``+22370000001``) is left as it is:
    it is not a formula, and staff dial it."""
    if text.startswith(FORMULA_STARTS) and not _PHONE.fullmatch(text):
        return "'" + text
    return text


def cell(value: object) -> object:
    """One exported value: lists joined with ";", booleans as oui/non, times ISO 8601 (UTC),
    None → "", text that a spreadsheet would run as a formula neutralised (:func:`neutralise`:
    names and trades are typed by the public)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, list):
        return neutralise(";".join(str(v) for v in value))
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, str):
        return neutralise(value)
    return value


def row_cells(row: Sequence[object]) -> list[object]:
    """The exported cells of one actor row (values in EXPORT_COLUMNS order). An anonymised row
    (deleted_at set) has its times cut to the month ("2026-11"): exact times next to the counts
    left (gender, quartier, sector...) could re-identify the person."""
    deleted = row[EXPORT_COLUMNS.index("deleted_at")] is not None
    return [value.strftime("%Y-%m") if deleted and isinstance(value, datetime) else cell(value)
            for value in row]


def export_actors(app: Any, fmt: str, output: str, *, include_deleted: bool = False,
                  filt: RegistryFilter | None = None, now: datetime | None = None,
                  progress: Callable[[int], Any] | None = None) -> int:
    """Write the actors of `app` matching `filt` to the file `output` as "csv" (UTF-8 with a
    BOM, so Excel reads the accents) or "xlsx"; return the rows written.

    Without `filt`, every actor not deleted (`include_deleted` adds the anonymous rows left by
    deletion requests; a filter's own ``status`` decides otherwise). Rows are read in id order
    in batches (server-side on PostgreSQL), so memory stays flat on large registries.
    `progress(total)` may return an object with ``update(n)`` and ``render_finish()`` (a
    click.progressbar) to show progress. `now` (aware) gives the current year of age bands.
    Raises OSError when the file cannot be written, ValueError on an unknown `fmt`.
    """
    from bot.db import get_engine

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    filt = filt or RegistryFilter(status="all" if include_deleted else "")
    table = Actor.__table__
    where = conditions(filt, now or utcnow(), app.config.get("ESSBOT_TIMEZONE", "Africa/Bamako"))
    query = sa.select(*[table.c[name] for name in EXPORT_COLUMNS]).where(*where).order_by(
        table.c.id)
    with get_engine(app).connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()
        rows = conn.execution_options(stream_results=True, yield_per=500).execute(query)
        bar = progress(int(total or 0)) if progress else None
        count = 0
        if fmt == "csv":
            with open(output, "w", newline="", encoding="utf-8-sig") as fh:
                writer = csv.writer(fh, delimiter=CSV_DELIMITER)
                writer.writerow(EXPORT_COLUMNS)
                for row in rows:
                    writer.writerow(row_cells(row))
                    count += 1
                    if bar is not None:
                        bar.update(1)
        else:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet("actors")
            sheet.append(list(EXPORT_COLUMNS))
            for row in rows:
                # Excel has no time zone: times are written as UTC text, like the CSV.
                sheet.append(row_cells(row))
                count += 1
                if bar is not None:
                    bar.update(1)
            book.save(output)
        if bar is not None:
            bar.render_finish()
    return count
