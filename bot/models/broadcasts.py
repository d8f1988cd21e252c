"""Broadcast tables (every table lives in bot.models; ``bot.broadcasts.models`` gives the same
names): the announcement, its outbox (one row per recipient), undeliverable numbers.

`Broadcast.state` follows `BroadcastState`, a small explicit state machine checked when this
module is imported. Every change of state in the database goes through `BroadcastState.target`
and a guarded UPDATE (``… WHERE state = <expected>``, see bot/broadcasts/planner.py), so two
processes racing (two ticks firing the same scheduled broadcast, a cancel during the start)
cannot both win.

`Outbox.state` is our side of the send (what we did), `Outbox.status` is Twilio's side (what
the message became: queued, sent, delivered, read, undelivered, failed — from the REST answer,
status callbacks and reconciliation; docs/twilio.md "Status callbacks").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from bot.models.base import Base, utcnow


class InvalidTransition(ValueError):
    """A broadcast cannot go through this event from its current state (e.g. cancel a sent
    one), or it changed meanwhile. ``code`` "state" chooses the staff's French sentence
    (bot.broadcasts.errors.staff_message)."""

    code = "state"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.params: dict = {}


class BroadcastState:
    """Lifecycle of a broadcast: draft → scheduled → sending → sent / cancelled / failed.

    Events (``TRANSITIONS``): ``schedule`` (draft or scheduled → scheduled: set or move the
    time), ``unschedule`` (scheduled → draft), ``start`` (draft or scheduled → sending: the
    outbox is written), ``finish`` (sending → sent: every outbox row reached a final state),
    ``resume`` (sent → sending: a late WhatsApp 63016 failure needs an SMS or template
    fallback), ``fail`` (draft, scheduled or sending → failed: the broadcast cannot be sent,
    e.g. no Twilio sender), ``cancel`` (draft, scheduled or sending → cancelled: rows not yet
    handed to Twilio are cancelled). Final states (``FINAL``) only leave through ``resume``.
    """

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"

    STATES = (DRAFT, SCHEDULED, SENDING, SENT, CANCELLED, FAILED)
    INITIAL = DRAFT
    FINAL = frozenset({SENT, CANCELLED, FAILED})
    #: event → (states it may leave from, state it leads to)
    TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
        "schedule": (frozenset({DRAFT, SCHEDULED}), SCHEDULED),
        "unschedule": (frozenset({SCHEDULED}), DRAFT),
        "start": (frozenset({DRAFT, SCHEDULED}), SENDING),
        "finish": (frozenset({SENDING}), SENT),
        "resume": (frozenset({SENT}), SENDING),
        "fail": (frozenset({DRAFT, SCHEDULED, SENDING}), FAILED),
        "cancel": (frozenset({DRAFT, SCHEDULED, SENDING}), CANCELLED),
    }

    @classmethod
    def target(cls, current: str, event: str) -> str:
        """The state that `event` leads to from `current`.

        Raises InvalidTransition (a ValueError) for an unknown event or one that is not
        allowed from `current`, with a message fit for staff ("cannot cancel a sent broadcast").
        """
        if event not in cls.TRANSITIONS:
            raise InvalidTransition(f"unknown event {event!r}")
        sources, target = cls.TRANSITIONS[event]
        if current not in sources:
            raise InvalidTransition(f"cannot {event} a {current} broadcast")
        return target

    @classmethod
    def allowed(cls, current: str) -> list[str]:
        """Events allowed from `current`, sorted (for error messages and the staff UI)."""
        return sorted(e for e, (sources, _) in cls.TRANSITIONS.items() if current in sources)


def _check_machine(machine: type[BroadcastState]) -> None:
    """Check the machine when it is defined: known states only, every state reachable from the
    initial one, final states left only by ``resume``. Raises AssertionError otherwise."""
    states = set(machine.STATES)
    for event, (sources, target) in machine.TRANSITIONS.items():
        assert sources <= states and target in states, f"unknown state in {event}"
        if sources & machine.FINAL:
            assert event == "resume", f"{event} leaves a final state"
    reached, frontier = {machine.INITIAL}, [machine.INITIAL]
    while frontier:
        state = frontier.pop()
        for sources, target in machine.TRANSITIONS.values():
            if state in sources and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == states, f"unreachable states: {states - reached}"


_check_machine(BroadcastState)


class OutboxState:
    """Our side of one recipient's send (the outbox row's ``state``).

    ``pending`` (to send; ``next_attempt_at`` says from when) → ``sending`` (claimed by a
    worker, request in flight; ``claimed_at`` starts a lease) → ``sent`` (Twilio accepted it:
    sid known) or ``failed`` (permanent error, ``error_code``) or ``unknown`` (the request may
    or may not have reached Twilio: a timeout, a 5xx, a worker that died — reconciled by a
    lookup before any resend, bot/broadcasts/sender.py). ``skipped`` (never sendable:
    ``skip_reason``) and ``cancelled`` (the broadcast was cancelled before the row was handed
    to Twilio) are final too.
    """

    PENDING = "pending"
    SENDING = "sending"
    UNKNOWN = "unknown"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    ALL = (PENDING, SENDING, UNKNOWN, SENT, FAILED, SKIPPED, CANCELLED)
    OPEN = (PENDING, SENDING, UNKNOWN)
    FINAL = (SENT, FAILED, SKIPPED, CANCELLED)


#: Why a contact of the segment gets nothing (preview, status, outbox ``skip_reason``): each
#: left-out contact is counted under exactly one, decided by bot.broadcasts.reach.decide (the
#: order and meaning of each are documented there). The first four concern the person and are
#: counted in the plan only; the others are outbox rows ``skipped`` with their reason.
SKIP_REASONS = ("test_phone", "demo_contact", "opted_out", "no_consent", "invalid_number",
                "whatsapp_window_closed", "no_channel")

#: How a broadcast picks each recipient's channel (see planner.route).
CHANNEL_POLICIES = ("auto", "sms", "whatsapp")


class Broadcast(Base):
    """One announcement to a segment of contacts, in French and Bambara.

    ``segment`` is the filter definition (``{"quartier": ["Badialan I"], "age": ["18-35"]}``,
    see bot/broadcasts/segments.py); ``channel_policy`` one of CHANNEL_POLICIES;
    ``scheduled_at`` an aware UTC time (entered and shown in ESSBOT_TIMEZONE, Africa/Bamako);
    ``plan`` the counts taken when sending started (recipients by channel and language,
    skipped by reason, parts, cost in ESSBOT_CURRENCY); ``author`` who created it (free text
    until staff accounts exist).
    """

    __tablename__ = "broadcast"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(120))
    text_fr: so.Mapped[str] = so.mapped_column(sa.Text)
    text_bm: so.Mapped[str | None] = so.mapped_column(sa.Text)
    segment: so.Mapped[dict[str, Any]] = so.mapped_column(default=dict)
    channel_policy: so.Mapped[str] = so.mapped_column(sa.String(16), default="auto",
                                                      server_default="auto")
    state: so.Mapped[str] = so.mapped_column(sa.String(16), default=BroadcastState.DRAFT,
                                             server_default=BroadcastState.DRAFT, index=True)
    scheduled_at: so.Mapped[datetime | None]
    author: so.Mapped[str | None] = so.mapped_column(sa.String(120))
    plan: so.Mapped[dict[str, Any] | None]
    error: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)
    started_at: so.Mapped[datetime | None]
    finished_at: so.Mapped[datetime | None]

    def text(self, language: str) -> str:
        """The announcement in `language` ("fr" or "bm"); French when no Bambara text exists."""
        if language == "bm" and (self.text_bm or "").strip():
            return self.text_bm  # type: ignore[return-value]
        return self.text_fr

    def __repr__(self) -> str:
        return f"<Broadcast {self.id} {self.state}>"


class Outbox(Base):
    """One recipient of one broadcast: what is sent to whom, on which channel, and what became
    of it.

    Written in one transaction when sending starts (a snapshot of the segment; opted-out
    contacts are not written, other unsendable contacts are, as ``skipped`` with a reason).
    ``kind`` is ``text`` (``body`` sent as is) or ``template`` (WhatsApp outside the 24-hour
    window: ``content_sid`` + ``body`` holding the content variables as JSON, docs/twilio.md
    "WhatsApp"). ``parts`` is what the row costs: SMS parts (bot/sms.py) or 1 WhatsApp message.
    ``message_id`` is the `Message` row of the contact's history, created when the row is
    claimed; status callbacks find the row through it (``?mid=`` in the callback URL) or
    through ``provider_sid``. ``attempts`` counts requests that may have reached Twilio
    (429s excluded: never processed). The pair (broadcast, contact) is unique: nobody twice.
    """

    __tablename__ = "outbox"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    broadcast_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("broadcast.id", ondelete="CASCADE"))
    contact_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("contact.id", ondelete="CASCADE"),
                                                  index=True)
    channel: so.Mapped[str] = so.mapped_column(sa.String(16))
    kind: so.Mapped[str] = so.mapped_column(sa.String(16), default="text")
    language: so.Mapped[str] = so.mapped_column(sa.String(8))
    body: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    content_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    parts: so.Mapped[int] = so.mapped_column(default=1)
    encoding: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    state: so.Mapped[str] = so.mapped_column(sa.String(16), default=OutboxState.PENDING)
    skip_reason: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    fallback_from: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    attempts: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    next_attempt_at: so.Mapped[datetime | None]
    queued_at: so.Mapped[datetime | None]
    claimed_at: so.Mapped[datetime | None]
    provider_sid: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    status: so.Mapped[str | None] = so.mapped_column(sa.String(24))
    error_code: so.Mapped[int | None]
    message_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("message.id", ondelete="SET NULL"), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    sent_at: so.Mapped[datetime | None]
    status_at: so.Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("broadcast_id", "contact_id", name="uq_outbox_broadcast_contact"),
        sa.Index("ix_outbox_broadcast_state", "broadcast_id", "state"),
    )

    def __repr__(self) -> str:
        return f"<Outbox {self.id} b{self.broadcast_id} {self.channel} {self.state}>"


class UndeliverableAddress(Base):
    """A contact's number that Twilio refused on a channel: 21211 (invalid 'To' number) or
    21614 (not a mobile number) — docs/twilio.md "Errors worth handling".

    Broadcasts skip that channel for the contact (``invalid_number``) until the person writes
    again on it (a message from the number proves it works): the flag counts only while
    ``created_at`` is later than the contact's last inbound message on the channel.
    """

    __tablename__ = "undeliverable_address"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    contact_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("contact.id", ondelete="CASCADE"))
    channel: so.Mapped[str] = so.mapped_column(sa.String(16))
    error_code: so.Mapped[int]
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("contact_id", "channel", name="uq_undeliverable_address_contact"),
    )
