"""Broadcasts and whole conversations through the SMS gateway (issue 8): a broadcast paced to
SMSGATE_RATE_PER_MINUTE (parts per minute) against the fake gateway on loopback with its
delivery states reported, WhatsApp staying on Twilio; unknown outcomes reconciled through
``GET /messages/{id}``; and the golden SMS transcripts replayed over the gateway: same
conversation, same rendering, every reply leaving through the phone."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from bot.broadcasts import planner
from bot.broadcasts.ratelimit import DEFAULT_BURST_S
from bot.content_store import reply_ticket
from bot.db import get_engine, session_scope
from bot.models import Message
from bot.models.content import Ticket
from tests.fake_smsgate import FakeSMSGate, received_event
from tests.fake_smsgate import settings_for as gateway_settings
from tests.fake_twilio import FakeTwilio
from tests.test_broadcast_plan import add_contact
from tests.test_broadcast_send import configure, drain, rows
from tests.test_smsgate import post, run_queue
from tests.test_transcripts import SEPARATOR, START

#: A GSM-7 announcement of 2 parts (161 to 306 characters).
LONG_TEXT = ("Formation gratuite en couture et teinture pour les membres des cooperatives de "
             "Badialan I, lundi 7 decembre a 9h a la mairie de la Commune III. Apportez votre "
             "carte ESS. Places limitees.")


def test_a_broadcast_through_the_gateway_is_paced_and_reports_delivery(app, live_server):
    rate_per_minute = 240  # 4 parts a second: 2 messages of 2 parts
    failing = {"+22370000068": "RESULT_ERROR_NO_SERVICE"}
    with FakeSMSGate(webhook_target=live_server, failing=failing) as gate, FakeTwilio() as tw:
        queue = configure(app, tw, **gateway_settings(
            gate, SMSGATE_RATE_PER_MINUTE=rate_per_minute, SMSGATE_HTTP_TIMEOUT=0.5))
        sms_contacts = [add_contact(app, f"+2237000006{i}") for i in range(9)]
        wa_contact = add_contact(app, "+22370000070", sms=False, whatsapp=timedelta(hours=1))
        bid = planner.create(app, title="Formation", text_fr=LONG_TEXT)
        queue.send_now(bid)
        drain(queue, bid, timeout=30)
        gate.wait_events()
    sends = gate.sends()
    assert gate.per_recipient() == {f"+2237000006{i}": 1 for i in range(9)}
    assert [m["to"] for m in tw.creates()] == ["whatsapp:+22370000070"]  # WhatsApp: Twilio
    assert all(r["auth"] for r in gate.requests)
    # Paced in parts: n messages of 2 parts at 4 parts/s, after a burst of one second.
    out = rows(app, bid)
    parts = out[sms_contacts[0]].parts
    assert parts == 2
    times = [m["at"] for m in sends]
    rate = rate_per_minute / 60
    for i, j in itertools.combinations(range(len(times)), 2):
        earliest = (j - i) * parts / rate - DEFAULT_BURST_S
        assert times[j] - times[i] >= earliest - 0.05, (i, j, times[j] - times[i])
    span = times[-1] - times[0]
    assert span <= (len(times) - 1) * parts / rate - DEFAULT_BURST_S + 2.0  # not slower either
    # Delivery states from the phone's sms:* events, on the outbox and the history.
    assert all(out[c].state == "sent" for c in sms_contacts + [wa_contact])
    statuses = {c: out[c].status for c in sms_contacts}
    failed = sms_contacts[8]
    assert statuses.pop(failed) == "failed"
    assert set(statuses.values()) == {"delivered"}
    # Issue 13: essbot-<row id>-<hash of id and creation time> (was essbot-<row id>).
    assert out[failed].provider_sid.startswith(f"essbot-{out[failed].message_id}-")
    report = planner.status(app, bid)
    assert report["by_status"]["delivered"] == 8 and report["by_status"]["failed"] == 1
    assert report["failure_reasons"] == {"RESULT_ERROR_NO_SERVICE": 1}
    assert report["sms_parts_sent"] == 18
    with get_engine(app).connect() as conn:
        providers = conn.execute(sa.select(Message.__table__.c.attributes).where(
            Message.__table__.c.broadcast_id == bid)).scalars().all()
    assert sorted(p["provider"] for p in providers) == ["smsgate"] * 9 + ["twilio"]


def test_an_unknown_outcome_is_looked_up_at_the_gateway_and_not_sent_twice(app):
    with FakeSMSGate() as gate, FakeTwilio() as tw:
        queue = configure(app, tw, **gateway_settings(gate, SMSGATE_RATE_PER_MINUTE=0,
                                                      SMSGATE_HTTP_TIMEOUT=0.3))
        contacts = [add_contact(app, f"+2237000007{i}") for i in range(4)]
        bid = planner.create(app, title="T", text_fr="Annonce")
        gate.fail_after_accept(1, status=500)  # stored and sent, answered 500
        gate.fail_after_accept(1, status=202, hang=1.0)  # answered after the timeout
        gate.refuse(1, 503)  # not stored: sent again
        queue.send_now(bid)
        drain(queue, bid)
    assert gate.per_recipient() == {f"+2237000007{i}": 1 for i in range(4)}
    lookups = [r for r in gate.requests if r["method"] == "GET"]
    assert len(lookups) == 3  # one per unknown outcome (500, timeout, 503)
    out = rows(app, bid)
    assert all(out[c].state == "sent" for c in contacts)


def test_a_broadcast_needs_the_gateway_settings_when_it_carries_sms(app):
    app.config.update({"ESSBOT_SMS_PROVIDER": "smsgate", "SMSGATE_URL": None})
    add_contact(app, "+22370000081")
    bid = planner.create(app, title="T", text_fr="x")
    with pytest.raises(planner.BroadcastError, match="SMSGATE_URL"):
        planner.start(app, bid)
    # No Twilio account is needed for SMS through the gateway.
    app.config.update({"SMSGATE_URL": "http://127.0.0.1:9", "SMSGATE_USERNAME": "u",
                       "SMSGATE_PASSWORD": "p", "TWILIO_AUTH_TOKEN": None})
    assert planner.start(app, bid)["pending"] == 1


# --- golden transcripts over the gateway ---------------------------------------------------------

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"
#: Registrations in French and Bambara, the resume after days, a hand-over answered by staff.
GATEWAY_TRANSCRIPTS = ["fr_sms_individual", "bm_plain_sms_individual", "bm_plain_sms_resume",
                       "fr_sms_handover"]


@pytest.mark.parametrize("name", GATEWAY_TRANSCRIPTS)
def test_golden_transcript_over_the_gateway(app, client, monkeypatch, name):
    """Each turn is a signed ``sms:received`` webhook; the bot's answer is what the fake
    gateway was asked to send once the queue has run — compared with the golden transcript
    written for Twilio SMS."""
    doc = yaml.safe_load((TRANSCRIPTS / f"{name}.yaml").read_text(encoding="utf-8"))
    assert doc["channel"] == "sms"
    phone = doc.get("phone", "+22370123456")
    clock = [START]
    monkeypatch.setattr("bot.conversations.utcnow", lambda: clock[0])
    monkeypatch.setattr("bot.webhooks_smsgate.utcnow", lambda: clock[0])
    with FakeSMSGate() as gate:
        app.config.update(gateway_settings(gate, SMSGATE_RATE_PER_MINUTE=0))
        app.config.update(doc.get("settings") or {})
        differences = []
        for number, turn in enumerate(doc["turns"], start=1):
            if "wait" in turn:
                clock[0] += timedelta(days=float(turn["wait"]))
                continue
            clock[0] += timedelta(minutes=1)
            before = len(gate.sends())
            if "staff" in turn:
                with session_scope(app) as s:
                    ticket_id = s.execute(sa.select(sa.func.max(Ticket.id))).scalar()
                result = reply_ticket(app, ticket_id, str(turn["staff"]), now=clock[0])
                got = f"[{result['channel']}] " + SEPARATOR.join(
                    m["text"] for m in gate.sends()[before:])
            else:
                assert "kind" not in turn  # an SMS carries text only
                response = post(client, received_event(phone, str(turn["user"]),
                                                       received_at=clock[0]))
                assert response.status_code == 200
                assert len(gate.sends()) == before  # nothing sent inside the request
                run_queue(app)
                got = SEPARATOR.join(m["text"] for m in gate.sends()[before:])
            if got != str(turn.get("bot", "")).rstrip("\n"):
                differences.append(f"turn {number}:\n--- expected\n{turn.get('bot')}\n--- got\n"
                                   f"{got}")
        assert all(m["to"] == phone for m in gate.sends())
    assert not differences, f"{name} over the gateway: " + "\n\n".join(differences)
