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
