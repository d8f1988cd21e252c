"""Broadcasts, sending side, against the fake Twilio on loopback (tests/fake_twilio.py):
exactly one message per recipient in their language on their channel, 429 bursts, invalid and
stopped numbers, the WhatsApp window (63016), unknown outcomes reconciled before any resend,
status callbacks out of order and repeated, the per-sender rate."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from bot.broadcasts import planner
from bot.broadcasts.models import BroadcastState, Outbox, OutboxState, UndeliverableAddress
from bot.broadcasts.ratelimit import FileRateLimiter, acquire
from bot.broadcasts.tasks import BroadcastQueue
from bot.db import get_engine, transaction
from bot.models import Contact, Message, utcnow
from tests.conftest import AUTH_TOKEN
from tests.fake_twilio import FakeTwilio, settings_for
from tests.test_broadcast_plan import add_contact

TEMPLATE = {"fr": {"content_sid": "HX" + "a" * 32, "variables": {"1": "title", "2": "text"}}}


def configure(app, fake, **extra) -> BroadcastQueue:
    """Point the app at `fake` with test timings; return a fresh queue (SQLite backend)."""
    app.config.update({**settings_for(fake), "TWILIO_HTTP_TIMEOUT": 0.5,
                       "ESSBOT_BROADCAST_LEASE": 1.0, "ESSBOT_SEND_RETRY_BASE": 0.05,
                       "ESSBOT_SEND_RATE_PARTS": 0, "ESSBOT_SEND_RATE_WHATSAPP": 0, **extra})
    return BroadcastQueue(app)


def rows(app, bid) -> dict[int, object]:
    o = Outbox.__table__
    with get_engine(app).connect() as conn:
        return {r.contact_id: r for r in conn.execute(sa.select(o).where(o.c.broadcast_id == bid))}


def drain(queue: BroadcastQueue, bid: int, timeout: float = 20.0) -> None:
    """Process the broadcast's open rows in this thread (what a worker does), with ticks,
    until it ends."""
    o = Outbox.__table__
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with get_engine(queue.app).connect() as conn:
            open_ids = list(conn.execute(sa.select(o.c.id).where(
                o.c.broadcast_id == bid, o.c.state.in_(OutboxState.OPEN))).scalars())
        for outbox_id in open_ids:
            queue.sender.process(outbox_id)
        queue.tick()
        if not open_ids and planner.get(queue.app, bid).state in BroadcastState.FINAL:
            return
        time.sleep(0.05)
    raise AssertionError(f"broadcast {bid} did not finish: {planner.status(queue.app, bid)}")


def test_everyone_gets_one_message_in_their_language_on_their_channel(app):
    with FakeTwilio(latency=0.02, invalid={"+22370000008"}, stopped={"+22370000009"}) as fake:
        queue = configure(app, fake)
        q = {"quartier": "Badialan I"}
        ids = {
            "fr_sms": add_contact(app, "+22370000001", **q),
            "bm_sms": add_contact(app, "+22370000002", language="bm", **q),
            "fr_wa": add_contact(app, "+22370000003", sms=False, whatsapp=timedelta(hours=1), **q),
            "bm_wa": add_contact(app, "+22370000004", language="bm", sms=False,
                                 whatsapp=timedelta(hours=1), **q),
            "opted_out": add_contact(app, "+22370000005", opted_out=True, **q),
            "invalid": add_contact(app, "+22370000008", **q),
            "stopped": add_contact(app, "+22370000009", **q),
            "elsewhere": add_contact(app, "+22370000010", quartier="Samé"),
        }
        bid = planner.create(app, title="Formation", text_fr="Formation lundi à 9h.",
                             text_bm="Kalan bɛ tɛnɛn 9h.", segment={"quartier": ["Badialan I"]})
        fake.throttle(5)  # a burst of 429s first
        queue.send_now(bid)
        drain(queue, bid)
    got = {m["to"]: m for m in fake.creates()}
    assert fake.per_recipient() == {"+22370000001": 1, "+22370000002": 1,
                                    "whatsapp:+22370000003": 1, "whatsapp:+22370000004": 1}
    assert got["+22370000001"]["body"] == "Formation lundi à 9h."
    assert got["+22370000002"]["body"].startswith("Kalan b")  # Bambara, folded for SMS
    assert got["whatsapp:+22370000004"]["body"] == "Kalan bɛ tɛnɛn 9h."
    assert sum(1 for r in fake.requests if r["status"] == 429) == 5
    out = rows(app, bid)
    assert ids["opted_out"] not in out and ids["elsewhere"] not in out
    assert (out[ids["invalid"]].state, out[ids["invalid"]].error_code) == ("failed", 21211)
    assert (out[ids["stopped"]].state, out[ids["stopped"]].error_code) == ("failed", 21610)
    assert all(out[ids[k]].state == "sent" and out[ids[k]].provider_sid
               for k in ("fr_sms", "bm_sms", "fr_wa", "bm_wa"))
    with get_engine(app).connect() as conn:
        assert conn.execute(sa.select(Contact.__table__.c.opted_out).where(
            Contact.__table__.c.id == ids["stopped"])).scalar() is True
        flag = conn.execute(sa.select(UndeliverableAddress.__table__)).one()
        assert (flag.contact_id, flag.error_code) == (ids["invalid"], 21211)
        history = conn.execute(sa.select(Message.__table__).where(
            Message.__table__.c.broadcast_id == bid)).all()
    assert len(history) == 6 and all(m.direction == "out" for m in history)
    report = planner.status(app, bid)
    assert report["state"] == "sent"
    assert report["by_state"]["sent"] == 4 and report["errors"] == {"21211": 1, "21610": 1}
    assert report["skipped"]["opted_out"] == 1


def test_whatsapp_63016_falls_back_to_template_or_sms_or_skip(app):
    closed = {"+22370000021", "+22370000022", "+22370000023"}
    with FakeTwilio(window_closed=closed) as fake:
        queue = configure(app, fake, ESSBOT_WHATSAPP_TEMPLATES=json.dumps(TEMPLATE))
        # All three wrote on WhatsApp an hour ago: the bot thinks the window is open, Twilio
        # says 63016 (e.g. the window was closed by Meta's clock).
        has_sms = add_contact(app, "+22370000021", language="bm", whatsapp=timedelta(hours=1))
        template = add_contact(app, "+22370000022", sms=False, whatsapp=timedelta(hours=1))
        nothing = add_contact(app, "+22370000023", language="bm", sms=False,
                              whatsapp=timedelta(hours=1))
        bid = planner.create(app, title="Réunion", text_fr="Réunion jeudi.", text_bm="Ɲɔgɔnye")
        queue.send_now(bid)
        drain(queue, bid)
    assert fake.per_recipient() == {"+22370000021": 1, "whatsapp:+22370000022": 1}
    sent_template = next(m for m in fake.creates() if m["content_sid"])
    assert json.loads(sent_template["content_variables"]) == {"1": "Réunion", "2": "Réunion jeudi."}
    out = rows(app, bid)
    assert (out[has_sms].channel, out[has_sms].fallback_from) == ("sms", "whatsapp:63016")
    assert (out[template].kind, out[template].state) == ("template", "sent")
    assert (out[nothing].state, out[nothing].skip_reason) == ("skipped", "whatsapp_window_closed")
    # The failed WhatsApp attempts stay in the history with their error.
    with get_engine(app).connect() as conn:
        codes = conn.execute(sa.select(Message.__table__.c.error_code).where(
            Message.__table__.c.broadcast_id == bid,
            Message.__table__.c.error_code.is_not(None))).scalars().all()
    assert sorted(codes) == [63016, 63016, 63016]


def test_unknown_outcomes_are_reconciled_before_any_resend(app):
    with FakeTwilio() as fake:
        queue = configure(app, fake)
        contacts = [add_contact(app, f"+2237000003{i}") for i in range(6)]
        bid = planner.create(app, title="T", text_fr="Annonce")
        fake.fail_after_create(2, status=500)  # stored, then 500
        fake.fail_after_create(1, status=201, hang=1.0)  # stored, answer after the timeout
        queue.send_now(bid)
        drain(queue, bid)
        lookups = [r for r in fake.requests if r["method"] == "GET"]
    assert fake.per_recipient() == {f"+2237000003{i}": 1 for i in range(6)}
    assert len(lookups) == 3  # one reconciliation per unknown outcome
    out = rows(app, bid)
    assert all(out[c].state == "sent" for c in contacts)
    assert len({out[c].provider_sid for c in contacts}) == 6


def test_a_crash_before_or_after_the_request_neither_duplicates_nor_forgets(app):
    """Rows left in 'sending' by a dead worker: one request reached Twilio, one did not."""
    with FakeTwilio() as fake:
        queue = configure(app, fake)
        reached = add_contact(app, "+22370000041")
        lost = add_contact(app, "+22370000042")
        bid = planner.create(app, title="T", text_fr="Annonce")
        queue.send_now(bid)
        out = rows(app, bid)
        claimed = utcnow() - timedelta(seconds=5)  # longer ago than the lease
        o = Outbox.__table__
        with transaction(app) as conn:
            conn.execute(sa.update(o).where(o.c.broadcast_id == bid).values(
                state=OutboxState.SENDING, claimed_at=claimed, attempts=1))
        # The dead worker's request for `reached` got through before it died.
        queue.sender.client().messages.create(to="+22370000041", from_="+15005550006",
                                              body=out[reached].body)
        drain(queue, bid)
    assert fake.per_recipient() == {"+22370000041": 1, "+22370000042": 1}
    out = rows(app, bid)
    assert out[reached].attempts == 1 and out[lost].attempts == 2


def test_status_callbacks_out_of_order_and_repeated_leave_the_right_state(app, live_server):
    plans = {
        "+22370000051": [("delivered", None), ("sent", None), ("queued", None),
                         ("delivered", None), ("sent", None)],
        "+22370000052": [("undelivered", 30003), ("sent", None), ("sent", None),
                         ("delivered", None)],
        "whatsapp:+22370000053": [("read", None), ("delivered", None), ("sent", None)],
    }
    with FakeTwilio(auth_token=AUTH_TOKEN, callback_target=live_server,
                    callback_plan=lambda m: plans[m["to"]], window_closed={"+22370000054"},
                    window_mode="async") as fake:
        queue = configure(app, fake)
        a = add_contact(app, "+22370000051")
        b = add_contact(app, "+22370000052")
        c = add_contact(app, "+22370000053", sms=False, whatsapp=timedelta(hours=1))
        d = add_contact(app, "+22370000054", whatsapp=timedelta(hours=1))  # 63016 arrives late
        bid = planner.create(app, title="T", text_fr="Annonce")
        queue.send_now(bid)
        drain(queue, bid)
        fake.wait_callbacks()
        # The late 63016 turned d's row into an SMS fallback: the tick queues it, it is sent.
        drain(queue, bid)
        fake.wait_callbacks()
    out = rows(app, bid)
    assert (out[a].status, out[a].error_code) == ("delivered", None)
    # Issue 13: a delivery supersedes the earlier undelivered and clears its code (was
    # "undelivered" 30003: the state depended on the order of the callbacks).
    assert (out[b].status, out[b].error_code) == ("delivered", None)
    assert out[c].status == "read"
    assert (out[d].channel, out[d].state, out[d].fallback_from) == ("sms", "sent", "whatsapp:63016")
    assert fake.per_recipient()["+22370000054"] == 1
    with get_engine(app).connect() as conn:
        statuses = dict(conn.execute(sa.select(Message.__table__.c.provider_sid,
                                               Message.__table__.c.status)).all())
    assert statuses[out[a].provider_sid] == "delivered"
    assert planner.get(app, bid).state == BroadcastState.SENT
    report = planner.status(app, bid)
    assert report["by_status"]["delivered"] >= 2 and report["errors"] == {}


def test_opting_out_after_the_plan_means_no_message(app):
    with FakeTwilio() as fake:
        queue = configure(app, fake)
        contact = add_contact(app, "+22370000061")
        bid = planner.create(app, title="T", text_fr="Annonce")
        queue.send_now(bid)
        with transaction(app) as conn:
            conn.execute(sa.update(Contact.__table__).values(opted_out=True))
        drain(queue, bid)
    assert fake.creates() == []
    assert rows(app, bid)[contact].skip_reason == "opted_out"


def test_a_stop_between_reading_and_claiming_the_row_is_honoured(app):
    """A task reads its batch up front; a STOP arriving meanwhile still wins."""
    with FakeTwilio() as fake:
        queue = configure(app, fake)
        contact = add_contact(app, "+22370000062")
        bid = planner.create(app, title="T", text_fr="Annonce")
        queue.send_now(bid)
        outbox_id = rows(app, bid)[contact].id
        loaded = queue.sender.load([outbox_id, outbox_id + 1000])
        assert list(loaded) == [outbox_id]
        stale = loaded[outbox_id]
        with transaction(app) as conn:
            conn.execute(sa.update(Contact.__table__).values(opted_out=True))
        assert queue.sender.process(outbox_id, stale).outcome == "skipped"
    assert fake.creates() == []


def test_one_task_sends_its_whole_batch_and_closes_the_broadcast(app):
    with FakeTwilio() as fake:
        queue = configure(app, fake)
        for i in range(5):
            add_contact(app, f"+2237000009{i}")
        bid = planner.create(app, title="T", text_fr="Annonce")
        planner.start(app, bid)
        queue.send_rows.call_local(planner.pending_ids(app, bid))  # what the consumer runs
    assert len(fake.creates()) == 5
    assert planner.get(app, bid).state == BroadcastState.SENT


def test_cancel_midway_sends_nothing_more(app):
    with FakeTwilio() as fake:
        queue = configure(app, fake)
        for i in range(10):
            add_contact(app, f"+2237000007{i}")
        bid = planner.create(app, title="T", text_fr="Annonce")
        queue.send_now(bid)
        first = sorted(r.id for r in rows(app, bid).values())[:3]
        for outbox_id in first:
            queue.sender.process(outbox_id)
        assert planner.cancel(app, bid)["cancelled"] == 7
        for outbox_id in sorted(r.id for r in rows(app, bid).values()):
            assert queue.sender.process(outbox_id).outcome == "done"
    assert len(fake.creates()) == 3
    assert planner.status(app, bid)["by_state"]["cancelled"] == 7


def test_rate_limit_paces_parts_per_second(tmp_path):
    now = [1000.0]
    limiter = FileRateLimiter(tmp_path, burst=0.0, clock=lambda: now[0])
    waits = [limiter.reserve("sms:+15005550006", 2, 4.0) for _ in range(4)]
    assert waits == [0.0, 0.5, 1.0, 1.5]  # 2 parts at 4 parts/s: one message every 0.5 s
    assert limiter.reserve("whatsapp:+1415", 1, 10.0) == 0.0  # senders are independent
    now[0] += 10  # idle: no debt carried over
    assert limiter.reserve("sms:+15005550006", 2, 4.0) == 0.0
    slept = []
    assert acquire(limiter, "x", 3, 0, slept.append) == 0.0 and slept == []  # rate 0: no limit


def test_sending_respects_the_rate_across_threads(app):
    import threading

    with FakeTwilio() as fake:
        queue = configure(app, fake, ESSBOT_SEND_RATE_PARTS=20.0)
        for i in range(20):
            add_contact(app, f"+2237000008{i:02d}")
        bid = planner.create(app, title="T", text_fr="x" * 200)  # 2 parts each
        queue.send_now(bid)
        ids = sorted(r.id for r in rows(app, bid).values())
        threads = [threading.Thread(target=lambda part: [queue.sender.process(i) for i in part],
                                    args=(ids[k::4],)) for k in range(4)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    # 40 parts at 20 parts/s, of which 1 s of burst (20 parts) may go at once: at least 1 s
    # for the other 20 (the last starts 0.9 s after the burst), whatever the number of threads.
    assert len(fake.creates()) == 20
    assert 0.85 <= elapsed < 5


@pytest.mark.parametrize("redis_url", ["redis://127.0.0.1:6379/15"])
def test_redis_rate_limiter_shares_one_rate(redis_url):
    redis = pytest.importorskip("redis")
    from bot.broadcasts.ratelimit import RedisRateLimiter

    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    prefix = f"essbot-test-{time.time_ns()}"
    try:
        limiter = RedisRateLimiter(client, prefix, burst=0.0)
        waits = [limiter.reserve("sms:x", 1, 10.0) for _ in range(5)]
        assert waits[0] == 0.0
        assert waits[1:] == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=0.02)
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


def test_times_are_utc_in_the_outbox_whatever_the_clock(app):
    with FakeTwilio() as fake:
        fixed = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
        configure(app, fake)
        queue = BroadcastQueue(app, clock=lambda: fixed)
        add_contact(app, "+22370000091", now=fixed)
        bid = planner.create(app, title="T", text_fr="x", now=fixed - timedelta(hours=1))
        queue.send_now(bid)
        queue.sender.clock = lambda: fixed
        for row in rows(app, bid).values():
            queue.sender.process(row.id)
    assert next(iter(rows(app, bid).values())).sent_at == fixed


def test_the_announcement_is_what_annonces_shows_afterwards(app):
    """Broadcast messages live in the contact's history (Message.broadcast_id), which the
    ANNONCES keyword reads."""
    from bot.channels import console
    from bot.conversations import handle_inbound

    with FakeTwilio() as fake:
        queue = configure(app, fake)
        add_contact(app, "+22370000095", language="fr")
        bid = planner.create(app, title="T", text_fr="Foire des artisans samedi au stade.")
        queue.send_now(bid)
        drain(queue, bid)
    replies = handle_inbound(app, console.inbound("+22370000095", "ANNONCES", "sms")).replies
    assert any("Foire des artisans samedi" in r.body for r in replies), replies

