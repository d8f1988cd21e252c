"""The staff simulator's logic: test contacts that talk to the bot through the Twilio code path.

Staff chat with the bot from ``/admin/simulator`` (bot/admin/simulator.py) as a *test contact*:
one per staff member and channel, with a phone from the reserved fictitious range of
bot.phones (`is_test_phone`), so it can never be a real person's. A message typed in the
simulator is turned into the form Twilio would post (``From``, ``Body``, ``MessageSid``…), read
by bot.channels.twilio.parse_inbound and handled by bot.conversations.handle_inbound: storage,
deduplication, locking, engine, effects, GSM-7 folding, paging ("9 = suite") and the stored
part counts are exactly what a real person gets. The replies are read back from the database
for the page; nothing is sent to Twilio (bot.channels.twilio.send diverts test phones too).

Test contacts stay out of the registry: broadcasts' segments (bot.broadcasts.segments), the
registry export (`essbot actors export`) and any query using bot.phones.exclude_test_phones
leave them out. When a test contact asks SUPPRIMER, the anonymous registry row the deletion
leaves behind (no phone any more, so the phone rule cannot see it) is removed with the rest of
the test data, so the registry's anonymous counts never include a rehearsal.

Functions take the Flask `app` (settings and database) so the CLI and tests can reuse them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bot.config import setting
from bot.broadcasts.models import Outbox, UndeliverableAddress
from bot.channels import twilio
from bot.conversations import HandleResult, handle_inbound
from bot.db import get_engine, transaction
from bot.models import Actor, Contact, Conversation, Message, utcnow
from bot.models.content import Ticket
from bot.phones import TEST_PHONE_COUNT, TEST_PHONE_PREFIX

#: Channels the simulator plays (the console channel is `essbot chat`'s).
CHANNELS = ("sms", "whatsapp")
#: Languages a test contact can be given (the bot's languages).
LANGUAGES = ("fr", "bm")
#: Messages shown on the simulator's screen (the latest ones).
SHOWN = 200


class SimulatorError(ValueError):
    """A request the simulator cannot play (unknown channel or language, empty message); the
    message says why, in English (the view shows its own French text)."""


def test_phone(staff_id: int, channel: str) -> str:
    """The E.164 test phone of staff member `staff_id` on `channel` ("sms" or "whatsapp").

    Two numbers per staff member in bot.phones' reserved range (``+447700900002`` and
    ``…003`` for staff 1); past 500 staff members numbers are shared, which only mixes
    rehearsals. Raises SimulatorError for another channel.
    """
    if channel not in CHANNELS:
        raise SimulatorError(f"unknown channel {channel!r}")
    index = (int(staff_id) * 2 + CHANNELS.index(channel)) % TEST_PHONE_COUNT
    return f"{TEST_PHONE_PREFIX}{index:03d}"


def twilio_form(channel: str, phone: str, text: str, sid: str) -> dict[str, str]:
    """The form Twilio would post to the messages webhook for `text` sent from `phone` on
    `channel` (the fields parse_inbound reads, as in shared/samples/twilio)."""
    return {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": "simulator",
            "From": twilio.address_for(channel, phone), "To": "simulator", "Body": text,
            "NumMedia": "0", "NumSegments": "1"}


@dataclass(frozen=True)
class Turn:
    """What one simulated message did: the stored inbound message id (None when the contact's
    data was deleted by the turn), the bot's replies in order, and whether the turn deleted
    the test contact's data (SUPPRIMER confirmed: the test data is gone, the page is empty)."""

    inbound_id: int | None
    replies: list[str]
    deleted: bool = False


def send(app: Flask, staff_id: int, channel: str, text: str) -> Turn:
    """Play `text` as the test contact of `staff_id` on `channel`; return the bot's answer.

    The message goes through bot.channels.twilio.parse_inbound and
    bot.conversations.handle_inbound like a webhook request. Raises SimulatorError for an
    unknown channel or an empty message.
    """
    if not (text or "").strip():
        raise SimulatorError("empty message")
    phone = test_phone(staff_id, channel)
    sid = twilio.SIMULATED_SID_PREFIX + uuid.uuid4().hex
    msg = twilio.parse_inbound(twilio_form(channel, phone, text, sid), utcnow(),
                               app.config["ESSBOT_COUNTRY"])
    actor_before = _actor_id(app, phone)
    result: HandleResult = handle_inbound(app, msg)
    replies = [r.body for r in result.replies]
    m, c = Message.__table__, Contact.__table__
    with transaction(app) as conn:
        row = conn.execute(sa.select(m.c.id, m.c.contact_id, c.c.phone)
                           .join(c, c.c.id == m.c.contact_id)
                           .where(m.c.provider_sid == sid)).one()
        if row.phone == phone:
            return Turn(row.id, replies)
        # SUPPRIMER: bot.conversations renamed the contact "deleted:<id>" and kept an
        # anonymous registry row; both are test data.
        _purge(conn, row.contact_id, actor_before)
    return Turn(None, replies, deleted=True)


def _actor_id(app: Flask, phone: str) -> int | None:
    c, a = Contact.__table__, Actor.__table__
    with get_engine(app).connect() as conn:  # a read: no write lock (bot/db.py)
        return conn.execute(sa.select(a.c.id).join(c, c.c.id == a.c.contact_id)
                            .where(c.c.phone == phone)).scalar()


def _purge(conn: sa.Connection, contact_id: int, actor_id: int | None = None) -> None:
    """Delete a test contact and everything it left: tickets, registry entry, outbox rows,
    conversation, messages (in this order, for the foreign keys)."""
    t, a, m = Ticket.__table__, Actor.__table__, Message.__table__
    conn.execute(sa.delete(t).where(t.c.contact_id == contact_id))
    conn.execute(sa.delete(a).where(a.c.contact_id == contact_id))
    if actor_id is not None:
        conn.execute(sa.delete(a).where(a.c.id == actor_id))
    conn.execute(sa.delete(Outbox.__table__).where(Outbox.__table__.c.contact_id == contact_id))
    u = UndeliverableAddress.__table__
    conn.execute(sa.delete(u).where(u.c.contact_id == contact_id))
    conn.execute(sa.delete(Conversation.__table__)
                 .where(Conversation.__table__.c.contact_id == contact_id))
    conn.execute(sa.update(m).where(m.c.contact_id == contact_id).values(reply_to_id=None))
    conn.execute(sa.delete(m).where(m.c.contact_id == contact_id))
    conn.execute(sa.delete(Contact.__table__).where(Contact.__table__.c.id == contact_id))


def _check_language(language: str | None) -> str | None:
    if language in (None, ""):
        return None
    if language not in LANGUAGES:
        raise SimulatorError(f"unknown language {language!r}")
    return language


def reset(app: Flask, staff_id: int, channel: str, language: str | None = None) -> None:
    """"Recommencer": delete the test contact of `staff_id` on `channel` with its conversation,
    messages, tickets and registry entry, so the next message is a stranger's first one.

    With `language` ("fr" or "bm") the fresh contact already has that language (the bot then
    skips its language question); with None the bot asks. Raises SimulatorError for an
    unknown channel or language.
    """
    language = _check_language(language)
    phone = test_phone(staff_id, channel)
    c = Contact.__table__
    with transaction(app) as conn:
        contact_id = conn.execute(sa.select(c.c.id).where(c.c.phone == phone)).scalar()
        if contact_id is not None:
            _purge(conn, contact_id)
        if language is not None:
            now = utcnow()
            conn.execute(sa.insert(c).values(phone=phone, language=language,
                                             last_channel=channel, created_at=now,
                                             updated_at=now))


def set_language(app: Flask, staff_id: int, channel: str, language: str) -> None:
    """Give the test contact of `staff_id` on `channel` the language `language` ("fr" or
    "bm"), as if it had answered the bot's language question; the conversation goes on where
    it was. Raises SimulatorError for an unknown channel or language."""
    language = _check_language(language)
    if language is None:
        raise SimulatorError("no language given")
    phone = test_phone(staff_id, channel)
    c = Contact.__table__
    now = utcnow()
    with transaction(app) as conn:
        done = conn.execute(sa.update(c).where(c.c.phone == phone)
                            .values(language=language, updated_at=now))
        if done.rowcount == 0:
            conn.execute(sa.insert(c).values(phone=phone, language=language,
                                             last_channel=channel, created_at=now,
                                             updated_at=now))


@dataclass(frozen=True)
class Bubble:
    """One message on the simulator's screen: `direction` "in" (typed by the test contact)
    or "out" (the bot's), the stored `body`, and for an SMS reply its `encoding` ("GSM-7" or
    "UCS-2") and `segments` (parts billed) as bot.sms.analyze stored them; `redacted` after a
    deletion, `from_staff` for a staff answer to a ticket (sent from the inbox)."""

    id: int
    direction: str
    channel: str
    body: str
    at: datetime
    encoding: str | None = None
    segments: int | None = None
    status: str | None = None
    redacted: bool = False
    from_staff: bool = False


@dataclass(frozen=True)
class Cost:
    """What the bot's replies of the test conversation would cost: SMS `parts`, WhatsApp
    `whatsapp_messages`, and `amount` in `currency` (parts × ESSBOT_PRICE_PER_PART +
    messages × ESSBOT_PRICE_PER_WHATSAPP), None when no price is set."""

    parts: int
    whatsapp_messages: int
    amount: float | None
    currency: str


@dataclass(frozen=True)
class Screen:
    """What the simulator shows for one test contact: its `phone`, `language` (None before
    the choice), `opted_out`, where it is in the dialogs (`dialog`, `node`), the latest
    `bubbles` (oldest first, at most SHOWN) and the running `cost`."""

    phone: str
    channel: str
    language: str | None
    opted_out: bool
    dialog: str | None
    node: str | None
    bubbles: list[Bubble] = field(default_factory=list)
    cost: Cost | None = None


def cost_of(settings: Any, parts: int, whatsapp_messages: int) -> Cost:
    """The Cost of `parts` SMS parts and `whatsapp_messages` WhatsApp messages with the prices
    of `settings` (ESSBOT_PRICE_PER_PART, ESSBOT_PRICE_PER_WHATSAPP, ESSBOT_CURRENCY)."""
    price = float(setting(settings, "ESSBOT_PRICE_PER_PART"))
    wa_price = float(setting(settings, "ESSBOT_PRICE_PER_WHATSAPP"))
    amount = parts * price + whatsapp_messages * wa_price if (price or wa_price) else None
    return Cost(parts, whatsapp_messages, amount, str(settings.get("ESSBOT_CURRENCY") or ""))


def screen(app: Flask, staff_id: int, channel: str, after_id: int = 0) -> Screen:
    """The simulator's screen for the test contact of `staff_id` on `channel`.

    With `after_id`, only messages with a greater id are in `bubbles` (what a page already
    showing `after_id` lacks). The cost counts every reply since the last "Recommencer".
    Raises SimulatorError for an unknown channel.
    """
    phone = test_phone(staff_id, channel)
    c, v, m = Contact.__table__, Conversation.__table__, Message.__table__
    with get_engine(app).connect() as conn:  # a read: no write lock (bot/db.py)
        contact = conn.execute(
            sa.select(c.c.id, c.c.language, c.c.opted_out, v.c.dialog, v.c.node)
            .outerjoin(v, v.c.contact_id == c.c.id).where(c.c.phone == phone)).first()
        if contact is None:
            return Screen(phone, channel, None, False, None, None, [],
                          cost_of(app.config, 0, 0))
        rows = conn.execute(
            sa.select(m.c.id, m.c.direction, m.c.channel, m.c.body, m.c.created_at,
                      m.c.encoding, m.c.segments, m.c.status, m.c.attributes)
            .where(m.c.contact_id == contact.id, m.c.id > after_id)
            .order_by(m.c.id.desc()).limit(SHOWN)).all()
        totals = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(sa.case((m.c.channel == "sms", m.c.segments),
                                                           else_=0)), 0),
                      sa.func.coalesce(sa.func.sum(sa.case((m.c.channel == "whatsapp", 1),
                                                           else_=0)), 0))
            .where(m.c.contact_id == contact.id, m.c.direction == "out")).one()
    bubbles = [Bubble(r.id, r.direction, r.channel, r.body, r.created_at, r.encoding,
                      r.segments, r.status, bool((r.attributes or {}).get("redacted")),
                      bool((r.attributes or {}).get("ticket")))
               for r in reversed(rows)]
    return Screen(phone, channel, contact.language, bool(contact.opted_out), contact.dialog,
                  contact.node, bubbles, cost_of(app.config, int(totals[0]), int(totals[1])))
