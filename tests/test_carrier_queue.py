"""Issue 13 point 9: a send queue that does not stall.

Found cause: a worker reserved its sender's rate *before* claiming the row and slept for it.
Every task the tick queued again for a still-pending row reserved once more, so the rate
state ran ever further ahead; in an instance folder whose rate files and queue had served
earlier runs (other databases, a paced gateway) the worker threads slept for minutes while
the tick kept queueing the same rows "again". Now a thread never sleeps more than
MAX_PACING_WAIT_S (nothing is reserved beyond it: the row comes back at its slot), a rate
state far ahead is stale, at most GATEWAY_THREADS threads wait on the gateway's phone, and a
task queued for another database, or for a row that no longer exists, is dropped with a log.
"""

from __future__ import annotations

import logging
import struct
import time
from datetime import datetime, timedelta

import pytest

from bot.broadcasts import planner
from bot.broadcasts.ratelimit import FileRateLimiter, RateLimited, acquire
from bot.broadcasts.sender import GATEWAY_THREADS, MAX_PACING_WAIT_S, sender_key
from bot.broadcasts.tasks import BroadcastQueue, database_token
from bot.models import utcnow
from tests.fake_twilio import FakeTwilio
from tests.test_broadcast_plan import add_contact
from tests.test_broadcast_send import configure, rows


def run_all(queue: BroadcastQueue) -> int:
    """Run every task now queued, in this thread; return how many ran."""
    ran = 0
    task = queue.huey.dequeue()
    while task is not None:
        queue.huey.execute(task)
        ran += 1
        task = queue.huey.dequeue()
    return ran


def test_a_thread_never_sleeps_long_for_a_pace_and_reserves_nothing_beyond(tmp_path):
    now = [1000.0]
    limiter = FileRateLimiter(tmp_path, burst=0.0, clock=lambda: now[0])
    slept: list[float] = []
    assert acquire(limiter, "k", 6, 1.0, slept.append, max_wait=2.0) == 0.0
    with pytest.raises(RateLimited) as paced:
        acquire(limiter, "k", 6, 1.0, slept.append, max_wait=2.0)
    assert paced.value.wait == pytest.approx(6.0) and slept == []
    # Refused reservations did not push the state: after the wait, one slot is free at once.
    for _ in range(50):
        with pytest.raises(RateLimited):
            acquire(limiter, "k", 6, 1.0, slept.append, max_wait=2.0)
    now[0] += 6.0
    assert acquire(limiter, "k", 6, 1.0, slept.append, max_wait=2.0) == 0.0


def test_a_rate_state_left_far_ahead_by_an_earlier_run_is_stale(tmp_path):
    limiter = FileRateLimiter(tmp_path, burst=0.0)
    key = "sms:+15005550006"
    (tmp_path / f"{key}.rate").write_bytes(struct.pack("<d", time.time() + 86400))
    assert acquire(limiter, key, 1, 1.0, max_wait=2.0) == 0.0


def test_sends_go_out_with_a_reused_instance_folder_and_queue(app, caplog, tmp_path):
    """The observed stall: the instance folder's rate state and queue come from earlier runs."""
    with FakeTwilio() as fake:
        queue = configure(app, fake, ESSBOT_SEND_RATE_PARTS=1.0,
                          ESSBOT_QUEUE_PATH=str(tmp_path / "queue.db"))
        key, _rate = sender_key(app.config, "sms")
        # An earlier run left the Twilio number's rate a day ahead…
        state = queue.sender.limiter.directory / f"{key.replace(':', '_')}.rate"
        state.write_bytes(struct.pack("<d", time.time() + 86400))
        # … and tasks of another database (ids 1 to 6 mean other rows there), and tasks queued
        # by a version that carried no token.
        queue.send_rows.task("0123456789ab", [1, 2, 3, 4, 5, 6])
        queue.send_rows.task.schedule(args=([1, 2, 3],), delay=0)
        queue.send_replies.task("0123456789ab", [1, 2])
        contacts = [add_contact(app, f"+2237005{i:04d}") for i in range(6)]
        bid = planner.create(app, title="T", text_fr="Annonce")
        slept: list[float] = []
        queue.sender.sleep = slept.append
        caplog.set_level(logging.INFO)
        queue.send_now(bid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(fake.creates()) < 6:
            run_all(queue)
            for task in queue.huey.read_schedule(datetime.utcnow() + timedelta(days=1)):
                queue.huey.execute(task)
    assert sorted(m["to"] for m in fake.creates()) == sorted(
        f"+2237005{i:04d}" for i in range(6))
    assert all(rows(app, bid)[c].state == "sent" for c in contacts)
    assert max(slept, default=0.0) <= MAX_PACING_WAIT_S  # no thread parked for the pace
    dropped = [r.getMessage() for r in caplog.records if "another database" in r.getMessage()]
    assert len(dropped) == 3


def test_a_task_naming_rows_that_no_longer_exist_is_dropped_with_a_log(app, caplog):
    with FakeTwilio() as fake:
        queue = configure(app, fake)
        caplog.set_level(logging.INFO)
        queue.send_rows([98765])
        queue.send_replies([98766])
        assert run_all(queue) == 2
    text = caplog.text
    assert "outbox id 98765" in text and "no such row" in text
    assert "message id 98766" in text and "no such message" in text


def test_the_token_names_the_database_not_its_password():
    one = database_token("postgresql+psycopg://essbot:secret@db:5432/essbot")
    assert one == database_token("postgresql+psycopg://essbot:other@db:5432/essbot")
    assert one != database_token("postgresql+psycopg://essbot:secret@db:5432/essbot_test")
    assert database_token("sqlite:////a/essbot.db") != database_token("sqlite:////b/essbot.db")


def test_a_busy_gateway_gives_worker_threads_back_to_twilio(app):
    """Every gateway slot taken (the phone slow or unreachable): a gateway row returns at
    once to be retried; a Twilio row on the same worker is sent."""
    from tests.fake_smsgate import FakeSMSGate
    from tests.fake_smsgate import settings_for as gateway_settings

    with FakeSMSGate() as gate, FakeTwilio() as fake:
        queue = configure(app, fake, **gateway_settings(gate, SMSGATE_RATE_PER_MINUTE=0,
                                                        SMSGATE_HTTP_TIMEOUT=0.5))
        sms = add_contact(app, "+22370060001")
        wa = add_contact(app, "+22370060002", sms=False,
                         whatsapp=timedelta(hours=1))
        bid = planner.create(app, title="T", text_fr="Annonce")
        planner.start(app, bid, utcnow())
        out = rows(app, bid)
        for _ in range(GATEWAY_THREADS):
            assert queue.sender.gateway_slots.acquire(blocking=False)
        started = time.monotonic()
        assert queue.sender.process(out[sms].id).outcome == "retry"
        assert time.monotonic() - started < 0.5 and gate.sends() == []
        assert queue.sender.process(out[wa].id).outcome == "sent"
        for _ in range(GATEWAY_THREADS):
            queue.sender.gateway_slots.release()
        assert queue.sender.process(out[sms].id).outcome == "sent"
    assert len(gate.sends()) == 1 and len(fake.creates()) == 1
