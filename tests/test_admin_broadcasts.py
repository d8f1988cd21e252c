"""Staff pages for broadcasts (/admin/broadcasts): compose through the form, live counts, the
preview (the same numbers as `essbot broadcast preview`), schedule in Bamako time whatever the
server's zone, send against the fake Twilio and read the report, cancel, the failures CSV,
roles and CSRF."""

from __future__ import annotations

import html

import csv
import io
import json
import re
import time as time_module
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.broadcasts import planner, segments
from bot.broadcasts.cli import broadcast_group
from bot.broadcasts.models import Broadcast, BroadcastState
from bot.broadcasts.tasks import get_queue
from bot.db import get_engine, session_scope
from bot.models import utcnow
from bot.models.staff import AuditEvent
from tests.admin_helpers import EMAILS, csrf_token, login, make_staff, post_form
from tests.fake_twilio import FakeTwilio, settings_for
from tests.test_broadcast_plan import add_contact
from tests.test_broadcast_send import drain

FAST = {"TWILIO_HTTP_TIMEOUT": 0.5, "ESSBOT_BROADCAST_LEASE": 1.0, "ESSBOT_SEND_RETRY_BASE": 0.05,
        "ESSBOT_SEND_RATE_PARTS": 0, "ESSBOT_SEND_RATE_WHATSAPP": 0}


def people(app) -> dict[str, int]:
    """A small registry around "Badialan I", dated now (the WhatsApp window is real time)."""
    now = utcnow()
    q = {"quartier": "Badialan I", "now": now}
    return {
        "fr_sms": add_contact(app, "+22370000001", **q, sector="textile"),
        "bm_sms": add_contact(app, "+22370000002", language="bm", **q),
        "fr_wa": add_contact(app, "+22370000003", sms=False, whatsapp=timedelta(hours=2), **q),
        "wa_closed": add_contact(app, "+22370000004", sms=False, whatsapp=timedelta(days=3), **q),
        "opted_out": add_contact(app, "+22370000005", opted_out=True, **q),
        "invalid": add_contact(app, "+22370000008", **q),
        "elsewhere": add_contact(app, "+22370000010", quartier="Samé", now=now),
    }


def compose(client, **fields):
    """Submit the compose form ("Prévisualiser" unless `fields` say otherwise)."""
    data = {"title": "Formation couture", "text_fr": "Formation couture lundi à 9h à la mairie.",
            "text_bm": "Kalan bɛ tɛnɛn 9h la meri la.", "channel_policy": "auto",
            "when": "now", "at": "", "preview": "1", **fields}
    return post_form(client, "/admin/broadcasts/new", data)


def new_id(response) -> int:
    assert response.status_code == 302, response.data[:2000]
    found = re.search(r"/admin/broadcasts/(\d+)$", response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


def number(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert found, element_id
    return found.group(1).strip()


def audits(app, action: str) -> list[AuditEvent]:
    with session_scope(app) as session:
        return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def agent(app, client):
    make_staff(app)
    login(client, "agent")
    return client


def test_compose_counts_then_preview_matches_the_cli(app, agent, runner):
    app.config["ESSBOT_PRICE_PER_PART"] = 25.0
    people(app)
    page = agent.get("/admin/broadcasts/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for label in ("Texte en français", "Texte en bambara", "Quartier", "Badialan I",
                  "Textile et teinture", "Compter", "Prévisualiser"):
        assert label in html, label
    # Without JavaScript: "Compter" shows the count and the SMS parts, saves nothing.
    counted = compose(agent, quartier=["Badialan I"], count="1", preview="")
    html = counted.get_data(as_text=True)
    assert counted.status_code == 200
    assert re.search(r"<strong>5</strong> contacts abonnés correspondent · 1 désabonnés exclus",
                     html)
    assert "Par SMS : 1 SMS · GSM-7" in html
    with get_engine(app).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Broadcast.__table__)
                            ).scalar() == 0
    # "Prévisualiser" saves the draft and shows the planner's preview.
    bid = new_id(compose(agent, quartier=["Badialan I"]))
    draft = planner.get(app, bid)
    assert (draft.state, draft.segment, draft.author) == (
        "draft", {"quartier": ["Badialan I"]}, EMAILS["agent"])
    html = agent.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
    cli = json.loads(runner.invoke(broadcast_group, ["preview", str(bid)]).output)
    assert number(html, "pv-recipients") == str(cli["recipients"]) == "4"
    assert number(html, "pv-sms-parts") == str(cli["parts"]["sms"])
    assert number(html, "pv-whatsapp") == str(cli["parts"]["whatsapp"])
    assert cli["cost"]["total"] == 75.0 and number(html, "pv-cost") == "75 FCFA"
    assert ("Confirmer l&#39;envoi à 4 personnes" in html
            or "Confirmer l'envoi à 4 personnes" in html)
    # Skipped, and why, in French.
    assert "désabonné (a écrit STOP)" in html and "fenêtre WhatsApp de 24 h fermée" in html
    assert [e.target for e in audits(app, "create")] == [f"broadcast:{bid}"]


def test_preview_warns_about_unknown_cost_and_long_texts(app, agent):
    people(app)
    long_text = "Réunion des couturières à la mairie, salle du conseil, lundi à 9h. " * 6
    bid = new_id(compose(agent, text_fr=long_text, text_bm="", quartier=["Badialan I"]))
    html = agent.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
    assert "Coût inconnu" in html and "ESSBOT_PRICE_PER_PART = 0" in html
    parts = planner.render(planner.Texts("t", long_text, None), "fr", "sms", "text",
                           app.config).parts
    assert parts >= 3
    assert f"prend {parts} SMS par personne" in html
    assert "bambaraphones recevront le texte français" in html


def test_segment_count_endpoint_follows_the_filters(app, agent):
    people(app)
    got = agent.get("/admin/broadcasts/count?quartier=badialan 1&language=bm").get_json()
    with get_engine(app).connect() as conn:
        expected = segments.count(conn, segments.normalize({"quartier": "Badialan I",
                                                            "language": "bm"}),
                                  default_language="fr", now=utcnow())
    assert {k: got[k] for k in expected} == expected == {"contacts": 1, "opted_out": 0,
                                                         "reachable": 1}
    assert "Badialan I" in got["summary"] and "Bambara" in got["summary"]
    everyone = agent.get("/admin/broadcasts/count").get_json()
    assert (everyone["contacts"], everyone["reachable"]) == (7, 6)
    bad = agent.get("/admin/broadcasts/count?age=40-20")
    assert bad.status_code == 400 and "Tranche d'âge illisible" in bad.get_json()["error"]


def test_parts_endpoint_counts_like_the_planner(app, agent):
    token = csrf_token(agent.get("/admin/broadcasts/new").data)
    text_fr = "Leçon gratuite : « formation » à la mairie"  # ç « » fold to GSM-7 on SMS
    response = agent.post("/admin/broadcasts/parts",
                          data={"title": "T", "text_fr": text_fr, "text_bm": ""},
                          headers={"X-CSRFToken": token})
    data = response.get_json()
    rendered = planner.render(planner.Texts("T", text_fr, None), "fr", "sms", "text", app.config)
    assert data["fr"]["sms"]["parts"] == rendered.parts == 1
    assert data["fr"]["sms"]["encoding"] == rendered.encoding == "GSM-7"
    assert data["bm"]["same_as_fr"] is True
    assert any("texte français" in w for w in data["warnings"]["bm"])
    long = agent.post("/admin/broadcasts/parts", data={"title": "T", "text_fr": "x" * 700},
                      headers={"X-CSRFToken": token}).get_json()
    assert long["fr"]["sms"]["parts"] == 5 and "5 SMS par personne" in long["warnings"]["fr"][0]
    # No token, no answer (CSRF on every POST of /admin).
    assert agent.post("/admin/broadcasts/parts", data={"text_fr": "x"}).status_code == 400


@pytest.mark.parametrize("zone, utc_hour", [("Africa/Bamako", 9), ("Africa/Lagos", 8)])
def test_schedule_time_is_read_in_the_configured_zone_not_the_servers(app, agent, monkeypatch,
                                                                      zone, utc_hour):
    monkeypatch.setenv("TZ", "America/New_York")
    time_module.tzset()
    try:
        app.config["ESSBOT_TIMEZONE"] = zone
        app.config.update(TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_SMS_FROM="+15005550006",
                          TWILIO_WHATSAPP_FROM="whatsapp:+14155238886")
        people(app)
        year = utcnow().year + 1
        bid = new_id(compose(agent, quartier=["Badialan I"], when="at",
                             at=f"{year}-06-01T09:30"))
        draft = planner.get(app, bid)
        assert draft.state == "draft"  # chosen, not scheduled until confirmed
        assert draft.scheduled_at == datetime(year, 6, 1, utc_hour, 30, tzinfo=UTC)
        html = agent.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
        assert f"01/06/{year} 09:30" in html and "pas encore confirmée" in html
        token = csrf_token(html)
        done = agent.post(f"/admin/broadcasts/{bid}/send",
                          data={"mode": "schedule", "csrf_token": token})
        assert done.status_code == 302
        row = planner.get(app, bid)
        assert (row.state, row.scheduled_at) == ("scheduled", draft.scheduled_at)
        fire = [t for t in get_queue(app).huey.pending() if t.name.endswith("broadcast_fire")]
        # Issue 13: every task carries its database's token first.
        assert [(t.args, t.eta.replace(tzinfo=UTC) if t.eta.tzinfo is None else t.eta)
                for t in fire] == [((get_queue(app).token, bid), draft.scheduled_at)]
        listing = agent.get("/admin/broadcasts").get_data(as_text=True)
        assert "Programmée" in listing and f"01/06/{year} 09:30" in listing
        event = audits(app, "send")[0]
        assert event.detail == {"mode": "schedule", "scheduled_at": f"{year}-06-01 09:30"}
    finally:
        monkeypatch.undo()
        time_module.tzset()


def test_a_time_in_the_past_is_refused_in_french(app, agent):
    response = compose(agent, when="at", at="2020-01-01T09:00")
    assert response.status_code == 200
    assert "L&#39;heure choisie est déjà passée" in response.get_data(as_text=True)
    missing = compose(agent, when="at", at="")
    assert "Choisissez la date et l&#39;heure" in missing.get_data(as_text=True)


def test_send_against_fake_twilio_then_report_and_failures_csv(app, agent):
    ids = people(app)
    with FakeTwilio(invalid={"+22370000008"}) as fake:
        app.config.update({**settings_for(fake), **FAST, "ESSBOT_PRICE_PER_PART": 25.0})
        bid = new_id(compose(agent, quartier=["Badialan I"]))
        token = csrf_token(agent.get(f"/admin/broadcasts/{bid}").data)
        sent = agent.post(f"/admin/broadcasts/{bid}/send", data={"mode": "now",
                                                                 "csrf_token": token})
        assert sent.status_code == 302
        assert planner.get(app, bid).state == BroadcastState.SENDING
        drain(get_queue(app), bid)
    assert fake.per_recipient() == {"+22370000001": 1, "+22370000002": 1,
                                    "whatsapp:+22370000003": 1}
    html = agent.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
    assert "Envoyée" in html
    assert re.search(r'data-count="sent">3<', html) and re.search(r'data-count="failed">1<', html)
    assert re.search(r'data-count="skipped">1<', html)
    assert "21211" in html and "numéro invalide" in html
    assert "Rafraîchir" in html and "http-equiv" not in html
    status = agent.get(f"/admin/broadcasts/{bid}/status").get_json()
    assert status["final"] is True and status["progress"]["sent"] == 3
    listing = agent.get("/admin/broadcasts").get_data(as_text=True)
    assert "3 / 0 / 1 / 1" in listing and EMAILS["agent"] in listing
    send_audit = audits(app, "send")[0]
    assert (send_audit.staff_email, send_audit.target) == (EMAILS["agent"], f"broadcast:{bid}")
    assert send_audit.detail["recipients"] == 4
    # The failures: full numbers for staff to call, with the reason in French.
    download = agent.get(f"/admin/broadcasts/{bid}/failures")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff")),
                           delimiter=";"))
    assert rows[0][0] == "téléphone"
    by_phone = {r[0]: r for r in rows[1:]}
    assert set(by_phone) == {"+22370000008", "+22370000004"}
    assert by_phone["+22370000008"][7] == "21211" and "invalide" in by_phone["+22370000008"][8]
    assert "fenêtre WhatsApp" in by_phone["+22370000004"][8]
    assert "+22370000005" not in by_phone  # opted out: never contacted, never listed
    export = audits(app, "export")[0]
    assert export.target == f"broadcast:{bid}" and export.detail == {"rows": 2,
                                                                     "what": "failures"}
    assert ids  # population used


def test_cancel_a_draft_and_refuse_a_second_cancel(app, agent):
    people(app)
    bid = new_id(compose(agent, quartier=["Badialan I"]))
    token = csrf_token(agent.get(f"/admin/broadcasts/{bid}").data)
    first = agent.post(f"/admin/broadcasts/{bid}/cancel", data={"csrf_token": token},
                       follow_redirects=True)
    assert "Annonce annulée" in first.get_data(as_text=True)
    assert planner.get(app, bid).state == BroadcastState.CANCELLED
    again = agent.post(f"/admin/broadcasts/{bid}/cancel", data={"csrf_token": token},
                       follow_redirects=True)
    assert "a déjà changé d&#39;état" in again.get_data(as_text=True)
    assert [e.target for e in audits(app, "cancel")] == [f"broadcast:{bid}"]


def test_editing_a_draft_keeps_its_id_and_rechecks(app, agent):
    people(app)
    bid = new_id(compose(agent, quartier=["Badialan I"]))
    form = agent.get(f"/admin/broadcasts/{bid}/edit").get_data(as_text=True)
    assert 'value="Badialan I" checked' in form and "Formation couture" in form
    done = post_form(agent, f"/admin/broadcasts/{bid}/edit",
                     {"title": "Formation couture", "text_fr": "Nouveau texte.", "text_bm": "",
                      "channel_policy": "sms", "when": "now", "at": "", "preview": "1",
                      "quartier": ["Samé"]})
    assert new_id(done) == bid
    row = planner.get(app, bid)
    assert (row.text_fr, row.text_bm, row.channel_policy, row.segment) == (
        "Nouveau texte.", None, "sms", {"quartier": ["Samé"]})
    assert [e.target for e in audits(app, "edit")] == [f"broadcast:{bid}"]


def test_viewer_reads_but_cannot_act(app, client):
    make_staff(app)
    people(app)
    bid = planner.create(app, title="T", text_fr="Texte", segment={"quartier": ["Badialan I"]})
    login(client, "viewer")
    assert client.get("/admin/broadcasts").status_code == 200
    html = client.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
    assert "Aperçu avant envoi" in html and "Confirmer" not in html and "Modifier" not in html
    assert "Nouvelle annonce" not in client.get("/admin/broadcasts").get_data(as_text=True)
    token = csrf_token(html)
    for method, path in [("GET", "/admin/broadcasts/new"), ("GET", "/admin/broadcasts/count"),
                         ("GET", f"/admin/broadcasts/{bid}/edit"),
                         ("GET", f"/admin/broadcasts/{bid}/failures"),
                         ("POST", f"/admin/broadcasts/{bid}/send"),
                         ("POST", f"/admin/broadcasts/{bid}/cancel"),
                         ("POST", "/admin/broadcasts/parts")]:
        response = client.open(path, method=method, data={"csrf_token": token})
        assert response.status_code == 403, (method, path)
    assert planner.get(app, bid).state == "draft"


def test_actions_without_csrf_token_are_refused(app, agent):
    people(app)
    bid = planner.create(app, title="T", text_fr="Texte")
    for path in (f"/admin/broadcasts/{bid}/send", f"/admin/broadcasts/{bid}/cancel",
                 "/admin/broadcasts/new"):
        response = agent.post(path, data={"mode": "now", "title": "X", "text_fr": "Y",
                                          "preview": "1"})
        assert response.status_code == 400, path
    assert planner.get(app, bid).state == "draft"
    with get_engine(app).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Broadcast.__table__)
                            ).scalar() == 1


def test_send_without_twilio_sender_explains_in_french(app, agent):
    people(app)
    bid = new_id(compose(agent, quartier=["Badialan I"]))
    token = csrf_token(agent.get(f"/admin/broadcasts/{bid}").data)
    page = agent.post(f"/admin/broadcasts/{bid}/send", data={"mode": "now", "csrf_token": token},
                      follow_redirects=True)
    assert "l&#39;expéditeur n&#39;est pas configuré" in page.get_data(as_text=True)
    assert "Réglages manquants : TWILIO_ACCOUNT_SID" in page.get_data(as_text=True)
    assert planner.get(app, bid).state == "draft"


def test_unknown_broadcast_is_a_404_in_french(app, agent):
    response = agent.get("/admin/broadcasts/999")
    assert response.status_code == 404
    assert "n'existe pas" in html.unescape(response.get_data(as_text=True))


def test_report_lists_sms_gateway_failure_reasons(app, agent):
    from bot.db import transaction
    from bot.models import Message
    from tests.test_broadcast_plan import SENDER

    ids = people(app)
    app.config.update(SENDER)
    bid = planner.create(app, title="T", text_fr="Texte", segment={"quartier": ["Badialan I"]})
    planner.start(app, bid)
    with transaction(app) as conn:  # what the gateway's sms:failed leaves (no Twilio code)
        conn.execute(sa.insert(Message.__table__).values(
            contact_id=ids["fr_sms"], direction="out", channel="sms", body="Texte", media=[],
            attributes={"error_reason": "RESULT_ERROR_NO_SERVICE"}, status="failed",
            broadcast_id=bid, created_at=utcnow()))
    html = agent.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
    assert "Raisons données par la passerelle SMS" in html
    assert re.search(r"<strong>1</strong> RESULT_ERROR_NO_SERVICE", html)


def test_scheduling_is_refused_when_nothing_could_send_it(app, agent):
    """Newcomer's test: "send now" was refused without a sender, but the same broadcast was
    accepted for the next morning and would have failed then."""
    people(app)
    year = utcnow().year + 1
    bid = new_id(compose(agent, quartier=["Badialan I"], when="at", at=f"{year}-06-01T09:30"))
    token = csrf_token(agent.get(f"/admin/broadcasts/{bid}").get_data(as_text=True))
    page = agent.post(f"/admin/broadcasts/{bid}/send", data={"mode": "schedule",
                                                            "csrf_token": token},
                      follow_redirects=True)
    assert "l&#39;expéditeur n&#39;est pas configuré" in page.get_data(as_text=True)
    assert planner.get(app, bid).state == "draft"
