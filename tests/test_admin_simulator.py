"""The staff simulator (/admin/simulator): same replies as the Twilio webhook, SMS vs WhatsApp
rendering, Recommencer, roles, CSRF, audit, and test contacts kept out of the registry."""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from bot import simulator, sms
from bot.broadcasts import planner
from bot.cli import main
from bot.content_store import reply_ticket
from bot.db import get_engine, session_scope
from bot.models import Actor, Contact, Message
from bot.models.content import Ticket
from bot.models.staff import AuditEvent
from bot.phones import exclude_test_phones, is_test_phone
from tests.admin_helpers import csrf_token, login, make_staff
from tests.conftest import MESSAGES_URL, inbound_params

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"
CODE = re.compile(r"ESS3-\d+")


@pytest.fixture
def staff(app):
    return make_staff(app)


@pytest.fixture
def agent(client, staff):
    """The test client logged in as the agent, with the page's CSRF token."""
    login(client, "agent")
    client.token = csrf_token(client.get("/admin/simulator").data)
    return client


def say(client, text: str, channel: str = "sms", keyword: bool = False) -> dict:
    """Send `text` from the simulator as simulator.js does (JSON); return the JSON answer."""
    data = {"channel": channel, "csrf_token": client.token,
            ("keyword" if keyword else "text"): text}
    response = client.post("/admin/simulator/send", data=data,
                           headers={"Accept": "application/json"})
    assert response.status_code == 200, response.data[:300]
    return response.get_json()


def webhook(signed_post, text: str, phone: str, channel: str = "sms") -> list[str]:
    """Post `text` to the Twilio webhook from `phone`; return the TwiML reply bodies."""
    response = signed_post(MESSAGES_URL, inbound_params(text, phone=phone, channel=channel))
    assert response.status_code == 200
    return [m.text or "" for m in ET.fromstring(response.data).findall("Message")]


def user_turns(name: str) -> list[str]:
    doc = yaml.safe_load((TRANSCRIPTS / name).read_text(encoding="utf-8"))
    return [str(t["user"]) for t in doc["turns"] if "user" in t]


def test_test_phones_are_reserved_and_recognised():
    assert simulator.test_phone(1, "sms") != simulator.test_phone(1, "whatsapp")
    assert simulator.test_phone(1, "whatsapp") != simulator.test_phone(2, "sms")
    for staff_id in (1, 7, 499, 500, 12345):
        for channel in simulator.CHANNELS:
            phone = simulator.test_phone(staff_id, channel)
            assert re.fullmatch(r"\+447700900\d{3}", phone)  # Ofcom's drama range
            assert is_test_phone(phone) and is_test_phone(f"whatsapp:{phone}")
    assert not is_test_phone("+22370000001") and not is_test_phone(None)
    assert not is_test_phone("+447700901000")  # just outside the reserved range
    with pytest.raises(simulator.SimulatorError):
        simulator.test_phone(1, "console")


def test_french_registration_gives_the_webhook_replies(app, agent, signed_post, staff):
    """The whole fr_sms_individual conversation, typed in the simulator and posted to the
    Twilio webhook by a real phone, gets the same replies (only the registration code,
    numbered by registry entry, differs)."""
    turns = user_turns("fr_sms_individual.yaml")
    assert len(turns) > 15
    for text in turns:
        got = say(agent, text)["replies"]
        expected = webhook(signed_post, text, "+22370123456")
        assert [CODE.sub("ESS3-N", r) for r in got] == \
            [CODE.sub("ESS3-N", r) for r in expected], text
    phone = simulator.test_phone(staff["agent"], "sms")
    with session_scope(app) as s:
        actor = s.execute(sa.select(Actor).where(Actor.phone == phone)).scalar_one()
        assert actor.registered_at is not None and actor.name == "Awa Traoré"
        replies = s.execute(sa.select(Message).join(Contact).where(
            Contact.phone == phone, Message.direction == "out")).scalars().all()
        assert all(m.encoding == sms.analyze(m.body).encoding
                   and m.segments == sms.analyze(m.body).segments for m in replies)
        parts = sum(m.segments for m in replies)
    page = agent.get("/admin/simulator?channel=sms").get_data(as_text=True)
    assert "Awa Traoré" in page and "GSM-7" in page and "1 partie" in page
    assert f"<strong>{parts}</strong> parties SMS" in page
    # The test contact was never a Twilio recipient.
    assert all(m.provider_sid is None for m in replies)


def test_bambara_typed_plainly_works_and_channels_render_differently(app, agent, staff):
    whatsapp = say(agent, "i ni ce", "whatsapp")["replies"]
    text_sms = say(agent, "i ni ce", "sms")["replies"]
    assert whatsapp[0].startswith("I ni ce!") and text_sms[0].startswith("I ni ce!")
    # Bambara menu: Unicode letters on WhatsApp, folded to GSM-7 on SMS (one cheap part).
    assert "I tɔgɔ sɛbɛn" in whatsapp[0]
    assert "ɔ" not in text_sms[0] and "ɛ" not in text_sms[0]
    assert sms.analyze(text_sms[0]).encoding == "GSM-7"
    assert whatsapp[0] != text_sms[0]
    assert simulator.screen(app, staff["agent"], "whatsapp").language == "bm"


def test_sms_pages_long_replies_and_whatsapp_does_not(app, agent):
    # RAMU's details (3 SMS parts): the topic lists now fit one part (issue 15).
    for text in ("Bonjour", "1", "2", "1", "1"):
        say(agent, text, "sms")
        say(agent, text, "whatsapp")
    on_sms = say(agent, "1", "sms")
    on_whatsapp = say(agent, "1", "whatsapp")
    assert on_sms["replies"][0].endswith("9 = suite")
    assert "9 = suite" not in on_whatsapp["replies"][0]
    # WhatsApp gets the whole text at once; SMS gets the rest after "9".
    assert "APCMM" in on_whatsapp["replies"][0] and "APCMM" not in on_sms["replies"][0]
    # The bubble shows the SMS encoding and parts; WhatsApp bubbles have none.
    assert "GSM-7" in on_sms["html"] and "partie" in on_sms["html"]
    assert "partie" not in on_whatsapp["html"]
    page = say(agent, "9", "sms", keyword=True)
    assert "APCMM" in page["replies"][0]


def test_without_javascript_post_redirects_back_to_the_conversation(app, agent):
    response = agent.post("/admin/simulator/send", data={
        "channel": "whatsapp", "text": "Bonjour", "csrf_token": agent.token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/simulator?channel=whatsapp#sim-text")
    page = agent.get(response.headers["Location"]).get_data(as_text=True)
    assert "Bonjour" in page and "Langue / Kan" in page and "phone whatsapp" in page
    # A keyword button, and an empty message refused with a reason.
    agent.post("/admin/simulator/send", data={"channel": "whatsapp", "keyword": "AIDE",
                                              "text": "", "csrf_token": agent.token})
    assert "MENU" in agent.get("/admin/simulator?channel=whatsapp").get_data(as_text=True)
    refused = agent.post("/admin/simulator/send", data={
        "channel": "whatsapp", "text": "  ", "csrf_token": agent.token}, follow_redirects=True)
    assert "Écrivez un message" in refused.get_data(as_text=True)
    answer = agent.post("/admin/simulator/send", data={"channel": "fax", "text": "x",
                                                       "csrf_token": agent.token},
                        headers={"Accept": "application/json"})
    assert answer.status_code == 400 and "Canal inconnu" in answer.get_json()["error"]


def test_recommencer_resets_conversation_and_registry_entry(app, agent, staff):
    for text in ("Bonjour", "1", "1", "oui", "1", "Awa Traoré"):
        say(agent, text)
    phone = simulator.test_phone(staff["agent"], "sms")
    with session_scope(app) as s:
        assert s.execute(sa.select(Actor).where(Actor.phone == phone)).scalar_one_or_none()
    response = agent.post("/admin/simulator/reset", data={
        "channel": "sms", "language": "", "csrf_token": agent.token}, follow_redirects=True)
    assert "Conversation de test effacée" in response.get_data(as_text=True)
    with session_scope(app) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Actor)).scalar() == 0
        assert s.execute(sa.select(Contact).where(Contact.phone == phone)).first() is None
    assert "Langue / Kan" in say(agent, "Bonjour")["replies"][0]  # a stranger again
    # Recommencer in Bambara: the language question is pre-answered.
    agent.post("/admin/simulator/reset", data={"channel": "sms", "language": "bm",
                                               "csrf_token": agent.token})
    first = say(agent, "Bonjour")["replies"][0]
    assert first.startswith("Menu:") and "Kan yèlèma" in first.replace("ɛ", "è")
    # Changing only the language keeps the conversation.
    agent.post("/admin/simulator/language", data={"channel": "sms", "language": "fr",
                                                  "csrf_token": agent.token})
    assert simulator.screen(app, staff["agent"], "sms").language == "fr"
    assert len(simulator.screen(app, staff["agent"], "sms").bubbles) == 2


def test_viewer_is_refused_and_anonymous_sent_to_login(app, client, staff):
    assert client.get("/admin/simulator").status_code == 302
    login(client, "viewer")
    assert client.get("/admin/simulator").status_code == 403
    token = csrf_token(client.get("/admin/").data)
    for url in ("/admin/simulator/send", "/admin/simulator/reset", "/admin/simulator/language"):
        response = client.post(url, data={"channel": "sms", "text": "Bonjour",
                                          "csrf_token": token})
        assert response.status_code == 403, url
    with session_scope(app) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Message)).scalar() == 0


def test_post_without_csrf_token_is_refused(app, agent):
    response = agent.post("/admin/simulator/send", data={"channel": "sms", "text": "Bonjour"},
                          headers={"Accept": "application/json"})
    assert response.status_code == 400
    response = agent.post("/admin/simulator/send", data={"channel": "sms", "text": "Bonjour"},
                          headers={"X-CSRFToken": agent.token, "Accept": "application/json"})
    assert response.status_code == 200  # the header simulator.js sends is enough
    with session_scope(app) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Message)
                         .where(Message.direction == "in")).scalar() == 1


def test_use_is_audited_once_per_session_start_without_bodies(app, agent):
    for text in ("Bonjour", "1", "2"):
        say(agent, text)
    say(agent, "Bonjour", "whatsapp")
    agent.post("/admin/simulator/reset", data={"channel": "sms", "csrf_token": agent.token})
    say(agent, "Bonjour")
    with session_scope(app) as s:
        events = s.execute(sa.select(AuditEvent).where(AuditEvent.action == "simulate")
                           .order_by(AuditEvent.id)).scalars().all()
        assert [(e.target, e.detail["channel"]) for e in events] == [
            ("simulator", "sms"), ("simulator", "whatsapp"), ("simulator", "sms")]
        assert events[-1].detail.get("reset") is True
        assert all("Bonjour" not in str(e.detail) and "+44" not in str(e.detail)
                   for e in events)


def _register_real_person(signed_post, phone: str) -> None:
    for text in user_turns("fr_sms_individual.yaml"):
        webhook(signed_post, text, phone)


def test_test_contacts_are_left_out_of_segments_broadcasts_and_export(
        app, agent, signed_post, tmp_path, monkeypatch, staff):
    _register_real_person(signed_post, "+22370123456")
    for text in user_turns("fr_sms_individual.yaml"):
        say(agent, text)
    say(agent, "i ni ce", "whatsapp")
    with session_scope(app) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Contact)).scalar() == 3
        assert s.execute(sa.select(sa.func.count()).select_from(Actor)).scalar() == 2
    now = planner.utcnow()
    # Issue 12: the test contacts are in the segment but counted as left out ("test_phone"),
    # never as recipients; the real person is not one either until they consent.
    for definition in ({}, {"registered": ["oui"]}, {"quartier": ["Badialan II"]},
                       {"channel": ["whatsapp"]}):
        counted = planner.count(app, definition, now=now)
        assert counted["recipients"] == (0 if definition.get("channel") else 1), definition
    # The planner writes no outbox row for a test contact.
    app.config.update(TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_SMS_FROM="+15005550006",
                      TWILIO_WHATSAPP_FROM="whatsapp:+14155238886")
    broadcast_id = planner.create(app, title="Réunion", text_fr="Réunion ESS samedi.")
    assert planner.preview(app, broadcast_id)["recipients"] == 1
    plan = planner.start(app, broadcast_id)
    assert plan["pending"] == 1
    from bot.broadcasts.models import Outbox

    with session_scope(app) as s:
        targets = s.execute(sa.select(Contact.phone).join(Outbox, Outbox.contact_id == Contact.id)
                            ).scalars().all()
    assert targets == ["+22370123456"]
    # essbot actors export: the real person only, even with --include-deleted.
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    for flag in ([], ["--include-deleted"]):
        out = tmp_path / f"actors{len(flag)}.csv"
        result = CliRunner().invoke(main, ["actors", "export", "--format", "csv", "--output",
                                           str(out), *flag])
        assert result.exit_code == 0, result.output
        rows = list(csv.DictReader(out.open(encoding="utf-8-sig"), delimiter=";"))
        assert [r["phone"] for r in rows] == ["+22370123456"]
    with get_engine(app).connect() as conn:
        kept = conn.execute(sa.select(Actor.__table__.c.phone)
                            .where(exclude_test_phones(Actor.__table__.c.phone))).scalars().all()
    assert kept == ["+22370123456"]


def test_supprimer_in_the_simulator_leaves_no_anonymous_row(app, agent, staff):
    for text in user_turns("fr_sms_individual.yaml"):
        say(agent, text)
    say(agent, "SUPPRIMER", keyword=True)
    response = agent.post("/admin/simulator/send", data={
        "channel": "sms", "text": "1", "csrf_token": agent.token},
        headers={"Accept": "application/json"})
    assert response.get_json()["reload"].endswith("/admin/simulator?channel=sms")
    page = agent.get("/admin/simulator?channel=sms").get_data(as_text=True)
    assert "Vos données sont effacées" in page  # the bot's answer, in the notice
    with session_scope(app) as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Actor)).scalar() == 0
        assert s.execute(sa.select(sa.func.count()).select_from(Contact)).scalar() == 0


def test_staff_answer_to_a_simulated_ticket_reaches_the_page_not_twilio(app, agent, staff):
    say(agent, "Bonjour", "whatsapp")
    say(agent, "1", "whatsapp")
    say(agent, "AGENT", "whatsapp", keyword=True)
    with session_scope(app) as s:
        ticket_id = s.execute(sa.select(Ticket.id)).scalar_one()

    class NoTwilio:
        @property
        def messages(self):
            raise AssertionError("a test contact must never reach Twilio")

    app.config.update(TWILIO_WHATSAPP_FROM="whatsapp:+14155238886")
    result = reply_ticket(app, ticket_id, "Bonjour, ici le service ESS.", client=NoTwilio())
    assert result["status"] == "sent" and result["channel"] == "whatsapp"
    page = agent.get("/admin/simulator?channel=whatsapp").get_data(as_text=True)
    assert "Bonjour, ici le service ESS." in page and "Service ESS ·" in page


def test_running_cost_in_parts_and_currency(app, agent):
    page = agent.get("/admin/simulator").get_data(as_text=True)
    assert "<strong>0</strong> parties SMS" in page and "Prix non configuré" in page
    app.config.update(ESSBOT_PRICE_PER_PART=27.5, ESSBOT_CURRENCY="FCFA")
    first = say(agent, "Bonjour")
    second = say(agent, "1")
    parts = sum(sms.analyze(body).segments for body in first["replies"] + second["replies"])
    assert f"<strong>{parts}</strong> parties SMS" in second["side"]
    amount = f"{parts * 27.5:.2f}".rstrip("0").rstrip(".")
    assert f"Soit environ {amount} FCFA" in second["side"]


def test_a_simulated_ticket_is_answered_without_any_twilio_account(app, agent, staff):
    """Fifth newcomer's test: on a fresh install the answer reached the simulator, but the
    ticket page said "échec… l'envoi n'est pas configuré" and left the ticket open."""
    say(agent, "Bonjour", "whatsapp")
    say(agent, "1", "whatsapp")
    say(agent, "AGENT", "whatsapp", keyword=True)
    with session_scope(app) as s:
        ticket_id = s.execute(sa.select(Ticket.id)).scalar_one()
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_WHATSAPP_FROM", "TWILIO_SMS_FROM"):
        app.config[name] = None
    page = agent.get(f"/admin/inbox/{ticket_id}").get_data(as_text=True)
    assert 'id="sender-missing"' not in page
    result = reply_ticket(app, ticket_id, "Bonjour, ici le service ESS.")
    assert result["status"] == "sent", result
