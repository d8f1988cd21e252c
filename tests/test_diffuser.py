"""DIFFUSER from a staff phone, through the signed Twilio webhook: the answer gives recipients,
parts and cost; OUI within 10 minutes sends to exactly the segment; late OUI, NON or anything
else sends nothing and says so; strangers, viewers and deactivated accounts get the bot's
normal answer; the pending confirmation survives a restart."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot import create_app, sms
from bot.admin.staff import create_staff, set_diffuser_pin
from bot.broadcasts import diffuser, planner
from bot.broadcasts.models import Broadcast, Outbox
from bot.broadcasts.tasks import get_queue
from bot.db import get_engine, session_scope
from bot.engine import REGISTRATION
from bot.engine.schema import load_dialogs
from bot.models import utcnow
from bot.models.staff import AuditEvent, StaffUser
from tests.admin_helpers import PASSWORD
from tests.conftest import AUTH_TOKEN, MESSAGES_URL, PUBLIC_URL, inbound_params, sign
from tests.fake_twilio import FakeTwilio, settings_for
from tests.test_admin_broadcasts import FAST, people
from tests.test_broadcast_send import drain

AGENT_PHONE = "+22376000001"
#: The agent's DIFFUSER PIN (typed after OUI).
PIN = "4821"
VIEWER_PHONE = "+22376000003"
STRANGER = "+22379999999"


def on_sms(text: str) -> str:
    """`text` as the bot sends it by SMS (GSM-7 folding: "n°" → "no", "ç" → "c"…)."""
    return sms.render(text, "sms", "fr")


def replies(response) -> list[str]:
    assert response.status_code == 200, response.data[:300]
    return [html.unescape(m) for m in re.findall(r"<Message[^>]*>(.*?)</Message>",
                                                 response.get_data(as_text=True), re.DOTALL)]


@pytest.fixture
def staff(app):
    """An agent and a viewer with phones; an inactive agent; the registry of
    tests/test_admin_broadcasts.people; Twilio settings filled by each test."""
    ids = {"agent": create_staff(app, "agent@mairie.test", "agent", PASSWORD,
                                 phone=AGENT_PHONE),
           "viewer": create_staff(app, "lecture@mairie.test", "viewer", PASSWORD,
                                  phone=VIEWER_PHONE),
           "gone": create_staff(app, "parti@mairie.test", "agent", PASSWORD,
                                phone="+22376000009")}
    set_diffuser_pin(app, "agent@mairie.test", PIN)
    set_diffuser_pin(app, "parti@mairie.test", PIN)
    with session_scope(app) as session:
        session.get(StaffUser, ids["gone"]).active = False
    people(app)
    return ids


def broadcasts(app) -> list:
    with get_engine(app).connect() as conn:
        return conn.execute(sa.select(Broadcast.__table__).order_by(Broadcast.id)).all()


def audit_actions(app) -> list[tuple[str, str, str]]:
    with session_scope(app) as session:
        return [(e.action, e.target, e.staff_email) for e in session.scalars(
            sa.select(AuditEvent).order_by(AuditEvent.id))]


def test_diffuser_then_oui_sends_to_exactly_the_segment(app, staff, signed_post):
    with FakeTwilio() as fake:
        app.config.update({**settings_for(fake), **FAST, "ESSBOT_PRICE_PER_PART": 25.0})
        answer = replies(signed_post(MESSAGES_URL, inbound_params(
            "DIFFUSER Badialan 1 Réunion des couturières lundi à 9h à la mairie.",
            AGENT_PHONE)))
        [b] = broadcasts(app)
        assert (b.state, b.segment, b.author) == ("draft", {"quartier": ["Badialan I"]},
                                                  "agent@mairie.test")
        assert b.text_fr == "Réunion des couturières lundi à 9h à la mairie." and b.text_bm is None
        preview = planner.preview(app, b.id)
        assert preview["recipients"] == 4 and preview["parts"]["sms"] == 3
        text = " ".join(answer)
        assert on_sms(f"Annonce n°{b.id} pour Badialan I : 4 destinataires (3 par SMS, 1 par "
                      "WhatsApp), 1 SMS chacun, 3 SMS au total, coût estimé 75 FCFA.") in text
        assert on_sms("Bambaraphones (1) : ils recevront ce texte en français") in text
        assert "Répondez OUI puis votre code DIFFUSER avant" in text
        confirmed = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(
            f"oui {PIN}", AGENT_PHONE))))
        assert on_sms(f"Envoi lancé : annonce n°{b.id}, 4 messages.") in confirmed
        assert f"{PUBLIC_URL}/admin/broadcasts/{b.id}" in confirmed
        drain(get_queue(app), b.id)
    # Exactly the segment: Badialan I, not opted out, reachable — not the staff phone, not Samé.
    assert fake.per_recipient() == {"+22370000001": 1, "+22370000002": 1, "+22370000008": 1,
                                    "whatsapp:+22370000003": 1}
    assert planner.get(app, b.id).state == "sent"
    assert audit_actions(app) == [("create", f"broadcast:{b.id}", "agent@mairie.test"),
                                  ("send", f"broadcast:{b.id}", "agent@mairie.test")]


def test_oui_after_ten_minutes_sends_nothing_and_says_it_expired(app, staff, signed_post,
                                                                monkeypatch):
    with FakeTwilio() as fake:
        app.config.update({**settings_for(fake), **FAST})
        signed_post(MESSAGES_URL, inbound_params("DIFFUSER tous Marché fermé demain.",
                                                 AGENT_PHONE))
        [b] = broadcasts(app)
        assert b.segment == {}
        later = utcnow() + timedelta(minutes=diffuser.CONFIRM_MINUTES, seconds=5)
        monkeypatch.setattr(diffuser, "utcnow", lambda: later)
        text = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(f"OUI {PIN}",
                                                                         AGENT_PHONE))))
    assert on_sms(f"Délai de 10 minutes dépassé : l'annonce n°{b.id} est annulée, rien n'a "
                  "été envoyé.") in text
    assert planner.get(app, b.id).state == "cancelled"
    assert fake.creates() == []
    with get_engine(app).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Outbox.__table__)
                            ).scalar() == 0


@pytest.mark.parametrize("answer, extra", [("NON", ""), ("peut-être plus tard", "Seul OUI")])
def test_non_or_anything_else_cancels_and_says_so(app, staff, signed_post, answer, extra):
    signed_post(MESSAGES_URL, inbound_params("DIFFUSER Samé Vaccination samedi.", AGENT_PHONE))
    [b] = broadcasts(app)
    text = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(answer, AGENT_PHONE))))
    assert on_sms(f"Annonce n°{b.id} annulée : rien n'a été envoyé.") in text and extra in text
    assert planner.get(app, b.id).state == "cancelled"
    assert ("cancel", f"broadcast:{b.id}", "agent@mairie.test") in audit_actions(app)
    # Nothing pending any more: the next message is the bot's again.
    after = " ".join(replies(signed_post(MESSAGES_URL, inbound_params("OUI", AGENT_PHONE))))
    assert "Annonce" not in after and "annul" not in after


@pytest.mark.parametrize("phone", [STRANGER, VIEWER_PHONE, "+22376000009"])
def test_others_get_the_normal_bot_and_no_hint_of_the_keyword(app, staff, signed_post, phone):
    normal = replies(signed_post(MESSAGES_URL, inbound_params("Bonjour", "+22378888888")))
    got = replies(signed_post(MESSAGES_URL, inbound_params("DIFFUSER Badialan 1 Test", phone)))
    assert got == normal  # a first message: the language question, nothing else
    assert not any("DIFFUSER" in r.upper() or "Annonce" in r for r in got)
    assert broadcasts(app) == [] and audit_actions(app) == []


def test_unknown_or_ambiguous_quartier_and_missing_text_are_explained(app, staff, signed_post):
    def say(text):
        return " ".join(replies(signed_post(MESSAGES_URL, inbound_params(text, AGENT_PHONE))))

    unknown = say("DIFFUSER Tombouctou Réunion lundi")
    assert "Quartier inconnu" in unknown and "Tombouctou" in unknown and "TOUS" in unknown
    ambiguous = say("DIFFUSER Badialan Réunion lundi")
    assert "Badialan I, Badialan II, Badialan III" in ambiguous
    assert on_sms("Le texte de l'annonce manque.") in say("DIFFUSER Samé")
    assert "DIFFUSER <quartier ou TOUS> <texte>" in say("diffuser")
    assert broadcasts(app) == []


def test_a_retried_message_sid_creates_one_draft_and_gets_the_same_answer(app, staff,
                                                                         signed_post):
    params = inbound_params("DIFFUSER Samé Vaccination samedi.", AGENT_PHONE)
    first = replies(signed_post(MESSAGES_URL, params))
    second = replies(signed_post(MESSAGES_URL, params))
    assert first == second and len(broadcasts(app)) == 1


def test_a_new_diffuser_replaces_the_pending_one(app, staff, signed_post):
    signed_post(MESSAGES_URL, inbound_params("DIFFUSER Samé Premier texte.", AGENT_PHONE))
    text = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(
        "DIFFUSER tous Second texte.", AGENT_PHONE))))
    first, second = broadcasts(app)
    assert on_sms(f"L'annonce n°{first.id} en attente est annulée et remplacée.") in text
    assert (first.state, second.state, second.segment) == ("cancelled", "draft", {})
    # A quartier where nobody can be reached: said at once, no draft left waiting.
    empty = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(
        "DIFFUSER Darsalam Troisième texte.", AGENT_PHONE))))
    assert on_sms("Annonce pour Darsalam : personne ne peut la recevoir") in empty
    assert broadcasts(app)[-1].state == "cancelled" and broadcasts(app)[1].state == "cancelled"


def test_the_pending_confirmation_survives_a_restart(app, staff, signed_post, tmp_path):
    with FakeTwilio() as fake:
        app.config.update({**settings_for(fake), **FAST})
        signed_post(MESSAGES_URL, inbound_params("DIFFUSER Samé Vaccination samedi.",
                                                 AGENT_PHONE))
        [b] = broadcasts(app)
        # A new process: same database, nothing kept in memory.
        fresh = create_app({"DATABASE_URL": app.config["DATABASE_URL"],
                            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "ESSBOT_PUBLIC_URL": PUBLIC_URL,
                            "ESSBOT_QUEUE_PATH": str(tmp_path / "queue2.db"), "TESTING": True,
                            **settings_for(fake), **FAST})
        params = inbound_params(f"Oui {PIN}", AGENT_PHONE)
        response = fresh.test_client().post("/webhooks/twilio/messages", data=params, headers={
            "X-Twilio-Signature": sign(MESSAGES_URL, params)})
        assert "Envoi lanc" in " ".join(replies(response))
        assert planner.get(fresh, b.id).state in ("sending", "sent")
        get_engine(fresh).dispose()


def test_parse_command_reads_the_quartier_words_and_keeps_the_text():
    places = load_dialogs().places(REGISTRATION)
    cases = {
        "DIFFUSER Badialan 1 Réunion lundi": ("Badialan I", "Réunion lundi"),
        "Diffuser Dravéla Bolibana : réunion\nà 9h": ("Dravéla-Bolibana", "réunion\nà 9h"),
        "DIFFUSER Point G demain matin": ("Point G", "demain matin"),
        "DIFFUSER samé réunion à Darsalam": ("Samé", "réunion à Darsalam"),
        "DIFFUSER TOUS Marché fermé": (None, "Marché fermé"),
        "diffuser tout le monde - Marché fermé": (None, "Marché fermé"),
        "DIFFUSER Kodabugu vaccination": ("Kodabougou", "vaccination"),
    }
    for text, (quartier, body) in cases.items():
        command = diffuser.parse_command(text, places)
        assert (command.error, command.quartier, command.text) == (None, quartier, body), text
    assert diffuser.parse_command("DIFFUSER Badialan texte", places).error == "ambiguous"
    assert diffuser.is_command("Diffuser: x") and not diffuser.is_command("je veux diffuser")


def test_the_draft_waits_on_the_web_page_and_a_web_edit_ends_the_phone_confirmation(
        app, staff, signed_post, client):
    from tests.admin_helpers import login, post_form

    signed_post(MESSAGES_URL, inbound_params("DIFFUSER Samé Vaccination samedi.", AGENT_PHONE))
    [b] = broadcasts(app)
    login(client, "agent")
    assert "attend OUI par téléphone jusqu" in client.get("/admin/broadcasts").get_data(
        as_text=True)
    # Staff add the Bambara text on the page: the draft is now the page's to send.
    done = post_form(client, f"/admin/broadcasts/{b.id}/edit", {
        "title": b.title, "text_fr": b.text_fr, "text_bm": "Bɔlɔlɔ sibiri.",
        "channel_policy": "auto", "when": "now", "at": "", "preview": "1", "quartier": ["Samé"]})
    assert done.status_code == 302
    after = " ".join(replies(signed_post(MESSAGES_URL, inbound_params("OUI", AGENT_PHONE))))
    assert "Envoi" not in after and "Annonce" not in after
    row = planner.get(app, b.id)
    assert (row.state, row.text_bm, row.plan) == ("draft", "Bɔlɔlɔ sibiri.", None)


def test_diffuser_by_whatsapp_keeps_accents_and_oui_by_sms_confirms(app, staff, signed_post):
    with FakeTwilio() as fake:
        app.config.update({**settings_for(fake), **FAST})
        answer = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(
            "DIFFUSER Samé Vaccination samedi.", AGENT_PHONE, channel="whatsapp"))))
        [b] = broadcasts(app)
        assert f"Annonce n°{b.id} pour Samé" in answer and "coût inconnu" in answer
        confirmed = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(
            f"awo {PIN}", AGENT_PHONE))))
        assert on_sms(f"Envoi lancé : annonce n°{b.id}") in confirmed
        drain(get_queue(app), b.id)
    assert fake.per_recipient() == {"+22370000010": 1}  # the one reachable contact of Samé


# --- the PIN (issue 14) -----------------------------------------------------------------------

def test_a_spoofed_number_with_a_blind_oui_sends_nothing(app, staff, signed_post):
    """Two signed messages from the agent's number — DIFFUSER, then a blind OUI — broadcast
    nothing: the PIN is missing."""
    with FakeTwilio() as fake:
        app.config.update({**settings_for(fake), **FAST})
        signed_post(MESSAGES_URL, inbound_params("DIFFUSER TOUS Réunion annulée.", AGENT_PHONE))
        [b] = broadcasts(app)
        text = " ".join(replies(signed_post(MESSAGES_URL, inbound_params("OUI", AGENT_PHONE))))
        drain(get_queue(app), b.id)
    assert on_sms(f"Code absent ou faux : l'annonce n°{b.id} est annulée, rien n'a été "
                  "envoyé.") in text
    assert planner.get(app, b.id).state == "cancelled" and fake.creates() == []
    with session_scope(app) as session:
        assert session.get(StaffUser, staff["agent"]).diffuser_pin_failures == 1


def test_wrong_pins_lock_diffuser_and_a_new_pin_unlocks_it(app, staff, signed_post):
    for n, guess in enumerate(("0000", "1111", "2222"), start=1):
        signed_post(MESSAGES_URL, inbound_params(f"DIFFUSER Samé Essai {n}.", AGENT_PHONE))
        text = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(f"OUI {guess}",
                                                                         AGENT_PHONE))))
        assert "Code absent ou faux" in text
    assert on_sms("DIFFUSER est bloqué pendant 60 minutes.") in text
    # Locked: even the right PIN does not get a draft started.
    locked = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(
        "DIFFUSER Samé Essai 4.", AGENT_PHONE))))
    assert "DIFFUSER est bloqu" in locked and "Rien n'a été envoyé" in locked
    assert len(broadcasts(app)) == 3
    assert ("diffuser_locked", f"staff:{staff['agent']}", "agent@mairie.test") in \
        audit_actions(app)
    set_diffuser_pin(app, "agent@mairie.test", "97531")
    answer = " ".join(replies(signed_post(MESSAGES_URL, inbound_params(
        "DIFFUSER Samé Essai 5.", AGENT_PHONE))))
    assert "Répondez OUI puis votre code DIFFUSER" in answer


def test_an_account_without_pin_cannot_broadcast_by_phone(app, staff, signed_post):
    set_diffuser_pin(app, "agent@mairie.test", None)
    text = " ".join(replies(signed_post(MESSAGES_URL, inbound_params("DIFFUSER Samé Test.",
                                                                     AGENT_PHONE))))
    assert "DIFFUSER demande votre code personnel" in text and broadcasts(app) == []


def test_the_pin_is_stored_hashed_and_masked_in_the_message_table(app, staff, signed_post):
    from bot.models import Message

    signed_post(MESSAGES_URL, inbound_params("DIFFUSER Samé Test.", AGENT_PHONE))
    signed_post(MESSAGES_URL, inbound_params(f"OUI {PIN}", AGENT_PHONE))
    with session_scope(app) as session:
        user = session.get(StaffUser, staff["agent"])
        assert PIN not in user.diffuser_pin_hash and user.diffuser_pin_hash.startswith("scrypt:")
        bodies = session.scalars(sa.select(Message.body).where(Message.direction == "in")).all()
    assert "OUI ****" in bodies and not any(PIN in b for b in bodies)


def test_admin_sets_the_pin_on_the_staff_page_and_the_cli(app, staff):
    from bot.cli import main
    from tests.admin_helpers import EMAILS, login, post_form

    create_staff(app, EMAILS["admin"], "admin", PASSWORD)
    client = app.test_client()
    login(client, "admin")
    url = f"/admin/staff/{staff['viewer']}"
    form = {"role": "agent", "phone": VIEWER_PHONE, "active": "y"}
    bad = post_form(client, url, {**form, "diffuser_pin": "12ab"})
    assert "Le code DIFFUSER doit avoir de 4 à 8 chiffres." in bad.get_data(as_text=True)
    assert post_form(client, url, {**form, "diffuser_pin": "8642"}).status_code == 302
    with session_scope(app) as session:
        assert session.get(StaffUser, staff["viewer"]).diffuser_pin_hash
    assert "Code DIFFUSER défini." in client.get(url).get_data(as_text=True)
    result = app.test_cli_runner().invoke(main, ["staff", "pin", "--email",
                                                 "lecture@mairie.test", "--remove"])
    assert result.exit_code == 0 and "supprimé" in result.output
    with session_scope(app) as session:
        assert session.get(StaffUser, staff["viewer"]).diffuser_pin_hash is None
    wrong = app.test_cli_runner().invoke(main, ["staff", "pin", "--email",
                                                "lecture@mairie.test", "--pin", "12"])
    assert wrong.exit_code == 1 and "4 à 8 chiffres" in wrong.output
