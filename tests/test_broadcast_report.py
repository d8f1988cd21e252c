"""The delivery report agrees with itself (issue 20): a message accepted by Twilio and then
undelivered counts as a failure in the counters, the per-channel table and the failures
table alike (bot.broadcasts.planner.outcome), never also as accepted."""

from __future__ import annotations

import re

import sqlalchemy as sa

from bot.broadcasts import planner
from bot.broadcasts.models import BroadcastState, Outbox, OutboxState
from bot.broadcasts.tasks import get_queue
from bot.db import transaction
import pytest

from tests.admin_helpers import csrf_token, login, make_staff
from tests.fake_twilio import FakeTwilio, settings_for
from tests.test_admin_broadcasts import FAST, compose, new_id, people
from tests.test_broadcast_send import drain


@pytest.fixture
def agent(app, client):
    """The test client logged in as an agent."""
    make_staff(app)
    login(client, "agent")
    return client


def test_outcome_rule():
    assert planner.outcome(OutboxState.SENT, "undelivered") == OutboxState.FAILED
    assert planner.outcome(OutboxState.SENT, "delivered") == OutboxState.SENT
    assert planner.outcome(OutboxState.FAILED, None) == OutboxState.FAILED


def test_an_undelivered_whatsapp_message_is_one_failure_everywhere(app, agent):
    people(app)
    with FakeTwilio() as fake:
        app.config.update({**settings_for(fake), **FAST})
        bid = new_id(compose(agent, quartier=["Badialan I"]))
        token = csrf_token(agent.get(f"/admin/broadcasts/{bid}").data)
        agent.post(f"/admin/broadcasts/{bid}/send", data={"mode": "now", "csrf_token": token})
        drain(get_queue(app), bid)
    assert planner.get(app, bid).state in BroadcastState.FINAL
    o = Outbox.__table__
    with transaction(app) as conn:  # Twilio's status callback: undelivered
        conn.execute(sa.update(o).where(o.c.broadcast_id == bid, o.c.channel == "whatsapp")
                     .values(status="undelivered", error_code=63016))
    html = agent.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
    failed = re.search(r'data-count="failed">(\d+)<', html).group(1)
    row = re.search(r"<tr><td>WhatsApp</td>(.*?)</tr>", re.sub(r"\s+", " ", html)).group(1)
    cells = re.findall(r'<td class="num">(\d+)</td>', row)
    assert cells[1:3] == ["0", "1"]  # accepted 0, failures 1
    failures = re.search(r'<table id="failures">(.*?)</table>', html, re.S).group(1)
    assert "63016" in failures and failed == "1"
    report = planner.status(app, bid)
    assert report["by_channel"]["whatsapp"].get("sent", 0) == 0


def test_failed_recipients_are_sent_again_once_after_the_cause_is_fixed(app, agent):
    """Issue 20: failed messages of a finished broadcast can be sent again, once; a person who
    sent STOP since is not (the reach rule applies again before each request)."""
    ids = people(app)
    with FakeTwilio() as fake:
        app.config.update({**settings_for(fake), **FAST})
        bid = new_id(compose(agent, quartier=["Badialan I"]))
        token = csrf_token(agent.get(f"/admin/broadcasts/{bid}").data)
        agent.post(f"/admin/broadcasts/{bid}/send", data={"mode": "now", "csrf_token": token})
        drain(get_queue(app), bid)
        assert planner.get(app, bid).state == BroadcastState.SENT
        first = len(fake.creates())
        o = Outbox.__table__
        with transaction(app) as conn:  # every SMS undelivered (30003), one person then STOPs
            conn.execute(sa.update(o).where(o.c.broadcast_id == bid, o.c.channel == "sms",
                                            o.c.state == OutboxState.SENT)
                         .values(status="undelivered", error_code=30003))
            failed = conn.execute(sa.select(sa.func.count()).select_from(o).where(
                o.c.broadcast_id == bid, o.c.status == "undelivered")).scalar_one()
            conn.execute(sa.text("UPDATE contact SET opted_out = :t WHERE id = :id"),
                         {"t": True, "id": ids["bm_sms"]})
        assert failed >= 2
        page = agent.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
        assert f"Renvoyer les {failed} messages en échec" in page
        done = agent.post(f"/admin/broadcasts/{bid}/resend", data={"csrf_token": token},
                          follow_redirects=True).get_data(as_text=True)
        assert f"{failed} messages en échec renvoyés." in done
        drain(get_queue(app), bid)
        resent = fake.creates()[first:]
        # The STOP since the first send wins: one fewer request than failures.
        assert len(resent) == failed - 1
        assert "+22370000002" not in {c.get("to") for c in resent}
        assert planner.get(app, bid).state == BroadcastState.SENT
        # Once only: the button is gone and a second try is refused in French.
        page = agent.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
        assert "Renvoyer les" not in page
        again = agent.post(f"/admin/broadcasts/{bid}/resend", data={"csrf_token": token},
                           follow_redirects=True).get_data(as_text=True)
        assert "Aucun message en échec à renvoyer" in again
        assert len(fake.creates()) == first + failed - 1
