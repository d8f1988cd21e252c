"""Send one outbox row through Twilio (or, for SMS with ESSBOT_SMS_PROVIDER=smsgate, through
the Android SMS gateway), exactly once, and follow what becomes of it.

The send of one row (`Sender.process`), each step its own short transaction:

1. **Check** the row: still ``pending``, broadcast still ``sending``, contact not opted out
   since the plan (then ``skipped``), WhatsApp window still open for free text (else the
   fallback below, before any request).
2. **Wait** for the sender's rate (bot/broadcasts/ratelimit.py, parts per second).
3. **Claim**: ``pending → sending`` with a guarded UPDATE (one winner among racing workers),
   ``attempts + 1``, ``claimed_at`` = now, and the contact's `Message` row created (history;
   its id goes in the status callback URL as ``?mid=``). Committed BEFORE the request: if the
   worker dies during the request, the row says "maybe sent".
4. **Request** (bot.channels.twilio.send, or a template send), then record the outcome:
   a MessageSid → ``sent``; an error → by kind (docs/twilio.md "Errors worth handling"):

   ============================  ===============================================================
   429 / 20429 / 63018           never processed: retried in place with exponential backoff
                                 (0.05 s doubling, 6 times), then handed back as ``pending``
                                 with a delay; not counted as an attempt
   connection refused            nothing reached Twilio: ``pending`` with backoff
   timeout, 5xx, anything else   outcome UNKNOWN: ``unknown`` with backoff; reconciled first
   63016 (WhatsApp window)       fallback: approved template, else SMS, else ``skipped``
   21610 (STOP)                  ``failed``; the contact is marked opted out
   21211 / 21614                 ``failed``; the number is recorded as undeliverable
   other 4xx                     ``failed`` (permanent; no retry)
   ============================  ===============================================================

**Reconciliation** (`Sender.reconcile`). Twilio's Messages API takes no idempotency key, so a
row whose outcome is unknown — ``unknown``, or ``sending`` whose claim is older than
ESSBOT_BROADCAST_LEASE seconds (its worker died or hung) — is never simply resent. First the
API is asked: ``GET Messages?To=<address>`` (most recent first, ``RECONCILE_LIMIT`` of them,
no date filter: a message still queued at Twilio has no DateSent yet). A match is an outbound
message created after the claim (minus ``RECONCILE_SKEW_S`` of clock skew), whose body ends
with ours (a trial account prefixes its own text; templates are matched by time alone), and
whose sid none of our rows already owns. Found → ``sent`` with that sid and status. Not found
→ ``pending`` and sent again (the lease is at least twice the HTTP timeout, so the original
request has ended by then). Lookup failed → stay ``unknown``, ask again later. Status
callbacks reconcile too: a callback carrying our ``mid`` proves Twilio has the message, and
`on_message_status` marks the row ``sent`` whatever it was doing.

**Through the SMS gateway** (bot/channels/smsgate.py, docs/sms-gateway.md) the same steps apply,
with three differences: the pace is the phone's (SMSGATE_RATE_PER_MINUTE parts a minute,
`gateway_key`); the request carries the history message's id as the gateway's idempotency
``id``, so a resend never sends twice; reconciliation asks ``GET /messages/{id}`` (404: absent).
Gateway errors sort by HTTP status (`classify`); its ``sms:*`` events are status callbacks
(bot/webhooks_smsgate.py → bot.conversations.update_status → `on_message_status`).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

import sqlalchemy as sa
from flask import Flask

from bot.config import setting
from bot.broadcasts import planner, reach
from bot.broadcasts.models import (Broadcast, BroadcastState, InvalidTransition, Outbox,
                                   OutboxState, UndeliverableAddress)
from bot.broadcasts.ratelimit import RateLimited, RateLimiter, acquire
from bot.channels import smsgate as sg
from bot.channels.base import merge_status
from bot.channels import twilio as tw
from bot.db import get_engine, transaction
from bot.models import Contact, Message, utcnow
from bot.phones import mask

log = logging.getLogger(__name__)

#: Error codes (docs/twilio.md "Outbound"): never processed, retry with backoff.
THROTTLE_CODES = frozenset({20429, 63018})
#: The recipient replied STOP: mark the contact opted out, never retry.
OPTED_OUT_CODES = frozenset({21610})
#: Invalid or non-mobile number: record it, never retry.
INVALID_CODES = frozenset({21211, 21614})
#: WhatsApp free-form outside the 24-hour window.
WINDOW_CODES = frozenset({63016})

#: Messages read per reconciliation lookup (one page, most recent first).
RECONCILE_LIMIT = 50
#: Seconds of clock difference tolerated between us and Twilio when matching by time.
RECONCILE_SKEW_S = 120
#: In-place retries after a 429 before the row is handed back to the queue.
INLINE_THROTTLE_RETRIES = 6
#: First in-place wait after a 429, in seconds (doubles each time, with jitter).
INLINE_THROTTLE_BASE_S = 0.05
#: Environment variables requests reads on every request (proxies, CA bundles, netrc).
_REQUESTS_ENV = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy",
                           "requests_ca_bundle", "curl_ca_bundle", "netrc"})


class _LostRace(Exception):
    """The row changed under us (another worker, a callback, a cancel): internal, rolls the
    transaction back."""


@dataclass(frozen=True)
class Result:
    """What `Sender.process` did with a row: ``outcome`` is ``sent``, ``failed``, ``skipped``,
    ``retry`` (come back in ``delay`` seconds), ``busy`` (another worker holds it; its lease
    ends in ``delay`` seconds), ``done`` (nothing to do: final, or broadcast not sending) or
    ``gone`` (no such row)."""

    outcome: str
    delay: float | None = None


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (1 → `base`, doubling, at most `cap`),
    with jitter in [50 %, 100 %] so that workers hit by the same outage do not retry together."""
    return min(cap, base * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.0)


def classify(exc: BaseException) -> tuple[str, int | None]:
    """Sort a send error into (kind, Twilio error code or None).

    Kinds: ``throttled`` (HTTP 429, 20429, 63018: never processed), ``not_sent`` (the
    connection could not be opened), ``window`` (63016), ``opted_out`` (21610), ``invalid``
    (21211, 21614), ``unknown`` (timeouts, 5xx, a dropped connection, anything unexpected: the
    message may exist), ``config`` (no sender configured: ValueError), ``permanent`` (other
    API errors). Source: docs/twilio.md "Outbound". SMS gateway errors (bot.channels.smsgate.
    GatewayError) sort the same way by HTTP status: 429 ``throttled``, 5xx ``unknown``, other
    4xx ``permanent`` (with no error code: the gateway has none).
    """
    import requests

    if isinstance(exc, sg.GatewayError):
        if exc.status == 429:
            return "throttled", None
        if exc.status >= 500:
            return "unknown", None
        return "permanent", None
    if isinstance(exc, tw.TwilioRestException):
        code, status = exc.code, exc.status or 0
        if status == 429 or code in THROTTLE_CODES:
            return "throttled", code or 20429
        if code in WINDOW_CODES:
            return "window", code
        if code in OPTED_OUT_CODES:
            return "opted_out", code
        if code in INVALID_CODES:
            return "invalid", code
        if status >= 500:
            return "unknown", code
        return "permanent", code
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "not_sent", None
    if isinstance(exc, requests.exceptions.ConnectionError) and "NewConnectionError" in repr(exc):
        return "not_sent", None
    if isinstance(exc, ValueError) and not isinstance(exc, requests.exceptions.RequestException):
        return "config", None
    return "unknown", None


def send_template(client: Any, settings: Mapping[str, Any], phone: str, content_sid: str,
                  variables_json: str, status_callback: str | None = None) -> str:
    """Send an approved WhatsApp template (``content_sid`` HX…, ``content_variables`` JSON, no
    body — docs/twilio.md "WhatsApp": template text in a body fails with 63016) from
    TWILIO_WHATSAPP_FROM to E.164 `phone`; return the MessageSid.

    Raises ValueError when TWILIO_WHATSAPP_FROM is unset and TwilioRestException on an API
    error. (Belongs with `bot.channels.twilio.send`; kept here until that module takes it.)
    """
    if not settings.get("TWILIO_WHATSAPP_FROM"):
        raise ValueError("TWILIO_WHATSAPP_FROM is not set")
    kwargs: dict[str, Any] = {"to": tw.address_for("whatsapp", phone),
                              "from_": settings["TWILIO_WHATSAPP_FROM"],
                              "content_sid": content_sid, "content_variables": variables_json}
    if status_callback:
        kwargs["status_callback"] = status_callback
    return client.messages.create(**kwargs).sid


def sender_key(settings: Mapping[str, Any], channel: str) -> tuple[str, float]:
    """The rate-limit key of the sender used on `channel` and its rate: SMS parts/s
    (ESSBOT_SEND_RATE_PARTS) per messaging service or number, WhatsApp messages/s
    (ESSBOT_SEND_RATE_WHATSAPP) per WhatsApp number; through the SMS gateway
    (ESSBOT_SMS_PROVIDER=smsgate) SMSGATE_RATE_PER_MINUTE / 60 parts/s for the phone (one SIM
    sends a limited number of SMS per hour, docs/sms-gateway.md), shared with conversation replies
    (bot/outbound.py)."""
    if sg.carries(settings, channel):
        return gateway_key(settings)
    if channel == "whatsapp":
        return (f"whatsapp:{settings.get('TWILIO_WHATSAPP_FROM')}",
                float(settings.get("ESSBOT_SEND_RATE_WHATSAPP") or 0))
    sender = settings.get("TWILIO_MESSAGING_SERVICE_SID") or settings.get("TWILIO_SMS_FROM")
    return f"sms:{sender}", float(settings.get("ESSBOT_SEND_RATE_PARTS") or 0)


def gateway_key(settings: Mapping[str, Any]) -> tuple[str, float]:
    """The rate-limit key of the SMS gateway's phone and its rate in parts per second
    (SMSGATE_RATE_PER_MINUTE / 60; 0 means no pacing): one SIM for broadcasts and replies."""
    return (f"smsgate:{settings.get('SMSGATE_URL')}",
            float(settings.get("SMSGATE_RATE_PER_MINUTE") or 0) / 60.0)


#: Longest a worker thread sleeps for a sender's rate (seconds): a later slot gives the thread
#: back and the row comes back then (bot.broadcasts.ratelimit.RateLimited).
MAX_PACING_WAIT_S = 2.0
#: Worker threads of one process that may be in a call to the SMS gateway at once.
GATEWAY_THREADS = 2


def lease_seconds(settings: Mapping[str, Any]) -> float:
    """ESSBOT_BROADCAST_LEASE, checked to be at least twice TWILIO_HTTP_TIMEOUT (and
    SMSGATE_HTTP_TIMEOUT when the gateway carries SMS): a live worker's request must have ended
    before anyone reconciles its row. Raises ValueError."""
    lease = float(setting(settings, "ESSBOT_BROADCAST_LEASE"))
    timeouts = [("TWILIO_HTTP_TIMEOUT", float(setting(settings, "TWILIO_HTTP_TIMEOUT")))]
    if sg.provider_enabled(settings):
        timeouts.append(("SMSGATE_HTTP_TIMEOUT",
                         float(setting(settings, "SMSGATE_HTTP_TIMEOUT"))))
    for name, timeout in timeouts:
        if lease < 2 * timeout:
            raise ValueError(f"ESSBOT_BROADCAST_LEASE ({lease:g} s) must be at least twice "
                             f"{name} ({timeout:g} s)")
    return lease


#: Whether a message on a channel goes through the SMS gateway (bot.channels.smsgate.carries).
via_gateway = sg.carries


def _window_open(last_inbound_whatsapp_at: datetime | None, now: datetime) -> bool:
    # The rule lives on Contact (24-hour customer service window).
    return Contact.window_open(last_inbound_whatsapp_at, now)


def fallback_values(conn: sa.Connection, settings: Mapping[str, Any], texts: planner.Texts,
                    contact_id: int, language: str, policy: str, reason: str,
                    now: datetime) -> dict[str, Any]:
    """Column values that turn a WhatsApp free-text row into its fallback (issue 7 §4):
    the approved template of its language, else SMS when the contact has an SMS number, else
    ``skipped`` as ``whatsapp_window_closed``. The row forgets its previous message and sid
    (``fallback_from`` keeps "whatsapp:<reason>") and starts again with 0 attempts."""
    facts = reach.contact_facts(conn, contact_id, now, str(setting(settings, "ESSBOT_COUNTRY")))
    decision = reach.fallback(facts, policy, language in planner.templates(settings))
    channel, kind = decision.channel, decision.reason if not decision.ok else decision.kind
    values: dict[str, Any] = {
        "fallback_from": f"whatsapp:{reason}"[:32], "message_id": None, "provider_sid": None,
        "status": None, "error_code": None, "claimed_at": None, "attempts": 0,
        "next_attempt_at": now, "status_at": None, "sent_at": None}
    if channel is None:
        values.update(state=OutboxState.SKIPPED, skip_reason=kind)
        return values
    rendered = planner.render(texts, language, channel, kind, settings)
    values.update(state=OutboxState.PENDING, channel=rendered.channel, kind=rendered.kind,
                  body=rendered.body, parts=rendered.parts, encoding=rendered.encoding,
                  content_sid=rendered.content_sid)
    return values


def _mark_undeliverable(conn: sa.Connection, contact_id: int, channel: str, code: int,
                        now: datetime) -> None:
    u = UndeliverableAddress.__table__
    updated = conn.execute(sa.update(u).where(u.c.contact_id == contact_id, u.c.channel == channel)
                           .values(error_code=code, created_at=now)).rowcount
    if not updated:
        conn.execute(sa.insert(u).values(contact_id=contact_id, channel=channel, error_code=code,
                                         created_at=now))


def _mark_opted_out(conn: sa.Connection, contact_id: int, now: datetime) -> None:
    c = Contact.__table__
    conn.execute(sa.update(c).where(c.c.id == contact_id, c.c.opted_out.is_(False))
                 .values(opted_out=True, opted_out_at=now, updated_at=now))


class Sender:
    """Sends outbox rows of one app (its settings and database) through Twilio or the SMS
    gateway (`via_gateway`).

    `limiter` paces sends per sender (parts/s); `clock` returns the current aware UTC time and
    `sleep` waits (both injectable for tests). Thread-safe: each thread gets its own Twilio
    REST client and gateway client (requests sessions are not shared between threads).
    """

    def __init__(self, app: Flask, limiter: RateLimiter,
                 clock: Callable[[], datetime] = utcnow,
                 sleep: Callable[[float], None] = time.sleep):
        self.app = app
        self.settings = app.config
        self.limiter = limiter
        self.clock = clock
        self.sleep = sleep
        self.lease = lease_seconds(self.settings)
        self._local = threading.local()
        # The SMS gateway is one phone, slow and paced: at most GATEWAY_THREADS worker threads
        # of this process wait on it, so Twilio's sends always find a free thread.
        self.gateway_slots = threading.BoundedSemaphore(GATEWAY_THREADS)
        # twilio-python logs query strings at INFO, and a lookup's query holds the phone number.
        twilio_log = logging.getLogger("twilio.http_client")
        if twilio_log.getEffectiveLevel() < logging.WARNING:
            twilio_log.setLevel(logging.WARNING)
        # The hot path's statements, built once: building Core statements per message costs
        # more CPU than running them (the same finding as bot/conversations.py).
        o, c, b, m = Outbox.__table__, Contact.__table__, Broadcast.__table__, Message.__table__
        p = sa.bindparam
        self._load_from = (sa.select(o, c.c.phone, c.c.opted_out.label("contact_opted_out"),
                                     c.c.announcements.label("contact_consent"),
                                     c.c.last_inbound_whatsapp_at,
                                     b.c.state.label("broadcast_state"), b.c.title, b.c.text_fr,
                                     b.c.text_bm, b.c.channel_policy)
                           .join(c, c.c.id == o.c.contact_id)
                           .join(b, b.c.id == o.c.broadcast_id))
        self._load = self._load_from.where(o.c.id == p("oid"))
        self._load_many = self._load_from.where(o.c.id.in_(p("oids", expanding=True)))
        # The claim re-checks the opt-out and the consent: the row may have been read long
        # before (a task's batch, a wait for the rate), and someone who just wrote STOP, or
        # whose consent an agent just withdrew, must get nothing (reach.person_reason_for
        # then says why, when the row is read again).
        blocked = sa.select(c.c.id).where(c.c.id == o.c.contact_id,
                                          sa.or_(c.c.opted_out.is_(True),
                                                 c.c.announcements.is_not(True)))
        self._claim_row = (sa.update(o).where(o.c.id == p("oid"), o.c.state == OutboxState.PENDING,
                                              o.c.attempts == p("expected"),
                                              ~blocked.exists())
                           .values(state=OutboxState.SENDING, claimed_at=p("now"),
                                   attempts=o.c.attempts + 1, message_id=p("mid")))
        self._insert_message = sa.insert(m).values(
            contact_id=p("contact_id"), direction="out", channel=p("channel"), body=p("body"),
            media=[], attributes=p("attributes"), status="queued", segments=p("segments"),
            encoding=p("encoding"), broadcast_id=p("broadcast_id"), created_at=p("now"),
        ).returning(m.c.id)
        self._mark_sent = (sa.update(o).where(
            o.c.id == p("oid"), o.c.attempts == p("attempt"),
            o.c.state.in_([OutboxState.SENDING, OutboxState.UNKNOWN, OutboxState.PENDING]))
            .values(state=OutboxState.SENT, provider_sid=p("sid"), sent_at=p("now"),
                    error_code=None, status=sa.func.coalesce(o.c.status, p("status"))))
        self._message_sid = (sa.update(m).where(m.c.id == p("mid"), m.c.provider_sid.is_(None))
                             .values(provider_sid=p("sid")))

    def client(self) -> Any:
        """This thread's Twilio REST client (bot.channels.twilio.make_client)."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = tw.make_client(self.settings)
            session = getattr(client.http_client, "session", None)
            if session is not None and not any(
                    name.lower() in _REQUESTS_ENV for name in os.environ):
                # requests re-reads proxy and CA-bundle variables from the environment on every
                # request (about 0.5 ms); with none of them set that work finds nothing.
                session.trust_env = False
        return client

    def gateway(self) -> sg.Client:
        """This thread's SMS gateway client (bot.channels.smsgate.Client.from_settings)."""
        client = getattr(self._local, "gateway", None)
        if client is None:
            client = self._local.gateway = sg.Client.from_settings(self.settings)
        return client

    # --- the row ------------------------------------------------------------------------------

    def _row(self, outbox_id: int) -> Any:
        with get_engine(self.app).connect() as conn:
            return conn.execute(self._load, {"oid": outbox_id}).first()

    def load(self, outbox_ids: list[int]) -> dict[int, Any]:
        """Rows of several outbox ids in one query (a task's batch), by id: `process` can start
        from them instead of reading each row (a stale row only loses its claim race)."""
        with get_engine(self.app).connect() as conn:
            return {row.id: row for row in conn.execute(self._load_many, {"oids": outbox_ids})}

    def _update(self, row: Any, expect_state: str | None = None,
                expect_attempts: int | None = None, **values: Any) -> bool:
        """Guarded update of the row: only if it is still in the state (and attempt) we read."""
        o = Outbox.__table__
        cond = [o.c.id == row.id, o.c.state == (expect_state or row.state)]
        if expect_attempts is not None:
            cond.append(o.c.attempts == expect_attempts)
        with transaction(self.app) as conn:
            return conn.execute(sa.update(o).where(*cond).values(**values)).rowcount == 1

    def process(self, outbox_id: int, row: Any = None) -> Result:
        """Bring one outbox row as far as it can go now (see the module docstring); return what
        happened. `row` may be given as read by `load` (it is read again after any change).
        Never raises for a Twilio or network error (they are recorded on the row); database
        errors propagate (the task is then retried by the queue's recovery)."""
        for _ in range(4):  # a fallback, or a lookup that finds nothing, continues with a send
            row = row if row is not None else self._row(outbox_id)
            if row is None:
                return Result("gone")
            now = self.clock()
            if row.state in OutboxState.FINAL:
                return Result("done")
            if row.state == OutboxState.SENDING:
                age = (now - row.claimed_at).total_seconds() if row.claimed_at else self.lease
                if age < self.lease:
                    return Result("busy", self.lease - age)
            if row.state in (OutboxState.SENDING, OutboxState.UNKNOWN):
                if row.state == OutboxState.UNKNOWN and row.next_attempt_at \
                        and row.next_attempt_at > now:
                    return Result("retry", (row.next_attempt_at - now).total_seconds())
                result = self._reconcile_row(row, now)
                if result is not None:
                    return result
                row = None
                continue
            # pending
            if row.broadcast_state != BroadcastState.SENDING:
                return Result("done")
            if row.next_attempt_at and (row.next_attempt_at - now).total_seconds() > 0.5:
                return Result("retry", (row.next_attempt_at - now).total_seconds())
            blocked = reach.person_reason_for(row.phone, row.contact_opted_out,
                                              row.contact_consent)
            if blocked is not None:
                self._update(row, state=OutboxState.SKIPPED, skip_reason=blocked)
                return Result("skipped")
            if row.channel == "whatsapp" and row.kind == "text" \
                    and not _window_open(row.last_inbound_whatsapp_at, now):
                self._fallback(row, "window_closed", now)
                row = None
                continue
            gateway = via_gateway(self.settings, row.channel)
            if gateway and not self.gateway_slots.acquire(blocking=False):
                return Result("retry", 1.0)  # the phone's threads are busy: give this one back
            try:
                key, rate = sender_key(self.settings, row.channel)
                try:
                    acquire(self.limiter, key, row.parts, rate, self.sleep, MAX_PACING_WAIT_S)
                except RateLimited as paced:  # nothing reserved: come back at the slot
                    return Result("retry", paced.wait)
                claimed = self._claim(row, self.clock())
                if claimed is None:  # our copy was stale (another worker, a cancel, a STOP)
                    row = None
                    continue
                result = self._send(row, *claimed)
            finally:
                if gateway:
                    self.gateway_slots.release()
            if result is not None:
                return result
            row = None
        return Result("retry", 1.0)

    def _claim(self, row: Any, now: datetime) -> tuple[int, int] | None:
        """pending → sending, attempts + 1, with the history Message row; returns (message id,
        attempt number) or None when another worker (or a cancel) got there first."""
        try:
            with transaction(self.app) as conn:
                message_id = row.message_id
                if message_id is None:
                    body = (row.body if row.kind == "text"
                            else planner.Texts.of(row).text(row.language))
                    message_id = conn.execute(self._insert_message, {
                        "contact_id": row.contact_id, "channel": row.channel, "body": body,
                        "attributes": {"outbox_id": row.id, "language": row.language,
                                       "kind": row.kind,
                                       "provider": ("smsgate"
                                                    if via_gateway(self.settings, row.channel)
                                                    else "twilio")},
                        "segments": row.parts if row.channel == "sms" else None,
                        "encoding": row.encoding, "broadcast_id": row.broadcast_id, "now": now,
                    }).scalar_one()
                done = conn.execute(self._claim_row, {"oid": row.id, "expected": row.attempts,
                                                      "now": now, "mid": message_id}).rowcount
                if done != 1:
                    raise _LostRace()  # rolls the message row back
        except _LostRace:
            return None
        return message_id, row.attempts + 1

    def _send(self, row: Any, message_id: int, attempt: int) -> Result | None:
        """Make the request for a claimed row and record its outcome; None means "process the
        row again" (after a 63016 fallback)."""
        settings = self.settings
        callback = tw.status_callback_url(settings.get("ESSBOT_PUBLIC_URL"), message_id)
        started = time.monotonic()
        throttles = 0
        while True:
            status = None
            try:
                if via_gateway(settings, row.channel):
                    # The idempotency id is the history message's: a resend of the same row
                    # (after a timeout, a dead worker) is never sent twice by the gateway.
                    state = self.gateway().send(row.phone, row.body,
                                                self._gateway_id(message_id))
                    sid, status = state.id, state.status
                elif row.kind == "template":
                    sid = send_template(self.client(), settings, row.phone, row.content_sid,
                                        row.body, callback)
                else:
                    sid = tw.send(self.client(), settings, row.channel, row.phone, row.body,
                                  callback)
            except Exception as exc:  # noqa: BLE001 — every error is sorted and recorded
                kind, code = classify(exc)
                if kind == "throttled" and throttles < INLINE_THROTTLE_RETRIES \
                        and time.monotonic() - started < self.lease / 3:
                    throttles += 1
                    self.sleep(backoff(throttles, INLINE_THROTTLE_BASE_S, 5.0))
                    continue
                return self._failed_request(row, message_id, attempt, kind, code, exc)
            self._record_sent(row, message_id, attempt, sid, self.clock(), status)
            return Result("sent")

    def _gateway_id(self, message_id: int) -> str:
        """The SMS gateway's idempotency id of history message `message_id`
        (bot.channels.smsgate.gateway_id: row id and creation time, unique across databases)."""
        m = Message.__table__
        with get_engine(self.app).connect() as conn:
            created_at = conn.execute(sa.select(m.c.created_at)
                                      .where(m.c.id == message_id)).scalar_one()
        return sg.gateway_id(message_id, created_at)

    def _failed_request(self, row: Any, message_id: int, attempt: int, kind: str,
                        code: int | None, exc: BaseException) -> Result | None:
        now = self.clock()
        base = float(setting(self.settings, "ESSBOT_SEND_RETRY_BASE"))
        cap = float(setting(self.settings, "ESSBOT_SEND_RETRY_MAX"))
        where = f"outbox {row.id} ({row.channel} to {mask(row.phone)})"
        if kind == "throttled":
            # Never processed: hand the row back without counting the attempt.
            delay = base * random.uniform(1.0, 2.0)
            self._update(row, OutboxState.SENDING, attempt, state=OutboxState.PENDING,
                         attempts=attempt - 1, next_attempt_at=now + timedelta(seconds=delay),
                         error_code=code)
            log.info("%s throttled by Twilio (%s); retry in %.1f s", where, code, delay)
            return Result("retry", delay)
        max_attempts = int(setting(self.settings, "ESSBOT_SEND_MAX_ATTEMPTS"))
        if kind in ("not_sent", "unknown"):
            if kind == "not_sent" and attempt >= max_attempts:
                self._fail(row, message_id, attempt, code)
                log.warning("%s failed: Twilio unreachable after %d attempts", where, attempt)
                return Result("failed")
            delay = backoff(attempt, base, cap)
            state = OutboxState.PENDING if kind == "not_sent" else OutboxState.UNKNOWN
            self._update(row, OutboxState.SENDING, attempt, state=state, error_code=code,
                         next_attempt_at=now + timedelta(seconds=delay))
            log.warning("%s: %s (%s); outcome %s, retry in %.1f s", where, type(exc).__name__,
                        code, "not sent" if kind == "not_sent" else "unknown", delay)
            return Result("retry", delay)
        if kind == "window":
            self._fallback(row, str(code), now, expect_state=OutboxState.SENDING,
                           attempts=attempt, failed_message=(message_id, code))
            return None
        with transaction(self.app) as conn:
            if kind == "opted_out":
                _mark_opted_out(conn, row.contact_id, now)
            elif kind == "invalid":
                _mark_undeliverable(conn, row.contact_id, row.channel, code or 0, now)
        self._fail(row, message_id, attempt, code)
        log.info("%s failed permanently (%s %s)", where, kind, code)
        return Result("failed")

    def _fail(self, row: Any, message_id: int | None, attempt: int, code: int | None) -> None:
        o, m = Outbox.__table__, Message.__table__
        with transaction(self.app) as conn:  # message first: see _record_sent
            if message_id is not None:
                conn.execute(sa.update(m).where(m.c.id == message_id, m.c.provider_sid.is_(None))
                             .values(status="failed", error_code=code, status_at=self.clock()))
            conn.execute(sa.update(o).where(o.c.id == row.id, o.c.attempts == attempt,
                                            o.c.state.in_(OutboxState.OPEN))
                         .values(state=OutboxState.FAILED, error_code=code, status="failed"))

    def _record_sent(self, row: Any, message_id: int | None, attempt: int, sid: str,
                     now: datetime, status: str | None = None) -> None:
        o = Outbox.__table__
        with transaction(self.app) as conn:
            # Lock order: message, then outbox — as a status callback does (update_status
            # locks the message, on_message_status the outbox row); the reverse deadlocks on
            # PostgreSQL when a callback races the recording of its own send.
            if message_id is not None:
                conn.execute(self._message_sid, {"mid": message_id, "sid": sid})
            done = conn.execute(self._mark_sent, {"oid": row.id, "attempt": attempt, "sid": sid,
                                                  "now": now, "status": status or "queued"}
                                ).rowcount
            if not done:
                owner = conn.execute(sa.select(o.c.provider_sid, o.c.state).where(
                    o.c.id == row.id)).first()
                if owner is None or owner.provider_sid != sid:
                    # The row moved on without us (reconciled after a lease we overran, or
                    # cancelled): say so loudly, it may mean two messages for one person.
                    log.error("outbox %s: Twilio accepted %s but the row is now %s (%s)",
                              row.id, sid, owner.state if owner else "gone",
                              owner.provider_sid if owner else "-")

    def _fallback(self, row: Any, reason: str, now: datetime, expect_state: str | None = None,
                  attempts: int | None = None,
                  failed_message: tuple[int, int | None] | None = None) -> bool:
        """Turn a WhatsApp free-text row into its fallback (`fallback_values`), marking the
        failed WhatsApp message; False when the row changed meanwhile (nothing is written)."""
        o, m = Outbox.__table__, Message.__table__
        try:
            with transaction(self.app) as conn:
                if failed_message is not None:  # message first: see _record_sent
                    conn.execute(sa.update(m).where(m.c.id == failed_message[0]).values(
                        status="failed", error_code=failed_message[1], status_at=now))
                values = fallback_values(conn, self.settings, planner.Texts.of(row),
                                         row.contact_id, row.language, row.channel_policy,
                                         reason, now)
                cond = [o.c.id == row.id, o.c.state == (expect_state or row.state)]
                if attempts is not None:
                    cond.append(o.c.attempts == attempts)
                if conn.execute(sa.update(o).where(*cond).values(queued_at=now, **values)
                                ).rowcount != 1:
                    raise _LostRace()  # a callback or a cancel got there first: change nothing
        except _LostRace:
            return False
        log.info("outbox %s: WhatsApp free text not possible (%s) → %s", row.id, reason,
                 values.get("skip_reason") or f"{values.get('channel')} {values.get('kind')}")
        return True

    # --- reconciliation ----------------------------------------------------------------------

    def _reconcile_row(self, row: Any, now: datetime) -> Result | None:
        verdict = self.reconcile(row, now)
        if verdict == "sent":
            return Result("sent")
        base = float(setting(self.settings, "ESSBOT_SEND_RETRY_BASE"))
        cap = float(setting(self.settings, "ESSBOT_SEND_RETRY_MAX"))
        if verdict == "error":
            delay = backoff(row.attempts, base, cap)
            self._update(row, row.state, row.attempts, state=OutboxState.UNKNOWN,
                         next_attempt_at=now + timedelta(seconds=delay))
            return Result("retry", delay)
        # Absent: the request never created a message. Send again, unless out of attempts or
        # the broadcast was cancelled meanwhile.
        if row.attempts >= int(setting(self.settings, "ESSBOT_SEND_MAX_ATTEMPTS")):
            self._fail(row, row.message_id, row.attempts, row.error_code)
            return Result("failed")
        sending = row.broadcast_state == BroadcastState.SENDING
        self._update(row, row.state, row.attempts,
                     state=OutboxState.PENDING if sending else OutboxState.CANCELLED,
                     next_attempt_at=now, queued_at=now)
        if not sending and row.message_id is not None:
            # Never sent: keep it out of the person's ANNONCES (bot/conversations.py).
            m = Message.__table__
            with transaction(self.app) as conn:
                conn.execute(sa.update(m).where(m.c.id == row.message_id,
                                                m.c.provider_sid.is_(None))
                             .values(status="canceled", status_at=now))
        return None if sending else Result("done")

    def reconcile(self, row: Any, now: datetime) -> str:
        """Find out whether Twilio has the message of a row whose send outcome is unknown.

        Returns ``"sent"`` (found: the row now holds its sid and status), ``"absent"`` (Twilio
        has no such message: safe to send) or ``"error"`` (the lookup failed: ask again later).
        See the module docstring for the matching rule.
        """
        if via_gateway(self.settings, row.channel):
            return self._reconcile_gateway(row, now)
        address = tw.address_for(row.channel, row.phone)
        since = (row.claimed_at or row.created_at) - timedelta(seconds=RECONCILE_SKEW_S)
        try:
            listed = self.client().messages.list(to=address, limit=RECONCILE_LIMIT)
        except Exception as exc:  # noqa: BLE001 — any failure means "don't know yet"
            log.warning("outbox %s: lookup at Twilio failed (%s)", row.id, type(exc).__name__)
            return "error"
        candidates = []
        for message in listed:
            if not str(message.direction or "").startswith("outbound"):
                continue
            if message.date_created is not None and message.date_created < since:
                continue
            if row.kind == "text" and not str(message.body or "").endswith(row.body):
                continue
            candidates.append(message)
        if candidates:
            o, m = Outbox.__table__, Message.__table__
            sids = [x.sid for x in candidates]
            with get_engine(self.app).connect() as conn:
                owned = set(conn.execute(sa.select(o.c.provider_sid).where(
                    o.c.provider_sid.in_(sids), o.c.id != row.id)).scalars())
                owned |= set(conn.execute(sa.select(m.c.provider_sid).where(
                    m.c.provider_sid.in_(sids), m.c.id != row.message_id)).scalars())
            candidates = [x for x in candidates if x.sid not in owned]
        if not candidates:
            log.info("outbox %s: no message at Twilio for the unknown attempt; sending again",
                     row.id)
            return "absent"
        if len(candidates) > 1:
            log.error("outbox %s: %d messages at Twilio match one attempt", row.id,
                      len(candidates))
        found = min(candidates, key=lambda x: x.date_created or now)
        status = str(found.status) if found.status else None
        self._record_sent(row, row.message_id, row.attempts, found.sid,
                          found.date_created or now, status)
        log.info("outbox %s: reconciled, Twilio has %s (%s)", row.id, found.sid, status)
        return "sent"

    def _reconcile_gateway(self, row: Any, now: datetime) -> str:
        """`reconcile` for a row sent through the SMS gateway: ``GET /messages/{id}`` with the
        row's idempotency id (docs/sms-gateway.md "Sending") says whether the phone has it."""
        if row.message_id is None:
            return "absent"
        try:
            found = self.gateway().get(self._gateway_id(row.message_id))
        except Exception as exc:  # noqa: BLE001 — any failure means "don't know yet"
            log.warning("outbox %s: lookup at the SMS gateway failed (%s)", row.id,
                        type(exc).__name__)
            return "error"
        if found is None:
            log.info("outbox %s: the SMS gateway has no such message; sending again", row.id)
            return "absent"
        self._record_sent(row, row.message_id, row.attempts, found.id, now, found.status)
        log.info("outbox %s: reconciled, the SMS gateway has it (%s)", row.id, found.state)
        return "sent"


# --- status callbacks ------------------------------------------------------------------------

def on_message_status(app: Flask, session: Any, message: Message, status: str,
                      error_code: int | None) -> bool:
    """Apply a status callback to the outbox row of a broadcast message; True if it changed.

    Called by bot.conversations.update_status (same session and transaction, after it updated
    `message`). Does nothing for messages that are not a broadcast's. Rules (docs/twilio.md "Status
    callbacks": unordered, repeated): ``status`` and ``error_code`` follow
    bot.channels.base.merge_status (the one rule of both providers: a late ``sent`` never
    overwrites ``delivered``, a delivery supersedes a failure and clears its code, the effects
    below run only for a report that makes the row a failure); a callback proves Twilio has
    the message, so
    a row still ``sending``/``unknown``/``pending`` becomes ``sent`` with the sid (no resend).
    On ``failed``/``undelivered``: 63016 on WhatsApp free text → fallback row (template, SMS or
    skipped; the worker's tick enqueues it, and a finished broadcast resumes); 21610 → contact
    opted out; 21211/21614 → number recorded as undeliverable.
    """
    if message.broadcast_id is None:
        return False
    row = session.execute(sa.select(Outbox).where(Outbox.message_id == message.id)
                          .with_for_update()).scalar_one_or_none()
    if row is None:
        return False
    now = utcnow()
    changed = False
    if message.provider_sid and row.provider_sid is None:
        row.provider_sid = message.provider_sid
        changed = True
    if row.state in OutboxState.OPEN and row.provider_sid:
        row.state, row.sent_at = OutboxState.SENT, row.sent_at or now
        changed = True
    merged = merge_status(row.status, row.error_code, None, status, error_code)
    if merged.status_changed:
        row.status, row.status_at = merged.status, now
    if merged.changed:
        row.error_code = merged.error_code
        changed = True
    # Act on an error only when this report made the row a failure: never for a failure that
    # arrives after the delivery (the person has the message), nor for a repeated report.
    if not merged.failed_now or not error_code or merged.error_code != error_code:
        return changed
    conn = session.connection()
    if error_code in WINDOW_CODES and row.channel == "whatsapp" and row.kind == "text":
        broadcast = session.get(Broadcast, row.broadcast_id, with_for_update=True)
        if broadcast.state not in (BroadcastState.SENDING, BroadcastState.SENT):
            return changed  # cancelled or failed: nothing more is sent
        values = fallback_values(conn, app.config, planner.Texts.of(broadcast), row.contact_id,
                                 row.language, broadcast.channel_policy, str(error_code), now)
        for name, value in values.items():
            setattr(row, name, value)
        row.queued_at = None  # the tick enqueues rows never queued
        if broadcast.state == BroadcastState.SENT and row.state == OutboxState.PENDING:
            try:
                broadcast.state = BroadcastState.target(broadcast.state, "resume")
                broadcast.finished_at = None
            except InvalidTransition:  # pragma: no cover — checked just above
                pass
        log.info("outbox %s: 63016 from Twilio → %s", row.id,
                 row.skip_reason or f"{row.channel} {row.kind}")
        return True
    if error_code in OPTED_OUT_CODES:
        _mark_opted_out(conn, row.contact_id, now)
    elif error_code in INVALID_CODES:
        _mark_undeliverable(conn, row.contact_id, row.channel, error_code, now)
    return changed
