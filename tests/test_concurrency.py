"""Bursts over a real threaded HTTP server: nothing lost, state consistent.

Runs on SQLite by default and on PostgreSQL when DATABASE_URL points there (CI does both).
"""

from __future__ import annotations

import concurrent.futures as cf

import requests
import sqlalchemy as sa

from bot.db import session_scope
from bot.models import Actor, Contact, Conversation, Message
from tests.conftest import MESSAGES_URL, inbound_params, sign


def post(base: str, params: dict) -> requests.Response:
    return requests.post(base + "/webhooks/twilio/messages", data=params,
                         headers={"X-Twilio-Signature": sign(MESSAGES_URL, params)}, timeout=60)


def count(app, *where) -> int:
    with session_scope(app) as s:
        return s.execute(sa.select(sa.func.count(Message.id)).where(*where)).scalar_one()


def test_burst_of_20_from_one_phone_is_processed_one_at_a_time(app, live_server):
    phone = "+22370001234"
    assert post(live_server, inbound_params("Bonjour", phone=phone)).status_code == 200
    burst = [inbound_params("1", phone=phone) for _ in range(20)]
    with cf.ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda p: post(live_server, p), burst))
    assert [r.status_code for r in responses] == [200] * 20

    with session_scope(app) as s:
        inbound = s.execute(sa.select(Message).where(
            Message.direction == "in", Message.provider_sid.in_([p["MessageSid"] for p in burst])
        )).scalars().all()
        assert len(inbound) == 20
        assert all(m.processed_at is not None and m.processing_error is None for m in inbound)
        replies = s.execute(sa.select(Message.body).where(
            Message.reply_to_id.in_([m.id for m in inbound])).order_by(Message.id)).scalars().all()
        conv = s.execute(sa.select(Conversation)).scalar_one()
        contact = s.execute(sa.select(Contact)).scalar_one()
        actors = s.execute(sa.select(Actor)).scalars().all()
    # Serial processing means each "1" answered the question the previous one led to:
    # French (→ menu), register (→ consent), yes (→ kind), myself (→ name), then 16 answers
    # that are not a name. Two parallel runs would both see the same question and, e.g.,
    # show the menu twice.
    assert len(replies) == 20
    assert sum(r.startswith("Menu:") for r in replies) == 1
    assert sum("Acceptez-vous?" in r for r in replies) == 1
    assert sum(r.startswith("Vous inscrivez:") for r in replies) == 1
    assert sum(r.startswith("Votre nom et prénom?") for r in replies) == 1
    assert sum("Je n'ai pas compris" in r or "toujours pas" in r for r in replies) == 16
    assert contact.language == "fr" and conv.node == "name"
    assert len(actors) == 1 and actors[0].kind == "individu"


def test_200_phones_at_once(app, live_server):
    burst = [inbound_params("Bonjour", phone=f"+2237{i:07d}") for i in range(200)]
    with cf.ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(lambda p: post(live_server, p), burst))
    assert [r.status_code for r in responses] == [200] * 200
    assert all(b"<Message" in r.content for r in responses)
    with session_scope(app) as s:
        assert s.execute(sa.select(sa.func.count(Contact.id))).scalar_one() == 200
        assert s.execute(sa.select(sa.func.count(Conversation.id))).scalar_one() == 200
    assert count(app, Message.direction == "in", Message.processed_at.is_not(None)) == 200
    assert count(app, Message.direction == "out") == 200
