"""The conversation path: store, deduplicate, lock, run the engine, apply, reply.

Every inbound message goes through `handle_inbound`, whatever its channel:

1. **Store** it in its own transaction (insert-or-ignore on the provider's message
   id), so it is kept even if processing fails; a retried MessageSid inserts nothing.
2. **Process** it in a second transaction that first locks the contact
   (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite every transaction is
   ``BEGIN IMMEDIATE``, see bot/db.py), so messages from one phone run one at a
   time while other phones run in parallel. Under the lock, a message already
   processed is not processed again: its stored replies are returned, so Twilio's
   retry gets the same TwiML. The lock is not granted in arrival order, so the
   oldest waiting messages of the phone are processed first (`_process`): the
   conversation follows the order the messages arrived in.
3. The engine (pure) returns the new state, replies and effects; effects, state,
   the replies and the "processed" mark are committed together.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import OperationalError

from bot import content_store, engine, sms
from bot.channels.base import InboundMessage, OutboundReply, storable
from bot.config import engine_settings
from bot.db import get_engine, session_scope, transaction
from bot.i18n import N_, translate
from bot.models import Actor, Contact, Conversation, Message, utcnow
from bot.phones import mask
from bot.registry.fields import search_key
from bot.registry.forget import erase_contact
from bot.broadcasts.sender import on_message_status
from bot.channels.base import merge_status

log = logging.getLogger(__name__)

#: Characters of a message the engine reads; the stored body keeps everything.
MAX_ENGINE_CHARS = 1000
#: Characters of a WhatsApp page (a WhatsApp message is one "part" of up to 1,600 characters).
WHATSAPP_PAGE_CHARS = 1600
#: What a person types to get the next page of a long reply.
NEXT_PAGE = engine.NEXT_PAGE
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
    for hook in app.extensions.get(INBOUND_HOOKS, ()):
        try:
            # E.g. a staff phone's DIFFUSER command or its OUI/NON; None for everyone else.
            answered = _run_hook(app, hook, msg, contact_id)
        except Exception as exc:  # a bug must not cost the staff member an answer
            log.error("inbound hook %s failed for message %s from %s", _hook_name(hook),
                      msg.provider_sid, mask(msg.address), exc_info=exc)
            return _record_failure(app, msg, contact_id, exc)
        if answered is not None:
            return answered
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return _process(app, msg, contact_id)
        except OperationalError as exc:
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


#: Key of ``app.extensions`` holding the inbound hooks, in the order they are asked.
INBOUND_HOOKS = "essbot.inbound_hooks"


class InboundHook(Protocol):
    """Something that may answer a stored inbound message instead of the engine (DIFFUSER,
    bot/broadcasts/diffuser.py, registered by bot.app.create_app). A module with these two
    functions is a hook. Hooks sit above this module: it never imports them."""

    def claim(self, app: Flask, msg: InboundMessage) -> Any | None:
        """Whether the hook wants `msg`: None (the engine answers) or a claim passed to
        :meth:`answer`. Runs for every message, so it must be cheap (one indexed lookup)."""

    def answer(self, app: Flask, msg: InboundMessage, claim: Any) -> list[str] | None:
        """The texts to send back for a claimed message, or None to let the engine answer
        after all. Called at most once per message: a provider retry of a message already
        answered gets the stored replies without calling it."""


def register_inbound_hook(app: Flask, hook: InboundHook) -> None:
    """Ask `hook` about every inbound message of `app`, after the hooks registered before."""
    app.extensions.setdefault(INBOUND_HOOKS, []).append(hook)


def _hook_name(hook: Any) -> str:
    return getattr(hook, "__name__", type(hook).__name__)


def _run_hook(app: Flask, hook: InboundHook, msg: InboundMessage,
              contact_id: int) -> HandleResult | None:
    """Ask `hook` about the stored `msg`; the HandleResult of its answer, the stored replies of
    a retried message it claims, or None (the engine answers)."""
    claim = hook.claim(app, msg)
    if claim is None:
        return None
    done = stored_replies(app, msg)
    if done is not None:
        return done
    texts = hook.answer(app, msg, claim)
    if texts is None:
        return None
    return reply_outside_engine(app, msg, contact_id, texts)





class _Statements:
    """The hot path's SQL, built once per dialect (SQLAlchemy Core with bound parameters).

    Building statements per request costs several times more CPU than executing them
    (measured: 0.39 ms vs 1.4 ms for the store step on SQLite), so they are prebuilt.
    """

    def __init__(self, dialect: str):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        c, v, m = Contact.__table__, Conversation.__table__, Message.__table__
        self.upsert_contact = {}
        for channel, column in (("sms", c.c.last_inbound_sms_at),
                                ("whatsapp", c.c.last_inbound_whatsapp_at), ("console", None)):
            values = {"phone": sa.bindparam("phone"), "created_at": sa.bindparam("now"),
                      "updated_at": sa.bindparam("now"), "last_channel": channel}
            stmt = insert(c).values(**values)
            update = {"last_channel": stmt.excluded.last_channel,
                      "updated_at": stmt.excluded.updated_at}
            if column is not None:
                stmt = insert(c).values(**values, **{column.name: sa.bindparam("now")})
                update[column.name] = getattr(stmt.excluded, column.name)
            self.upsert_contact[channel] = (
                stmt.on_conflict_do_update(index_elements=["phone"], set_=update).returning(c.c.id))
        self.insert_inbound = (
            insert(m).values(contact_id=sa.bindparam("contact_id"), direction="in",
                             channel=sa.bindparam("channel"), provider_sid=sa.bindparam("sid"),
                             body=sa.bindparam("body"), media=sa.bindparam("media"),
                             attributes=sa.bindparam("attributes"), status="received",
                             created_at=sa.bindparam("created_at"))
            .on_conflict_do_nothing(index_elements=["provider_sid"]).returning(m.c.id))
        # Lock first, read the conversation in a second statement: in PostgreSQL's READ
        # COMMITTED, one statement that waits for the lock would still return the
        # conversation as it was before the wait.
        self.lock_contact = (sa.select(c.c.id, c.c.phone, c.c.language, c.c.opted_out)
                             .where(c.c.id == sa.bindparam("contact_id")).with_for_update())
        self.conversation_of = sa.select(
            v.c.id.label("conversation_id"), v.c.dialog, v.c.node, v.c.answers, v.c.version
        ).where(v.c.contact_id == sa.bindparam("contact_id"))
        self.inbound_by_sid = sa.select(m.c.id, m.c.body, m.c.processed_at, m.c.attributes).where(
            m.c.provider_sid == sa.bindparam("sid"))
        self.replies_of = (sa.select(m.c.id, m.c.body, m.c.channel)
                           .where(m.c.reply_to_id == sa.bindparam("inbound_id"),
                                  m.c.direction == "out")
                           .order_by(m.c.id))
        self.insert_conversation = sa.insert(v).values(
            contact_id=sa.bindparam("contact_id"), dialog=sa.bindparam("dialog"),
            node=sa.bindparam("node"), answers=sa.bindparam("answers"), version=1,
            updated_at=sa.bindparam("now"))
        self.update_conversation = (
            sa.update(v).where(v.c.id == sa.bindparam("conversation_id"),
                               v.c.version == sa.bindparam("expected_version"))
            .values(dialog=sa.bindparam("dialog"), node=sa.bindparam("node"),
                    answers=sa.bindparam("answers"), version=v.c.version + 1,
                    updated_at=sa.bindparam("now")))
        self.insert_reply = sa.insert(m).values(
            contact_id=sa.bindparam("contact_id"), direction="out", channel=sa.bindparam("channel"),
            body=sa.bindparam("body"), media=[], attributes=sa.bindparam("attributes"),
            status="queued", segments=sa.bindparam("segments"), encoding=sa.bindparam("encoding"),
            reply_to_id=sa.bindparam("inbound_id"), created_at=sa.bindparam("now"),
        ).returning(m.c.id)
        self.mark_processed = sa.update(m).where(m.c.id == sa.bindparam("inbound_id")).values(
            processed_at=sa.bindparam("now"), processing_error=None)
        # The registry (effects of the registration dialog).
        a = Actor.__table__
        self.actor_of = sa.select(a).where(a.c.contact_id == sa.bindparam("contact_id"))
        saved = {name: sa.bindparam(name) for name in (*_ACTOR_FIELDS, "search_text")}
        self.insert_actor = sa.insert(a).values(
            contact_id=sa.bindparam("contact_id"), created_at=sa.bindparam("now"),
            updated_at=sa.bindparam("now"), **saved).returning(a.c.id)
        self.update_actor = sa.update(a).where(a.c.id == sa.bindparam("actor_id")).values(
            updated_at=sa.bindparam("now"), **saved)
        self.set_actor_code = sa.update(a).where(a.c.id == sa.bindparam("actor_id")).values(
            registration_code=sa.bindparam("code"))
        # An actor imported from a mairie list (bot/registry/importer.py) has no contact until
        # the person first writes: the contact then takes the entry of its phone.
        self.claim_actor = sa.update(a).where(
            a.c.id == sa.select(a.c.id).where(
                a.c.phone == sa.bindparam("claim_phone"), a.c.contact_id.is_(None),
                a.c.deleted_at.is_(None)).order_by(a.c.id).limit(1).scalar_subquery(),
        ).values(contact_id=sa.bindparam("claim_contact"))
        self.contact_of_sid = sa.select(m.c.contact_id).where(
            m.c.provider_sid == sa.bindparam("sid"))
        self.mark_handover = sa.update(m).where(m.c.id == sa.bindparam("inbound_id")).values(
            attributes=sa.bindparam("attributes"))


_STATEMENTS: dict[str, _Statements] = {}


def _sql(conn: sa.Connection) -> _Statements:
    name = conn.dialect.name
    if name not in _STATEMENTS:
        _STATEMENTS[name] = _Statements(name)
    return _STATEMENTS[name]


def _store(app: Flask, msg: InboundMessage) -> int:
    """Store the inbound message (and its contact); return the contact id.

    A retried MessageSid inserts nothing and returns the contact it was stored under — even
    when that contact has since been erased by this very message (SUPPRIMER): the phone must
    not come back as a new contact. The contact's last inbound time on the
    channel is set to this message's time (a retry arrives seconds later at most, so
    the WhatsApp window is not stretched in any way that matters).
    """
    with transaction(app) as conn:
        sql = _sql(conn)
        known = conn.execute(sql.contact_of_sid, {"sid": msg.provider_sid}).scalar() \
            if msg.provider_sid else None
        if known is not None:
            return known
        upsert = sql.upsert_contact.get(msg.channel, sql.upsert_contact["console"])
        contact_id = conn.execute(upsert,
                                  {"phone": msg.address, "now": msg.received_at}).scalar_one()
        stored = conn.execute(sql.insert_inbound, {
            "contact_id": contact_id, "channel": msg.channel, "sid": msg.provider_sid,
            # No NUL nor lone surrogate (no database stores them); nothing else is altered.
            "body": storable(msg.text or ""), "media": storable(msg.media),
            # The kind is kept for a message processed later by another request (_process).
            "attributes": storable(msg.attributes if msg.kind == "text"
                                   else {**msg.attributes, "kind": msg.kind}),
            "created_at": msg.received_at,
        }).first()
    if stored is not None:
        log.info("stored inbound %s on %s from %s", msg.provider_sid, msg.channel,
                 mask(msg.address))
    return contact_id


class _Conflict(OperationalError):
    """The conversation changed under us (optimistic lock); the caller retries."""

    def __init__(self) -> None:
        super().__init__("conversation version changed", None, Exception("stale"))


def _process(app: Flask, msg: InboundMessage, contact_id: int) -> HandleResult:
    """Process `msg` under the contact's lock, after any older message of the same phone that
    is still waiting (see `_waiting_before`): the conversation follows arrival order even when
    a later request wins the lock first. Each older message is processed in a savepoint: one
    that fails is left to its own request (which records the failure and apologises)."""
    older = _waiting_before(app, msg, contact_id)
    with transaction(app) as conn:
        sql = _sql(conn)
        conn.execute(sql.lock_contact, {"contact_id": contact_id}).one()
        inbound = conn.execute(sql.inbound_by_sid, {"sid": msg.provider_sid}).one()
        if inbound.processed_at is not None:
            replies = conn.execute(sql.replies_of, {"inbound_id": inbound.id})
            return HandleResult([OutboundReply(r.id, r.body, r.channel) for r in replies],
                                duplicate=True)
        for waiting in older:
            row = conn.execute(sql.inbound_by_sid, {"sid": waiting.provider_sid}).one()
            if row.processed_at is not None:
                continue  # its own request got there first
            try:
                with conn.begin_nested():
                    _turn(app, conn, sql, contact_id, row, waiting)
            except Exception as exc:  # noqa: BLE001 — its own request will retry it
                log.warning("message %s of %s left to its own request (%s)",
                            waiting.provider_sid, mask(msg.address), type(exc).__name__)
        return _turn(app, conn, sql, contact_id, inbound, msg)


def _waiting_before(app: Flask, msg: InboundMessage, contact_id: int) -> list[InboundMessage]:
    """The contact's inbound messages stored before `msg` and not processed yet, oldest first
    (at most MAX_WAITING): messages whose own request still waits for the contact's lock.
    Excluded: a message whose processing failed (its retry handles it), a console message,
    and one an inbound hook claims (a staff phone's DIFFUSER: the hook answers it in its own
    request). Read without the lock; `_process` checks each again under it."""
    m = Message.__table__
    with get_engine(app).connect() as conn:
        rows = conn.execute(
            sa.select(m.c.id, m.c.channel, m.c.provider_sid, m.c.body, m.c.media,
                      m.c.attributes, m.c.created_at)
            .where(m.c.contact_id == contact_id, m.c.direction == "in",
                   m.c.processed_at.is_(None), m.c.processing_error.is_(None),
                   m.c.provider_sid.is_not(None), m.c.provider_sid != msg.provider_sid,
                   m.c.id < sa.select(m.c.id).where(m.c.provider_sid == msg.provider_sid)
                   .scalar_subquery())
            .order_by(m.c.id).limit(MAX_WAITING)).all()
    waiting = []
    for row in rows:
        older = InboundMessage(channel=row.channel, address=msg.address, text=row.body or "",
                               provider_sid=row.provider_sid, received_at=row.created_at,
                               kind=(row.attributes or {}).get("kind", "text"),
                               media=list(row.media or []), attributes=dict(row.attributes or {}))
        hooks = app.extensions.get(INBOUND_HOOKS, ())
        if older.channel != "console" and not any(h.claim(app, older) is not None for h in hooks):
            waiting.append(older)
    return waiting


#: Most older messages processed ahead of one message (a burst from one phone).
MAX_WAITING = 50


def _turn(app: Flask, conn: sa.Connection, sql: "_Statements", contact_id: int, inbound: Any,
          msg: InboundMessage) -> HandleResult:
    """One engine turn for the stored `inbound` row (its InboundMessage `msg`) in the open,
    locked transaction: state, effects, replies and the processed mark. Returns its replies."""
    settings = app.config
    default_language = settings["ESSBOT_DEFAULT_LANGUAGE"]
    contact_row = conn.execute(sql.lock_contact, {"contact_id": contact_id}).one()
    conv = conn.execute(sql.conversation_of, {"contact_id": contact_id}).first()
    now = utcnow()
    text = clean_text(inbound.body)
    answers = dict(conv.answers or {}) if conv else {}
    pages = answers.pop("_pages", None)
    # The engine's state format (bot/engine/state.py) rides in the saved answers beside
    # the pages; a state saved before formats were recorded is format 0.
    state_format = answers.pop("_format", 0)
    contact = {"id": contact_id, "phone": contact_row.phone, "language": contact_row.language,
               "opted_out": contact_row.opted_out, "channel": msg.channel}
    dialog, node = (conv.dialog, conv.node) if conv else (None, None)

    if pages and text == NEXT_PAGE:
        language = contact["language"] or default_language
        bodies, rest = [pages[0]], pages[1:]
    else:
        actor = conn.execute(sql.actor_of, {"contact_id": contact_id}).mappings().first()
        # Only on a contact's first message: an entry imported later is linked to the
        # existing contact by the importer, so later messages need no write here.
        if actor is None and conv is None and conn.execute(sql.claim_actor, {
                "claim_phone": contact["phone"], "claim_contact": contact_id}).rowcount:
            actor = conn.execute(sql.actor_of, {"contact_id": contact_id}).mappings().first()
        turn = engine.step(
            engine.State(dialog, node, answers, state_format), engine.Inbound(text, msg.kind),
            engine.Facts(contact["language"], contact["opted_out"], default_language,
                         msg.channel, _actor_facts(actor), engine_settings(settings),
                         # Loaded only when the turn needs them (a menu answer does not).
                         content=lambda: content_store.library(app, conn),
                         announcements=lambda: _announcements(conn, contact_id)), now,
        )
        changes = _apply_effects(contact, turn.effects, now,
                                 _Registry(conn, sql, actor, inbound))
        if changes:
            conn.execute(sa.update(Contact.__table__)
                         .where(Contact.__table__.c.id == contact_id).values(**changes))
        language = contact["language"] or default_language
        dialog, node, answers = turn.state.dialog, turn.state.node, dict(turn.state.answers)
        state_format = turn.state.format
        text_out = engine.render(turn.replies, language, translate)
        bodies, rest = _paginate(settings, msg.channel, language, text_out)
    if rest:
        answers["_pages"] = rest
    answers["_format"] = state_format

    state = {"dialog": dialog, "node": node, "answers": answers, "now": now}
    if conv is None:
        conn.execute(sql.insert_conversation, {"contact_id": contact_id, **state})
    else:
        done = conn.execute(sql.update_conversation, {
            "conversation_id": conv.conversation_id, "expected_version": conv.version, **state})
        if done.rowcount != 1:
            raise _Conflict()
    provider = (inbound.attributes or {}).get("provider")
    replies = [_insert_reply(conn, sql, contact_id, inbound.id, msg.channel, language, body,
                             now, provider)
               for body in bodies]
    conn.execute(sql.mark_processed, {"inbound_id": inbound.id, "now": now})
    return HandleResult(replies, duplicate=False)


def stored_replies(app: Flask, msg: InboundMessage) -> HandleResult | None:
    """The replies of an inbound message already processed (a provider retry), as a
    duplicate HandleResult; None when it was not processed yet. For code answering outside
    the engine (bot.broadcasts.diffuser), which must not act twice on one message."""
    with get_engine(app).connect() as conn:
        sql = _sql(conn)
        inbound = conn.execute(sql.inbound_by_sid, {"sid": msg.provider_sid}).first()
        if inbound is None or inbound.processed_at is None:
            return None
        replies = conn.execute(sql.replies_of, {"inbound_id": inbound.id})
        return HandleResult([OutboundReply(r.id, r.body, r.channel) for r in replies],
                            duplicate=True)


def reply_outside_engine(app: Flask, msg: InboundMessage, contact_id: int, texts: list[str],
                         language: str = "fr") -> HandleResult:
    """Store `texts` as the replies to `msg` and mark it processed, in one transaction that
    locks the contact like `_process` — for answers decided outside the engine (a staff
    phone's DIFFUSER). Each text is rendered for the channel (GSM-7 folding on SMS) and cut
    at Twilio's 1,600 characters. The conversation state is left as it was. A message
    processed meanwhile returns its stored replies (duplicate)."""
    fold = bool(app.config["ESSBOT_SMS_FOLDING"])
    with transaction(app) as conn:
        sql = _sql(conn)
        conn.execute(sql.lock_contact, {"contact_id": contact_id}).one()
        inbound = conn.execute(sql.inbound_by_sid, {"sid": msg.provider_sid}).one()
        if inbound.processed_at is not None:
            replies = conn.execute(sql.replies_of, {"inbound_id": inbound.id})
            return HandleResult([OutboundReply(r.id, r.body, r.channel) for r in replies],
                                duplicate=True)
        now = utcnow()
        out = []
        for text in texts:
            body = sms.render(text, msg.channel, language, fold=fold)
            for page in sms.split_for_channel_limit(body):
                out.append(_insert_reply(conn, sql, contact_id, inbound.id, msg.channel,
                                         language, page, now))
        conn.execute(sql.mark_processed, {"inbound_id": inbound.id, "now": now})
    return HandleResult(out, duplicate=False)


def _insert_reply(conn: sa.Connection, sql: _Statements, contact_id: int, inbound_id: int,
                  channel: str, language: str, body: str, now: datetime,
                  provider: str | None = None) -> OutboundReply:
    """Store one outbound reply (queued) with its SMS cost; return it for the channel.

    `provider` is the inbound message's (``attributes.provider``, e.g. "smsgate": the reply
    goes back the way the message came, bot/outbound.py); None for Twilio, which answers in
    its webhook response."""
    info = sms.analyze(body) if channel == "sms" else None
    attributes = {"language": language}
    if provider:
        attributes["provider"] = provider
    reply_id = conn.execute(sql.insert_reply, {
        "contact_id": contact_id, "channel": channel, "body": body,
        "attributes": attributes, "segments": info.segments if info else None,
        "encoding": info.encoding if info else None, "inbound_id": inbound_id, "now": now,
    }).scalar_one()
    return OutboundReply(reply_id, body, channel)


def _paginate(settings: Any, channel: str, language: str, text: str) -> tuple[list[str], list[str]]:
    """Render `text` for `channel` and cut it into pages; return (send now, keep for "9").

    On SMS a page is at most ESSBOT_SMS_MAX_SEGMENTS parts, continued with "9 = suite"
    in the person's language; on WhatsApp a page is one 1,600-character message.
    """
    fold = bool(settings["ESSBOT_SMS_FOLDING"])
    rendered = sms.render(text, channel, language, fold=fold)
    if not rendered:
        return [], []
    continuation = sms.render("\n" + translate(CONTINUATION, language), channel, language,
                              fold=fold)
    if channel == "sms":
        pages = sms.split_pages(rendered, max_segments=int(settings["ESSBOT_SMS_MAX_SEGMENTS"]),
                                continuation=continuation)
    else:
        pages = sms.split_for_channel_limit(rendered, WHATSAPP_PAGE_CHARS - len(continuation))
    if len(pages) == 1:
        return pages, []
    return [pages[0] + continuation], [p + continuation for p in pages[1:-1]] + [pages[-1]]


def _apply_effects(contact: dict[str, Any], effects: tuple[engine.Effect, ...],
                   now: datetime, registry: _Registry | None = None) -> dict[str, Any]:
    """Apply the engine's effects and return the contact column changes to write in the same
    transaction as the state.

    `contact` is a dict with "id", "phone", "language", "opted_out" and "channel" (updated in
    place). "set_language", "opt_out" and "opt_in" change the contact; "save_actor",
    "delete_data" and "handover" write through `registry` (the open transaction; required for
    them). Raises ValueError on an effect this module does not know (a programming error).
    """
    changes: dict[str, Any] = {}
    for effect in effects:
        if effect.kind == "set_language":
            contact["language"] = changes["language"] = effect.value
        elif effect.kind == "opt_out":
            if not contact["opted_out"]:
                contact["opted_out"] = changes["opted_out"] = True
                changes["opted_out_at"] = now
        elif effect.kind == "opt_in":
            if contact["opted_out"]:
                contact["opted_out"] = changes["opted_out"] = False
                changes["opted_in_at"] = now
        elif effect.kind == "save_actor" and registry is not None:
            registry.save(contact, dict(effect.value), now)
        elif effect.kind == "delete_data" and registry is not None:
            changes.update(registry.delete(contact, now))
        elif effect.kind == "handover" and registry is not None:
            value = effect.value if isinstance(effect.value, dict) else {"reason": effect.value}
            registry.handover(contact, value, now)
        else:
            raise ValueError(f"unknown effect {effect.kind!r}")
    if changes:
        changes.setdefault("updated_at", now)  # a deletion keeps only the month
    return changes


#: Registry fields the save_actor effect writes (bot.engine._actor_fields gives them).
_ACTOR_FIELDS = ("phone", "language", "channel", "kind", "name", "org_name", "contact_name",
                 "gender", "birth_year", "birth_band", "quartier", "quartier_text", "sector",
                 "trade", "legal_form", "members_count", "formalised", "protection", "needs",
                 "consent_at", "consent_version", "completeness", "registered_at",
                 "registration_code")


#: Announcements shown by ANNONCES (the latest first).
NEWS_SHOWN = 3


def _announcements(conn: sa.Connection, contact_id: int) -> list[dict[str, Any]]:
    """The latest announcements sent to the contact: outbound messages of a broadcast
    (``broadcast_id`` set) that did not fail, newest first, as ``{"at", "text"}``."""
    m = Message.__table__
    rows = conn.execute(
        sa.select(m.c.body, m.c.created_at)
        .where(m.c.contact_id == contact_id, m.c.direction == "out",
               m.c.broadcast_id.is_not(None), m.c.status.not_in(("failed", "undelivered")))
        .order_by(m.c.id.desc()).limit(NEWS_SHOWN)).all()
    return [{"at": r.created_at.date().isoformat(), "text": r.body} for r in rows]


def _actor_facts(actor: Any) -> dict[str, Any] | None:
    """The registry entry as the engine sees it (plain JSON-like values), or None."""
    if actor is None:
        return None
    facts = {k: actor[k] for k in _ACTOR_FIELDS if k not in ("consent_at", "registered_at")}
    facts["id"] = actor["id"]
    facts["consent_at"] = actor["consent_at"].isoformat() if actor["consent_at"] else None
    facts["registered"] = actor["registered_at"] is not None
    return facts


class _Registry:
    """Writes of the registry effects, in the message's transaction (prebuilt statements)."""

    def __init__(self, conn: sa.Connection, sql: _Statements, actor: Any, inbound: Any):
        self.conn, self.sql, self.actor, self.inbound = conn, sql, actor, inbound

    def save(self, contact: dict[str, Any], fields: dict[str, Any], now: datetime) -> None:
        """Insert or update the contact's registry entry with the dialog's `fields`."""
        registered = bool(fields.pop("registered", False))
        consent_at = fields.get("consent_at")
        values = {name: fields.get(name) for name in _ACTOR_FIELDS}
        values.update(
            phone=contact["phone"], language=contact["language"], channel=contact["channel"],
            needs=list(fields.get("needs") or []),
            consent_at=datetime.fromisoformat(consent_at) if consent_at else None,
            birth_band=engine.year_band(fields.get("birth_year")),
            completeness=int(fields.get("completeness") or 0),
        )
        values["search_text"] = search_key(values.get("name"), values.get("org_name"),
                                           values.get("contact_name"), values.get("trade"))
        old = self.actor
        values["registration_code"] = fields.get("registration_code") or (
            old["registration_code"] if old is not None else None)
        values["registered_at"] = (old["registered_at"] if old is not None else None) or (
            now if registered else None)
        if old is None:
            actor_id = self.conn.execute(self.sql.insert_actor, {
                "contact_id": contact["id"], "now": now, **values}).scalar_one()
        else:
            actor_id = old["id"]
            self.conn.execute(self.sql.update_actor, {"actor_id": actor_id, "now": now, **values})
        if registered and not values["registration_code"]:
            # The engine names the code from the actor id it knew; an entry created in this
            # very turn gets it here.
            registry = engine.load_dialogs().get(engine.REGISTRATION).registry
            code = engine.registration_code(registry.code_prefix, actor_id, registry.code_digits)
            self.conn.execute(self.sql.set_actor_code, {"actor_id": actor_id, "code": code})

    def delete(self, contact: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Remove the contact's personal data on request (bot.registry.forget.erase_contact,
        the one rule shared with staff deletions and the retention purge); return the contact
        changes. The language stays in `contact` for this turn's answer. The inbound message
        being answered keeps its provider id, so that a retry of it is recognised."""
        actor, self.actor = self.actor, None
        return erase_contact(self.conn, contact, actor, now,
                             self.inbound.id if self.inbound is not None else None)

    def handover(self, contact: dict[str, Any], value: dict[str, Any], now: datetime) -> int:
        """Open (or refresh) the contact's hand-over ticket with the last messages, and flag
        the inbound message (``attributes.handover`` = the ticket id); return the ticket id.
        `value` is the engine's ``{"reason", "question"}``."""
        ticket_id = content_store.open_ticket(
            self.conn, contact, str(value.get("reason") or "asked"), value.get("question"),
            self.inbound.id, now)
        attributes = dict(self.inbound.attributes or {})
        attributes["handover"] = ticket_id
        self.conn.execute(self.sql.mark_handover, {"inbound_id": self.inbound.id,
                                                   "attributes": attributes})
        return ticket_id


def _record_failure(app: Flask, msg: InboundMessage, contact_id: int,
                    exc: Exception) -> HandleResult:
    """Mark the stored message as failed (kept unprocessed so a retry tries again) and
    return an apology in the person's language."""
    m = Message.__table__
    with transaction(app) as conn:
        language = conn.execute(sa.select(Contact.__table__.c.language).where(
            Contact.__table__.c.id == contact_id)).scalar() or app.config["ESSBOT_DEFAULT_LANGUAGE"]
        inbound_id = conn.execute(sa.update(m).where(m.c.provider_sid == msg.provider_sid)
                                  .values(processing_error=type(exc).__name__[:200])
                                  .returning(m.c.id)).scalar_one()
        body = sms.render(translate(SORRY, language), msg.channel, language,
                          fold=bool(app.config["ESSBOT_SMS_FOLDING"]))
        reply = _insert_reply(conn, _sql(conn), contact_id, inbound_id, msg.channel, language,
                              body, utcnow(), (msg.attributes or {}).get("provider"))
    return HandleResult([reply], duplicate=False)


def update_status(app: Flask, sid: str, status: str, error_code: int | None,
                  message_id: int | None = None, reason: str | None = None,
                  owns: Callable[[int, datetime], bool] | None = None) -> bool:
    """Apply a status callback to the stored outbound message; True if a row changed.

    The message is found by its MessageSid, or for a TwiML reply by our `message_id`
    (the ``mid`` of the callback URL), whose sid is then recorded. Status, `error_code`
    and `reason` (text, e.g. the SMS gateway's ``sms:failed`` reason, which comes without a
    code; kept in ``attributes.error_reason``) are merged by bot.channels.base.merge_status,
    the one rule for both providers: reports in any order end the same, a delivery
    supersedes a failure and clears its error. `owns(message id, created_at)`, when given,
    must confirm that a message found by `message_id` (not by its sid) is the one the report
    is about (the SMS gateway's ids carry our row id, which a restored or second database
    reuses).
    """
    with session_scope(app) as s:
        message = s.execute(
            sa.select(Message).where(Message.provider_sid == sid).with_for_update()
        ).scalar_one_or_none()
        if message is None and message_id is not None:
            message = s.execute(
                sa.select(Message).where(Message.id == message_id, Message.direction == "out")
                .with_for_update()
            ).scalar_one_or_none()
            if message is not None and owns is not None \
                    and not owns(message.id, message.created_at):
                log.info("status %s for an id that is not message %s's: ignored", status,
                         message_id)
                return False
            if message is not None and message.provider_sid is None:
                message.provider_sid = sid
        if message is None or message.direction != "out":
            return False
        attributes = dict(message.attributes or {})
        merged = merge_status(message.status, message.error_code, attributes.get("error_reason"),
                              status, error_code, reason[:200] if reason else None)
        if merged.status_changed:
            message.status, message.status_at = merged.status, utcnow()
        if merged.changed:
            message.error_code = merged.error_code
            if merged.error_reason:
                attributes["error_reason"] = merged.error_reason
            else:
                attributes.pop("error_reason", None)
            if attributes != (message.attributes or {}):
                message.attributes = attributes
        changed = on_message_status(app, s, message, status, error_code) or merged.changed
        return changed
