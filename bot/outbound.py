"""Send stored replies through the SMS gateway, from the queue, with retries and backoff.

Twilio answers an inbound SMS in its webhook response (TwiML). The SMS gateway cannot: its
webhook only wants a quick 2xx (docs/sms-gateway.md: the app waits about 5 s, else it
retries), and replies go out through its REST API. So for a message that came through the gateway
(bot/webhooks_smsgate.py):

1. the webhook stores then processes it (bot.conversations.handle_inbound: the replies are
   stored ``queued`` with ``attributes.provider = "smsgate"``) and queues one task per reply
   (``smsgate_send_message``, bot/broadcasts/tasks.py) carrying the message id only;
2. a worker runs `deliver`: it records the attempt, waits for the phone's pace (the same
   rate-limit key as broadcasts, SMSGATE_RATE_PER_MINUTE: one SIM), and calls
   ``POST {base}/messages`` with our message id as the idempotency id — so a retry after a
   timeout, or two workers racing, never sends the SMS twice;
3. errors are sorted by bot.broadcasts.sender.classify and retried with its `backoff`
   (ESSBOT_SEND_RETRY_BASE doubling up to ESSBOT_SEND_RETRY_MAX, at most
   ESSBOT_SEND_MAX_ATTEMPTS attempts); a refusal (4xx) fails the reply at once with the
   gateway's reason;
4. the worker's tick re-queues replies no task covers (`stale_ids`: the enqueue was lost, a
   worker died), so a stored reply is never forgotten.

Attempts live in the message's ``attributes`` (``attempts``, ``tried_at``, ``retry_at``,
``last_error``, ``error_reason``): no schema change.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa
from flask import Flask

from bot.config import setting
from bot.broadcasts.ratelimit import RateLimited, RateLimiter, acquire
from bot.broadcasts.sender import MAX_PACING_WAIT_S, backoff, classify, gateway_key
from bot.channels import smsgate as sg
from bot.db import get_engine, transaction
from bot.models import Contact, Message, utcnow
from bot.phones import mask

log = logging.getLogger(__name__)

#: Replies older than this are not re-queued by the tick (a reply a day late is worse than
#: none; it stays in the history as queued and shows in the logs).
STALE_HORIZON = timedelta(days=1)


@dataclass(frozen=True)
class Delivery:
    """What `deliver` did: ``outcome`` is ``sent`` (the gateway accepted it), ``retry`` (try
    again in ``delay`` seconds), ``failed`` (refused, or out of attempts), ``done`` (already
    sent or not ours to send) or ``gone`` (no such message)."""

    outcome: str
    delay: float | None = None


def _iso(value: datetime) -> str:
    return value.isoformat()


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _update_attributes(app: Flask, message_id: int, extra: dict[str, Any],
                       **values: Any) -> bool:
    """Merge `extra` into the message's attributes (and set `values`) while it is still
    unsent (no provider sid, status queued); False when it moved on meanwhile."""
    m = Message.__table__
    with transaction(app) as conn:
        row = conn.execute(sa.select(m.c.attributes).where(
            m.c.id == message_id, m.c.provider_sid.is_(None), m.c.status == "queued")
            .with_for_update()).first()
        if row is None:
            return False
        conn.execute(sa.update(m).where(m.c.id == message_id).values(
            attributes={**(row.attributes or {}), **extra}, **values))
        return True


def deliver(app: Flask, message_id: int, client: Callable[[], sg.Client],
            limiter: RateLimiter, now: datetime | None = None,
            sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Send stored outbound SMS `message_id` through the gateway, once (see the module
    docstring); return what happened.

    Takes the app (settings, database), a function returning this thread's gateway client
    (bot.channels.smsgate.Client; it raises ValueError when the gateway is not configured,
    which is retried like an unreachable gateway: the operator can fix it), the rate limiter
    shared with broadcasts, the current aware UTC time and a sleep function (both injectable
    for tests). Never raises for a gateway or network error (recorded on the message);
    database errors propagate (the queue retries the task).
    """
    now = now or utcnow()
    settings = app.config
    m, c = Message.__table__, Contact.__table__
    with get_engine(app).connect() as conn:
        row = conn.execute(sa.select(m.c.id, m.c.direction, m.c.channel, m.c.body, m.c.status,
                                     m.c.provider_sid, m.c.attributes, m.c.segments,
                                     m.c.created_at, c.c.phone)
                           .join(c, c.c.id == m.c.contact_id)
                           .where(m.c.id == message_id)).first()
    if row is None:
        return Delivery("gone")
    if row.direction != "out" or row.channel != "sms" or row.provider_sid is not None \
            or row.status != "queued" or str(row.phone).startswith("deleted:"):
        return Delivery("done")
    attributes = dict(row.attributes or {})
    retry_at = _parse(attributes.get("retry_at"))
    if retry_at is not None and (retry_at - now).total_seconds() > 0.5:
        return Delivery("retry", (retry_at - now).total_seconds())
    key, rate = gateway_key(settings)
    try:
        # Before the attempt is counted: waiting for the phone's pace is not a failed try.
        acquire(limiter, key, row.segments or 1, rate, sleep, MAX_PACING_WAIT_S)
    except RateLimited as paced:
        return Delivery("retry", paced.wait)
    attempt = int(attributes.get("attempts") or 0) + 1
    max_attempts = int(setting(settings, "ESSBOT_SEND_MAX_ATTEMPTS"))
    idempotency_id = sg.gateway_id(message_id, row.created_at)
    # Recorded before the request (docs/architecture.md: stored before sent): a crash leaves a
    # trace.
    attempt_info = {"provider": "smsgate", "attempts": attempt, "tried_at": _iso(now),
                    "retry_at": None, "gateway_id": idempotency_id}
    if not _update_attributes(app, message_id, attempt_info):
        return Delivery("done")
    where = f"reply {message_id} (sms to {mask(row.phone)} through the gateway)"
    try:
        gateway = client()
        state = gateway.send(row.phone, row.body, idempotency_id)
    except Exception as exc:  # noqa: BLE001 — every error is sorted and recorded
        kind, _code = classify(exc)
        if isinstance(exc, ValueError) and not isinstance(exc, sg.GatewayError):
            kind = "not_sent"  # not configured: nothing was sent; retry, the operator can fix it
            # The message names the missing setting (no personal data): say it.
            where = f"{where}: {str(exc)[:160]}"
        reason = exc.reason if isinstance(exc, sg.GatewayError) else type(exc).__name__
        if kind in ("throttled", "not_sent", "unknown") and attempt < max_attempts:
            delay = backoff(attempt, float(setting(settings, "ESSBOT_SEND_RETRY_BASE")),
                            float(setting(settings, "ESSBOT_SEND_RETRY_MAX")))
            _update_attributes(app, message_id, {
                "retry_at": _iso(utcnow() + timedelta(seconds=delay)), "last_error": reason})
            log.warning("%s: %s (%s); retry in %.1f s", where, type(exc).__name__, kind, delay)
            return Delivery("retry", delay)
        _update_attributes(app, message_id, {"error_reason": reason, "last_error": reason},
                           status="failed", status_at=utcnow())
        log.warning("%s failed after %d attempt(s): %s (%s)", where, attempt,
                    type(exc).__name__, kind)
        return Delivery("failed")
    with transaction(app) as conn:
        # Guarded: a status webhook that arrived first already recorded the id and a status.
        values: dict[str, Any] = {"provider_sid": state.id, "status": state.status,
                                  "status_at": utcnow()}
        if state.error:  # the phone already failed it (state Failed, with the recipient's error)
            values["attributes"] = {**attributes, **attempt_info, "error_reason": state.error}
        conn.execute(sa.update(m).where(m.c.id == message_id, m.c.provider_sid.is_(None))
                     .values(**values))
    log.info("%s accepted by the gateway (%s)", where, state.state)
    return Delivery("sent")


def stale_ids(app: Flask, now: datetime, lease: float) -> list[int]:
    """Ids of gateway replies that no task seems to cover at `now` (aware UTC): outbound SMS
    with ``attributes.provider = "smsgate"``, still queued with no provider id, created within
    STALE_HORIZON and more than `lease` seconds ago, never tried or last tried (or due for a
    retry) more than `lease` seconds ago. The tick queues them again; `deliver` is idempotent.
    """
    m = Message.__table__
    before = now - timedelta(seconds=lease)
    with get_engine(app).connect() as conn:
        rows = conn.execute(sa.select(m.c.id, m.c.attributes).where(
            m.c.direction == "out", m.c.channel == "sms", m.c.provider_sid.is_(None),
            m.c.status == "queued", m.c.broadcast_id.is_(None),
            m.c.attributes["provider"].as_string() == "smsgate",
            m.c.created_at > now - STALE_HORIZON, m.c.created_at < before)).all()
    ids = []
    for row in rows:
        attributes = row.attributes or {}
        tried = _parse(attributes.get("tried_at"))
        retry = _parse(attributes.get("retry_at"))
        if (tried is None or tried < before) and (retry is None or retry < before):
            ids.append(row.id)
    return ids


def unsent_replies(app: Flask, reply_ids: list[int]) -> list[int]:
    """Those of `reply_ids` not yet accepted by the gateway (queued, no provider id): what a
    webhook queues, also for a retried delivery whose first enqueue may have been lost."""
    if not reply_ids:
        return []
    m = Message.__table__
    with get_engine(app).connect() as conn:
        return list(conn.execute(sa.select(m.c.id).where(
            m.c.id.in_(reply_ids), m.c.provider_sid.is_(None), m.c.status == "queued")
            .order_by(m.c.id)).scalars())
