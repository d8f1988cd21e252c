"""Status callbacks: stored messages move forward only; final states and error codes stay."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from bot.db import session_scope
from bot.models import Contact, Message, utcnow
from tests.conftest import MESSAGES_URL, STATUS_URL, inbound_params, load_sample


def make_outbound(app, sid: str, phone: str, channel: str = "sms") -> None:
    with session_scope(app) as s:
        contact = Contact(phone=phone)
        s.add(contact)
        s.flush()
        s.add(Message(contact_id=contact.id, direction="out", channel=channel, provider_sid=sid,
                      body="Bonjour", status="queued", created_at=utcnow()))


def stored(app, sid: str) -> Message:
    with session_scope(app) as s:
        return s.execute(sa.select(Message).where(Message.provider_sid == sid)).scalar_one()


def post_sample(client, name: str):
    sample = load_sample(name)
    return client.post("/webhooks/twilio/status", data=sample["params"],
                       headers={"X-Twilio-Signature": sample["x_twilio_signature"]})


@pytest.mark.parametrize("order", [
    ["status-sent", "status-delivered"],
    ["status-delivered", "status-sent"],
    ["status-delivered", "status-sent", "status-delivered", "status-sent"],
])
def test_delivered_stays_delivered_whatever_the_order(app, client, order):
    make_outbound(app, "SM00000000000000000000000000000014", "+22370000001")
    for name in order:
        assert post_sample(client, name).status_code == 204
    assert stored(app, "SM00000000000000000000000000000014").status == "delivered"


def test_undelivered_keeps_its_error_code_after_a_late_sent(app, client, signed_post):
    sid = "SM00000000000000000000000000000015"
    make_outbound(app, sid, "+22370000002")
    assert post_sample(client, "status-undelivered-30003").status_code == 204
    late = {"MessageSid": sid, "MessageStatus": "sent", "SmsStatus": "sent",
            "To": "+22370000002", "From": "+15005550006"}
    assert signed_post(STATUS_URL, late).status_code == 204
    message = stored(app, sid)
    assert (message.status, message.error_code) == ("undelivered", 30003)


def test_whatsapp_failed_63016_and_read(app, client):
    make_outbound(app, "SM00000000000000000000000000000016", "+22375000006", "whatsapp")
    with session_scope(app) as s:
        contact = s.execute(sa.select(Contact)).scalar_one()
        s.add(Message(contact_id=contact.id, direction="out", channel="whatsapp",
                      provider_sid="SM00000000000000000000000000000017", body="x",
                      status="sent", created_at=utcnow()))
    post_sample(client, "status-whatsapp-failed-63016")
    post_sample(client, "status-whatsapp-read")
    failed = stored(app, "SM00000000000000000000000000000016")
    assert (failed.status, failed.error_code) == ("failed", 63016)
    assert stored(app, "SM00000000000000000000000000000017").status == "read"


def test_delivered_then_read_moves_forward(app, signed_post):
    make_outbound(app, "SMread", "+22375000006", "whatsapp")
    for status in ("delivered", "read", "delivered"):
        signed_post(STATUS_URL, {"MessageSid": "SMread", "MessageStatus": status})
    assert stored(app, "SMread").status == "read"


def test_twiml_reply_is_matched_by_its_callback_url(app, signed_post):
    resp = signed_post(MESSAGES_URL, inbound_params("Bonjour"))
    action = re.search(rb'action="([^"]+)"', resp.data).group(1).decode()
    assert action.startswith(STATUS_URL + "?mid=")
    params = {"MessageSid": "SMtwimlreply000000000000000000001", "MessageStatus": "delivered"}
    assert signed_post(action.replace("&amp;", "&"), params).status_code == 204
    reply = stored(app, "SMtwimlreply000000000000000000001")
    assert reply.direction == "out" and reply.status == "delivered"


def test_unknown_sid_and_missing_fields(app, signed_post):
    unknown = {"MessageSid": "SMnobody", "MessageStatus": "sent"}
    assert signed_post(STATUS_URL, unknown).status_code == 204
    resp = signed_post(STATUS_URL, {"MessageSid": "SMnobody"})
    assert resp.status_code == 400 and b"MessageStatus" in resp.data


@pytest.mark.parametrize("current,new,expected", [
    ("queued", "sent", True), ("sent", "queued", False), ("sent", "delivered", True),
    # Issue 13: a delivery supersedes a failure (one order for every pair of final states).
    ("delivered", "sent", False), ("delivered", "failed", False), ("failed", "delivered", True),
    ("delivered", "read", True), ("read", "delivered", False), ("undelivered", "read", True),
    ("sending", "sending", False), (None, "sent", True), ("sent", "weird", False),
])
def test_status_rule(current, new, expected):
    from bot.channels.twilio import should_update_status

    assert should_update_status(current, new) is expected


@pytest.mark.parametrize("mid", ["99999999999999999999999", "abc", "-1", "0", "1e3"])
def test_out_of_range_or_odd_message_ids_in_the_callback_url_are_ignored(app, signed_post, mid):
    resp = signed_post(f"{STATUS_URL}?mid={mid}", {"MessageSid": "SMx1", "MessageStatus": "sent"})
    assert resp.status_code == 204


def test_callback_with_a_malformed_sid_is_refused(app, signed_post):
    resp = signed_post(STATUS_URL, {"MessageSid": "SM1'; DROP TABLE--\n", "MessageStatus": "sent"})
    assert resp.status_code == 400 and b"MessageSid" in resp.data
