"""The Registre in a real browser (Chromium): filter, export, import a list, and what a viewer
may not do. Also takes the registry screenshot (docs/screenshots/registry.png when asked)."""

from __future__ import annotations

import csv
import re
from datetime import timedelta

import pytest

from bot.db import session_scope
from bot.models import Actor, Contact, utcnow

YEAR = utcnow().year

#: A realistic handful: Malian names, Commune III quartiers (dialogs/places/commune3.yaml).
ACTORS = [
    ("individu", "Awa Traoré", None, "+22376112201", "femme", 1994, "Badialan I", "textile",
     ["formation", "financement"], "fr", "sms"),
    ("individu", "Moussa Diarra", None, "+22366112202", "homme", 1979, "Sogonafing",
     "artisanat_production", ["equipement"], "bm", "sms"),
    ("organisation", "Fatoumata Koné", "GIE Benkadi", "+22370112203", "femme", 1981,
     "Koulouninko", "textile", ["acces_marche", "financement"], "bm", "whatsapp"),
    ("individu", "Seydou Coulibaly", None, "+22365112204", "homme", 2001, "Badialan I",
     "artisanat_service", ["formation"], "fr", "whatsapp"),
    ("individu", "Kadiatou Sangaré", None, "+22379112205", "femme", 1988, "Badialan I",
     "restauration", ["financement"], "bm", "sms"),
    ("organisation", "Bakary Keïta", "Coopérative Jigiya", "+22376112206", "homme", 1965,
     "Sirakoro-Dounfing", "agriculture", ["formalisation"], "fr", "sms"),
    ("individu", "Mariam Sidibé", None, "+22366112207", "femme", 1999, "Badialan I",
     "commerce", ["protection_sociale"], "fr", "whatsapp"),
    ("individu", "Oumar Cissé", None, "+22376112208", "homme", 1992, "N'Tomikorobougou",
     "batiment", ["equipement", "formation"], "bm", "sms"),
    ("individu", "Aminata Touré", None, "+22370112209", "femme", 1975, "Badialan I",
     "textile", ["acces_marche"], "fr", "sms"),
    ("individu", "Ibrahim Diallo", None, "+22365112210", "homme", 1958, "Dravéla",
     "commerce", [], "fr", "sms"),
]


def seed(app) -> None:
    now = utcnow()
    with session_scope(app) as s:
        for i, (kind, person, org, phone, gender, year, quartier, sector, needs, lang,
                channel) in enumerate(ACTORS):
            contact = Contact(phone=phone, language=lang)
            s.add(contact)
            s.flush()
            when = now - timedelta(days=len(ACTORS) - i)
            actor = Actor(contact_id=contact.id, phone=phone, kind=kind,
                          name=person if kind == "individu" else None, org_name=org,
                          contact_name=person if org else None, gender=gender,
                          birth_year=year, quartier=quartier, sector=sector, needs=needs,
                          language=lang, channel=channel, consent_at=when,
                          consent_version="2026-11-1", completeness=100 if i != 6 else 70,
                          registered_at=when if i != 6 else None, created_at=when,
                          updated_at=when)
            s.add(actor)
            s.flush()
            if i != 6:
                actor.registration_code = f"ESS3-{actor.id:06d}"


@pytest.fixture
def seeded(app, site):
    seed(app)
    return site


def test_agent_filters_exports_and_screenshots(page, seeded, login_as, screenshot, tmp_path):
    login_as(page, "agent")
    page.goto(f"{page.base}/admin/registry")
    assert page.locator("#total strong").inner_text() == "10"
    page.select_option("#f-quartier", "Badialan I")
    page.select_option("#f-gender", "femme")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**quartier=Badialan+I**")
    assert "gender=femme" in page.url  # a plain GET form: the URL is shareable
    assert page.locator("#total strong").inner_text() == "4"
    names = page.locator("table.registry tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(n.strip() for n in names) == ["Aminata Touré", "Awa Traoré",
                                                "Kadiatou Sangaré", "Mariam Sidibé"]
    assert "+22376112201" not in page.content()  # phones masked in the list
    screenshot(page, "registry")

    with page.expect_download() as info:
        page.click("text=Exporter (CSV)")
    path = tmp_path / "export.csv"
    info.value.save_as(path)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    # For staff in Excel: French headers, labels, local dates (newcomer's test).
    assert sorted(r["Nom et prénom"] for r in rows) == ["Aminata Touré", "Awa Traoré",
                                                        "Kadiatou Sangaré", "Mariam Sidibé"]
    assert {(r["Quartier"], r["Genre"]) for r in rows} == {("Badialan I", "Femme")}
    awa = next(r for r in rows if r["Nom et prénom"] == "Awa Traoré")
    assert (awa["Secteur d'activité"], awa["Besoins"]) == ("Textile et teinture",
                                                          "Formation, Financement")
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", awa["Créée le"])
    assert page.js_errors == []


def test_agent_imports_a_list_with_one_bad_row(page, seeded, login_as, tmp_path):
    data = ("Nom;Prénom;Téléphone;Quartier;Secteur;Genre;Année de naissance;Annonces\n"
            "Dembélé;Hawa;76 11 22 99;Badialan 2;Couture;F;1996;oui\n"
            "Konaté;Adama;66112298;Samé;commerce;H;1983;\n"
            "Sow;Djeneba;12;Kodabougou;textile;F;1990;\n")
    path = tmp_path / "liste-mairie.csv"
    path.write_bytes(data.encode("cp1252"))  # as Excel saves a French CSV
    login_as(page, "agent")
    page.goto(f"{page.base}/admin/registry")
    page.click("text=Importer une liste")
    page.set_input_files("#file", str(path))
    page.click("text=Vérifier le fichier")
    page.wait_for_url("**/admin/registry/import/**")
    assert page.locator("#n-create strong").inner_text() == "2"
    errors = page.locator("#import-errors tbody tr").all_inner_texts()
    assert len(errors) == 1 and "4" in errors[0] and "numéro invalide « 12 »" in errors[0]
    page.click("text=Importer les 2 lignes valides")
    page.wait_for_url("**/admin/registry?channel=import")
    assert "2 acteurs importés" in page.content()  # issue 20: was "2 acteur(s) importé(s)"
    assert page.locator("#total strong").inner_text() == "2"
    text = page.locator("table.registry").inner_text()
    assert "Hawa Dembélé" in text and "Adama Konaté" in text and "Djeneba" not in text
    assert "Badialan II" in text


def test_viewer_cannot_export_or_edit(page, seeded, login_as, app):
    login_as(page, "viewer")
    page.goto(f"{page.base}/admin/registry")
    assert page.locator("text=Exporter").count() == 0
    assert page.locator("text=Importer une liste").count() == 0
    page.click("text=Awa Traoré")
    page.wait_for_url("**/admin/registry/*")
    assert page.locator("text=Modifier").count() == 0
    assert "+223******01" in page.content()  # masked for a viewer, even here
    actor_url = page.url
    response = page.goto(f"{actor_url}/edit")
    assert response.status == 403
    response = page.request.post(f"{page.base}/admin/registry/export", form={"format": "csv"})
    assert response.status in (400, 403)  # no CSRF token and no right: never a file
    assert "text/csv" not in (response.headers.get("content-type") or "")
