"""Outbound webhooks for partners (issue 21): subscriptions, signed delivery, retries.

Events are written by :func:`bot.events.emit` in the transaction of their change, one
``webhook_delivery`` row per subscription. This module delivers them:

- **Signature**: each POST carries ``X-Essbot-Signature: t=<unix seconds>,v1=<hex>`` where the
  hex is HMAC-SHA256 (RFC 2104) keyed with the subscription's secret over
  ``"<t>.<raw body>"`` — the scheme Stripe documents for its webhooks, so the timestamp is
  signed too and a receiver can refuse old replays. :func:`verify` is the receiver's check
  (docs/api.md shows it in a few lines of Python).
- **Retries**: an answer other than 2xx, a timeout or a connection error is retried after
  ``ESSBOT_WEBHOOK_RETRY_BASE`` seconds, doubling up to ``ESSBOT_WEBHOOK_RETRY_MAX`` (the
  broadcast sender's backoff with jitter, bot.broadcasts.sender.backoff), at most
  ``ESSBOT_WEBHOOK_MAX_ATTEMPTS`` attempts; then the delivery is ``failed``. Every attempt is a
  ``webhook_attempt`` row (status, short reason, duration).
- **Queue**: deliveries run as the huey task ``webhook_deliver(ids)`` on the broadcast queue
  (registered by :func:`init_app` through the queue's extension seam); a retry is the same
  task scheduled with its delay. The worker's tick queues deliveries that are due and that no
  task covers (new events, a task lost with a worker), so the first attempt follows an event
  within ``ESSBOT_BROADCAST_TICK`` seconds.
- **Once per attempt**: a worker claims a delivery with a guarded UPDATE (due, pending) that
  also moves ``next_attempt_at`` forward by a lease; two workers never post the same attempt.
  Receivers still see an event twice if their 2xx answer is lost: the ``id`` of the payload
  (and ``X-Essbot-Delivery``) lets them drop the copy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any, Iterable
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import Flask

from bot.broadcasts.sender import backoff
from bot.db import get_engine, transaction
from bot.models import utcnow
from bot.models.api import WEBHOOK_EVENTS, WebhookAttempt, WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

#: Header names of a delivery.
SIGNATURE_HEADER = "X-Essbot-Signature"
EVENT_HEADER = "X-Essbot-Event"
DELIVERY_HEADER = "X-Essbot-Delivery"
#: Seconds a receiver should accept between the signed time and its clock (docs/api.md).
TOLERANCE = 300
#: Most due deliveries the tick queues at once (the next tick takes the rest).
DUE_BATCH = 500


class SubscriptionError(ValueError):
    """A subscription that cannot be stored; the message (French, for the CLI and staff
    pages) says why."""


# --- signatures ---------------------------------------------------------------------------

def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Essbot-Signature`` value for `body` (the raw bytes posted) signed at
    `timestamp` (unix seconds) with `secret`: ``"t=<timestamp>,v1=<hex HMAC-SHA256>"``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float | None = None,
           tolerance: int = TOLERANCE) -> bool:
    """Whether `header` (an ``X-Essbot-Signature`` value) signs `body` with `secret` and was
    made within `tolerance` seconds of `now` (unix seconds, default the clock); compared in
    constant time. Never raises on a malformed header (False)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --- subscriptions ------------------------------------------------------------------------

def add_subscription(app: Flask, url: str, secret: str, events: Iterable[str]) -> int:
    """Store a subscription of `url` (http or https, https outside tests) to `events` (names
    of WEBHOOK_EVENTS; empty: all of them), signed with `secret` (at least 16 characters);
    return its id. Raises SubscriptionError (French) on a bad URL, secret or event."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise SubscriptionError(f"adresse invalide « {url} » : https://… attendu")
    if not secret or len(secret) < 16 or len(secret) > 200:
        raise SubscriptionError("le secret doit avoir de 16 à 200 caractères")
    chosen = list(dict.fromkeys(e.strip() for e in events if e.strip())) or list(WEBHOOK_EVENTS)
    unknown = [e for e in chosen if e not in WEBHOOK_EVENTS]
    if unknown:
        raise SubscriptionError(f"événement inconnu « {unknown[0]} » ; événements : "
                                f"{', '.join(WEBHOOK_EVENTS)}")
    with transaction(app) as conn:
        return conn.execute(sa.insert(WebhookSubscription.__table__).values(
            url=url, secret=secret, events=chosen, active=True, created_at=utcnow())
            .returning(WebhookSubscription.__table__.c.id)).scalar_one()


def remove_subscription(app: Flask, subscription_id: int) -> bool:
    """Deactivate subscription `subscription_id` (its deliveries and attempts are kept, and
    pending ones end as ``failed``); returns whether it existed and was active."""
    s, d = WebhookSubscription.__table__, WebhookDelivery.__table__
    with transaction(app) as conn:
        done = conn.execute(sa.update(s).where(s.c.id == subscription_id, s.c.active.is_(True))
                            .values(active=False)).rowcount
        conn.execute(sa.update(d).where(d.c.subscription_id == subscription_id,
                                        d.c.state == "pending")
                     .values(state="failed", last_error="subscription removed"))
    return bool(done)


def list_subscriptions(app: Flask) -> list[dict[str, Any]]:
    """Every subscription as ``{"id", "url", "events", "active", "created_at", "pending",
    "delivered", "failed"}`` (no secret), oldest first."""
    s, d = WebhookSubscription.__table__, WebhookDelivery.__table__
    with get_engine(app).connect() as conn:
        counts: dict[int, dict[str, int]] = {}
        for sid, state, n in conn.execute(sa.select(d.c.subscription_id, d.c.state,
                                                    sa.func.count())
                                          .group_by(d.c.subscription_id, d.c.state)):
            counts.setdefault(sid, {})[state] = n
        rows = conn.execute(sa.select(s.c.id, s.c.url, s.c.events, s.c.active, s.c.created_at)
                            .order_by(s.c.id)).all()
    return [{"id": r.id, "url": r.url, "events": list(r.events or []), "active": r.active,
             "created_at": r.created_at,
             **{k: counts.get(r.id, {}).get(k, 0) for k in ("pending", "delivered", "failed")}}
            for r in rows]


# --- delivery -----------------------------------------------------------------------------

def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection"
    return type(exc).__name__[:60]


def deliver(app: Flask, delivery_id: int, now: datetime | None = None) -> float | None:
    """Make the next attempt of delivery `delivery_id` if it is pending and due at `now`
    (aware UTC, default the clock). Returns the seconds before the next attempt when this one
    failed and attempts remain, else None (delivered, failed for good, not due, or claimed by
    another worker). The attempt is recorded either way; network errors never propagate."""
    now = now or utcnow()
    settings = app.config
    timeout = float(settings["ESSBOT_WEBHOOK_TIMEOUT"])
    d, s = WebhookDelivery.__table__, WebhookSubscription.__table__
    with transaction(app) as conn:
        # The claim: due and pending, and moved past a lease so no other worker takes it.
        claimed = conn.execute(sa.update(d).where(
            d.c.id == delivery_id, d.c.state == "pending", d.c.next_attempt_at <= now)
            .values(attempts=d.c.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=2 * timeout + 30))).rowcount
        if not claimed:
            return None
        row = conn.execute(sa.select(d.c.attempts, d.c.event, d.c.payload, s.c.url, s.c.secret,
                                     s.c.active).join(s, s.c.id == d.c.subscription_id)
                           .where(d.c.id == delivery_id)).one()
    attempt = int(row.attempts)
    status: int | None = None
    error: str | None = None
    started = time.monotonic()
    if not row.active:
        error = "subscription removed"
    else:
        body = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=True).encode()
        headers = {"Content-Type": "application/json", EVENT_HEADER: row.event,
                   DELIVERY_HEADER: str(row.payload.get("id", delivery_id)),
                   SIGNATURE_HEADER: signature(row.secret, int(time.time()), body),
                   "User-Agent": "essbot-webhooks/1"}
        try:
            response = requests.post(row.url, data=body, headers=headers, timeout=timeout,
                                     allow_redirects=False)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"http {status}"
        except requests.RequestException as exc:
            error = _reason(exc)
    duration = int((time.monotonic() - started) * 1000)
    done_at = utcnow()
    delay: float | None = None
    values: dict[str, Any] = {"last_status": status, "last_error": error}
    if error is None:
        values.update(state="delivered", delivered_at=done_at, next_attempt_at=None)
    elif not row.active or attempt >= int(settings["ESSBOT_WEBHOOK_MAX_ATTEMPTS"]):
        values.update(state="failed", next_attempt_at=None)
    else:
        delay = backoff(attempt, float(settings["ESSBOT_WEBHOOK_RETRY_BASE"]),
                        float(settings["ESSBOT_WEBHOOK_RETRY_MAX"]))
        values["next_attempt_at"] = done_at + timedelta(seconds=delay)
    with transaction(app) as conn:
        conn.execute(sa.insert(WebhookAttempt.__table__).values(
            delivery_id=delivery_id, number=attempt, at=done_at, status_code=status,
            error=error, duration_ms=duration))
        conn.execute(sa.update(d).where(d.c.id == delivery_id).values(**values))
    log.info("webhook delivery %s attempt %d: %s", delivery_id, attempt, error or "delivered")
    return delay


def due_ids(app: Flask, now: datetime | None = None, limit: int = DUE_BATCH) -> list[int]:
    """Ids of pending deliveries due at `now` (aware UTC), oldest first, at most `limit`."""
    now = now or utcnow()
    d = WebhookDelivery.__table__
    with get_engine(app).connect() as conn:
        return list(conn.execute(sa.select(d.c.id).where(
            d.c.state == "pending", d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at, d.c.id).limit(limit)).scalars())


# --- the queue ----------------------------------------------------------------------------

class _HookTasks:
    """The webhook tasks bound to one broadcast queue (see :func:`init_app`)."""

    def __init__(self, queue: Any):
        self.queue = queue
        self.deliver = queue.huey.task(name="webhook_deliver")(self._deliver)

    def _deliver(self, ids: list[int]) -> None:
        """Task: one attempt per delivery id; a failed one is scheduled again after its
        backoff (huey's ``schedule`` with a delay)."""
        for delivery_id in ids:
            delay = deliver(self.queue.app, delivery_id, self.queue.clock())
            if delay is not None:
                self.deliver.schedule(args=([delivery_id],), delay=delay)

    def tick(self, now: datetime) -> int:
        """Queue every due delivery (one task each); return how many were queued."""
        ids = due_ids(self.queue.app, now)
        for delivery_id in ids:
            self.deliver([delivery_id])
        return len(ids)


def init_app(app: Flask) -> None:
    """Register the webhook tasks on the app's broadcast queue whenever it is built (web
    process and `essbot worker` alike, so the consumer knows the task), and their due check in
    the queue's tick."""
    def setup(queue: Any) -> None:
        tasks = _HookTasks(queue)
        queue.extensions["webhooks"] = tasks
        queue.tick_hooks.append(tasks.tick)

    app.extensions.setdefault("essbot.queue_extensions", []).append(setup)
