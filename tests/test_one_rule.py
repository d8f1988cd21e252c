"""Rules with one home (issue 16 point 2), tested at their seams: the WhatsApp 24-hour window
as ticket replies, broadcasts' reach and the sender read it; the gateway decision; the status
callback URL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.broadcasts import reach, sender
from bot.channels import smsgate
from bot.channels import twilio as tw
from bot.content_store import reply_channel
from bot.db import get_engine, session_scope
from bot.models import Contact, utcnow


@pytest.mark.parametrize("ago, open_", [(timedelta(hours=23, minutes=59), True),
                                         (timedelta(hours=24, minutes=1), False)])
def test_the_whatsapp_window_is_the_same_for_replies_reach_and_the_sender(app, ago, open_):
    now = utcnow()
    with session_scope(app) as s:
        contact = Contact(phone="+22370001234", last_channel="whatsapp",
                          last_inbound_whatsapp_at=now - ago, last_inbound_sms_at=now - ago)
        s.add(contact)
        s.flush()
        contact_id = contact.id
        assert reply_channel(contact, now) == ("whatsapp" if open_ else "sms")
    with get_engine(app).connect() as conn:
        assert reach.contact_facts(conn, contact_id, now).wa_open is open_
    assert sender._window_open(now - ago, now) is open_


def test_one_answer_to_does_this_sms_go_through_the_gateway():
    gateway = {"ESSBOT_SMS_PROVIDER": "smsgate"}
    assert smsgate.carries(gateway, "sms") and not smsgate.carries(gateway, "whatsapp")
    assert not smsgate.carries({"ESSBOT_SMS_PROVIDER": "twilio"}, "sms")
    assert sender.via_gateway is smsgate.carries


def test_the_status_callback_url_is_built_in_one_place():
    assert tw.status_callback_url("https://essbot.example.org/", 7) == \
        "https://essbot.example.org/webhooks/twilio/status?mid=7"
    assert tw.status_callback_url("https://essbot.example.org") == \
        "https://essbot.example.org/webhooks/twilio/status"
    assert tw.status_callback_url(None, 7) is None
