"""Export of the registry to CSV or Excel, shared by ``essbot actors export`` and the staff page
``/admin/registry/export`` (one function, same columns and cells).

Two ways to write the same columns: **labels** (the staff page's, and ``essbot actors export
--labels``) for people reading it in Excel — French headers (bot.registry.fields.FIELD_LABELS),
French labels for coded values (the registration dialog's, as the pages show them), times as
``JJ/MM/AAAA HH:MM`` in the deployment's time zone (ESSBOT_TIMEZONE); and **codes** (the CLI's
default) for scripts — field names as headers, stored codes, times ISO 8601 in UTC. The import
(bot.registry.importer) reads both.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from contextlib import contextmanager
from datetime import datetime, timezone, tzinfo
from typing import Any, Callable, Iterator, Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.config import setting
from bot.models import Actor, Contact, utcnow
from bot.registry import fields as F
from bot.registry.query import RegistryFilter, conditions
from bot.db import get_engine

#: Columns of the export, in order (issue 3 lists the first 21).
EXPORT_COLUMNS = (
    "registration_code", "phone", "language", "channel", "kind", "name", "org_name",
    "contact_name", "gender", "birth_year", "quartier", "sector", "trade", "legal_form",
    "members_count", "formalised", "protection", "needs", "consent_at", "created_at",
    "updated_at", "quartier_text", "birth_band", "completeness", "registered_at",
    "consent_version", "deleted_at", "announcements",
)
#: Columns read from the person's contact rather than the registry entry (issue 12: the
#: announcement consent lives on the contact, bot.broadcasts.reach reads it there).
CONTACT_COLUMNS = frozenset({"announcements"})

#: Column headers of the staff export: the French labels of the pages, with the unit where
#: the value is a bare number.
HEADERS = {**F.FIELD_LABELS, "completeness": "Fiche remplie à (%)"}

#: Columns whose values are codes shown by their French label (bot.registry.fields.label).
LABELLED = frozenset({"language", "channel", "kind", "gender", "sector", "legal_form",
                      "formalised", "protection", "needs", "announcements"})

#: How a time is written for staff (Excel reads it as a date in a French locale), and the
#: month only of an anonymised row.
TIME_FORMAT, MONTH_FORMAT = "%d/%m/%Y %H:%M", "%m/%Y"
#: The same for an Excel date cell.
XLSX_TIME_FORMAT = "DD/MM/YYYY HH:MM"

#: CSV field separator: ";", what Excel expects in French-speaking locales (a comma-separated
#: file opens there in a single column; newcomer's test). The import reads both.
CSV_DELIMITER = ";"

#: Formats and their MIME types.
FORMATS = {"csv": "text/csv",  # werkzeug adds "; charset=utf-8"
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


def staff_cell(column: str, value: object, zone: tzinfo) -> object:
    """One value for staff: the French label of a code (lists joined with ", "), "Oui"/"Non",
    a time as an aware datetime in `zone` (the writer formats it), numbers as numbers, text
    neutralised as in :func:`cell`."""
    if value is None or value == []:
        return ""
    if isinstance(value, datetime):
        return _aware(value).astimezone(zone)
    if column in LABELLED:
        return neutralise(F.label(column, value))
    return cell(value)


def row_cells(row: Sequence[object], labels: bool = False,
              zone: tzinfo = timezone.utc) -> list[object]:
    """The exported cells of one actor row (values in EXPORT_COLUMNS order): codes as stored
    (:func:`cell`), or with `labels` as staff read them (:func:`staff_cell`, times in `zone`,
    written as ``JJ/MM/AAAA HH:MM``). An anonymised row (deleted_at set) has its times cut to
    the month ("2026-11", or "11/2026" for staff): exact times next to the counts left
    (gender, quartier, sector...) could re-identify the person."""
    deleted = row[EXPORT_COLUMNS.index("deleted_at")] is not None
    out: list[object] = []
    for column, value in zip(EXPORT_COLUMNS, row):
        if deleted and isinstance(value, datetime):
            out.append(_aware(value).astimezone(zone).strftime(MONTH_FORMAT) if labels
                       else value.strftime("%Y-%m"))
        elif labels:
            value = staff_cell(column, value, zone)
            out.append(value.strftime(TIME_FORMAT) if isinstance(value, datetime) else value)
        else:
            out.append(cell(value))
    return out


def headers(labels: bool = False) -> list[str]:
    """The header row: French labels for staff, else the field names."""
    return [HEADERS[c] for c in EXPORT_COLUMNS] if labels else list(EXPORT_COLUMNS)


def _aware(value: datetime) -> datetime:
    """A stored time as an aware datetime (stored times are UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def export_actors(app: Any, fmt: str, output: str, *, labels: bool = True,
                  include_deleted: bool = False, filt: RegistryFilter | None = None,
                  now: datetime | None = None,
                  progress: Callable[[int], Any] | None = None) -> int:
    """Write the actors of `app` matching `filt` to the file `output` as "csv" (UTF-8 with a
    BOM, so Excel reads the accents) or "xlsx"; return the rows written. With `labels` (the
    default) the file is for staff: French headers and labels, times as JJ/MM/AAAA HH:MM in
    ESSBOT_TIMEZONE (real date cells in Excel); without, field names, codes and UTC ISO times
    (the module docstring says why both).

    Without `filt`, every actor not deleted (`include_deleted` adds the anonymous rows left by
    deletion requests; a filter's own ``status`` decides otherwise). Rows are read in id order
    in batches (server-side on PostgreSQL), so memory stays flat on large registries.
    `progress(total)` may return an object with ``update(n)`` and ``render_finish()`` (a
    click.progressbar) to show progress. `now` (aware) gives the current year of age bands.
    Raises OSError when the file cannot be written, ValueError on an unknown `fmt`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    zone = ZoneInfo(setting(app.config, "ESSBOT_TIMEZONE"))
    with selected_rows(app, filt, include_deleted=include_deleted, now=now) as (total, rows):
        bar = progress(total) if progress else None
        count = 0
        if fmt == "csv":
            with open(output, "w", newline="", encoding="utf-8-sig") as fh:
                writer = csv.writer(fh, delimiter=CSV_DELIMITER)
                writer.writerow(headers(labels))
                for row in rows:
                    writer.writerow(row_cells(row, labels, zone))
                    count += 1
                    if bar is not None:
                        bar.update(1)
        else:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet("Registre ESS" if labels else "actors")
            sheet.append(headers(labels))
            for row in rows:
                sheet.append(_xlsx_cells(sheet, row, labels, zone))
                count += 1
                if bar is not None:
                    bar.update(1)
            book.save(output)
        if bar is not None:
            bar.render_finish()
    return count


@contextmanager
def selected_rows(app: Any, filt: RegistryFilter | None = None, *,
                  include_deleted: bool = False,
                  now: datetime | None = None) -> Iterator[tuple[int, Iterator[Sequence[Any]]]]:
    """Context manager: ``(total, rows)`` of the actors of `app` matching `filt` (default:
    every actor not deleted, with `include_deleted` the anonymous rows too), rows being
    EXPORT_COLUMNS value tuples in id order, read in batches of 500 (server-side on
    PostgreSQL) so that memory stays flat; the connection is closed on exit."""
    filt = filt or RegistryFilter(status="all" if include_deleted else "")
    table = Actor.__table__
    where = conditions(filt, now or utcnow(), setting(app.config, "ESSBOT_TIMEZONE"))
    contact = Contact.__table__
    # The announcement consent lives on the contact (issue 12): joined, one row per actor.
    query = (sa.select(*[contact.c[name] if name in CONTACT_COLUMNS else table.c[name]
                         for name in EXPORT_COLUMNS])
             .select_from(table.outerjoin(contact, contact.c.id == table.c.contact_id))
             .where(*where).order_by(table.c.id))
    with get_engine(app).connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar()
        rows = conn.execution_options(stream_results=True, yield_per=500).execute(query)
        yield int(total or 0), iter(rows)


def count_rows(app: Any, filt: RegistryFilter | None = None, *,
               now: datetime | None = None) -> int:
    """How many actors of `app` an export of `filt` writes (one COUNT query)."""
    table = Actor.__table__
    where = conditions(filt or RegistryFilter(), now or utcnow(),
                       setting(app.config, "ESSBOT_TIMEZONE"))
    with get_engine(app).connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(*where)).scalar() or 0)


#: Bytes of CSV text gathered before a chunk is compressed and sent.
CSV_CHUNK = 64 * 1024


def csv_chunks(app: Any, filt: RegistryFilter | None = None, *, labels: bool = True,
               gzip: bool = False, now: datetime | None = None) -> Iterator[bytes]:
    """The staff CSV export (same bytes as :func:`export_actors` writes: UTF-8 with a BOM,
    ";"-separated) as a stream of chunks of about CSV_CHUNK bytes, for a streamed HTTP
    response: memory stays flat whatever the registry's size. With `gzip`, the chunks are
    one gzip member (RFC 1952; ``Content-Encoding: gzip``), level 6: a registry's CSV
    shrinks about eightfold. The database connection is held until the last chunk."""
    zone = ZoneInfo(setting(app.config, "ESSBOT_TIMEZONE"))
    packer = zlib.compressobj(6, zlib.DEFLATED, 31) if gzip else None
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER)
    buffer.write("\ufeff")
    writer.writerow(headers(labels))

    def take() -> bytes:
        data = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        return packer.compress(data) if packer else data

    with selected_rows(app, filt, now=now) as (_total, rows):
        for row in rows:
            writer.writerow(row_cells(row, labels, zone))
            if buffer.tell() >= CSV_CHUNK:
                chunk = take()
                if chunk:
                    yield chunk
    tail = take()
    if packer:
        tail += packer.flush()
    if tail:
        yield tail


def _xlsx_cells(sheet: Any, row: Sequence[object], labels: bool, zone: tzinfo) -> list[object]:
    """One Excel row. Excel has no time zone: for scripts, times are UTC text like the CSV;
    for staff, date cells in local time shown JJ/MM/AAAA HH:MM (sortable, filterable)."""
    cells = row_cells(row, labels, zone)
    if not labels or row[EXPORT_COLUMNS.index("deleted_at")] is not None:
        return cells
    from openpyxl.cell import WriteOnlyCell

    out: list[object] = []
    for value, shown in zip(row, cells):
        if isinstance(value, datetime):
            date = WriteOnlyCell(sheet, value=_aware(value).astimezone(zone).replace(tzinfo=None))
            date.number_format = XLSX_TIME_FORMAT
            out.append(date)
        else:
            out.append(shown)
    return out
