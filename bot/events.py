"""Events for partners' webhooks, written in the transaction of the change they report.

`emit` adds one ``webhook_delivery`` row per active subscription to the event, through the
caller's connection: the event exists exactly when the change commits (a registration rolled
back sends nothing; a crash after the commit loses nothing), and queue tasks carry delivery ids
only (docs/architecture.md: the database is the source of truth). Delivery, signatures and
retries are in bot/partner_hooks.py.

It sits with the tables (storage layer) so that the conversation path, the tickets and the
broadcast planner can all report events without importing each other or the delivery code.
Payloads hold ids, codes and counts only, never a phone, a name or a message body.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Mapping

import sqlalchemy as sa

from bot.models.api import WEBHOOK_EVENTS, WebhookDelivery, WebhookSubscription

#: The events, by name (bot.models.api.WEBHOOK_EVENTS).
REGISTRATION_CONFIRMED, TICKET_OPENED, ANNOUNCEMENT_FINISHED = WEBHOOK_EVENTS


def emit(conn: sa.Connection, event: str, data: Mapping[str, Any], now: datetime) -> int:
    """Queue `event` (a name of WEBHOOK_EVENTS) with `data` (JSON-serialisable: ids and counts)
    for every active subscription that asked for it, in the open transaction of `conn`, due at
    `now` (aware UTC). Returns the number of deliveries written (0 without subscribers: one
    indexed read). Raises ValueError for an unknown event name."""
    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown event {event!r}")
    s = WebhookSubscription.__table__
    subscribers = [row.id for row in conn.execute(sa.select(s.c.id, s.c.events)
                                                  .where(s.c.active.is_(True)))
                   if event in (row.events or [])]
    if not subscribers:
        return 0
    payload = {"id": str(uuid.uuid4()), "event": event, "occurred_at": now.isoformat(),
               "data": dict(data)}
    conn.execute(sa.insert(WebhookDelivery.__table__), [
        {"subscription_id": sid, "event": event, "payload": payload, "state": "pending",
         "attempts": 0, "next_attempt_at": now, "created_at": now} for sid in subscribers])
    return len(subscribers)
