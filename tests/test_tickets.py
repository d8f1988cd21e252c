"""Hand-over tickets (issue 4): AGENT, a question nobody answers, three misses and voice notes
open a ticket with the last messages; `essbot tickets list|reply` answer it on the right
channel (WhatsApp only inside the 24-hour window, else SMS, else not sendable)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bot.channels.base import InboundMessage
from bot.cli import main
from bot.conversations import handle_inbound
from bot.db import session_scope
from bot.models import Contact, Message
from bot.models.content import Ticket
from bot.officehours import next_answer, parse_office_hours
from tests.test_channels import ACCOUNT, FakeTwilio

PHONE = "+22370111222"
_sids = itertools.count(1)


def say(app, text, channel="sms", kind="text", phone=PHONE, at=None):
    """Send one message through the real path; return the reply bodies."""
    msg = InboundMessage(channel=channel, address=phone, text=text, kind=kind,
                         provider_sid=f"TK{next(_sids):032d}",
                         received_at=at or datetime.now(timezone.utc))
    return [r.body for r in handle_inbound(app, msg).replies]


def tickets(app):
    with session_scope(app) as s:
        return [(t.id, t.status, t.reason, t.question, list(t.snapshot or []))
                for t in s.execute(sa.select(Ticket).order_by(Ticket.id)).scalars()]


@pytest.fixture
def cli(app, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    return CliRunner()


def test_agent_opens_one_ticket_with_the_last_messages(app):
    say(app, "Bonjour")
    say(app, "1")
    replies = say(app, "parler à un agent")
    assert "Quelle est votre question?" in replies[0]
    [(ticket_id, status, reason, _q, snapshot)] = tickets(app)
    assert (status, reason) == ("open", "asked")
    assert [m["body"] for m in snapshot if m["direction"] == "in"] == [
        "Bonjour", "1", "parler à un agent"]
    # The next message is the question, added to the same ticket (newcomer's test).
    assert "vous répondra ici" in say(app, "mon dossier APEJ est bloqué")[0]
    [(_id, _status, reason, question, snapshot)] = tickets(app)
    assert (reason, question) == ("asked", "mon dossier APEJ est bloqué")
    assert snapshot[-1]["body"] == "mon dossier APEJ est bloqué"
    say(app, "AGENT")  # asking again refreshes the same open ticket
    assert len(tickets(app)) == 1
    assert "Menu" in say(app, "MENU")[0]  # and the menus still work


def test_agent_with_its_question_stores_it_directly(app):
    say(app, "Bonjour")
    say(app, "1")
    assert "vous répondra ici" in say(app, "agent: je veux savoir pour le crédit")[0]
    [(_id, _s, reason, question, _snap)] = tickets(app)
    assert (reason, question) == ("asked", "je veux savoir pour le crédit")


def test_agent_before_the_language_puts_the_next_message_in_the_ticket(app):
    """Newcomer's test: the question after AGENT at the language question got the language
    menu again, and the ticket stayed "(pas de question écrite)"."""
    say(app, "bonjour")
    say(app, "AGENT")
    [reply] = say(app, "Je cherche la mutuelle des artisans")
    assert "J'ai transmis votre question" in reply and reply.endswith("2 Bamanankan")
    [(_id, status, reason, question, snapshot)] = tickets(app)
    assert (status, reason, question) == ("open", "asked", "Je cherche la mutuelle des artisans")
    assert [m["body"] for m in snapshot if m["direction"] == "in"] == [
        "bonjour", "AGENT", "Je cherche la mutuelle des artisans"]
    assert "Menu" in say(app, "1")[0]


def test_a_question_without_answer_is_passed_on_with_its_text(app):
    say(app, "Bonjour")
    say(app, "1")
    assert "transmettre" in say(app, "je veux un passeport")[0].lower()
    say(app, "1")
    [(_id, _s, reason, question, _snap)] = tickets(app)
    assert (reason, question) == ("no_match", "je veux un passeport")


def test_declining_the_hand_over_opens_nothing(app):
    say(app, "Bonjour")
    say(app, "1")
    say(app, "je veux un passeport")
    assert "Menu" in say(app, "2")[0]
    assert tickets(app) == []


def test_three_misses_open_a_ticket(app):
    say(app, "Bonjour")
    say(app, "1")
    for _ in range(2):
        say(app, "zz")
    third = say(app, "zz")
    assert len(third) == 1 and "9 = suite" not in third[0] and "AGENT" in third[0]
    assert [t[2] for t in tickets(app)] == ["misses"]


def test_a_voice_note_opens_a_ticket_even_before_the_language_is_chosen(app):
    replies = say(app, "", channel="whatsapp", kind="audio")
    text = "\n".join(replies)
    # Bilingual before the language choice (newcomer's test).
    assert "Merci, nous avons bien reçu" in text and "I ni ce, an ye i ka ci sɔrɔ" in text
    assert [t[2] for t in tickets(app)] == ["media"]


def test_deletion_blanks_the_ticket_texts(app):
    say(app, "Bonjour")
    say(app, "1")
    say(app, "AGENT")
    say(app, "SUPPRIMER")
    say(app, "1")
    [(_id, status, _r, question, snapshot)] = tickets(app)
    assert (status, question, snapshot) == ("closed", None, [])


def _configure(app, base_url):
    app.config.update(TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_API_BASE_URL=base_url,
                      TWILIO_SMS_FROM="+15005550006",
                      TWILIO_WHATSAPP_FROM="whatsapp:+14155238886", TWILIO_HTTP_TIMEOUT=2.0)


def test_cli_lists_with_masked_phones_and_replies_on_whatsapp_inside_the_window(app, cli):
    say(app, "I ni ce", channel="whatsapp")
    say(app, "AGENT", channel="whatsapp")
    listed = cli.invoke(main, ["tickets", "list"])
    assert listed.exit_code == 0, listed.output
    assert "#1 open asked" in listed.output and PHONE not in listed.output
    from bot.content_store import reply_ticket

    with FakeTwilio() as fake:
        _configure(app, fake.url)
        result = reply_ticket(app, 1, "I ni ce, an bɛ i jaabi.")
        assert result["status"] == "sent" and result["channel"] == "whatsapp"
        [request] = fake.requests
        assert request["form"]["To"] == f"whatsapp:{PHONE}"
        assert request["form"]["Body"] == "I ni ce, an bɛ i jaabi."
    with session_scope(app) as s:
        ticket = s.get(Ticket, 1)
        assert (ticket.status, ticket.reply_channel) == ("closed", "whatsapp")
        out = s.get(Message, ticket.reply_message_id)
        assert out.direction == "out" and out.provider_sid and out.attributes["ticket"] == 1


def test_reply_goes_by_sms_when_the_window_is_closed(app):
    from bot.content_store import reply_ticket

    old = datetime.now(timezone.utc) - timedelta(days=2)
    say(app, "Bonjour", channel="sms", at=old)
    say(app, "1", channel="whatsapp", at=old)
    say(app, "AGENT", channel="whatsapp", at=old)
    with FakeTwilio() as fake:
        _configure(app, fake.url)
        result = reply_ticket(app, 1, "Bonjour, le service ESS vous répond.")
        assert result["channel"] == "sms"
        assert fake.requests[0]["form"]["To"] == PHONE


def test_a_failed_reply_is_logged_as_not_sent_without_the_phone(app, caplog):
    import logging

    from bot.content_store import reply_ticket

    say(app, "Bonjour")
    say(app, "AGENT")
    app.config.update(TWILIO_SMS_FROM="", TWILIO_ACCOUNT_SID="")  # no sender: sending fails
    with caplog.at_level(logging.INFO, logger="bot"):
        result = reply_ticket(app, 1, "Bonjour, le service ESS vous répond.")
    assert result["status"] == "failed"
    logged = "\n".join(r.getMessage() for r in caplog.records if "ticket 1" in r.getMessage())
    assert "not sent" in logged and "answered" not in logged
    assert PHONE not in caplog.text and PHONE[-4:] not in caplog.text


def test_reply_is_not_sendable_outside_the_window_without_sms(app, cli):
    old = datetime.now(timezone.utc) - timedelta(days=2)
    say(app, "I ni ce", channel="whatsapp", at=old)
    say(app, "AGENT", channel="whatsapp", at=old)
    with FakeTwilio() as fake:
        _configure(app, fake.url)
        out = cli.invoke(main, ["tickets", "reply", "1", "An bɛ i jaabi."])
        assert out.exit_code == 0, out.output
        assert "NON envoyée" in out.output and fake.requests == []
    with session_scope(app) as s:
        assert s.get(Ticket, 1).reply_channel == "none"


def test_cli_reply_to_an_unknown_ticket_fails(cli):
    out = cli.invoke(main, ["tickets", "reply", "99", "x"])
    assert out.exit_code == 1 and "erreur : aucun ticket 99" in out.output


def test_announcements_keyword(app):
    say(app, "Bonjour")
    say(app, "1")
    assert "Pas encore d'annonce" in say(app, "ANNONCES")[0]
    with session_scope(app) as s:
        contact = s.execute(sa.select(Contact)).scalar_one()
        s.add(Message(contact_id=contact.id, direction="out", channel="sms",
                      body="Formation gratuite en couture le 12.", status="delivered",
                      broadcast_id=1))
    shown = say(app, "annonces")[0]
    assert "Formation gratuite en couture le 12." in shown


@pytest.mark.parametrize("now, expected", [
    (datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc), ("now", 2, "16:00")),  # Wednesday
    (datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc), ("today", 2, "08:00")),
    (datetime(2026, 12, 2, 17, 0, tzinfo=timezone.utc), ("tomorrow", 3, "08:00")),
    (datetime(2026, 12, 4, 17, 0, tzinfo=timezone.utc), ("day", 0, "08:00")),  # Friday evening
])
def test_office_hours(now, expected):
    assert next_answer(now, "mon-fri 08:00-16:00") == expected


def test_office_hours_setting_is_checked():
    assert parse_office_hours("mon-thu 08:00-16:00, fri 08:00-12:00").hours[4][1].hour == 12
    for bad in ("", "lun-ven 8h-16h", "mon-fri 16:00-08:00"):
        with pytest.raises(ValueError):
            parse_office_hours(bad)


def test_a_failed_send_keeps_the_ticket_open(app):
    from bot.content_store import reply_ticket

    say(app, "Bonjour")
    say(app, "AGENT")
    result = reply_ticket(app, 1, "Bonjour")  # no Twilio credentials configured
    assert result["status"] == "failed"
    with session_scope(app) as s:
        ticket = s.get(Ticket, 1)
        assert ticket.status == "open"
        assert s.get(Message, ticket.reply_message_id).status == "failed"
