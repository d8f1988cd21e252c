"""Broadcasts end to end with real `essbot worker` processes (huey consumers in subprocesses)
against the fake Twilio: workers killed with SIGKILL halfway and restarted finish with no
duplicates and no gaps; a scheduled broadcast fires at its Bamako time whatever the server's
time zone. Each test runs on SqliteHuey and on RedisHuey (skipped when Redis is down), over
the suite's database (SQLite, or PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.broadcasts import planner
from bot.broadcasts.models import BroadcastState, Outbox
from bot.broadcasts.tasks import BroadcastQueue
from bot.db import get_engine
from tests.conftest import AUTH_TOKEN, PUBLIC_URL
from tests.fake_twilio import ACCOUNT, FakeTwilio
from tests.test_broadcast_plan import add_contact

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("ESSBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_up() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.exceptions.RedisError:
        return False
    return True


@pytest.fixture(params=["sqlite", "redis"])
def backend(request):
    """The queue backend: SqliteHuey, or RedisHuey (skipped cleanly when Redis is down)."""
    if request.param == "redis" and not _redis_up():
        pytest.skip("Redis is not reachable (or the redis package is missing)")
    return request.param


class Workers:
    """Settings shared by this test process and its `essbot worker` subprocesses."""

    def __init__(self, app, fake: FakeTwilio, backend: str, tmp_path: Path, **extra: str):
        self.app, self.tmp_path = app, tmp_path
        self.settings = {
            "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE_URL": fake.url, "TWILIO_SMS_FROM": "+15005550006",
            "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886", "TWILIO_HTTP_TIMEOUT": "0.5",
            "ESSBOT_BROADCAST_LEASE": "1.5", "ESSBOT_BROADCAST_TICK": "0.3",
            "ESSBOT_SEND_RETRY_BASE": "0.05", "ESSBOT_SEND_RATE_PARTS": "0",
            "ESSBOT_SEND_RATE_WHATSAPP": "0", "ESSBOT_PUBLIC_URL": PUBLIC_URL,
            "ESSBOT_QUEUE_NAME": f"essbot-test-{uuid.uuid4().hex[:12]}", **extra}
        if backend == "redis":
            self.settings["REDIS_URL"] = REDIS_URL
        from bot.config import _coerce

        app.config.update({k: _coerce(k, v) for k, v in self.settings.items()})
        app.config["REDIS_URL"] = self.settings.get("REDIS_URL")
        self.queue = BroadcastQueue(app)
        self.procs: list[subprocess.Popen] = []

    def start(self, threads: int = 4, tz: str | None = None) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(self.settings, DATABASE_URL=self.app.config["DATABASE_URL"],
                   ESSBOT_INSTANCE_PATH=self.app.instance_path, PYTHONUNBUFFERED="1")
        if tz:
            env["TZ"] = tz
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "bot.broadcasts.cli", "worker",
                                 "--threads", str(threads)], env=env, cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # graceful: running tasks finish
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.queue.huey.flush()

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.tmp_path.glob("worker-*.log")))


def wait_for(predicate, timeout: float, what: str, workers: Workers) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\n{workers.logs()}")


def outbox_states(app, bid) -> dict[str, int]:
    o = Outbox.__table__
    with get_engine(app).connect() as conn:
        return dict(conn.execute(sa.select(o.c.state, sa.func.count()).where(
            o.c.broadcast_id == bid).group_by(o.c.state)).all())


def test_workers_killed_halfway_and_restarted_send_everything_once(app, backend, tmp_path):
    invalid = "+22371000007"
    with FakeTwilio(latency=0.05, invalid={invalid}) as fake:
        workers = Workers(app, fake, backend, tmp_path)
        try:
            expected = {}
            for i in range(160):
                phone = f"+22371000{i:03d}"
                language = "bm" if i % 3 == 0 else "fr"
                whatsapp = i % 4 == 1  # a quarter on WhatsApp (window open)
                add_contact(app, phone, language=language, sms=not whatsapp,
                            whatsapp=timedelta(hours=2) if whatsapp else None,
                            opted_out=i in (10, 20), quartier="Badialan I")
                if i not in (10, 20) and phone != invalid:
                    expected[f"whatsapp:{phone}" if whatsapp else phone] = language
            bid = planner.create(app, title="T", text_fr="Annonce en français",
                                 text_bm="Kibaru bamanankan na",
                                 segment={"quartier": ["Badialan I"]})
            first, second = workers.start(), workers.start()
            fake.throttle(15)  # a burst of 429s while both run
            workers.queue.send_now(bid)
            wait_for(lambda: len(fake.creates()) >= 40, 30, "40 messages", workers)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            wait_for(lambda: len(fake.creates()) >= 90, 30, "90 messages", workers)
            os.kill(second.pid, signal.SIGKILL)
            second.wait()
            stranded = outbox_states(app, bid).get("sending", 0)
            workers.start()
            wait_for(lambda: planner.get(app, bid).state == BroadcastState.SENT, 40,
                     "the broadcast to finish", workers)
        finally:
            workers.stop_all()
    received = fake.per_recipient()
    duplicates = {to: n for to, n in received.items() if n > 1}
    assert not duplicates, f"sent twice: {duplicates}"
    assert set(received) == set(expected), "gaps or strangers"
    for message in fake.creates():
        language = expected[message["to"]]
        assert message["body"].startswith("Annonce" if language == "fr" else "Kibaru")
    states = outbox_states(app, bid)
    assert states == {"sent": len(expected), "failed": 1}
    lookups = sum(1 for r in fake.requests if r["method"] == "GET")
    assert lookups >= stranded  # every row stranded in 'sending' was looked up, not resent


def test_scheduled_broadcast_fires_at_its_bamako_time_whatever_the_server_tz(app, backend,
                                                                             tmp_path):
    with FakeTwilio() as fake:
        workers = Workers(app, fake, backend, tmp_path)
        try:
            add_contact(app, "+22372000001")
            at = (datetime.now(timezone.utc) + timedelta(seconds=3)).replace(microsecond=0)
            bid = planner.create(app, title="T", text_fr="Rappel", at=at)
            workers.queue.schedule_fire(bid, at)
            workers.start(threads=2, tz="America/Los_Angeles")  # UTC-8: 8 h from Bamako
            wait_for(lambda: planner.get(app, bid).state == BroadcastState.SENT, 20,
                     "the scheduled broadcast", workers)
        finally:
            workers.stop_all()
    started = planner.get(app, bid).started_at
    assert at <= started < at + timedelta(seconds=3)
    assert fake.per_recipient() == {"+22372000001": 1}


def test_the_tick_fires_due_broadcasts_by_the_injected_clock(app, tmp_path):
    """The safety net: even with no fire task queued, the tick starts a broadcast when its
    Bamako time comes (here 09:00 in Bamako = 09:00 UTC; ESSBOT_TIMEZONE may differ)."""
    with FakeTwilio() as fake:
        workers = Workers(app, fake, "sqlite", tmp_path)
        add_contact(app, "+22372000002")
        at = planner.parse_local_time("2099-06-01 09:00", "Africa/Bamako")
        bid = planner.create(app, title="T", text_fr="Rappel", at=at)
        assert workers.queue.tick(now=at - timedelta(seconds=1))["fired"] == []
        assert planner.get(app, bid).state == BroadcastState.SCHEDULED
        assert workers.queue.tick(now=at)["fired"] == [bid]
        assert planner.get(app, bid).state == BroadcastState.SENDING
        assert workers.queue.tick(now=at)["fired"] == []  # fired once
        workers.queue.huey.flush()
