"""The broadcast queue: huey tasks that carry outbox ids only, the tick, the worker.

Backends (docs/architecture.md):
SqliteHuey on ``<instance>/queue.db`` (ESSBOT_QUEUE_PATH) by default —
one machine, no server; RedisHuey when REDIS_URL is set — `essbot worker` on as many machines
as needed. The per-sender rate limiter follows the backend (a locked file, or Redis).

The database is the source of truth; the queue only says "look at these rows". A lost task
(a worker killed with ``kill -9`` had dequeued it, a Redis flush, a crash between the outbox
commit and the enqueue) loses nothing, because the **tick** (every ESSBOT_BROADCAST_TICK
seconds in each `essbot worker`, and once at its start) finds work no task covers:

- scheduled broadcasts that are due (the ``broadcast_fire`` task, queued with the schedule
  time as its eta, normally starts them to the second; the tick is the safety net);
- rows never queued (``queued_at`` NULL: fallbacks decided by a status callback);
- stale claims: ``sending`` rows whose claim is older than the lease (their worker died
  during the request) — the send task reconciles them with Twilio before any resend;
- orphans: when the queue and its schedule are empty and no row of the broadcast was
  claimed for a lease, its open rows are queued again;
- broadcasts whose rows are all final are closed (sent / failed);
- replies to messages that came through the SMS gateway that no task covers
  (bot/outbound.py `stale_ids`).

The same queue carries ``smsgate_send_replies(ids)``: the replies of one inbound SMS that came
through the SMS gateway, sent in order through its REST API (bot/outbound.py), each retried
with backoff.

Queuing a row twice is harmless: a worker must win the guarded ``pending → sending`` UPDATE
to send (bot/broadcasts/sender.py). Retries are scheduled per row by the send task
(``broadcast_send_rows`` with a delay) from the row's own backoff, not by huey's task
retries, which would re-run a whole batch.

The same queue runs the daily housekeeping as a huey periodic task, on SqliteHuey as on
RedisHuey (``essbot worker`` runs its consumer with periodic tasks on): ``actors_purge`` at
PURGE_AT (UTC, Bamako's time) forgets the contacts past the retention period
(bot.registry.forget.purge_expired), then on PostgreSQL vacuums the tables it touched. Several
workers each enqueue it; a second run finds nothing left to forget.

Huey instances are built per app (`get_queue`) rather than at import, so importing this module
never builds an app or opens a queue (STYLE.md: microblog's habit to avoid).

A queue outlives its database: the SQLite file sits in the instance folder, which may have
served other databases (a test run, a move to PostgreSQL), and a Redis queue may be shared.
Ids mean nothing in another database, so every task carries the token of the database that
queued it (`database_token`) and a task of another database, or of a version that queued
none, is dropped with a log line; so is an id with no row. Nothing is lost: the database is
the source of truth and the tick queues again whatever no task covers. Slow routes cannot
starve the others either: a worker thread never sleeps long for a sender's pace (the row
comes back at its slot, bot.broadcasts.sender.MAX_PACING_WAIT_S), and at most
GATEWAY_THREADS threads wait on the SMS gateway's phone at once.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from flask import Flask

from bot.config import setting
from bot.broadcasts import planner
from bot.broadcasts.models import Broadcast, BroadcastState, InvalidTransition, Outbox, OutboxState
from bot.broadcasts.ratelimit import FileRateLimiter, RedisRateLimiter
from bot.broadcasts.sender import Sender
from bot.db import get_engine, transaction
from bot.models import utcnow
from bot import outbound

log = logging.getLogger(__name__)

#: Most outbox ids in one task (a task runs its ids one after the other in one thread).
MAX_CHUNK = 100
#: Spread a broadcast over at least this many tasks, so that every worker thread gets some.
MIN_TASKS = 64
#: When the daily retention purge runs: huey crontab fields, in UTC (= Africa/Bamako), at night.
PURGE_AT = {"hour": "2", "minute": "30"}
#: Tables a purge rewrites, vacuumed after it on PostgreSQL (old row versions hold the erased
#: values until VACUUM; README "Deleting data").
VACUUM_TABLES = ("actor", "contact", "conversation", "message", "ticket", "outbox")


def database_token(url: str) -> str:
    """A short token naming the database of `url` (12 hex digits of a hash of the URL without
    its password): what every task carries, so a queue reused by another database drops it."""
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:12]


class _Tagged:
    """A huey task whose every call carries this database's token as its first argument; the
    same calls as huey's task (``task(args)``, ``schedule(args=…, delay=…|eta=…)``,
    ``call_local(args)``) with the token added."""

    def __init__(self, task: Any, token: str):
        self.task, self.token = task, token

    def __call__(self, *args: Any) -> Any:
        return self.task(self.token, *args)

    def schedule(self, args: tuple = (), **kwargs: Any) -> Any:
        return self.task.schedule(args=(self.token, *args), **kwargs)

    def call_local(self, *args: Any) -> Any:
        return self.task.call_local(self.token, *args)


def chunk_size(n: int) -> int:
    """Ids per task for `n` rows: ``ceil(n / MIN_TASKS)`` between 1 and MAX_CHUNK."""
    return max(1, min(MAX_CHUNK, math.ceil(n / MIN_TASKS)))


class BroadcastQueue:
    """The huey queue of one app, with the broadcast tasks bound to it.

    Tasks: ``broadcast_send_rows(ids)`` (send or reconcile outbox rows) and
    ``broadcast_fire(broadcast_id)`` (start a scheduled broadcast). `clock` returns the current
    aware UTC time (injectable for tests).
    """

    def __init__(self, app: Flask, clock: Callable[[], datetime] = utcnow):
        from huey import RedisHuey, SqliteHuey, crontab

        settings = app.config
        self.app = app
        self.clock = clock
        name = setting(settings, "ESSBOT_QUEUE_NAME")
        if settings.get("REDIS_URL"):
            self.backend = "redis"
            self.huey = RedisHuey(name, url=settings["REDIS_URL"], results=False)
            limiter: Any = RedisRateLimiter(self.huey.storage.conn, prefix=name)
        else:
            self.backend = "sqlite"
            path = settings.get("ESSBOT_QUEUE_PATH") or os.path.join(app.instance_path, "queue.db")
            self.huey = SqliteHuey(name, filename=path, results=False)
            limiter = FileRateLimiter(Path(app.instance_path) / "ratelimit")
        self.sender = Sender(app, limiter, clock)
        self.token = database_token(str(settings["DATABASE_URL"]))
        self.send_rows = _Tagged(self.huey.task(name="broadcast_send_rows")(
            self._ours(self._send_rows, "broadcast_send_rows")), self.token)
        self.fire = _Tagged(self.huey.task(name="broadcast_fire")(
            self._ours(self._fire, "broadcast_fire")), self.token)
        self.send_replies = _Tagged(self.huey.task(name="smsgate_send_replies")(
            self._ours(self._send_replies, "smsgate_send_replies")), self.token)
        self.purge = self.huey.periodic_task(crontab(**PURGE_AT), name="actors_purge")(
            self._purge)
        self.export = self.huey.task(name="registry_export")(self._export)
        # Other services' tasks on the same queue (the partner webhooks, bot.partner_hooks):
        # registered by create_app, so the queue needs no import of them. `tick_hooks` are
        # called by the tick with its time and return how many items they queued.
        self.extensions: dict[str, Any] = {}
        self.tick_hooks: list[Callable[[datetime], int]] = []
        for setup in app.extensions.get("essbot.queue_extensions", ()):
            setup(self)

    # --- enqueueing ---------------------------------------------------------------------------

    def enqueue(self, ids: Iterable[int], delay: float | None = None) -> int:
        """Queue outbox ids in chunks (`chunk_size`), optionally after `delay` seconds; return
        the number of tasks queued."""
        ids = list(ids)
        size = chunk_size(len(ids))
        tasks = 0
        for i in range(0, len(ids), size):
            chunk = ids[i:i + size]
            if delay:
                self.send_rows.schedule(args=(chunk,), delay=delay)
            else:
                self.send_rows(chunk)
            tasks += 1
        return tasks

    def idle(self) -> bool:
        """Whether no task is queued or scheduled (tasks being executed are not counted)."""
        return self.huey.pending_count() == 0 and self.huey.scheduled_count() == 0

    def send_now(self, broadcast_id: int, now: datetime | None = None) -> dict[str, Any]:
        """Start a draft or scheduled broadcast now: write the outbox (one transaction), then
        queue its pending rows. Returns the plan with ``pending`` and ``tasks`` (and
        ``queue_error`` when the queue could not be reached: the rows are committed and the
        tick queues them later). Raises as planner.start (BroadcastNotFound,
        InvalidTransition, BroadcastError)."""
        now = now or self.clock()
        plan = planner.start(self.app, broadcast_id, now)
        try:
            plan["tasks"] = self.enqueue(planner.pending_ids(self.app, broadcast_id))
        except Exception as exc:  # noqa: BLE001 — the outbox is committed: the tick recovers
            log.error("broadcast %s started but could not be queued (%s); the worker's tick "
                      "will queue it", broadcast_id, type(exc).__name__)
            plan["tasks"], plan["queue_error"] = 0, type(exc).__name__
        return plan

    def resend_failed(self, broadcast_id: int, now: datetime | None = None) -> dict[str, Any]:
        """Send again, once, the failed messages of a finished broadcast
        (planner.resend_failed), then queue them. Returns ``{"resent": N, "tasks": N}`` (and
        ``queue_error`` when the queue could not be reached: the tick queues them later).
        Raises as planner.resend_failed."""
        result = planner.resend_failed(self.app, broadcast_id, now or self.clock())
        try:
            result["tasks"] = self.enqueue(planner.pending_ids(self.app, broadcast_id))
        except Exception as exc:  # noqa: BLE001 — the rows are committed: the tick recovers
            log.error("broadcast %s: resend not queued (%s); the tick will queue it",
                      broadcast_id, type(exc).__name__)
            result["tasks"], result["queue_error"] = 0, type(exc).__name__
        return result

    def schedule_fire(self, broadcast_id: int, at: datetime) -> None:
        """Queue ``broadcast_fire`` to run at `at` (aware; huey keeps UTC whatever the server's
        time zone)."""
        self.fire.schedule(args=(broadcast_id,), eta=at)

    # --- tasks ---------------------------------------------------------------------------------
    def _export(self, token: str) -> None:
        """Task: run the registry export job `token` (bot/registry/jobs.py)."""
        from bot.registry.jobs import run_job

        run_job(self.app, token)


    def _ours(self, run: Callable[[Any], None], name: str) -> Callable[..., None]:
        """The task body for huey: runs `run(argument)` when the task carries this database's
        token, else drops the task with a log line (see the module docstring)."""

        def task(*args: Any) -> None:
            if len(args) != 2 or args[0] != self.token:
                log.warning("dropped a %s task queued for another database (token %s, ours "
                            "%s): the tick queues this database's work", name,
                            str(args[0])[:12] if len(args) == 2 else "none", self.token)
                return
            run(args[1])

        task.__name__ = name
        return task

    def _send_rows(self, ids: list[int]) -> None:
        """Task: process each outbox id; reschedule the ones to retry; close finished
        broadcasts when the queue has drained."""
        now = self.clock()
        retry: list[tuple[int, float]] = []
        ids = [int(i) for i in ids]
        rows = self.sender.load(ids) if ids else {}
        for outbox_id in ids:
            if outbox_id not in rows:
                log.info("dropped outbox id %s from a task: no such row (its broadcast was "
                         "deleted)", outbox_id)
                continue
            result = self.sender.process(outbox_id, rows.pop(outbox_id))
            if result.outcome in ("retry", "busy") and result.delay is not None:
                retry.append((outbox_id, max(0.05, result.delay)))
        if retry:
            o = Outbox.__table__
            with transaction(self.app) as conn:
                conn.execute(sa.update(o).where(o.c.id.in_([i for i, _ in retry]))
                             .values(queued_at=now))
            for outbox_id, delay in retry:
                self.send_rows.schedule(args=([outbox_id],), delay=delay)
        if self.huey.pending_count() == 0:
            for broadcast_id in self._broadcasts_of(ids):
                planner.finish_if_done(self.app, broadcast_id)

    def _send_replies(self, ids: list[int]) -> None:
        """Task: send stored replies through the SMS gateway in order (bot.outbound.deliver);
        at the first one to retry, the rest wait with it (a person reads them in order)."""
        ids = [int(i) for i in ids]
        for n, message_id in enumerate(ids):
            if not self.sender.gateway_slots.acquire(blocking=False):
                # The phone's threads are busy: give this one back to the other routes.
                self.send_replies.schedule(args=(ids[n:],), delay=1.0)
                return
            try:
                result = outbound.deliver(self.app, message_id, self.sender.gateway,
                                          self.sender.limiter, self.clock(), self.sender.sleep)
            finally:
                self.sender.gateway_slots.release()
            if result.outcome == "gone":
                log.info("dropped message id %s from a task: no such message", message_id)
            if result.outcome == "retry":
                self.send_replies.schedule(args=(ids[n:],), delay=max(0.05, result.delay or 0))
                return

    def _purge(self) -> int:
        """Periodic task: the retention purge (bot.registry.forget.purge_expired); on
        PostgreSQL, VACUUM of VACUUM_TABLES when someone was forgotten. Returns the count."""
        from bot.registry.forget import purge_expired

        count = purge_expired(self.app, self.clock())
        engine = get_engine(self.app)
        if count and engine.dialect.name == "postgresql":
            # VACUUM cannot run in a transaction: an autocommit connection.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM " + ", ".join(VACUUM_TABLES))
        return count

    def _fire(self, broadcast_id: int) -> None:
        """Task: start a scheduled broadcast if it is still scheduled and due (a moved or
        cancelled schedule leaves an old fire task that does nothing)."""
        self.fire_due(self.clock(), only=broadcast_id)

    def _broadcasts_of(self, ids: list[int]) -> list[int]:
        o = Outbox.__table__
        with get_engine(self.app).connect() as conn:
            return list(conn.execute(sa.select(o.c.broadcast_id).where(o.c.id.in_(ids))
                                     .distinct()).scalars())

    # --- the tick ------------------------------------------------------------------------------

    def fire_due(self, now: datetime, only: int | None = None) -> list[int]:
        """Start every scheduled broadcast due at `now` (or only `only`); return their ids.
        A broadcast that cannot be sent (no Twilio sender…) goes to ``failed`` with the reason."""
        b = Broadcast.__table__
        query = sa.select(b.c.id).where(b.c.state == BroadcastState.SCHEDULED,
                                        b.c.scheduled_at <= now)
        if only is not None:
            query = query.where(b.c.id == only)
        with get_engine(self.app).connect() as conn:
            due = list(conn.execute(query.order_by(b.c.scheduled_at)).scalars())
        fired = []
        for broadcast_id in due:
            try:
                plan = self.send_now(broadcast_id, now)
            except InvalidTransition:
                continue  # another worker fired it
            except planner.BroadcastError as exc:
                log.error("scheduled broadcast %s cannot be sent: %s", broadcast_id, exc)
                try:
                    with transaction(self.app) as conn:
                        planner.transition(conn, broadcast_id, "fail", now, error=str(exc)[:200],
                                           finished_at=now)
                except InvalidTransition:
                    pass
                continue
            log.info("scheduled broadcast %s fired: %d to send", broadcast_id, plan["pending"])
            fired.append(broadcast_id)
        return fired

    def recover(self, broadcast_id: int, now: datetime) -> int:
        """Queue the rows of one broadcast that no task covers (see the module docstring);
        return how many were queued."""
        o = Outbox.__table__
        lease = timedelta(seconds=self.sender.lease)
        stale_before = now - lease
        mine = o.c.broadcast_id == broadcast_id
        with get_engine(self.app).connect() as conn:
            ids = list(conn.execute(sa.select(o.c.id).where(
                mine, o.c.state == OutboxState.PENDING, o.c.queued_at.is_(None))).scalars())
            ids += conn.execute(sa.select(o.c.id).where(
                mine, o.c.state == OutboxState.SENDING, o.c.claimed_at < stale_before,
                sa.or_(o.c.queued_at.is_(None), o.c.queued_at < stale_before))).scalars()
            last_claim = conn.execute(sa.select(sa.func.max(o.c.claimed_at)).where(mine)).scalar()
            if (last_claim is None or last_claim < stale_before) and self.idle():
                ids += conn.execute(sa.select(o.c.id).where(
                    mine, o.c.state.in_([OutboxState.PENDING, OutboxState.UNKNOWN]),
                    sa.or_(o.c.queued_at.is_(None), o.c.queued_at < stale_before))).scalars()
        ids = sorted(set(ids))
        if ids:
            with transaction(self.app) as conn:
                for i in range(0, len(ids), 1000):
                    conn.execute(sa.update(o).where(o.c.id.in_(ids[i:i + 1000]))
                                 .values(queued_at=now))
            self.enqueue(ids)
            log.info("broadcast %s: %d rows queued again by the tick", broadcast_id, len(ids))
        return len(ids)

    def tick(self, now: datetime | None = None) -> dict[str, Any]:
        """One round of housekeeping at `now` (default: the clock): fire due broadcasts,
        recover rows no task covers, close finished broadcasts. Returns ``{"fired": [ids],
        "requeued": rows, "finished": {id: state}}``. Idempotent: any number of workers may
        tick at once."""
        now = now or self.clock()
        fired = self.fire_due(now)
        b, o = Broadcast.__table__, Outbox.__table__
        with get_engine(self.app).connect() as conn:
            sending = list(conn.execute(sa.select(b.c.id).where(
                b.c.state == BroadcastState.SENDING)).scalars())
            # A cancelled broadcast may still have requests in flight to reconcile; a day is
            # far longer than any lease.
            cancelled = list(conn.execute(sa.select(b.c.id).where(
                b.c.state == BroadcastState.CANCELLED,
                b.c.finished_at > now - timedelta(days=1))).scalars())
            active = [broadcast_id for broadcast_id in sending + cancelled
                      if conn.execute(sa.select(o.c.id).where(
                          o.c.broadcast_id == broadcast_id, o.c.state.in_(OutboxState.OPEN))
                          .limit(1)).first() is not None]
        requeued = sum(self.recover(broadcast_id, now) for broadcast_id in active)
        finished = {}
        for broadcast_id in sending:
            state = planner.finish_if_done(self.app, broadcast_id, now)
            if state:
                finished[broadcast_id] = state
        replies = outbound.stale_ids(self.app, now, self.sender.lease)
        for message_id in replies:
            self.send_replies([message_id])
        if replies:
            log.info("tick: %d gateway replies queued again", len(replies))
        extra = 0
        for hook in self.tick_hooks:
            try:
                extra += hook(now)
            except Exception:  # noqa: BLE001 — one extension's failure must not stop the tick
                log.exception("tick hook failed")
        return {"fired": fired, "requeued": requeued + len(replies) + extra,
                "finished": finished}

    # --- the worker ----------------------------------------------------------------------------

    def run_worker(self, threads: int, tick_seconds: float,
                   stop: threading.Event | None = None) -> None:
        """Run the huey consumer (`threads` worker threads) and a ticker thread (every
        `tick_seconds`, and once at start) until SIGINT/SIGTERM. Blocks; call from the main
        thread (huey installs signal handlers)."""
        stop = stop or threading.Event()

        def ticker() -> None:
            while True:
                try:
                    summary = self.tick()
                    if summary["fired"] or summary["requeued"] or summary["finished"]:
                        log.info("tick: %s", summary)
                except Exception:  # noqa: BLE001 — a failed tick is retried at the next one
                    log.exception("tick failed")
                if stop.wait(tick_seconds):
                    return

        threading.Thread(target=ticker, name="broadcast-tick", daemon=True).start()
        # The dequeue poll backs off to at most 1 s when idle (SQLite; Redis blocks instead).
        # periodic=True: the daily purge (self.purge) is scheduled by the consumer itself.
        consumer = self.huey.create_consumer(workers=threads, worker_type="thread",
                                             periodic=True, initial_delay=0.05, backoff=1.5,
                                             max_delay=1.0)
        try:
            consumer.run()
        finally:
            stop.set()


_QUEUE_LOCK = threading.Lock()


def get_queue(app: Flask) -> BroadcastQueue:
    """The app's BroadcastQueue, built on first use and kept in ``app.extensions`` (once, even
    when web threads ask at the same moment)."""
    queue = app.extensions.get("essbot.broadcast_queue")
    if queue is None:
        with _QUEUE_LOCK:
            queue = app.extensions.get("essbot.broadcast_queue")
            if queue is None:
                queue = app.extensions["essbot.broadcast_queue"] = BroadcastQueue(app)
    return queue
