"""The conversation path: store, deduplicate, lock, run the engine, apply, reply.

Every inbound message goes through `handle_inbound`, whatever its channel:

1. **Store** it in its own transaction (insert-or-ignore on the provider's message
   id), so it is kept even if processing fails; a retried MessageSid inserts nothing.
2. **Process** it in a second transaction that first locks the contact
   (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite every transaction is
   ``BEGIN IMMEDIATE``, see bot/db.py), so messages from one phone run one at a
   time while other phones run in parallel. Under the lock, a message already
   processed is not processed again: its stored replies are returned, so Twilio's
   retry gets the same TwiML.
3. The engine (pure) returns the new state, replies and effects; effects, state,
   the replies and the "processed" mark are committed together.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import orm as so
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from bot import engine, sms
from bot.channels.base import InboundMessage, OutboundReply
from bot.db import session_scope
from bot.i18n import N_, translate
from bot.models import Contact, Conversation, Message, utcnow
from bot.phones import mask

log = logging.getLogger(__name__)

#: Characters of a message the engine reads; the stored body keeps everything.
MAX_ENGINE_CHARS = 1000
#: Parts allowed on WhatsApp before paging (a WhatsApp message is one "part" of up to 1,600 characters).
WHATSAPP_PAGE_CHARS = 1600
#: What a person types to get the next page of a long reply.
NEXT_PAGE = "9"
CONTINUATION = N_("9 = suite")
SORRY = N_("Désolé, une erreur est survenue. Réessayez dans un moment.")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ATTEMPTS = 3


@dataclass(frozen=True)
class HandleResult:
    """What the channel needs to answer: the replies in order, and whether the
    inbound message had already been processed (a provider retry)."""

    replies: list[OutboundReply]
    duplicate: bool


def clean_text(text: str) -> str:
    """Return `text` without control characters (newline and tab kept), stripped,
    cut to MAX_ENGINE_CHARS characters: what the engine reads."""
    return _CONTROL.sub(" ", text or "").strip()[:MAX_ENGINE_CHARS]


def handle_inbound(app: Flask, msg: InboundMessage) -> HandleResult:
    """Store, then process, one inbound message; return the replies to send.

    Takes the app (settings, database) and the message. Never raises for anything a
    person can send; a processing failure is logged, recorded on the stored message
    (`processing_error`, so a retry processes it again) and answered with an apology.
    Database errors while storing do raise (the webhook then answers 500 and Twilio
    retries), because a message not stored must not be acknowledged.
    """
    contact_id = _store(app, msg)
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _process(app, msg, contact_id)
        except (StaleDataError, OperationalError) as exc:
            # A lost race or a lock timeout: safe to retry, the transaction rolled back.
            log.warning("retrying message %s for %s after %s (attempt %d)",
                        msg.provider_sid, mask(msg.address), type(exc).__name__, attempt)
            last_exc: Exception = exc
        except Exception as exc:  # noqa: BLE001 — a bug must not cost the person an answer
            last_exc = exc
            break
    log.error("processing failed for message %s from %s", msg.provider_sid, mask(msg.address),
              exc_info=last_exc)
    return _record_failure(app, msg, contact_id, last_exc)


def _insert_ignore(session: so.Session, model: type, values: dict[str, Any], key: str) -> bool:
    """INSERT … ON CONFLICT (key) DO NOTHING on SQLite and PostgreSQL; True if a row was written."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = (insert(model).values(**values).on_conflict_do_nothing(index_elements=[key])
            .returning(model.id))
    # RETURNING, not rowcount: psycopg 3 reports rowcount -1 for this statement.
    return session.execute(stmt).first() is not None


def _store(app: Flask, msg: InboundMessage) -> int:
    now = utcnow()
    with session_scope(app) as s:
        _insert_ignore(s, Contact, {"phone": msg.address, "created_at": now, "updated_at": now},
                       "phone")
        contact_id = s.execute(sa.select(Contact.id).where(Contact.phone == msg.address)).scalar_one()
        stored = _insert_ignore(s, Message, {
            "contact_id": contact_id, "direction": "in", "channel": msg.channel,
            "provider_sid": msg.provider_sid,
            # PostgreSQL text cannot hold NUL; nothing else is altered.
            "body": (msg.text or "").replace("\x00", ""),
            "media": msg.media, "attributes": msg.attributes, "status": "received",
            "created_at": msg.received_at,
        }, "provider_sid")
        if stored:
            column = {"sms": "last_inbound_sms_at", "whatsapp": "last_inbound_whatsapp_at"}.get(msg.channel)
            values: dict[str, Any] = {"last_channel": msg.channel, "updated_at": now}
            if column:
                values[column] = msg.received_at
            s.execute(sa.update(Contact).where(Contact.id == contact_id).values(**values))
    if stored:
        log.info("stored inbound %s on %s from %s", msg.provider_sid, msg.channel, mask(msg.address))
    return contact_id


def _process(app: Flask, msg: InboundMessage, contact_id: int) -> HandleResult:
    settings = app.config
    with session_scope(app) as s:
        contact = s.execute(
            sa.select(Contact).where(Contact.id == contact_id).with_for_update()
        ).scalar_one()
        inbound = s.execute(
            sa.select(Message).where(Message.provider_sid == msg.provider_sid)
        ).scalar_one()
        if inbound.processed_at is not None:
            return HandleResult(_stored_replies(s, inbound.id), duplicate=True)

        conversation = contact.conversation
        if conversation is None:
            conversation = Conversation(contact=contact, answers={})
            s.add(conversation)
        now = utcnow()
        text = clean_text(inbound.body)
        answers = dict(conversation.answers or {})
        pages = answers.pop("_pages", None)
        language = contact.language or settings["ESSBOT_DEFAULT_LANGUAGE"]

        if pages and text == NEXT_PAGE:
            bodies = [pages[0]]
            rest = pages[1:]
        else:
            turn = engine.step(
                engine.State(conversation.dialog, conversation.node, answers),
                engine.Inbound(text, msg.kind),
                engine.Facts(contact.language, contact.opted_out, settings["ESSBOT_DEFAULT_LANGUAGE"]),
                now,
            )
            _apply_effects(contact, turn.effects, now)
            language = contact.language or settings["ESSBOT_DEFAULT_LANGUAGE"]
            conversation.dialog, conversation.node = turn.state.dialog, turn.state.node
            answers = dict(turn.state.answers)
            text_out = "\n".join(
                translate(r.msgid, r.language or language, dict(r.params)) for r in turn.replies
            )
            bodies, rest = _paginate(settings, msg.channel, language, text_out)
        if rest:
            answers["_pages"] = rest
        conversation.answers = answers

        replies = [_store_reply(s, settings, contact, inbound, msg.channel, language, body, now)
                   for body in bodies]
        inbound.processed_at = now
        inbound.processing_error = None
        s.flush()
        return HandleResult([OutboundReply(m.id, m.body, m.channel) for m in replies], duplicate=False)


def _paginate(settings: Any, channel: str, language: str, text: str) -> tuple[list[str], list[str]]:
    """Render `text` for `channel` and cut it into pages; return (send now, keep for "9").

    On SMS a page is at most ESSBOT_SMS_MAX_SEGMENTS parts, continued with "9 = suite"
    in the person's language; on WhatsApp a page is one 1,600-character message.
    """
    fold = bool(settings["ESSBOT_SMS_FOLDING"])
    rendered = sms.render(text, channel, language, fold=fold)
    if not rendered:
        return [], []
    continuation = sms.render("\n" + translate(CONTINUATION, language), channel, language, fold=fold)
    if channel == "sms":
        pages = sms.split_pages(rendered, max_segments=int(settings["ESSBOT_SMS_MAX_SEGMENTS"]),
                                continuation=continuation)
    else:
        pages = sms.split_for_channel_limit(rendered, WHATSAPP_PAGE_CHARS - len(continuation))
    if len(pages) == 1:
        return pages, []
    return [pages[0] + continuation], [p + continuation for p in pages[1:-1]] + [pages[-1]]


def _store_reply(s: so.Session, settings: Any, contact: Contact, inbound: Message, channel: str,
                 language: str, body: str, now: datetime) -> Message:
    info = sms.analyze(body)
    message = Message(
        contact_id=contact.id, direction="out", channel=channel, body=body, status="queued",
        reply_to_id=inbound.id, segments=info.segments if channel == "sms" else None,
        encoding=info.encoding if channel == "sms" else None, created_at=now,
        attributes={"language": language},
    )
    s.add(message)
    return message


def _stored_replies(s: so.Session, inbound_id: int) -> list[OutboundReply]:
    rows = s.execute(
        sa.select(Message).where(Message.reply_to_id == inbound_id, Message.direction == "out")
        .order_by(Message.id)
    ).scalars()
    return [OutboundReply(m.id, m.body, m.channel) for m in rows]


def _apply_effects(contact: Contact, effects: tuple[engine.Effect, ...], now: datetime) -> None:
    """Apply the engine's effects to the contact (same transaction as the state)."""
    for effect in effects:
        if effect.kind == "set_language":
            contact.language = effect.value
        elif effect.kind == "opt_out":
            if not contact.opted_out:
                contact.opted_out, contact.opted_out_at = True, now
        elif effect.kind == "opt_in":
            if contact.opted_out:
                contact.opted_out, contact.opted_in_at = False, now
        else:
            raise ValueError(f"unknown effect {effect.kind!r}")


def _record_failure(app: Flask, msg: InboundMessage, contact_id: int, exc: Exception) -> HandleResult:
    """Mark the stored message as failed (kept unprocessed so a retry tries again) and
    return an apology in the person's language."""
    with session_scope(app) as s:
        contact = s.get(Contact, contact_id)
        inbound = s.execute(
            sa.select(Message).where(Message.provider_sid == msg.provider_sid)
        ).scalar_one()
        inbound.processing_error = type(exc).__name__[:200]
        language = (contact.language if contact else None) or app.config["ESSBOT_DEFAULT_LANGUAGE"]
        body = sms.render(translate(SORRY, language), msg.channel, language,
                          fold=bool(app.config["ESSBOT_SMS_FOLDING"]))
        reply = _store_reply(s, app.config, contact, inbound, msg.channel, language, body, utcnow())
        s.flush()
        return HandleResult([OutboundReply(reply.id, reply.body, reply.channel)], duplicate=False)


def update_status(app: Flask, sid: str, status: str, error_code: int | None,
                  message_id: int | None = None) -> bool:
    """Apply a status callback to the stored outbound message; True if a row changed.

    The message is found by its MessageSid, or for a TwiML reply by our `message_id`
    (the ``mid`` of the callback URL), whose sid is then recorded. The rule of
    bot.channels.twilio.should_update_status keeps final states final; an error
    code, once known, is kept.
    """
    from bot.channels.twilio import should_update_status

    with session_scope(app) as s:
        message = s.execute(
            sa.select(Message).where(Message.provider_sid == sid).with_for_update()
        ).scalar_one_or_none()
        if message is None and message_id is not None:
            message = s.execute(
                sa.select(Message).where(Message.id == message_id, Message.direction == "out")
                .with_for_update()
            ).scalar_one_or_none()
            if message is not None and message.provider_sid is None:
                message.provider_sid = sid
        if message is None or message.direction != "out":
            return False
        changed = False
        if should_update_status(message.status, status):
            message.status, message.status_at = status, utcnow()
            changed = True
        if error_code and message.error_code is None:
            message.error_code = error_code
            changed = True
        return changed
