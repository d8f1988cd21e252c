"""The database side of issue 4: the article copy (seed, load, cache) and hand-over tickets.

Content: ``dialogs/content/*.yaml`` (bot/content.py validates it) is copied into the
``article`` table by :func:`seed` (`essbot content seed`, and automatically the first time
the table is found empty). Staff edit the table (later, in the staff interface); a re-seed
updates a row only when staff did not edit it: ``edited_by_staff`` is false AND the row's
content still hashes to its ``seed_hash`` (bot.content.Article.seed_hash). The dialog engine
gets the articles as a :class:`bot.content.Library`, cached per process and rebuilt when
the table changes (a count + max(updated_at) query, well under a millisecond).

Tickets: :func:`open_ticket` (called by bot/conversations.py in the message's transaction),
:func:`list_tickets` and :func:`reply_ticket` (`essbot tickets list|reply`). A reply goes on
WhatsApp only inside the 24-hour customer service window (docs/twilio.md), else by SMS if the
person has written by SMS, else it is recorded as not sendable; the ticket records which.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from bot import events, sms
from bot.content import Article as ArticleRecord
from bot.content import Library, load_catalog
from bot.db import transaction
from bot.models import Contact, Message, utcnow
from bot.models.content import ARTICLE_TEXT_FIELDS, Article, Ticket
from bot.phones import is_test_phone, mask
from bot.db import get_engine
from bot import outbound
from bot.broadcasts.tasks import get_queue
from bot.channels import smsgate as sg
from bot.channels import twilio as tw

log = logging.getLogger(__name__)

#: Messages of the conversation copied into a ticket when it opens (staff see the context).
SNAPSHOT_MESSAGES = 10
#: Characters of one message body kept in a ticket snapshot.
SNAPSHOT_CHARS = 500


# ------------------------------------------------------------------------------------------
# Content
# ------------------------------------------------------------------------------------------

def _row_values(record: ArticleRecord, position: int) -> dict[str, Any]:
    values: dict[str, Any] = {"slug": record.id, "category": record.category,
                              "position": position, "source": record.source,
                              "verified": record.verified, "verified_note": record.verified_note,
                              "uncertain": record.uncertain, "bm_review": record.bm_review,
                              "keywords": {"fr": list(record.keywords.fr),
                                           "bm": list(record.keywords.bm)},
                              "synonyms": {"fr": list(record.synonyms.fr),
                                           "bm": list(record.synonyms.bm)}}
    for name in ARTICLE_TEXT_FIELDS:
        for language in ("fr", "bm"):
            values[f"{name}_{language}"] = record.text(name, language)
    return values


def record_of(row: Any) -> ArticleRecord:
    """The validated content record (bot.content.Article) of one ``article`` row (ORM object
    or mapping). Raises pydantic.ValidationError when staff saved a text that breaks a content
    rule (too long for one SMS, not GSM-7, no source…)."""
    get = row.__getitem__ if isinstance(row, dict) or hasattr(row, "keys") else \
        (lambda key: getattr(row, key))
    data: dict[str, Any] = {"id": get("slug"), "category": get("category"),
                            "source": get("source"), "verified": get("verified"),
                            "verified_note": get("verified_note"),
                            "uncertain": bool(get("uncertain")),
                            "bm_review": bool(get("bm_review")),
                            "keywords": get("keywords") or {}, "synonyms": get("synonyms") or {}}
    for name in ARTICLE_TEXT_FIELDS:
        data[name] = {"fr": get(f"{name}_fr"), "bm": get(f"{name}_bm")}
    return ArticleRecord.model_validate(data)


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed` did, by article id: ``added``, ``updated`` (file changed, row not
    edited), ``kept`` (file changed but staff edited the row: review by hand), ``unchanged``."""

    added: list[str]
    updated: list[str]
    kept: list[str]
    unchanged: list[str]


def seed(conn: sa.Connection, path: str | None = None, now: datetime | None = None) -> SeedReport:
    """Copy the content files into the ``article`` table, in the open transaction `conn`.

    Idempotent; never overwrites a row staff edited (see the module docstring). Raises
    bot.content.ContentError when the files break a content rule.
    """
    now = now or utcnow()
    catalog = load_catalog(path)
    table = Article.__table__
    rows = {r.slug: r for r in conn.execute(sa.select(table)).mappings()}
    report = SeedReport([], [], [], [])
    for position, record in enumerate(catalog.articles):
        values = _row_values(record, position)
        digest = record.seed_hash()
        row = rows.get(record.id)
        if row is None:
            conn.execute(sa.insert(table).values(**values, seed_hash=digest, created_at=now,
                                                 updated_at=now))
            report.added.append(record.id)
            continue
        if row["seed_hash"] == digest:
            report.unchanged.append(record.id)
            continue
        try:
            untouched = (not row["edited_by_staff"]
                         and record_of(row).seed_hash() == row["seed_hash"])
        except ValidationError:
            untouched = False
        if untouched:
            conn.execute(sa.update(table).where(table.c.id == row["id"])
                         .values(**values, seed_hash=digest, updated_at=now))
            report.updated.append(record.id)
        else:
            report.kept.append(record.id)
    return report


def seed_app(app: Flask, path: str | None = None) -> SeedReport:
    """:func:`seed` in its own transaction of `app`'s database."""
    with transaction(app) as conn:
        return seed(conn, path)


_CACHE: dict[str, tuple[tuple[Any, ...], Library]] = {}
_CACHE_LOCK = threading.Lock()


def library(app: Flask, conn: sa.Connection) -> Library:
    """The articles as the engine reads them, from the database, cached per process.

    Uses the open transaction `conn` to check whether the table changed (row count and
    latest ``updated_at``); rebuilds the Library and its search index only then. When the
    table is empty it is seeded first, in a transaction of its own (a concurrent seeder
    losing the race is harmless). Rows staff broke (a rule of bot.content fails) are left
    out and logged, so one bad edit never silences the whole menu.
    """
    table = Article.__table__
    stamp = tuple(conn.execute(sa.select(sa.func.count(), sa.func.max(table.c.updated_at))).one())
    if stamp[0] == 0:
        _seed_empty(app, conn)
        stamp = tuple(conn.execute(
            sa.select(sa.func.count(), sa.func.max(table.c.updated_at))).one())
    key = str(conn.engine.url)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    records = []
    for row in conn.execute(sa.select(table).order_by(table.c.position, table.c.id)).mappings():
        try:
            records.append(record_of(row))
        except ValidationError as exc:
            log.warning("article %s breaks a content rule and is not shown: %s", row["slug"],
                        exc.errors()[0].get("msg"))
    built = Library.of(load_catalog().categories, records)
    with _CACHE_LOCK:
        _CACHE[key] = (stamp, built)
    return built


def _seed_empty(app: Flask, conn: sa.Connection) -> None:
    """Seed an empty table. On SQLite the message's transaction already holds the write lock,
    so the rows are written through it; elsewhere in a separate transaction committed at once,
    so other workers see them."""
    if conn.dialect.name == "sqlite":
        seed(conn)
        return
    try:
        with get_engine(app).begin() as other:
            seed(other)
    except IntegrityError:
        pass  # another worker seeded at the same moment


# ------------------------------------------------------------------------------------------
# Tickets
# ------------------------------------------------------------------------------------------

def open_ticket(conn: sa.Connection, contact: dict[str, Any], reason: str,
                question: str | None, message_id: int | None, now: datetime) -> int:
    """Open a hand-over ticket for `contact` (dict with "id", "channel", "language") in the
    open transaction, or refresh the one already open; return its id.

    reason: "asked" (AGENT), "no_match" (a question the content does not answer), "misses"
    (three answers not understood) or "media" (a WhatsApp voice note or image). The last
    SNAPSHOT_MESSAGES messages of the contact are copied into the ticket.
    """
    m, t = Message.__table__, Ticket.__table__
    recent = conn.execute(
        sa.select(m.c.id, m.c.direction, m.c.body, m.c.media, m.c.created_at)
        .where(m.c.contact_id == contact["id"]).order_by(m.c.id.desc()).limit(SNAPSHOT_MESSAGES)
    ).all()
    snapshot = [{"id": r.id, "direction": r.direction, "body": (r.body or "")[:SNAPSHOT_CHARS],
                 "media": len(r.media or []), "at": r.created_at.isoformat()}
                for r in reversed(recent)]
    existing = conn.execute(
        sa.select(t.c.id).where(t.c.contact_id == contact["id"], t.c.status != "closed")
        .order_by(t.c.id.desc()).limit(1)).scalar()
    if existing is not None:
        conn.execute(sa.update(t).where(t.c.id == existing).values(
            snapshot=snapshot, updated_at=now, message_id=message_id,
            question=question if question else t.c.question))
        return int(existing)
    ticket_id = conn.execute(sa.insert(t).values(
        contact_id=contact["id"], status="open", reason=reason, question=question,
        channel=contact.get("channel"), language=contact.get("language"),
        message_id=message_id, snapshot=snapshot, created_at=now, updated_at=now,
    ).returning(t.c.id)).scalar_one()
    log.info("ticket %s opened for contact %s (%s)", ticket_id, contact["id"], reason)
    # Partners' webhooks (bot/events.py), in the transaction that opens the ticket (not for
    # the simulator's test phones).
    if not is_test_phone(contact.get("phone")):
        events.emit(conn, events.TICKET_OPENED,
                    {"ticket_id": int(ticket_id), "reason": reason,
                     "channel": contact.get("channel"), "language": contact.get("language")}, now)
    return int(ticket_id)


def list_tickets(app: Flask, status: str | None = "open") -> list[dict[str, Any]]:
    """Tickets (newest first) with the contact's masked phone, as dicts; `status` None
    lists every status, "open" lists open and assigned ones."""
    t, c = Ticket.__table__, Contact.__table__
    query = (sa.select(t, c.c.phone).select_from(t.outerjoin(c, c.c.id == t.c.contact_id))
             .order_by(t.c.id.desc()))
    if status == "open":
        query = query.where(t.c.status != "closed")
    elif status:
        query = query.where(t.c.status == status)
    with transaction(app) as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    for row in rows:
        row["phone"] = mask(row["phone"]) if row.get("phone") else "-"
    return rows


def _unanswered_values() -> dict[str, Any]:
    t = Ticket.__table__
    # Back to where it was before the reply: assigned if someone had taken it, else open; not
    # answered (newcomer's test: a failed reply left "Répondu le…" on an open ticket).
    return {"status": sa.case((t.c.assigned_to.is_not(None), "assigned"), else_="open"),
            "closed_at": None, "answered_at": None, "reply_channel": None,
            "updated_at": utcnow()}


class TicketError(ValueError):
    """A ticket that does not exist or cannot be answered."""


def reply_channel(contact: Any, now: datetime) -> str:
    """Where a staff reply to `contact` (a Contact row) can go at `now`: "whatsapp" inside
    the 24-hour window, else "sms" if the person ever wrote by SMS, else "none" (also for an
    opted-out or deleted contact: they asked for no messages)."""
    if contact is None or contact.opted_out or str(contact.phone).startswith("deleted:"):
        return "none"
    if Contact.window_open(contact.last_inbound_whatsapp_at, now):  # the 24-hour window
        return "whatsapp"
    if contact.last_inbound_sms_at is not None:
        return "sms"
    return "none"


def _reply_through_gateway(app: Flask, result: dict[str, Any]) -> dict[str, Any]:
    """Send a stored ticket reply through the SMS gateway now (bot.outbound.deliver); a
    transient failure is queued for a retry with backoff (the ticket stays closed: the reply
    will go), a refusal reopens the ticket. Returns `result` updated."""
    t, m = Ticket.__table__, Message.__table__
    queue = get_queue(app)
    delivery = outbound.deliver(app, result["message_id"], queue.sender.gateway,
                                queue.sender.limiter)
    if delivery.outcome == "sent":
        result["status"] = "sent"
    elif delivery.outcome == "retry":
        result["status"] = "queued"
        try:
            queue.send_replies.schedule(args=([result["message_id"]],),
                                        delay=max(0.05, delivery.delay or 0))
        except Exception as exc:  # noqa: BLE001 — the worker's tick finds unsent replies
            log.warning("ticket %s: retry not queued (%s); the worker's tick will send it",
                        result["ticket"], type(exc).__name__)
    else:
        with transaction(app) as conn:
            reason = conn.execute(sa.select(m.c.attributes).where(
                m.c.id == result["message_id"])).scalar() or {}
            conn.execute(sa.update(t).where(t.c.id == result["ticket"]).values(
                **_unanswered_values()))
        result.update(status="failed", error=reason.get("error_reason"))
    log.info("ticket %s reply on sms through the gateway: %s", result["ticket"], result["status"])
    return result


def reply_ticket(app: Flask, ticket_id: int, text: str, now: datetime | None = None,
                 client: Any = None, *, close: bool = True,
                 staff_email: str | None = None) -> dict[str, Any]:
    """Answer ticket `ticket_id` with `text` on the person's channel; with `close` (the CLI's
    way) close the ticket (it is reopened if Twilio refuses the message or no sender is
    configured); without (the staff page's default: a conversation often goes on), the
    ticket keeps its status. `staff_email` is who answered (for the log of the caller).

    The outbound Message is stored before it is sent (docs/architecture.md), then sent with
    bot.channels.twilio.send (TWILIO_API_BASE_URL points tests at a fake Twilio) — or, for SMS
    when ESSBOT_SMS_PROVIDER=smsgate, through the SMS gateway (bot.outbound.deliver; a
    transient failure is retried from the queue with backoff and reported as "queued").
    Returns ``{"ticket": id, "channel": "sms"|"whatsapp"|"none", "message_id": int|None,
    "status": "sent"|"queued"|"failed"|"not_sendable", "error": int|str|None}``. Raises
    TicketError for an unknown ticket or an empty text.
    """
    from twilio.base.exceptions import TwilioRestException

    text = (text or "").strip()
    if not text:
        raise TicketError("la réponse est vide")
    now = now or utcnow()
    t, c, m = Ticket.__table__, Contact.__table__, Message.__table__
    with transaction(app) as conn:
        ticket = conn.execute(sa.select(t).where(t.c.id == ticket_id)).mappings().first()
        if ticket is None:
            raise TicketError(f"aucun ticket {ticket_id}")
        contact = conn.execute(sa.select(c).where(c.c.id == ticket["contact_id"])).first() \
            if ticket["contact_id"] is not None else None
        channel = reply_channel(contact, now)
        language = (contact.language if contact is not None else None) or \
            app.config["ESSBOT_DEFAULT_LANGUAGE"]
        message_id = None
        gateway = sg.carries(app.config, channel)
        if channel != "none":
            body = sms.render(text, channel, language, fold=bool(app.config["ESSBOT_SMS_FOLDING"]))
            info = sms.analyze(body) if channel == "sms" else None
            attributes: dict[str, Any] = {"language": language, "ticket": ticket_id}
            if gateway:
                attributes["provider"] = "smsgate"
            message_id = conn.execute(sa.insert(m).values(
                contact_id=contact.id, direction="out", channel=channel, body=body, media=[],
                attributes=attributes, status="queued",
                segments=info.segments if info else None, encoding=info.encoding if info else None,
                created_at=now).returning(m.c.id)).scalar_one()
        state: dict[str, Any] = {"status": "closed", "closed_at": now} if close else {}
        conn.execute(sa.update(t).where(t.c.id == ticket_id).values(
            reply_channel=channel, reply_message_id=message_id, answered_at=now,
            updated_at=now, **state))
        phone = contact.phone if contact is not None else None
    result: dict[str, Any] = {"ticket": ticket_id, "channel": channel, "message_id": message_id,
                              "status": "not_sendable", "error": None, "closed": close}
    if channel == "none":
        log.info("ticket %s reply recorded but not sent (no open channel)", ticket_id)
        return result
    if gateway:
        return _reply_through_gateway(app, result)
    callback = tw.status_callback_url(app.config.get("ESSBOT_PUBLIC_URL"), message_id)
    try:
        # A simulator test phone never reaches Twilio (tw.send answers it at once), so no
        # account is needed to answer a ticket opened from the simulator.
        if client is None and not is_test_phone(phone):
            client = tw.make_client(app.config)
        sid = tw.send(client, app.config, channel, phone, body,
                      status_callback=callback)
        # Twilio accepted it: "queued" until its status callbacks say more.
        values: dict[str, Any] = {"provider_sid": sid, "status": "queued"}
        result["status"] = "sent"
    except TwilioRestException as exc:
        values = {"status": "failed", "error_code": exc.code, "status_at": utcnow()}
        result.update(status="failed", error=exc.code)
    except ValueError as exc:  # no credentials or sender configured
        values = {"status": "failed", "status_at": utcnow()}
        result.update(status="failed", error=str(exc))
    with transaction(app) as conn:
        conn.execute(sa.update(m).where(m.c.id == message_id).values(**values))
        if result["status"] == "failed":
            # Not delivered to Twilio: the ticket stays open so staff can try again.
            conn.execute(sa.update(t).where(t.c.id == ticket_id).values(**_unanswered_values()))
    if result["status"] == "sent":
        log.info("ticket %s answered on %s: reply accepted by Twilio", ticket_id, channel)
    else:
        log.info("ticket %s reply recorded but not sent on %s (error %s): the ticket stays open",
                 ticket_id, channel, result["error"])
    return result
