"""Issue 12 §5 and §1: the registry's export → import → export round trip (codes and labels,
CSV and XLSX) keeps registration codes and announcement consent, reads the export's own
labels ("Hors de la Commune III"), and refuses a code someone else holds; staff see and change
a person's announcement consent on the actor page, audited with a reason."""

from __future__ import annotations

import csv


import pytest
import sqlalchemy as sa

from bot.db import session_scope, transaction
from bot.models import Actor, Contact
from bot.models.staff import AuditEvent
from bot.registry import importer
from bot.registry.changes import delete_actor
from bot.registry.export import EXPORT_COLUMNS, export_actors
from tests.admin_helpers import login, make_staff, post_form

LIST = ("telephone;nom;quartier;annonces\n"
        "76000001;Awa Traoré;Badialan I;oui\n"
        "76000002;Supprimée Bientôt;Samé;oui\n"
        "76000003;Moussa Diarra;hors commune, Kalaban Coura;non\n"
        "76000004;Fanta Keita;Badialan II;\n"
        "76000005;Oumar Sidibé;Hors de la Commune III;oui\n").encode("utf-8")
#: Columns that are times (or carry the import's date): set again by each import.
TIMES = {"consent_at", "created_at", "updated_at", "registered_at", "consent_version"}


def imported(app, data: bytes, name: str) -> dict:
    report = importer.analyse_file(app, data, name)
    assert not report.errors, importer.format_report(report)
    return importer.apply_import(app, report)


def rows_of(path, fmt: str) -> list[dict]:
    if fmt == "csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            table = list(csv.reader(fh, delimiter=";"))
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(path).active
        table = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    header, *body = table
    return [{h: v for h, v in zip(header, row)} for row in body]


def empty_registry(app) -> None:
    with transaction(app) as conn:
        conn.execute(sa.delete(Actor.__table__))
        conn.execute(sa.delete(Contact.__table__))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("labels", [True, False], ids=["labels", "codes"])
def test_export_import_export_gives_the_same_rows(app, tmp_path, fmt, labels):
    imported(app, LIST, "liste.csv")
    with session_scope(app) as s:
        gone = s.scalar(sa.select(Actor.id).where(Actor.name == "Supprimée Bientôt"))
    delete_actor(app, gone)  # a gap: the next codes no longer follow the entry numbers
    first = tmp_path / f"first.{fmt}"
    assert export_actors(app, fmt, str(first), labels=labels) == 4
    empty_registry(app)  # the fresh registry the file is read into
    again = imported(app, first.read_bytes(), first.name)
    assert again["created"] == 4
    second = tmp_path / f"second.{fmt}"
    export_actors(app, fmt, str(second), labels=labels)
    before, after = rows_of(first, fmt), rows_of(second, fmt)
    time_headers = {h for h in before[0] if h in TIMES} if not labels else {
        h for h in before[0] if h.endswith(" le") or h.startswith("Version du")}
    strip = [{k: v for k, v in r.items() if k not in time_headers} for r in before]
    assert strip == [{k: v for k, v in r.items() if k not in time_headers} for r in after]
    codes = {r["Code d'inscription" if labels else "registration_code"] for r in after}
    assert codes == {"ESS3-000001", "ESS3-000003", "ESS3-000004", "ESS3-000005"}
    consent = [r["Accepte les annonces" if labels else "announcements"] for r in after]
    assert consent == (["Oui", "Non", "", "Oui"] if labels else ["oui", "non", "", "oui"])
    assert len(EXPORT_COLUMNS) == len(after[0])


def test_a_code_held_by_someone_else_is_refused_with_a_clear_error(app):
    imported(app, LIST, "liste.csv")
    other = ("code;telephone;nom\nESS3-000001;76999999;Quelqu'un d'autre\n"
             "ESS3-000777;76999998;Deux fois\nESS3-000777;76999997;Deux fois bis\n").encode()
    report = importer.analyse_file(app, other, "autre.csv")
    messages = [e["message"] for e in report.errors]
    assert messages == [
        "code d'inscription « ESS3-000001 » déjà celui d'une autre personne du registre : "
        "corrigez-le ou videz la case",
        "code d'inscription « ESS3-000777 » déjà donné à la ligne 3 : corrigez-le ou videz la "
        "case"]
    assert [r["row"] for r in report.create] == [3]


def test_outside_the_commune_is_never_suggested_a_quartier(app):
    data = ("telephone;nom;quartier\n76000011;A;Hors de la Commune III\n"
            "76000012;B;Hors de la commune 3\n76000013;C;hors commune\n").encode()
    report = importer.analyse_file(app, data, "hors.csv")
    assert not report.errors
    assert {r["values"]["quartier"] for r in report.create} == {"Hors de la Commune III"}


def test_staff_see_and_change_consent_with_a_reason_audited(app, client):
    imported(app, LIST, "liste.csv")
    make_staff(app)
    login(client, "agent")
    with session_scope(app) as s:
        fanta = s.scalar(sa.select(Actor.id).where(Actor.name == "Fanta Keita"))
    page = f"/admin/registry/{fanta}"
    html = client.get(page).get_data(as_text=True)
    assert "Jamais demandé : ne reçoit pas les annonces" in html and "ABONNER" in html
    refused = post_form(client, f"/admin/registry/{fanta}/announcements",
                        {"value": "oui", "reason": ""}, page=page)
    assert refused.status_code == 302
    assert "Indiquez la raison" in client.get(page).get_data(as_text=True)
    done = post_form(client, f"/admin/registry/{fanta}/announcements",
                     {"value": "oui", "reason": "a accepté au téléphone le 2/12"}, page=page)
    assert done.status_code == 302
    html = client.get(page).get_data(as_text=True)
    assert "Oui : reçoit les annonces" in html and "noté par un agent" in html
    with session_scope(app) as s:
        contact = s.scalar(sa.select(Contact).join(Actor, Actor.contact_id == Contact.id)
                           .where(Actor.id == fanta))
        assert (contact.announcements, contact.announcements_source) == (True, "agent")
        [event] = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "announcements"))
        assert event.target == f"actor:{fanta}"
        assert event.detail == {"value": "oui", "reason": "a accepté au téléphone le 2/12"}


def test_viewer_cannot_change_consent(app, client):
    imported(app, LIST, "liste.csv")
    make_staff(app)
    login(client, "viewer")
    with session_scope(app) as s:
        awa = s.scalar(sa.select(Actor.id).where(Actor.name == "Awa Traoré"))
    html = client.get(f"/admin/registry/{awa}").get_data(as_text=True)
    assert "Oui : reçoit les annonces" in html and "Raison (obligatoire" not in html
    assert client.post(f"/admin/registry/{awa}/announcements",
                       data={"value": "non", "reason": "x"}).status_code in (302, 403)
    with session_scope(app) as s:
        assert s.scalar(sa.select(Contact.announcements).join(
            Actor, Actor.contact_id == Contact.id).where(Actor.id == awa)) is True




def test_reimporting_the_list_records_consent_of_people_already_registered(app):
    imported(app, LIST, "liste.csv")
    again = ("telephone;nom;annonces\n76000004;Fanta Keita;oui\n"
             "76000003;Moussa Diarra;oui\n").encode()
    report = importer.analyse_file(app, again, "liste2.csv")
    assert not report.create and len(report.duplicates) == 2
    assert "accord pour les annonces noté : oui" in report.duplicates[0]["reason"]
    result = importer.apply_import(app, report)
    assert result["consent"] == 2  # both recorded by the import only: the new list wins
    with session_scope(app) as s:
        got = dict(s.execute(sa.select(Contact.phone, Contact.announcements)).all())
    assert got["+22376000004"] is True and got["+22376000003"] is True
