"""Bursts over a real threaded HTTP server: nothing lost, state consistent.

Runs on SQLite by default and on PostgreSQL when DATABASE_URL points there (CI does both).
"""

from __future__ import annotations

import concurrent.futures as cf

import requests
import sqlalchemy as sa

from bot.db import session_scope
from bot.engine import MAIN_MENU, NOT_YET
from bot.i18n import translate
from bot.models import Contact, Conversation, Message
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
    # Serial processing means exactly one "1" chose French (→ menu); the 19 others
    # answered the menu (→ not yet open). Two parallel runs would both see the
    # language question and show the menu twice.
    menu, not_yet = translate(MAIN_MENU, "fr"), translate(NOT_YET, "fr")
    from bot.sms import render

    assert len(replies) == 20
    assert replies.count(render(menu, "sms", "fr")) == 1
    assert replies.count(render(not_yet, "sms", "fr")) == 19
    assert contact.language == "fr" and conv.node == "menu"


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
