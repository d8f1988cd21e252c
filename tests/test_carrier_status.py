"""Issue 13 point 5: one status rule for both providers (bot.channels.base.merge_status).

Every ordered pair of final states is replayed through each provider's webhook onto a
broadcast's message (history row and outbox row): both orders end in the same state, the error
fields always agree with it, and a failure arriving after the delivery triggers nothing (no
SMS fallback for a WhatsApp message the person already has).
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.broadcasts import planner
from bot.channels import base
from bot.db import get_engine
from bot.models import Message
from tests.conftest import AUTH_TOKEN, STATUS_URL
from tests.fake_smsgate import FakeSMSGate, status_event
from tests.fake_smsgate import settings_for as gateway_settings
from tests.fake_twilio import FakeTwilio
from tests.test_broadcast_plan import add_contact
from tests.test_broadcast_send import configure, drain, rows
from tests.test_smsgate import post as gateway_post

TWILIO_FINALS = ["canceled", "undelivered", "failed", "delivered", "read"]
GATEWAY_FINALS = {"sms:delivered": "delivered", "sms:failed": "failed"}
CODES = {"undelivered": 30003, "failed": 30008}
ALL = sorted(base.STATUS_RANK)


def expected(a: str, b: str) -> str:
    return max(a, b, key=base.STATUS_RANK.__getitem__)


def consistent(status, code) -> bool:
    """An error code only with a failure status, always with one (these reports carry one)."""
    return (code is not None) == (status in base.FAILURE_STATUSES)


# Statuses of one rank (accepted, scheduled, queued: all "not sent yet") keep the first.
@pytest.mark.parametrize("a, b", [(a, b) for a, b in itertools.product(ALL, ALL)
                                  if a == b or base.STATUS_RANK[a] != base.STATUS_RANK[b]])
def test_the_rule_ends_the_same_in_both_orders(a, b):
    def apply(first, second):
        m = base.merge_status(None, None, None, first, CODES.get(first), f"r-{first}")
        m = base.merge_status(m.status, m.error_code, m.error_reason, second,
                              CODES.get(second), f"r-{second}")
        return m.status, m.error_code, m.error_reason

    assert apply(a, b) == apply(b, a)
    status, code, reason = apply(a, b)
    assert status == expected(a, b)
    if status in base.FAILURE_STATUSES:
        assert (code, reason) == (CODES[status], f"r-{status}")
    elif status in base.FINAL_STATUSES:
        assert (code, reason) == (None, None)


def test_a_report_is_acted_on_only_when_it_makes_the_message_a_failure():
    delivered = base.merge_status("sent", None, None, "delivered")
    late = base.merge_status(delivered.status, None, None, "failed", 63016)
    assert (late.status, late.error_code, late.failed_now) == ("delivered", None, False)
    first = base.merge_status("sent", None, None, "failed", 63016)
    assert first.failed_now
    again = base.merge_status(first.status, first.error_code, None, "failed", 63016)
    assert not again.failed_now


def _history(app, bid) -> dict[str, tuple]:
    m = Message.__table__
    with get_engine(app).connect() as conn:
        return {r.provider_sid: (r.status, r.error_code, (r.attributes or {}).get("error_reason"))
                for r in conn.execute(sa.select(m).where(m.c.broadcast_id == bid))}


def test_every_ordered_pair_of_final_states_on_twilio(app, signed_post):
    pairs = list(itertools.product(TWILIO_FINALS, TWILIO_FINALS))
    with FakeTwilio() as fake:  # no callbacks of its own: the test posts them
        queue = configure(app, fake)
        contacts = [add_contact(app, f"+2237001{i:04d}") for i in range(len(pairs))]
        bid = planner.create(app, title="T", text_fr="Annonce")
        queue.send_now(bid)
        drain(queue, bid)
    out = rows(app, bid)
    for contact, (a, b) in zip(contacts, pairs):
        sid = out[contact].provider_sid
        for status in (a, b):
            params = {"MessageSid": sid, "MessageStatus": status,
                      "AccountSid": app.config["TWILIO_ACCOUNT_SID"]}
            if status in CODES:
                params["ErrorCode"] = str(CODES[status])
            assert signed_post(STATUS_URL, params).status_code == 204
    out, history = rows(app, bid), _history(app, bid)
    errors = {}
    for contact, (a, b) in zip(contacts, pairs):
        row = out[contact]
        want = expected(a, b)
        assert (row.status, row.error_code) == (want, CODES.get(want)), (a, b)
        assert history[row.provider_sid][:2] == (want, CODES.get(want)), (a, b)
        assert consistent(row.status, row.error_code) or want == "canceled"
        if want in CODES:
            errors[str(CODES[want])] = errors.get(str(CODES[want]), 0) + 1
    # The report counts an error only for a message that was not delivered.
    assert planner.status(app, bid)["errors"] == errors


def test_every_ordered_pair_of_final_states_on_the_gateway(app, client):
    pairs = list(itertools.product(GATEWAY_FINALS, GATEWAY_FINALS))
    with FakeSMSGate() as gate, FakeTwilio() as tw:
        queue = configure(app, tw, **gateway_settings(gate, SMSGATE_RATE_PER_MINUTE=0,
                                                      SMSGATE_HTTP_TIMEOUT=0.5))
        contacts = [add_contact(app, f"+2237002{i:04d}") for i in range(len(pairs))]
        bid = planner.create(app, title="T", text_fr="Annonce")
        queue.send_now(bid)
        drain(queue, bid)
    app.config["SMSGATE_SIGNING_KEY"] = "essbot-test-signing-key"
    out = rows(app, bid)
    phones = {c: f"+2237002{i:04d}" for i, c in enumerate(contacts)}
    for contact, (a, b) in zip(contacts, pairs):
        for event in (a, b):
            reason = "RESULT_ERROR_NO_SERVICE" if event == "sms:failed" else None
            body = status_event(event, out[contact].provider_sid, phones[contact], reason)
            assert gateway_post(client, body).status_code == 200
    out, history = rows(app, bid), _history(app, bid)
    for contact, (a, b) in zip(contacts, pairs):
        want = expected(GATEWAY_FINALS[a], GATEWAY_FINALS[b])
        row = out[contact]
        status, code, reason = history[row.provider_sid]
        assert (row.status, status) == (want, want), (a, b)
        # The gateway's failures carry a reason, no code: the reason follows the state.
        assert (reason is not None) == (want == "failed"), (a, b)
    assert planner.status(app, bid)["failure_reasons"] == {"RESULT_ERROR_NO_SERVICE": 1}


def test_a_late_63016_after_delivered_sends_no_fallback(app, live_server):
    plan = {"whatsapp:+22370030001": [("delivered", None), ("failed", 63016)]}
    with FakeTwilio(auth_token=AUTH_TOKEN, callback_target=live_server,
                    callback_plan=lambda m: plan[m["to"]]) as fake:
        queue = configure(app, fake)
        contact = add_contact(app, "+22370030001", whatsapp=timedelta(hours=1))
        bid = planner.create(app, title="T", text_fr="Annonce")
        queue.send_now(bid)
        drain(queue, bid)
        fake.wait_callbacks()
        drain(queue, bid)
    row = rows(app, bid)[contact]
    assert (row.channel, row.status, row.error_code, row.fallback_from) == \
        ("whatsapp", "delivered", None, None)
    assert fake.per_recipient() == {"whatsapp:+22370030001": 1}  # the person got it once
