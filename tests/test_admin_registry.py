"""The Registre pages of the staff interface (bot/admin/registry.py) and the functions behind
them (bot/registry/): filters, pagination, the actor page, edit, delete, export, import, and
the CLI commands sharing them (``essbot actors export --filter``, ``essbot actors import``)."""

from __future__ import annotations

import csv
import html
import io
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bot.cli import main
from bot.db import session_scope
from bot.models import Actor, Contact, Message, utcnow
from bot.models.registry import RegistryImport
from bot.models.staff import AuditEvent
from bot.registry.importer import analyse_file
from tests.admin_helpers import csrf_token, login, make_staff, post_form
from tests.conftest import MESSAGES_URL, inbound_params

YEAR = utcnow().year  # Bamako is UTC+0 all year

#: A handful of actors, one distinguishing value per filter.
PEOPLE = [
    dict(name="Awa Traoré", phone="+22376000001", kind="individu", gender="femme",
         birth_year=YEAR - 25, quartier="Badialan I", sector="textile", needs=["formation"],
         language="fr", channel="sms", registered=True),
    dict(name="Moussa Diarra", phone="+22366000002", kind="individu", gender="homme",
         birth_year=YEAR - 50, quartier="Sogonafing", sector="commerce",
         needs=["financement", "acces_marche"], language="bm", channel="whatsapp",
         registered=True),
    dict(org_name="GIE Benkadi", contact_name="Fatoumata Koné", phone="+22370000003",
         kind="organisation", gender="femme", birth_year=None, quartier="Koulouninko",
         sector="agriculture", needs=["equipement"], language="fr", channel="import",
         registered=True),
    dict(name="Ibrahim Keïta", phone="+22365000004", kind="individu", gender="homme",
         birth_year=YEAR - 65, quartier="Badialan I", sector="batiment", needs=[],
         language="fr", channel="sms", registered=False),
]
NAMES = ["Awa Traoré", "Moussa Diarra", "GIE Benkadi", "Ibrahim Keïta"]


def add_actors(app, people=PEOPLE) -> list[int]:
    """Create the actors (with a contact, except imported ones); return their ids."""
    ids = []
    with session_scope(app) as s:
        for i, p in enumerate(people, start=1):
            p = dict(p)
            registered = p.pop("registered")
            contact_id = None
            if p["channel"] != "import":
                contact = Contact(phone=p["phone"], language=p["language"])
                s.add(contact)
                s.flush()
                contact_id = contact.id
            actor = Actor(contact_id=contact_id, **p, registered_at=utcnow() if registered
                          else None, registration_code=f"ESS3-{900 + i:06d}" if registered
                          else None, completeness=100 if registered else 60,
                          consent_at=utcnow())
            s.add(actor)
            s.flush()
            ids.append(actor.id)
    return ids


@pytest.fixture
def staff(app):
    return make_staff(app)


def shown(html: bytes) -> set[str]:
    """Which of NAMES the page lists."""
    text = html.decode()
    return {n for n in NAMES if n in text}


def audits(app, action: str) -> list[AuditEvent]:
    with session_scope(app) as s:
        return list(s.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)))


# ------------------------------------------------------------------------------------------
# List and filters
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ("", {"Awa Traoré", "Moussa Diarra", "GIE Benkadi", "Ibrahim Keïta"}),
    ("quartier=Badialan+I", {"Awa Traoré", "Ibrahim Keïta"}),
    ("quartier=badialan+1", {"Awa Traoré", "Ibrahim Keïta"}),  # typed like a person would
    ("sector=commerce", {"Moussa Diarra"}),
    ("kind=organisation", {"GIE Benkadi"}),
    ("gender=femme", {"Awa Traoré", "GIE Benkadi"}),
    ("age=15-40", {"Awa Traoré"}),  # APEJ's youth band
    ("age=60-", {"Ibrahim Keïta"}),
    ("age=inconnu", {"GIE Benkadi"}),
    ("needs=acces_marche", {"Moussa Diarra"}),
    ("language=bm", {"Moussa Diarra"}),
    ("channel=import", {"GIE Benkadi"}),
    ("channel=sms", {"Awa Traoré", "Ibrahim Keïta"}),
    ("status=registered", {"Awa Traoré", "Moussa Diarra", "GIE Benkadi"}),
    ("status=unfinished", {"Ibrahim Keïta"}),
    ("q=traore", {"Awa Traoré"}),  # case-insensitive; the accent is typed
    ("q=Benkadi", {"GIE Benkadi"}),
    ("q=Kon", {"GIE Benkadi"}),  # contact person
    ("q=ESS3-000902", {"Moussa Diarra"}),
    ("q=66+00+00", {"Moussa Diarra"}),  # phone digits, spaced
    ("gender=homme&quartier=Badialan+I", {"Ibrahim Keïta"}),  # fields AND
])
def test_each_filter_selects_the_matching_actors(app, client, staff, query, expected):
    add_actors(app)
    login(client, "viewer")
    response = client.get(f"/admin/registry?{query}")
    assert response.status_code == 200
    assert shown(response.data) == expected
    assert re.search(rf"<strong>{len(expected)}</strong>", response.data.decode())


def test_deleted_actors_are_excluded_unless_asked(app, client, staff):
    ids = add_actors(app)
    from bot.registry.changes import delete_actor

    delete_actor(app, ids[0])
    login(client, "viewer")
    page = client.get("/admin/registry").data.decode()
    assert "<strong>3</strong>" in page and "Awa Traoré" not in page
    deleted = client.get("/admin/registry?status=deleted").data.decode()
    assert "<strong>1</strong>" in deleted and "(supprimé)" in deleted
    assert "Awa" not in deleted  # nothing personal is left to show


def test_an_unknown_filter_value_is_said_in_french_and_lists_nobody(app, client, staff):
    """Newcomer's test: an unread filter used to be dropped, so the list — and its export —
    covered the whole registry."""
    add_actors(app)
    login(client, "agent")
    page = client.get("/admin/registry?quartier=Atlantis&sector=commerce").data.decode()
    assert "Filtre « quartier » : valeur inconnue « Atlantis »" in page
    assert shown(page.encode()) == set()
    assert "Exporter (CSV)" not in page


def test_people_outside_the_commune_can_be_filtered(app, client, staff):
    from bot.registry.fields import outside_label

    people = [dict(PEOPLE[0], quartier=outside_label()), *PEOPLE[1:]]
    add_actors(app, people)
    login(client, "viewer")
    response = client.get("/admin/registry", query_string={"quartier": outside_label()})
    assert shown(response.data) == {"Awa Traoré"}


def test_pagination_keeps_the_filters_and_shows_the_total(app, client, staff):
    people = [dict(PEOPLE[0], name=f"Personne {i:03d}", phone=f"+2237600{i:04d}",
                   channel="import", quartier="Samé" if i % 2 else "Darsalam")
              for i in range(130)]
    add_actors(app, people)
    login(client, "viewer")
    first = client.get("/admin/registry?quartier=Samé").data.decode()
    assert "<strong>65</strong>" in first and "Page 1 sur 2" in first
    assert len(re.findall(r"Personne \d{3}", first)) == 50
    assert "Personne 129" in first  # newest first
    nxt = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "quartier=Sam" in nxt and "page=2" in nxt
    second = client.get(nxt).data.decode()
    names = re.findall(r"Personne (\d{3})", second)
    assert len(names) == 15 and all(int(n) % 2 for n in names)
    assert "Page 2 sur 2" in second and 'rel="prev"' in second and 'rel="next"' not in second
    # A page past the end shows the last one.
    assert "Page 2 sur 2" in client.get("/admin/registry?quartier=Samé&page=99").data.decode()


def test_list_masks_phones_for_every_role(app, client, staff):
    add_actors(app)
    login(client, "agent")
    page = client.get("/admin/registry").data.decode()
    assert "+22376000001" not in page and "+223******01" in page


def test_filter_query_uses_an_index(app):
    """The quartier filter is served by ix_actor_quartier (migration 0007), not a scan."""
    from bot.db import get_engine
    from bot.registry.query import RegistryFilter, conditions

    engine = get_engine(app)
    if engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    filt, _ = RegistryFilter.from_args({"quartier": "Samé"})
    stmt = sa.select(sa.func.count()).select_from(Actor.__table__).where(
        *conditions(filt, utcnow()))
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_actor_quartier" in plan, plan


# ------------------------------------------------------------------------------------------
# Actor page
# ------------------------------------------------------------------------------------------

def test_actor_page_shows_french_labels_and_the_conversation_and_is_audited(app, client, staff):
    ids = add_actors(app)
    with session_scope(app) as s:
        actor = s.get(Actor, ids[1])
        t0 = utcnow() - timedelta(minutes=5)
        s.add_all([
            Message(contact_id=actor.contact_id, direction="in", channel="whatsapp",
                    body="I ni ce, n bɛ se ka tɔgɔ sɛbɛn wa?", status="received", created_at=t0),
            Message(contact_id=actor.contact_id, direction="out", channel="whatsapp",
                    body="Aw ni ce! Réponse du bot", status="delivered",
                    created_at=t0 + timedelta(minutes=1)),
        ])
    login(client, "viewer")
    page = client.get(f"/admin/registry/{ids[1]}").data.decode()
    for text in ("Secteur d'activité", "Commerce", "Accès au marché", "Financement", "Homme",
                 "Bambara", "WhatsApp", "Sogonafing", "Inscription confirmée le"):
        assert text in page, text
    assert page.index("I ni ce") < page.index("Réponse du bot")  # newest last
    assert "+22366000002" not in page and "+223******02" in page  # a viewer sees it masked
    [event] = audits(app, "view")
    assert event.target == f"actor:{ids[1]}" and event.staff_email == "lecture@mairie.test"
    client.post("/admin/logout", data={"csrf_token": csrf_token(page)})
    login(client, "agent")
    assert "+22366000002" in client.get(f"/admin/registry/{ids[1]}").data.decode()
    assert client.get("/admin/registry/99999").status_code == 404


# ------------------------------------------------------------------------------------------
# Edit
# ------------------------------------------------------------------------------------------

def edit_data(**changes) -> dict:
    data = {"kind": "individu", "name": "Awa Traoré", "gender": "femme",
            "birth_year": str(YEAR - 25), "quartier": "Badialan I", "sector": "textile",
            "needs": ["formation"], "language": "fr", "formalised": ""}
    data.update(changes)
    return data


def test_agent_edits_fields_and_the_audit_lists_changed_fields_only(app, client, staff):
    ids = add_actors(app)
    login(client, "agent")
    url = f"/admin/registry/{ids[0]}/edit"
    response = post_form(client, url, edit_data(quartier="Samé", trade="Teinturière",
                                                needs=["formation", "equipement"]))
    assert response.status_code == 302, response.data.decode()[-2000:]
    with session_scope(app) as s:
        actor = s.get(Actor, ids[0])
        assert (actor.quartier, actor.trade, actor.needs) == (
            "Samé", "Teinturière", ["formation", "equipement"])
        assert actor.phone == "+22376000001"  # the contact's phone is not editable
    [event] = audits(app, "edit")
    assert event.target == f"actor:{ids[0]}"
    assert event.detail == {"fields": ["needs", "quartier", "trade"]}
    assert "Samé" not in str(event.detail)


@pytest.mark.parametrize("changes, error", [
    ({"birth_year": "1850"}, "Année invraisemblable"),
    ({"birth_year": str(YEAR - 3)}, "Année invraisemblable"),
    ({"quartier": "Atlantis"}, "Choix invalide"),
    ({"birth_year": "mille"}, "Écrivez un nombre entier"),
    ({"name": ""}, "Le nom est obligatoire"),
    ({"kind": "organisation", "org_name": ""}, "Le nom de l'organisation est obligatoire"),
    ({"protection": ["aucune", "amo"]}, "ne se combine pas"),
])
def test_edit_refuses_implausible_values(app, client, staff, changes, error):
    ids = add_actors(app)
    login(client, "agent")
    response = post_form(client, f"/admin/registry/{ids[0]}/edit", edit_data(**changes))
    page = html.unescape(response.data.decode())
    assert response.status_code == 200 and error in page
    assert "corrigez les champs signalés" in page
    with session_scope(app) as s:
        assert s.get(Actor, ids[0]).birth_year == YEAR - 25
    assert audits(app, "edit") == []


def test_edit_recomputes_band_and_completeness(app, client, staff):
    ids = add_actors(app)
    login(client, "agent")
    post_form(client, f"/admin/registry/{ids[3]}/edit", edit_data(
        name="Ibrahim Keïta", gender="homme", birth_year="1981", trade="Maçon",
        sector="batiment", needs=["formation"]))
    with session_scope(app) as s:
        actor = s.get(Actor, ids[3])
    assert actor.birth_band == "1980-1989" and actor.completeness == 100


def test_viewer_cannot_edit_delete_or_import(app, client, staff):
    ids = add_actors(app)
    login(client, "viewer")
    page = client.get(f"/admin/registry/{ids[0]}").data.decode()
    assert "/edit" not in page and "/delete" not in page
    for url in (f"/admin/registry/{ids[0]}/edit", f"/admin/registry/{ids[0]}/delete",
                "/admin/registry/import"):
        assert client.get(url).status_code == 403, url
    token = csrf_token(page)
    assert client.post(f"/admin/registry/{ids[0]}/delete",
                       data={"csrf_token": token}).status_code == 403
    with session_scope(app) as s:
        assert s.get(Actor, ids[0]).deleted_at is None


# ------------------------------------------------------------------------------------------
# Delete on request
# ------------------------------------------------------------------------------------------

def test_delete_on_request_has_the_effect_of_supprimer(app, client, staff):
    ids = add_actors(app)
    with session_scope(app) as s:
        contact_id = s.get(Actor, ids[0]).contact_id
        s.add(Message(contact_id=contact_id, direction="in", channel="sms", body="Mon nom",
                      status="received"))
    login(client, "agent")
    confirm = client.get(f"/admin/registry/{ids[0]}/delete")
    assert "C'est définitif" in confirm.data.decode()
    with session_scope(app) as s:  # the confirmation page deletes nothing
        assert s.get(Actor, ids[0]).deleted_at is None
    response = post_form(client, f"/admin/registry/{ids[0]}/delete", {})
    assert response.status_code == 302
    with session_scope(app) as s:
        actor = s.get(Actor, ids[0])
        contact = s.get(Contact, contact_id)
        bodies = s.scalars(sa.select(Message.body).where(Message.contact_id == contact_id)).all()
    assert actor.deleted_at is not None and actor.name is None and actor.phone is None
    assert actor.registration_code is None and actor.contact_id is None
    assert (actor.quartier, actor.sector, actor.gender) == ("Badialan I", "textile", "femme")
    assert actor.birth_band is not None  # the decade stays for counts
    assert contact.phone.startswith("deleted:") and contact.opted_out
    assert set(bodies) == {""}
    [event] = audits(app, "delete")
    assert event.target == f"actor:{ids[0]}"
    # A deleted entry can no longer be edited or deleted again.
    assert client.get(f"/admin/registry/{ids[0]}/edit").status_code == 410


def test_delete_of_an_imported_actor_without_contact(app, client, staff):
    ids = add_actors(app)
    login(client, "agent")
    post_form(client, f"/admin/registry/{ids[2]}/delete", {})
    with session_scope(app) as s:
        actor = s.get(Actor, ids[2])
    assert actor.deleted_at is not None and actor.org_name is None
    assert actor.contact_name is None and actor.kind == "organisation"


# ------------------------------------------------------------------------------------------
# Export
# ------------------------------------------------------------------------------------------

def test_export_of_the_filtered_view(app, client, staff):
    add_actors(app)
    login(client, "agent")
    page = client.get("/admin/registry?gender=femme").data.decode()
    assert "Exporter (CSV)" in page
    response = client.post("/admin/registry/export", data={
        "csrf_token": csrf_token(page), "format": "csv", "gender": "femme"})
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert sorted(r["Téléphone"] for r in rows) == ["+22370000003", "+22376000001"]
    # For staff in Excel: French headers and labels, local dates (newcomer's test).
    assert {r["Genre"] for r in rows} == {"Femme"}
    assert "gender" not in rows[0] and "femme" not in {r["Genre"] for r in rows}
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", r["Consentement le"]) for r in rows)
    [event] = audits(app, "export")
    assert event.detail == {"format": "csv", "filters": {"gender": ["femme"]}, "rows": 2}

    response = client.post("/admin/registry/export", data={
        "csrf_token": csrf_token(page), "format": "xlsx", "quartier": "Sogonafing"})
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(response.data), read_only=True)["Registre ESS"]
    header, *values = list(sheet.iter_rows(values_only=True))
    [row] = [dict(zip(header, v)) for v in values]
    assert (row["Nom et prénom"], row["Genre"]) == ("Moussa Diarra", "Homme")
    assert row["Besoins"] == "Financement, Accès au marché" and row["Langue"] == "Bambara"
    assert isinstance(row["Consentement le"], datetime)  # a date cell Excel sorts and filters


def test_viewer_gets_no_export(app, client, staff):
    add_actors(app)
    login(client, "viewer")
    page = client.get("/admin/registry").data.decode()
    assert "Exporter" not in page and "Importer une liste" not in page
    response = client.post("/admin/registry/export", data={"csrf_token": csrf_token(page),
                                                           "format": "csv"})
    assert response.status_code == 403
    assert audits(app, "export") == []


def test_cli_export_filter(app, tmp_path, monkeypatch):
    add_actors(app)
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    out = tmp_path / "a.csv"
    result = CliRunner().invoke(main, ["actors", "export", "--output", str(out),
                                       "--filter", "quartier=badialan 1",
                                       "--filter", "status=registered"])
    assert result.exit_code == 0, result.output
    assert "1 acteurs écrits" in result.output
    [row] = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert row["name"] == "Awa Traoré"
    bad = CliRunner().invoke(main, ["actors", "export", "--output", str(out),
                                    "--filter", "quartier=Atlantis"])
    assert bad.exit_code == 2 and "valeur inconnue" in bad.output


# ------------------------------------------------------------------------------------------
# Import
# ------------------------------------------------------------------------------------------

CSV_LIST = """Nom;Prénom;Téléphone;Quartier;Secteur;Sexe;Année de naissance;Besoins;Annonces;Remarque
Traoré;Awa;76 54 32 10;Badialan 1;Couture;F;1990;formation, crédit;oui;ok
Diarra;Moussa;+22366112233;Sogonafin;commerce;M;1985;;;
Koné;Fatou;76543210;Samé;;F;;;;
Keïta;Ibrahim;123;Samé;batiment;H;1850;;;
Coulibaly;Mariam;70112233;Atlantis;textile;femme;;;non;
Sidibé;Oumar;76000001;Darsalam;commerce;H;;;;
"""


def test_import_parsing_csv_report(app, staff):
    add_actors(app)  # +22376000001 is already registered (Awa Traoré)
    report = analyse_file(app, CSV_LIST.encode("cp1252"), "liste.csv")  # Excel's French CSV
    assert report.rows == 6
    assert [r["row"] for r in report.create] == [2, 3]
    first = report.create[0]["values"]
    assert first == {**first, "phone": "+22376543210", "name": "Awa Traoré",
                     "quartier": "Badialan I", "sector": "textile", "gender": "femme",
                     "birth_year": 1990, "needs": ["formation", "financement"],
                     "broadcasts": True, "kind": "individu"}
    assert report.create[1]["values"]["quartier"] == "Sogonafing"
    dups = {d["row"]: d["reason"] for d in report.duplicates}
    assert dups == {4: "même numéro que la ligne 2", 7: "déjà au registre (ESS3-000901)"}
    errors = {(e["row"], e["column"]): e["message"] for e in report.errors}
    assert errors[(5, "Téléphone")] == "numéro invalide « 123 »"
    assert errors[(5, "Année de naissance")].startswith("année de naissance invalide « 1850 »")
    assert "quartier inconnu « Atlantis »" in errors[(6, "Quartier")]
    assert report.ignored_columns == ["Remarque"]


def test_unknown_quartier_gets_a_suggestion(app):
    data = "nom,telephone,quartier\nAwa Traoré,76000011,Koulounikon\nA B,76000012,Badialan\n"
    report = analyse_file(app, data.encode(), "l.csv")
    errors = [e["message"] for e in report.errors]
    assert any("voulez-vous dire « Koulouninko » ?" in m for m in errors), errors
    assert any("ambigu" in m and "Badialan II" in m for m in errors), errors


def test_import_parsing_xlsx_with_header_variants(app):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["N° Tél", "NOM ET PRENOM", "Type", "Organisation", "Quartier de résidence",
                  "Secteur d'activité", "Forme juridique", "Nombre de membres", "Déclarée",
                  "Âge", "Langue"])
    sheet.append([76112233, None, "organisation", "Coopérative Jigiya", "Kodabougou",
                  "Agriculture", "coopérative", 25, "oui", None, "bambara"])
    sheet.append([66112233.0, "Aminata Sangaré", None, None, "Hors commune, Kalaban Coura",
                  "restauration", None, None, None, "34 ans", "fr"])
    sheet.append([None, "Sans Numéro", None, None, None, None, None, None, None, None, None])
    out = io.BytesIO()
    book.save(out)
    report = analyse_file(app, out.getvalue(), "liste.xlsx")
    org, person = (r["values"] for r in report.create)
    assert (org["phone"], org["kind"], org["org_name"], org["legal_form"],
            org["members_count"], org["formalised"], org["language"]) == (
        "+22376112233", "organisation", "Coopérative Jigiya", "cooperative", 25, True, "bm")
    assert (person["phone"], person["name"], person["birth_year"]) == (
        "+22366112233", "Aminata Sangaré", YEAR - 34)
    assert person["quartier"] == "Hors de la Commune III"
    assert person["quartier_text"] == "Hors commune, Kalaban Coura"
    assert report.errors == [{"row": 4, "column": "N° Tél",
                              "message": "numéro de téléphone manquant"}]


@pytest.mark.parametrize("data, name, message", [
    ("nom;quartier\nAwa;Samé\n".encode(), "l.csv", "Colonne « telephone » introuvable"),
    ("telephone;quartier\n76000001;Samé\n".encode(), "l.csv", "colonne « nom »"),
    (b"", "l.csv", "vide"),
    (b"PK\x03\x04garbage", "l.xlsx", "Fichier Excel illisible"),
    (b"\xd0\xcf\x11\xe0", "l.xls", "97-2003"),
])
def test_unreadable_files_get_a_french_reason(app, data, name, message):
    from bot.registry.importer import ImportFileError

    with pytest.raises(ImportFileError, match=message):
        analyse_file(app, data, name)


def upload(client, data: bytes, filename: str):
    page = client.get("/admin/registry/import").data
    return client.post("/admin/registry/import", data={
        "csrf_token": csrf_token(page), "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data")


def test_import_preview_then_confirm_creates_the_valid_rows_once(app, client, staff):
    add_actors(app)
    login(client, "agent")
    response = upload(client, CSV_LIST.encode("utf-8"), "liste.csv")
    assert response.status_code == 302
    preview_url = response.headers["Location"]
    preview = client.get(preview_url).data.decode()
    assert "numéro invalide « 123 »" in preview and "Importer les 2 lignes valides" in preview
    assert "déjà au registre" in preview and "+223******10" in preview
    with session_scope(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Actor)) == 4  # nothing yet
    done = client.post(preview_url, data={"csrf_token": csrf_token(preview)})
    assert done.status_code == 302 and "channel=import" in done.headers["Location"]
    again = client.post(preview_url, data={"csrf_token": csrf_token(preview)})
    assert again.status_code == 302
    with session_scope(app) as s:
        created = s.scalars(sa.select(Actor).where(Actor.consent_version.like("import:%"))
                            .order_by(Actor.id)).all()
        contacts = {c.phone: c for c in s.scalars(sa.select(Contact))}
        pending = s.scalar(sa.select(RegistryImport))
    assert [a.name for a in created] == ["Awa Traoré", "Moussa Diarra"]  # once, not twice
    awa, moussa = created
    assert awa.consent_version == f"import:{utcnow().date().isoformat()}"
    assert awa.registration_code == f"ESS3-{awa.id:06d}" and awa.registered_at is not None
    assert awa.channel == "import" and awa.completeness > 0
    # Announcements only for whom the file says so (Loi 2013-015: a separate purpose).
    assert awa.contact_id == contacts["+22376543210"].id
    assert not contacts["+22376543210"].opted_out and contacts["+22376543210"].opted_in_at
    # Issue 12: everyone imported gets a contact holding their consent as the file says it;
    # only `annonces = oui` is a recipient (bot.broadcasts.reach).
    assert contacts["+22376543210"].announcements is True
    assert contacts["+22376543210"].announcements_source == "import"
    assert moussa.contact_id == contacts["+22366112233"].id
    assert contacts["+22366112233"].announcements is not True
    assert pending.status == "imported" and pending.imported == 2
    assert "create" not in pending.report  # the parsed rows are not kept after the import
    [event] = audits(app, "import")
    assert event.detail["created"] == 2 and event.detail["file"] == "liste.csv"
    assert "76" not in str(event.detail)


def test_an_import_preview_is_the_uploaders_only(app, client, staff):
    from bot.admin.staff import create_staff

    create_staff(app, "agent2@mairie.test", "agent", "motdepasse-essai-3")
    login(client, "agent")
    preview_url = upload(client, CSV_LIST.encode(), "l.csv").headers["Location"]
    other = app.test_client()
    token = csrf_token(other.get("/admin/login").data)
    other.post("/admin/login", data={"email": "agent2@mairie.test",
                                     "password": "motdepasse-essai-3", "csrf_token": token})
    assert other.get(preview_url).status_code == 404


def test_a_duplicate_registered_between_preview_and_confirm_is_skipped(app, client, staff):
    login(client, "agent")
    preview_url = upload(client, b"nom;telephone\nAwa Traore;76543210\n", "l.csv") \
        .headers["Location"]
    preview = client.get(preview_url).data.decode()
    add_actors(app, [dict(PEOPLE[0], phone="+22376543210")])
    client.post(preview_url, data={"csrf_token": csrf_token(preview)})
    with session_scope(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Actor)) == 1


def test_upload_errors_are_flashed(app, client, staff):
    login(client, "agent")
    response = upload(client, b"nom;ville\nA;B\n", "l.csv")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).data.decode()
    assert "Colonne « telephone » introuvable" in page


def test_templates_download_and_read_back(app, client, staff):
    login(client, "agent")
    xlsx = client.get("/admin/registry/import/modele.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx.data))
    headers = [c.value for c in book["registre"][1]]
    assert headers[:3] == ["telephone", "nom", "prenom"] and "annonces" in headers
    assert any("Badialan II" in str(c.value) for row in book["aide"].iter_rows() for c in row)
    csv_data = client.get("/admin/registry/import/modele.csv").data
    assert csv_data.decode("utf-8-sig").startswith("telephone;nom;prenom")
    # A filled template is read back.
    sheet = book["registre"]
    sheet.append(["76000099", "Diallo", "Kadiatou"])
    out = io.BytesIO()
    book.save(out)
    [row] = analyse_file(app, out.getvalue(), "modele.xlsx").create
    assert row["values"]["name"] == "Kadiatou Diallo"


def test_cli_import_dry_run_then_import(app, tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    path = tmp_path / "liste.csv"
    path.write_text(CSV_LIST, encoding="utf-8")
    dry = CliRunner().invoke(main, ["actors", "import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "3 à créer, 1 doublons, 2 avec erreurs" in dry.output
    assert "ligne 5, colonne « Téléphone » : numéro invalide « 123 »" in dry.output
    with session_scope(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Actor)) == 0
    real = CliRunner().invoke(main, ["actors", "import", str(path)])
    assert real.exit_code == 0 and "3 acteurs importés" in real.output
    rerun = CliRunner().invoke(main, ["actors", "import", str(path)])
    assert "0 à créer" in rerun.output and "0 acteurs importés" in rerun.output
    first, second = audits(app, "import")
    assert first.staff_email == "cli" and first.detail["created"] == 3
    assert second.detail["created"] == 0
    bad = CliRunner().invoke(main, ["actors", "import", str(tmp_path / "liste.csv"),
                                    "--dry-run"], catch_exceptions=False)
    assert bad.exit_code == 0
    (tmp_path / "vide.csv").write_bytes(b"")
    empty = CliRunner().invoke(main, ["actors", "import", str(tmp_path / "vide.csv")])
    assert empty.exit_code == 1 and "vide" in empty.output


def test_an_imported_person_who_writes_finds_their_entry(app, signed_post):
    """The first message from an imported phone takes the entry: PROFIL shows it, and the
    registration does not create a second entry."""
    data = "nom;telephone;quartier\nAwa Traoré;76543210;Badialan 2\n"
    from bot.registry.importer import apply_import

    apply_import(app, analyse_file(app, data.encode(), "l.csv"))
    phone = "+22376543210"

    def say(text: str) -> str:
        response = signed_post(MESSAGES_URL, inbound_params(text, phone=phone))
        return " ".join(m.text or "" for m in ET.fromstring(response.data).findall("Message"))

    say("Bonjour")
    say("1")  # French
    profile = say("PROFIL")
    assert "Awa Traoré" in profile and "Badialan II" in profile, profile
    with session_scope(app) as s:
        actors = s.scalars(sa.select(Actor)).all()
        contact = s.scalar(sa.select(Contact).where(Contact.phone == phone))
    assert len(actors) == 1 and actors[0].contact_id == contact.id


def test_a_person_who_wrote_before_the_import_finds_their_entry_too(app, signed_post):
    """The claim on the webhook runs on a contact's first message only; an entry imported
    after the person first wrote is linked by the importer itself."""
    from bot.registry.importer import apply_import

    phone = "+22376543211"

    def say(text: str) -> str:
        response = signed_post(MESSAGES_URL, inbound_params(text, phone=phone))
        return " ".join(m.text or "" for m in ET.fromstring(response.data).findall("Message"))

    say("Bonjour")
    say("1")  # French, no registration
    data = "nom;telephone;quartier\nAwa Traoré;76543211;Badialan 2\n"
    apply_import(app, analyse_file(app, data.encode(), "l.csv"))
    profile = say("PROFIL")
    assert "Awa Traoré" in profile, profile


def test_migration_fills_the_search_text_of_existing_entries(tmp_path):
    from bot.db import make_engine
    from bot.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0005")
    engine = make_engine(url, pool_size=1)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO actor (name, trade, needs, completeness, created_at, updated_at) "
            "VALUES ('Awa Traoré', 'Teinturière', '[]', 0, '2026-11-01', '2026-11-01')"))
    upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT search_text FROM actor")).scalar_one() == \
            "awa traore teinturiere"
    engine.dispose()
