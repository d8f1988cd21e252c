"""Issue 13 point 7: messages from one phone are processed in arrival order.

Serialisation on the contact's lock was already right, but the lock does not hand itself out
in arrival order: with 20 messages from one phone in one second, 5 to 10 were processed out of
order. Under the lock the oldest waiting message of the phone is processed first.
"""

from __future__ import annotations

import concurrent.futures as cf

import sqlalchemy as sa

from bot.db import session_scope
from bot.models import Message
from tests.test_concurrency import post
from tests.conftest import inbound_params


def _turn_order(app, sids: list[str]) -> tuple[list[int], list[int]]:
    """Inbound ids in arrival (store) order, and the same ids in the order they were answered
    (the order of their first reply rows)."""
    with session_scope(app) as s:
        inbound = s.execute(sa.select(Message.id).where(
            Message.direction == "in", Message.provider_sid.in_(sids))
            .order_by(Message.id)).scalars().all()
        answered = s.execute(
            sa.select(Message.reply_to_id).where(Message.reply_to_id.in_(inbound))
            .group_by(Message.reply_to_id).order_by(sa.func.min(Message.id))).scalars().all()
    return list(inbound), list(answered)


def test_twenty_messages_from_one_phone_in_one_second_are_answered_in_arrival_order(
        app, live_server):
    phone = "+22370004321"
    assert post(live_server, inbound_params("Bonjour", phone=phone)).status_code == 200
    for _round in range(2):
        burst = [inbound_params(str(1 + i % 3), phone=phone) for i in range(20)]
        with cf.ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(lambda p: post(live_server, p), burst))
        assert [r.status_code for r in responses] == [200] * 20
        stored, answered = _turn_order(app, [p["MessageSid"] for p in burst])
        assert len(stored) == 20
        assert answered == stored  # every one answered, in the order it arrived
