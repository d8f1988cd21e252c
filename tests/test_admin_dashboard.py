"""Tableau de bord (/admin/): the numbers staff read match the registry, deleted entries still
count anonymously, charts are inline SVG without script, the page stays small."""

from __future__ import annotations

import html
import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.registry.forget import forget_contact
from bot.db import get_engine, transaction
from bot.models import Actor, Contact, Message, utcnow
from bot.models.content import Ticket
from bot.stats import registry_labels
from tests.admin_helpers import login, make_staff

NOW = utcnow()


def add_actor(conn, phone: str | None, **fields) -> tuple[int | None, int]:
    """Insert a contact (when `phone`) and its registry entry; return (contact id, actor id).
    Defaults: a confirmed individual registration from yesterday."""
    a, c = Actor.__table__, Contact.__table__
    contact_id = None
    if phone:
        contact_id = conn.execute(sa.insert(c).values(
            phone=phone, language="fr", last_channel="sms", last_inbound_sms_at=NOW,
            opted_out=fields.pop("opted_out", False), created_at=NOW, updated_at=NOW,
        ).returning(c.c.id)).scalar_one()
    when = fields.pop("when", NOW - timedelta(days=1))
    values = dict(contact_id=contact_id, phone=phone, kind="individu", gender="femme",
                  birth_year=1995, birth_band="1990-1999", quartier="Koulouninko",
                  sector="commerce", needs=["formation"], protection=["aucune"],
                  consent_at=when, consent_version="2026-11-1", completeness=100,
                  registered_at=when, created_at=when, updated_at=when, name="Awa Traoré")
    values.update(fields)
    actor_id = conn.execute(sa.insert(a).values(**values).returning(a.c.id)).scalar_one()
    return contact_id, actor_id


@pytest.fixture
def registry(app):
    """A small registry with known counts (see the assertions), one entry deleted through
    the real deletion path (as SUPPRIMER or the retention purge do)."""
    with transaction(app) as conn:
        add_actor(conn, "+22370000001", protection=["amo", "inps"],
                  needs=["formation", "financement"])
        add_actor(conn, "+22370000002", gender="homme", birth_year=1960, birth_band="1960-1969",
                  quartier="Samé", sector="textile", needs=["equipement"], protection=None)
        add_actor(conn, "+22370000003", kind="organisation", name=None, org_name="Coopérative",
                  contact_name="Hawa Ouattara", gender="femme", birth_year=1980,
                  birth_band="1980-1989", sector="textile", legal_form="cooperative",
                  opted_out=True)
        # Unfinished: consent given, not confirmed.
        add_actor(conn, "+22370000004", registered_at=None, quartier=None, sector=None,
                  needs=[], protection=None, completeness=40)
        # Registered 60 days ago: outside the 30-day period.
        add_actor(conn, "+22370000005", when=NOW - timedelta(days=60), gender="homme",
                  birth_year=2001, birth_band="2000-2009", quartier="Dravéla",
                  sector="batiment")
        doomed, _ = add_actor(conn, "+22370000006", birth_year=1992, protection=["ramed"],
                              needs=["formation"])
        # A contact who only asked questions, an open ticket, messages this week and older.
        info = conn.execute(sa.insert(Contact.__table__).values(
            phone="+22370000007", created_at=NOW, updated_at=NOW).returning(
            Contact.__table__.c.id)).scalar_one()
        conn.execute(sa.insert(Ticket.__table__).values(
            contact_id=info, status="open", reason="asked", created_at=NOW, updated_at=NOW))
        conn.execute(sa.insert(Ticket.__table__).values(
            contact_id=info, status="closed", reason="asked", created_at=NOW, updated_at=NOW))
        m = Message.__table__
        for direction, age in (("in", 1), ("in", 2), ("out", 1), ("in", 9)):
            conn.execute(sa.insert(m).values(
                contact_id=info, direction=direction, channel="sms", body="x", status="received",
                created_at=NOW - timedelta(days=age)))
    forget_contact(app, doomed)
    return app


def table(page: str, table_id: str) -> dict[str, int]:
    """{row key: count} of the dashboard table `table_id`."""
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert found, f"no table {table_id}"
    return {key: int(count) for key, count in re.findall(
        r'<tr data-key="([^"]+)"[^>]*><th scope="row">[^<]*</th><td class="num">(\d+)</td>',
        found.group(1))}


def number(page: str, key: str) -> int:
    found = re.search(rf'data-key="{key}"><strong>([^<]+)</strong>', page)
    assert found, key
    return int(re.sub(r"\D", "", found.group(1)))


def get_page(client, query: str = "") -> str:
    response = client.get("/admin/" + query)
    assert response.status_code == 200
    return html.unescape(response.data.decode())


def test_numbers_match_the_registry_and_deleted_entries_count_anonymously(registry, client):
    make_staff(registry)
    login(client, "viewer")  # the lowest role reads the dashboard
    page = get_page(client)
    # Top numbers: 4 live confirmed entries (the deleted one left the registry), 1 unfinished,
    # 6 contacts (the deleted person's contact excluded), 1 opted out, 1 open ticket, 3
    # messages in the last 7 days.
    assert number(page, "registered") == 4
    assert number(page, "unfinished") == 1
    assert number(page, "contacts") == 6
    assert number(page, "opted_out") == 1
    assert number(page, "open_tickets") == 1
    assert number(page, "messages") == 3
    assert "2 reçus, 1 envoyés" in page
    # Distributions: the 5 confirmed registrations, the deleted one included.
    assert table(page, "t-kind") == {"individu": 4, "organisation": 1}
    assert table(page, "t-gender") == {"femme": 3, "homme": 2}
    assert table(page, "t-quartier")["Koulouninko"] == 3  # the deleted entry kept its quartier
    assert table(page, "t-quartier")["Samé"] == 1
    assert table(page, "t-quartier")["Dravéla"] == 1
    assert table(page, "t-sector")["commerce"] == 2
    assert table(page, "t-sector")["textile"] == 2
    assert table(page, "t-decade")["1990-1999"] == 2  # decade kept after the deletion
    # Ages: born 1995 and 2001 are in APEJ's 15-40 band; the deleted entry (born 1992) lost
    # its year, so it has its own row.
    ages = table(page, "t-age")
    assert ages == {"moins15": 0, "jeunes": 2, "41-59": 1, "60plus": 1, "_efface": 1}
    needs = table(page, "t-needs")
    assert needs["formation"] == 4 and needs["financement"] == 1 and needs["equipement"] == 1
    # Protection answers are erased by a deletion: 4 live entries, RAMED gone with it.
    protection = table(page, "t-protection")
    assert protection["amo"] == 1 and protection["inps"] == 1 and protection["ramed"] == 0
    assert protection["aucune"] == 2 and protection["_inconnu"] == 1
    assert re.search(r"<tfoot><tr><th scope=\"row\">Population</th><td class=\"num\">4</td>",
                     page.split('id="t-protection"')[1])
    # The page says that deleted entries still count.
    assert "Fiches supprimées à la demande des personnes : 1" in page
    assert "dont 1 fiches supprimées comptées de façon anonyme" in page
    # Labels come from the data files.
    assert "Textile et teinture" in page and "Hors de la Commune III" in page


def test_period_filter(registry, client):
    make_staff(registry)
    login(client, "viewer")
    page = get_page(client, "?periode=30j")
    assert table(page, "t-quartier").get("Dravéla", 0) == 0  # registered 60 days ago
    assert sum(table(page, "t-kind").values()) == 4
    assert "Semaine du" in page
    page = get_page(client, "?periode=12m")
    assert table(page, "t-quartier")["Dravéla"] == 1
    # The top numbers do not depend on the period.
    assert number(page, "registered") == 4
    # An unknown period: a clear message, everything shown.
    page = get_page(client, "?periode=hier")
    assert "Période inconnue" in page
    assert sum(table(page, "t-kind").values()) == 5


def test_time_chart_counts_started_and_confirmed(registry, client):
    make_staff(registry)
    login(client, "viewer")
    page = get_page(client)
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td>'
                      r'<td class="num">(\d+)</td></tr>',
                      re.search(r'<table id="t-time">(.*?)</table>', page, re.S).group(1))
    started = sum(int(s) for _, s, _ in rows)
    confirmed = sum(int(c) for _, _, c in rows)
    assert (started, confirmed) == (6, 5)  # the unfinished one started, never confirmed


def test_charts_are_inline_svg_without_script(registry, client):
    make_staff(registry)
    login(client, "viewer")
    response = client.get("/admin/")
    page = response.data.decode()
    svgs = re.findall(r"<svg\b[^>]*>", page)
    assert len(svgs) == 8  # time, kind, gender, age, quartier, sector, protection, needs
    assert all('role="img"' in tag and "aria-label=" in tag for tag in svgs)
    # pygal's tooltip script is neither inlined nor loaded: the only script is the app's own
    # menu file (admin.js, every page), loaded from the app.
    scripts = re.findall(r"<script\b[^>]*>", page, re.I)
    assert scripts and all(re.search(r'src="/admin/static/admin[.\w]*\.js"', t) for t in scripts)
    assert "<?xml" not in page
    assert not re.search(r'(?:src|href)="https?://', page)  # nothing from a CDN
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_page_stays_small_on_a_large_registry(app, client):
    from bot.demo import seed_demo

    seed_demo(app, 3000, seed=2)
    make_staff(app)
    login(client, "viewer")
    for period in ("tout", "12m", "30j"):
        response = client.get(f"/admin/?periode={period}")
        assert response.status_code == 200
        assert len(response.data) < 200 * 1024, (period, len(response.data))


def test_login_required(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


def test_cache_follows_registry_changes(registry, client):
    registry.config["ESSBOT_DASHBOARD_MAX_AGE"] = 0  # always exact
    make_staff(registry)
    login(client, "viewer")
    assert table(get_page(client), "t-kind")["organisation"] == 1
    with transaction(registry) as conn:
        add_actor(conn, "+22370000008", kind="organisation", name=None, org_name="GIE")
    assert table(get_page(client), "t-kind")["organisation"] == 2
    # An edit of an entry (updated_at moves) shows at once too.
    with transaction(registry) as conn:
        a = Actor.__table__
        conn.execute(sa.update(a).where(a.c.phone == "+22370000008").values(
            quartier="Samé", updated_at=utcnow()))
    assert table(get_page(client), "t-quartier")["Samé"] == 2


def test_labels_come_from_the_data_files():
    from bot.engine import REGISTRATION
    from bot.engine.schema import load_dialogs

    labels = registry_labels()
    places = load_dialogs().places(REGISTRATION)
    assert list(labels["quartier"])[:len(places.names())] == places.names()
    assert labels["sector"]["textile"] == "Textile et teinture"
    assert labels["gender"] == {"femme": "Femme", "homme": "Homme"}
    assert labels["kind"] == {"individu": "Individu", "organisation": "Organisation"}


def test_dashboard_reads_do_not_hold_the_sqlite_write_lock(app):
    """The dashboard's read connection starts a deferred transaction: a writer can commit
    while it is open (with BEGIN IMMEDIATE it would wait for the reader)."""
    engine = get_engine(app)
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    done = threading.Event()
    with engine.connect() as reader:
        reader.execution_options(essbot_read_only=True)
        reader.execute(sa.select(sa.func.count()).select_from(Actor.__table__)).scalar()

        def write():
            with transaction(app) as conn:
                add_actor(conn, "+22370000009")
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        assert done.wait(5), "the writer waited for the dashboard's reader"
        thread.join()


def test_statistics_may_lag_by_the_configured_age_only(registry, client):
    """During a registration drive the statistics are recomputed at most once per
    ESSBOT_DASHBOARD_MAX_AGE; the top numbers are always current, and the page says when the
    statistics were computed."""
    registry.config["ESSBOT_DASHBOARD_MAX_AGE"] = 3600
    make_staff(registry)
    login(client, "viewer")
    page = get_page(client)
    computed = re.search(r'id="computed">Statistiques calculées le ([^ ]+ [^ ]+)', page).group(1)
    with transaction(registry) as conn:
        add_actor(conn, "+22370000008", kind="organisation", name=None, org_name="GIE")
    page = get_page(client)
    assert number(page, "registered") == 5  # read afresh
    assert table(page, "t-kind")["organisation"] == 1  # not yet recomputed
    assert computed in page
    registry.extensions["essbot.dashboard_cache"].clear()
    assert table(get_page(client), "t-kind")["organisation"] == 2


def test_empty_registry(app, client):
    """A new deployment: every chart says there is no data, nothing breaks."""
    make_staff(app)
    login(client, "viewer")
    for period in ("tout", "12m", "30j"):
        page = get_page(client, f"?periode={period}")
        assert number(page, "registered") == 0
        assert page.count("Aucune donnée") >= 7
        assert table(page, "t-kind") == {"individu": 0, "organisation": 0}


def test_simulator_test_contacts_are_not_counted(registry, client):
    """Staff rehearsing a registration in the simulator (a fictitious number, bot.phones)
    must not change the commune's statistics."""
    with transaction(registry) as conn:
        add_actor(conn, "+447700900001", sector="textile")
    make_staff(registry)
    login(client, "viewer")
    page = get_page(client, "?period=all")
    assert number(page, "registered") == 4
    assert number(page, "contacts") == 6
    assert table(page, "t-kind") == {"individu": 4, "organisation": 1}
