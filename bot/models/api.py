"""Tables of the partner API and its outbound webhooks (issue 21).

`ApiToken` is one partner's key to ``/api/v1/`` (created by an admin on the staff pages or with
``essbot api-token create``): only a SHA-256 digest of the token is stored, so a copy of the
database does not give access; the token itself is shown once. `scope` is ``read`` or ``write``
(write includes read); `personal_data` says whether the token may read names and (masked)
phones of the registry, as a staff page shows them.

`WebhookSubscription` is one partner's receiver (an https URL and the shared secret that signs
each call), `WebhookDelivery` one event to deliver to one subscription (written in the same
transaction as the change it reports: an event exists exactly when its change was committed),
and `WebhookAttempt` every HTTP attempt made for a delivery, failed or not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from bot.models.base import Base, utcnow

#: Scopes of a token, least to most: "write" may also read.
API_SCOPES = ("read", "write")

#: Events a subscription may receive (docs/api.md, "Webhooks").
WEBHOOK_EVENTS = ("registration.confirmed", "ticket.opened", "announcement.finished")


class ApiToken(Base):
    """One API token: `name` (who it is for), `token_hash` (hex SHA-256 of the token),
    `prefix` (its first characters, to recognise it in lists), `scope` (:data:`API_SCOPES`),
    `personal_data` (may read names and masked phones), `created_by` (staff e-mail or "cli"),
    `created_at`, `last_used_at`, `revoked_at` (a revoked token is refused)."""

    __tablename__ = "api_token"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    prefix: so.Mapped[str] = so.mapped_column(sa.String(12))
    scope: so.Mapped[str] = so.mapped_column(sa.String(8), default="read")
    personal_data: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    created_by: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    last_used_at: so.Mapped[datetime | None]
    revoked_at: so.Mapped[datetime | None]

    def __repr__(self) -> str:  # never the token or its hash
        return f"<ApiToken {self.id} {self.scope}>"


class WebhookSubscription(Base):
    """One receiver: `url`, `secret` (the HMAC key, kept in clear: it must sign), `events`
    (names from :data:`WEBHOOK_EVENTS`), `active`, `created_at`."""

    __tablename__ = "webhook_subscription"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    url: so.Mapped[str] = so.mapped_column(sa.String(500))
    secret: so.Mapped[str] = so.mapped_column(sa.String(200))
    events: so.Mapped[list[Any]] = so.mapped_column(default=list)
    active: so.Mapped[bool] = so.mapped_column(default=True, server_default=sa.true())
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    def __repr__(self) -> str:  # no secret
        return f"<WebhookSubscription {self.id}>"


class WebhookDelivery(Base):
    """One event for one subscription: `event`, `payload` (the JSON body sent, ids and counts
    only), `state` (``pending`` → ``delivered`` or ``failed`` after the last attempt),
    `attempts` made, `next_attempt_at` (when it is due; also the lease of the attempt in
    progress), `last_status` (HTTP status of the last answer), `last_error`, `created_at`,
    `delivered_at`."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (sa.Index("ix_webhook_delivery_due", "state", "next_attempt_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    subscription_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("webhook_subscription.id", ondelete="CASCADE"), index=True)
    event: so.Mapped[str] = so.mapped_column(sa.String(40))
    payload: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    state: so.Mapped[str] = so.mapped_column(sa.String(12), default="pending")
    attempts: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    next_attempt_at: so.Mapped[datetime | None]
    last_status: so.Mapped[int | None]
    last_error: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    delivered_at: so.Mapped[datetime | None]


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: its `number` (1, 2…), `at`, the answer's `status_code`
    (None when no answer came), `error` (a short reason: ``timeout``, ``connection``,
    ``http 500``) and `duration_ms`."""

    __tablename__ = "webhook_attempt"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    delivery_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True)
    number: so.Mapped[int]
    at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    status_code: so.Mapped[int | None]
    error: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    duration_ms: so.Mapped[int | None]
