"""Staff interface: Boîte de réception — the hand-over tickets (issue 6, item 5).

Pages:

- ``GET /admin/inbox`` (``admin.inbox``): tickets newest first, in tabs *Non attribués*
  (status open), *Attribués*, *Les miens* (assigned to the logged-in account), *Fermés* and
  *Tous*, 50 a page; each row gives the time (Bamako), the reason in French, the question,
  language, channel, masked phone and status.
- ``GET /admin/inbox/<id>`` (``admin.inbox_ticket``): the person's conversation around the
  ticket as chat bubbles, voice notes and images through the media proxy, their registry
  summary, and (agent and admin) the reply box and the assign/unassign/close/reopen buttons.
- ``POST /admin/inbox/<id>/reply`` (``admin.inbox_reply``, agent): "Vérifier" shows the channel
  and SMS part count of the text; "Envoyer" answers with
  :func:`bot.content_store.reply_ticket` (WhatsApp inside the 24-hour window, else SMS, else
  not sendable) and shows the outcome.
- ``POST /admin/inbox/<id>/status`` (``admin.inbox_status``, agent): moves allowed by
  :data:`bot.models.content.TICKET_MOVES` only.
- ``GET /admin/media/<message_id>/<index>`` (``admin.inbox_media``): an authenticated proxy of
  a stored Twilio media URL (see :func:`open_media`).

Everything is audited (views included; never a message body). The query functions take the
app so the CLI and tests can reuse them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (Flask, Response, abort, current_app, flash, redirect, render_template,
                   request, stream_with_context, url_for)
from flask_login import current_user

from bot.config import setting
from bot import sms
from bot.admin import _, audit, bamako_time, bp, parts, record_audit, require_role
from bot.content_store import TicketError, reply_channel, reply_ticket
from bot.db import transaction
from bot.i18n import N_
from bot.models import Actor, Contact, Message, utcnow
from bot.models.content import TICKET_MOVES, SavedReply, Ticket, TicketNote
from bot.phones import is_test_phone, mask
from bot.registry import fields as F

log = logging.getLogger(__name__)

#: Why a ticket was opened (Ticket.reason), in the staff's words.
REASONS = {"asked": N_("A demandé un agent"), "no_match": N_("Question sans réponse"),
           "misses": N_("Réponses non comprises"), "media": N_("Message vocal ou image")}
#: Ticket statuses in the staff's words.
STATUSES = {"open": N_("Non attribué"), "assigned": N_("Attribué"), "closed": N_("Fermé")}
#: Tabs of the inbox: (key, label). "mine" is the logged-in account's assigned tickets.
TABS = (("open", N_("Non attribués")), ("assigned", N_("Attribués")), ("mine", N_("Les miens")),
        ("closed", N_("Fermés")), ("all", N_("Tous")))
CHANNELS = {"sms": N_("SMS"), "whatsapp": N_("WhatsApp"), "console": N_("Simulateur"),
            "none": N_("aucun")}
LANGUAGES = {"fr": N_("français"), "bm": N_("bambara")}
#: Kinds of registry entries in the staff's words (the dialog's labels speak to the person).
KINDS = {"individu": N_("Personne"), "organisation": N_("Organisation")}
#: Twilio message statuses of outbound messages (bot/channels/twilio.py) in the staff's words.
DELIVERY = {"queued": N_("en attente"), "accepted": N_("en attente"), "sending": N_("en cours"),
            "sent": N_("envoyé"), "delivered": N_("remis"), "read": N_("lu"),
            "failed": N_("échec"), "undelivered": N_("non remis"), "canceled": N_("annulé")}
#: Tickets per page of the list.
PER_PAGE = 50
#: Characters of the question shown in the list.
EXCERPT_CHARS = 90
#: Messages shown before the first message of the ticket's snapshot, and at most in all.
CONTEXT_BEFORE = 5
MAX_MESSAGES = 80
#: The WhatsApp customer service window (docs/twilio.md: 24 hours from the last inbound message).
WHATSAPP_WINDOW = timedelta(seconds=Contact.WHATSAPP_WINDOW_S)  # the one definition
#: Status actions of the ticket page: action -> (status it moves to, allowed from).
ACTIONS = {"assign": ("assigned", "open"), "assign_to": ("assigned", None),
           "unassign": ("open", "assigned"),
           "close": ("closed", None), "reopen": ("open", "closed")}
#: Largest media file the proxy relays (WhatsApp inbound media are at most 16 MB, docs/twilio.md).
MAX_MEDIA_BYTES = 20 * 1024 * 1024
#: Twilio error codes worth explaining to staff (docs/twilio.md "Errors worth handling").
TWILIO_ERRORS = {
    21610: N_("la personne a répondu STOP : elle ne reçoit plus nos messages"),
    21211: N_("numéro invalide"),
    21614: N_("ce numéro n'est pas un mobile"),
    30003: N_("téléphone injoignable pour le moment : réessayez plus tard"),
    30005: N_("numéro inconnu"),
    30006: N_("numéro fixe ou opérateur injoignable"),
    30007: N_("message filtré par l'opérateur"),
    63016: N_("hors de la fenêtre WhatsApp de 24 heures"),
    63018: N_("limite de débit WhatsApp atteinte : réessayez dans un moment"),
    30450: N_("bloqué par la protection contre la fraude SMS de Twilio"),
    30453: N_("bloqué par la protection contre la fraude SMS de Twilio"),
}


class InboxError(ValueError):
    """A ticket action that cannot be done; the message (French) is for the staff member."""


# ------------------------------------------------------------------------------------------
# Queries
# ------------------------------------------------------------------------------------------

def _tab_filter(tab: str, staff_email: str | None) -> Any:
    t = Ticket.__table__
    if tab == "open":
        return t.c.status == "open"
    if tab == "assigned":
        return t.c.status == "assigned"
    if tab == "closed":
        return t.c.status == "closed"
    if tab == "mine":
        return sa.and_(t.c.status == "assigned", t.c.assigned_to == (staff_email or ""))
    return sa.true()


def inbox_rows(app: Flask, tab: str, staff_email: str | None, page: int = 1,
               per_page: int = PER_PAGE) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One page of tickets of `tab` (a key of :data:`TABS`; unknown means "open"), newest
    first, and the number of tickets in every tab.

    Returns ``(rows, counts)``: rows are dicts of the ticket's columns plus ``phone`` (masked,
    "-" when the contact is gone) and ``excerpt`` (the question cut to EXCERPT_CHARS);
    counts maps each tab key to its total.
    """
    t, c = Ticket.__table__, Contact.__table__
    tab = tab if tab in dict(TABS) else "open"
    page = max(1, page)
    # The ticket keeps the language known when it opened; the contact's, chosen since, is
    # shown when the ticket has none (newcomer's test: "—" in the list, "bambara" on the page).
    query = (sa.select(t, c.c.phone, c.c.language.label("contact_language"))
             .select_from(t.outerjoin(c, c.c.id == t.c.contact_id))
             .where(_tab_filter(tab, staff_email)).order_by(t.c.created_at.desc(), t.c.id.desc())
             .limit(per_page).offset((page - 1) * per_page))
    email = staff_email or ""
    count_query = sa.select(
        sa.func.count(),
        sa.func.count().filter(t.c.status == "open"),
        sa.func.count().filter(t.c.status == "assigned"),
        sa.func.count().filter(sa.and_(t.c.status == "assigned", t.c.assigned_to == email)),
        sa.func.count().filter(t.c.status == "closed"))
    with transaction(app) as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
        total, open_, assigned, mine, closed = conn.execute(count_query).one()
    for row in rows:
        row["phone"] = mask(row["phone"]) if row.get("phone") else "-"
        question = " ".join((row.get("question") or "").split())
        row["excerpt"] = question if len(question) <= EXCERPT_CHARS else \
            question[:EXCERPT_CHARS - 1].rstrip() + "…"
    counts = {"open": open_, "assigned": assigned, "mine": mine, "closed": closed, "all": total}
    return rows, counts


@dataclass
class TicketView:
    """Everything the ticket page shows.

    ``ticket`` is the row as a dict; ``contact`` the Contact row (None when deleted);
    ``phone`` masked; ``messages`` dicts of the conversation (oldest first, each with
    ``media`` as a list of ``{"index", "kind", "content_type"}``); ``more_after`` True when
    later messages were left out; ``actor`` the registry summary (or None); ``channel`` where
    a reply would go now ("sms", "whatsapp", "none"), ``window_until`` the end of the WhatsApp
    window when open (UTC), ``window_closed_at`` when it closed (UTC, None if never opened)
    and ``why_none`` the French reason when no channel is open.
    """

    ticket: dict[str, Any]
    contact: Any
    phone: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    more_after: bool = False
    actor: dict[str, Any] | None = None
    channel: str = "none"
    window_until: datetime | None = None
    window_closed_at: datetime | None = None
    why_none: str | None = None


def _media_kind(content_type: str) -> str:
    major = (content_type or "").split("/", 1)[0].lower()
    return major if major in ("audio", "image", "video") else "file"


def actor_summary(row: Any) -> dict[str, Any]:
    """The registry summary of an Actor row: ``id``, ``code``, ``name``, ``kind``,
    ``quartier``, ``sector``, ``trade``, ``registered_at``, ``completeness`` (labels in
    French from dialogs/registration.yaml)."""
    def label(store: str, value: Any) -> str | None:
        return F.label(store, value) if value else None

    return {"id": row.id, "code": row.registration_code,
            "name": row.org_name or row.name or row.contact_name,
            "kind": KINDS.get(row.kind, row.kind), "quartier": row.quartier or row.quartier_text,
            "sector": label("sector", row.sector), "trade": row.trade,
            "registered_at": row.registered_at, "completeness": row.completeness}


def why_no_channel(contact: Any, now: datetime) -> str:
    """French reason why a reply to `contact` (a Contact row or None) cannot be sent at
    `now` (rules of bot.content_store.reply_channel; docs/twilio.md for the WhatsApp window)."""
    if contact is None:
        return _("La personne a supprimé ses données : plus aucun envoi n'est possible.")
    if str(contact.phone).startswith("deleted:"):
        return _("La personne a supprimé ses données : plus aucun envoi n'est possible.")
    if contact.opted_out:
        return _("La personne a demandé à ne plus recevoir de messages (STOP).")
    if contact.last_inbound_whatsapp_at is not None:
        closed = bamako_time(contact.last_inbound_whatsapp_at + WHATSAPP_WINDOW)
        return _("La fenêtre WhatsApp de 24 heures est fermée depuis le %(when)s et la personne "
                 "n'a jamais écrit par SMS. Seul un modèle WhatsApp approuvé pourrait lui "
                 "parvenir ; elle recevra votre réponse si elle réécrit.", when=closed)
    return _("La personne n'a écrit ni par SMS ni par WhatsApp (simulateur) : aucun envoi "
             "possible.")


def load_ticket(app: Flask, ticket_id: int, now: datetime | None = None) -> TicketView | None:
    """The :class:`TicketView` of ticket `ticket_id` at `now` (UTC), or None if unknown."""
    now = now or utcnow()
    t, c, m, a = Ticket.__table__, Contact.__table__, Message.__table__, Actor.__table__
    with transaction(app) as conn:
        ticket = conn.execute(sa.select(t).where(t.c.id == ticket_id)).mappings().first()
        if ticket is None:
            return None
        ticket = dict(ticket)
        contact = None
        if ticket["contact_id"] is not None:
            contact = conn.execute(sa.select(c).where(c.c.id == ticket["contact_id"])).first()
        view = TicketView(ticket=ticket, contact=contact,
                          phone=mask(contact.phone) if contact is not None
                          and not str(contact.phone).startswith("deleted:") else "-")
        if contact is not None:
            ids = [s.get("id") for s in ticket.get("snapshot") or [] if s.get("id")]
            start = min(ids) if ids else (ticket["message_id"] or 0)
            before = conn.execute(
                sa.select(m.c.id).where(m.c.contact_id == contact.id, m.c.id < start)
                .order_by(m.c.id.desc()).limit(CONTEXT_BEFORE)).scalars().all()
            first = min(before) if before else start
            rows = conn.execute(
                sa.select(m.c.id, m.c.direction, m.c.channel, m.c.body, m.c.media, m.c.status,
                          m.c.error_code, m.c.segments, m.c.created_at, m.c.attributes)
                .where(m.c.contact_id == contact.id, m.c.id >= first)
                .order_by(m.c.id).limit(MAX_MESSAGES + 1)).mappings().all()
            view.more_after = len(rows) > MAX_MESSAGES
            for row in rows[:MAX_MESSAGES]:
                item = dict(row)
                item["media"] = [{"index": i, "kind": _media_kind(x.get("content_type", "")),
                                  "content_type": x.get("content_type") or ""}
                                 for i, x in enumerate(row["media"] or [])
                                 if isinstance(x, dict) and x.get("url")]
                item["from_ticket"] = (row["attributes"] or {}).get("ticket")
                item["opened"] = row["id"] == ticket["message_id"]
                view.messages.append(item)
            actor = conn.execute(sa.select(a).where(a.c.contact_id == contact.id,
                                                    a.c.deleted_at.is_(None))).first()
            if actor is not None and actor.consent_at is not None:
                view.actor = actor_summary(actor)
        else:  # the contact is gone: only the (blanked) snapshot is left
            view.messages = [{"id": s.get("id"), "direction": s.get("direction"),
                              "channel": ticket.get("channel"), "body": s.get("body"),
                              "media": [], "status": None, "error_code": None,
                              "segments": None, "created_at": None, "from_ticket": None,
                              "opened": False} for s in ticket.get("snapshot") or []]
    view.channel = reply_channel(contact, now)
    last_wa = contact.last_inbound_whatsapp_at if contact is not None else None
    if last_wa is not None:
        if now - last_wa < WHATSAPP_WINDOW:
            view.window_until = last_wa + WHATSAPP_WINDOW
        else:
            view.window_closed_at = last_wa + WHATSAPP_WINDOW
    if view.channel == "none":
        view.why_none = why_no_channel(contact, now)
    return view


def move_ticket(app: Flask, ticket_id: int, action: str, staff_email: str,
                now: datetime | None = None) -> tuple[str, str]:
    """Apply status `action` ("assign", "unassign", "close", "reopen") to a ticket.

    Only moves of :data:`TICKET_MOVES` are allowed; "assign" gives an open ticket to
    `staff_email` (the logged-in account); "assign_to" gives it to `staff_email`, a colleague
    (:func:`assignees`), from open, or from assigned to hand it to someone else; "unassign"
    and "reopen" clear the assignee.
    The update is conditional on the status read, so two staff clicking at once cannot both
    win. Returns ``(old status, new status)``. Raises InboxError (French) otherwise.
    """
    if action not in ACTIONS:
        raise InboxError(_("Action inconnue."))
    target, source = ACTIONS[action]
    now = now or utcnow()
    t = Ticket.__table__
    with transaction(app) as conn:
        current = conn.execute(sa.select(t.c.status).where(t.c.id == ticket_id)).scalar()
        if current is None:
            raise InboxError(_("Ce ticket n'existe pas."))
        holder = conn.execute(sa.select(t.c.assigned_to).where(t.c.id == ticket_id)).scalar()
        # Handing an assigned ticket to someone else is a change of hands, not of status.
        reassign = action == "assign_to" and current == "assigned" and holder != staff_email
        if not reassign and (target not in TICKET_MOVES.get(current, set()) or
                             (source is not None and current != source)):
            raise InboxError(_("Impossible : le ticket est « %(status)s ».",
                               status=_(STATUSES.get(current, current))))
        values: dict[str, Any] = {"status": target, "updated_at": now}
        if action in ("assign", "assign_to"):
            values["assigned_to"] = staff_email
        elif action in ("unassign", "reopen"):
            values["assigned_to"] = None
        if target == "closed":
            values["closed_at"] = now
        else:
            values["closed_at"] = None
        done = conn.execute(sa.update(t).where(t.c.id == ticket_id, t.c.status == current)
                            .values(**values))
        if done.rowcount != 1:
            raise InboxError(_("Le ticket vient d'être modifié par quelqu'un d'autre : "
                               "rechargez la page."))
    return current, target


def assignees(app: Flask) -> list[tuple[str, str]]:
    """The accounts a ticket can be given to: active agents and admins, as ``(e-mail, name
    or e-mail)``, by name."""
    from bot.models.staff import StaffUser

    u = StaffUser.__table__
    with transaction(app) as conn:
        rows = conn.execute(sa.select(u.c.email, u.c.name).where(
            u.c.active.is_(True), u.c.role.in_(("agent", "admin")))).all()
    return sorted(((r.email, r.name or r.email) for r in rows), key=lambda r: r[1].lower())


#: Longest internal note and saved reply kept (characters).
NOTE_MAX_CHARS = 2000


def ticket_notes(app: Flask, ticket_id: int) -> list[dict[str, Any]]:
    """The internal notes of a ticket, oldest first (dicts of TicketNote's columns)."""
    n = TicketNote.__table__
    with transaction(app) as conn:
        return [dict(r) for r in conn.execute(sa.select(n).where(n.c.ticket_id == ticket_id)
                                              .order_by(n.c.id)).mappings()]


def add_note(app: Flask, ticket_id: int, body: str, staff_email: str) -> int:
    """Store an internal note (stripped, at most NOTE_MAX_CHARS) on a ticket; returns its id.
    Raises InboxError (French) for an empty note or an unknown ticket."""
    body = (body or "").strip()[:NOTE_MAX_CHARS]
    if not body:
        raise InboxError(_("Écrivez la note avant de l'enregistrer."))
    t, n = Ticket.__table__, TicketNote.__table__
    with transaction(app) as conn:
        if conn.execute(sa.select(t.c.id).where(t.c.id == ticket_id)).scalar() is None:
            raise InboxError(_("Ce ticket n'existe pas."))
        return conn.execute(sa.insert(n).values(ticket_id=ticket_id, body=body,
                                                staff_email=staff_email, created_at=utcnow())
                            .returning(n.c.id)).scalar_one()


def saved_replies(app: Flask, language: str | None = None) -> list[dict[str, Any]]:
    """Saved replies (dicts of SavedReply's columns) of `language` ("fr", "bm"), or all, by
    language then title."""
    r = SavedReply.__table__
    query = sa.select(r).order_by(r.c.language, r.c.title)
    if language:
        query = query.where(r.c.language == language)
    with transaction(app) as conn:
        return [dict(x) for x in conn.execute(query).mappings()]


def save_reply(app: Flask, language: str, title: str, text: str, staff_email: str) -> int:
    """Store a saved reply; returns its id. Raises InboxError (French) for an unknown
    language, or an empty title or text."""
    title, text = (title or "").strip()[:80], (text or "").strip()[:NOTE_MAX_CHARS]
    if language not in LANGUAGES:
        raise InboxError(_("Langue inconnue : choisissez français ou bambara."))
    if not title or not text:
        raise InboxError(_("Donnez un titre et un texte à la réponse enregistrée."))
    r = SavedReply.__table__
    with transaction(app) as conn:
        return conn.execute(sa.insert(r).values(language=language, title=title, text=text,
                                                created_by=staff_email, created_at=utcnow())
                            .returning(r.c.id)).scalar_one()


def outcome_message(result: Mapping[str, Any]) -> tuple[str, str]:
    """The flash ``(category, French text)`` for a :func:`bot.content_store.reply_ticket`
    result (statuses "sent", "queued" (SMS gateway retrying), "failed", "not_sendable"; the
    error is a Twilio code, explained from docs/twilio.md, or a reason as text)."""
    channel = _(CHANNELS.get(result.get("channel"), str(result.get("channel"))))
    status = result.get("status")
    after = _("Le ticket est fermé.") if result.get("closed", True) else \
        _("Le ticket reste ouvert.")
    if status == "sent":
        return "info", _("Réponse envoyée par %(channel)s.", channel=channel) + " " + after
    if status == "queued":  # the SMS gateway will retry (bot.content_store)
        return "warning", _("Réponse enregistrée : la passerelle SMS n'a pas pu l'envoyer tout "
                            "de suite et réessaiera automatiquement.") + " " + after
    if status == "not_sendable":
        return "error", _("Réponse non envoyée : aucun canal ouvert vers cette personne.") + \
            " " + after
    error = result.get("error")
    if isinstance(error, int):
        meaning = TWILIO_ERRORS.get(error)
        detail = _("erreur Twilio %(code)s", code=error) + (f" : {_(meaning)}" if meaning else "")
    elif error and ("TWILIO_" in str(error) or "SMSGATE_" in str(error)):
        # A sender that is not configured: say so in French, with the settings' names.
        names = ", ".join(sorted(set(re.findall(r"(?:TWILIO|SMSGATE)_[A-Z_]+", str(error)))))
        detail = _("l'envoi n'est pas configuré sur le serveur (réglages manquants : "
                   "%(names)s)", names=names)
    elif error:
        detail = _("motif : %(what)s", what=str(error)[:200])
    else:
        detail = _("raison inconnue")
    return "error", _("Échec de l'envoi par %(channel)s — %(detail)s. Le ticket reste ouvert : "
                      "vous pouvez réessayer.", channel=channel, detail=detail)


# ------------------------------------------------------------------------------------------
# Media proxy
# ------------------------------------------------------------------------------------------

class MediaError(Exception):
    """A media file that cannot be relayed: ``status`` (404, 502, 503) and a French
    ``reason``."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def media_of(app: Flask, message_id: int, index: int) -> dict[str, str] | None:
    """The stored media entry ``{"url", "content_type"}`` number `index` of message
    `message_id`, or None. The URL is only ever read from the database (never from a
    request), so the proxy cannot be pointed elsewhere (no SSRF)."""
    m = Message.__table__
    with transaction(app) as conn:
        media = conn.execute(sa.select(m.c.media).where(m.c.id == message_id)).scalar()
    if not isinstance(media, list) or not 0 <= index < len(media):
        return None
    entry = media[index]
    if not isinstance(entry, dict) or not entry.get("url"):
        return None
    return {"url": str(entry["url"]), "content_type": str(entry.get("content_type") or "")}


def _allowed_media_url(url: str, settings: Mapping[str, Any]) -> bool:
    """Whether `url` is a Twilio media URL the account credentials may be sent to: https on
    api.twilio.com, or the host of TWILIO_API_BASE_URL (a fake Twilio in tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname == "api.twilio.com":
        return True
    base = settings.get("TWILIO_API_BASE_URL")
    if base:
        own = urlsplit(base)
        return (parts.scheme, parts.netloc) == (own.scheme, own.netloc)
    return False


def open_media(settings: Mapping[str, Any], url: str, range_header: str | None = None):
    """Open the Twilio media file at `url` with the account credentials (HTTP Basic,
    TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN: docs/twilio.md, "MediaUrl0 needs the account
    credentials"), following Twilio's redirect to its media CDN (requests drops the
    credentials when the redirect leaves the host). Returns the streaming
    requests.Response (status 200 or 206; the caller closes it). Raises MediaError: 503 without
    credentials, 502 for an unexpected host, an unreachable Twilio or another answer, 404
    when Twilio no longer has the file.
    """
    import requests

    sid, token = settings.get("TWILIO_ACCOUNT_SID"), settings.get("TWILIO_AUTH_TOKEN")
    if not sid or not token:
        raise MediaError(503, _("Les identifiants Twilio (TWILIO_ACCOUNT_SID, "
                                "TWILIO_AUTH_TOKEN) ne sont pas configurés : impossible de "
                                "récupérer le média."))
    if not _allowed_media_url(url, settings):
        raise MediaError(502, _("L'adresse de ce média n'est pas une adresse de Twilio : "
                                "il n'est pas récupéré."))
    timeout = float(setting(settings, "TWILIO_HTTP_TIMEOUT"))
    headers = {"Range": range_header} if range_header else {}
    try:
        upstream = requests.get(url, auth=(sid, token), stream=True, timeout=timeout,
                                headers=headers, allow_redirects=True)
    except requests.RequestException as exc:
        log.warning("media fetch failed: %s", type(exc).__name__)
        raise MediaError(502, _("Twilio ne répond pas : réessayez plus tard.")) from None
    if upstream.status_code in (404, 410):
        upstream.close()
        raise MediaError(404, _("Twilio n'a plus ce média (supprimé ou expiré)."))
    if upstream.status_code not in (200, 206):
        log.warning("media fetch answered HTTP %s", upstream.status_code)
        upstream.close()
        if upstream.status_code in (401, 403):
            raise MediaError(502, _("Twilio refuse l'accès au média : vérifiez "
                                    "TWILIO_ACCOUNT_SID et TWILIO_AUTH_TOKEN."))
        raise MediaError(502, _("Twilio a répondu par une erreur (HTTP %(code)s).",
                                code=upstream.status_code))
    length = upstream.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > MAX_MEDIA_BYTES:
        upstream.close()
        raise MediaError(502, _("Média trop volumineux pour être affiché."))
    return upstream


def _safe_content_type(upstream_type: str | None, stored_type: str) -> tuple[str, bool]:
    """The Content-Type to serve and whether to show it inline: audio, image (not SVG) and
    video inline; anything else as a download, so a file never runs as a page of our site."""
    value = (upstream_type or stored_type or "").split(";", 1)[0].strip().lower()
    major = value.split("/", 1)[0]
    if major in ("audio", "video") or (major == "image" and "svg" not in value):
        return value, True
    return "application/octet-stream", False


# ------------------------------------------------------------------------------------------
# Views
# ------------------------------------------------------------------------------------------

def _page_arg() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


@bp.get("/inbox", endpoint="inbox")
@require_role("viewer")
def index():
    """The list of tickets, by tab."""
    tab = request.args.get("tab", "open")
    tab = tab if tab in dict(TABS) else "open"
    page = _page_arg()
    rows, counts = inbox_rows(current_app._get_current_object(), tab, current_user.email, page)
    audit("inbox_view", None, tab=tab, page=page)
    return render_template("admin/inbox.html", rows=rows, counts=counts, tab=tab, page=page,
                           tabs=TABS, reasons=REASONS, statuses=STATUSES, channels=CHANNELS,
                           languages=LANGUAGES, per_page=PER_PAGE)


def _render_ticket(view: TicketView, text: str = "", check: dict[str, Any] | None = None,
                   status: int = 200, revealed: str | None = None, close: bool = False):
    language = (view.contact.language if view.contact is not None else None) or \
        view.ticket.get("language") or current_app.config["ESSBOT_DEFAULT_LANGUAGE"]
    sender_missing = None
    test_contact = view.contact is not None and is_test_phone(view.contact.phone)
    if view.channel in ("sms", "whatsapp") and not test_contact:
        from bot.broadcasts.planner import BroadcastError, check_sender

        try:
            check_sender(current_app.config, [view.channel])
        except BroadcastError as exc:  # said before staff type a reply (newcomer's test)
            sender_missing = ", ".join(re.findall(r"(?:TWILIO|SMSGATE)_[A-Z_]+", str(exc)))
    app = current_app._get_current_object()
    return render_template("admin/inbox_ticket.html", v=view, t=view.ticket, text=text,
                           assignees=assignees(app) if current_user.can("agent") else [],
                           notes=ticket_notes(app, view.ticket["id"]),
                           saved=saved_replies(app, language) if current_user.can("agent")
                           else [], revealed=revealed, close=close,
                           check=check, language=language, reasons=REASONS, statuses=STATUSES,
                           channels=CHANNELS, languages=LANGUAGES, delivery=DELIVERY,
                           max_chars=sms.TWILIO_BODY_LIMIT,
                           sender_missing=sender_missing), status


@bp.get("/inbox/<int:ticket_id>", endpoint="inbox_ticket")
@require_role("viewer")
def ticket(ticket_id: int):
    """One ticket: conversation, registry summary, reply box."""
    view = load_ticket(current_app._get_current_object(), ticket_id)
    if view is None:
        abort(404, _("Ce ticket n'existe pas."))
    audit("ticket_view", f"ticket:{ticket_id}")
    return _render_ticket(view)


#: Seconds during which the same reply text to the same ticket is taken for a double click.
DUPLICATE_SECONDS = 60


def _just_sent(view: TicketView, rendered: str) -> bool:
    """Whether the ticket's last reply, less than DUPLICATE_SECONDS old, had this text."""
    answered = view.ticket.get("answered_at")
    if answered is None or utcnow() - answered > timedelta(seconds=DUPLICATE_SECONDS):
        return False
    return any(m.get("id") == view.ticket.get("reply_message_id") and m.get("body") == rendered
               for m in view.messages)


@bp.post("/inbox/<int:ticket_id>/reply", endpoint="inbox_reply")
@require_role("agent")
def reply(ticket_id: int):
    """"Vérifier" (action=check): show channel and part count; "Envoyer" (action=send):
    answer the ticket on its channel and show the outcome."""
    app = current_app._get_current_object()
    view = load_ticket(app, ticket_id)
    if view is None:
        abort(404, _("Ce ticket n'existe pas."))
    text = request.form.get("text", "")
    close = request.form.get("close") == "1"
    language = (view.contact.language if view.contact is not None else None) or \
        view.ticket.get("language") or app.config["ESSBOT_DEFAULT_LANGUAGE"]
    if request.form.get("action") == "use_saved":
        # Without JavaScript: the chosen saved reply is put in the box (it is not sent).
        chosen = {str(r["id"]): r["text"] for r in saved_replies(app, language)}
        text = chosen.get(request.form.get("saved", ""), text)
    check = parts.parts_report(text[:parts.MAX_TEXT_CHARS], view.channel, language, app.config)
    if request.form.get("action") != "send":
        return _render_ticket(view, text, check, close=close)
    problem = None
    if not text.strip():
        problem = _("Écrivez une réponse avant de l'envoyer.")
    elif len(check["rendered"]) > sms.TWILIO_BODY_LIMIT:
        problem = _("Réponse trop longue : %(n)s caractères, au plus %(max)s en un message.",
                    n=len(check["rendered"]), max=sms.TWILIO_BODY_LIMIT)
    elif view.ticket["status"] == "closed":
        problem = _("Ce ticket est fermé (déjà répondu ?). Rouvrez-le pour envoyer une "
                    "nouvelle réponse.")
    elif _just_sent(view, check["rendered"]):
        # A double click on a slow line: the ticket stays open after a reply now, so the
        # same text sent again within a minute is refused rather than sent twice.
        problem = _("Cette réponse vient d'être envoyée : elle ne part pas une deuxième fois.")
    elif view.channel == "none":
        problem = _("Réponse non envoyée : %(why)s", why=view.why_none)
    if problem:
        flash(problem, "error")
        return _render_ticket(view, text, check, 400, close=close)
    try:
        result = reply_ticket(app, ticket_id, text, close=close, staff_email=current_user.email)
    except TicketError:
        abort(404, _("Ce ticket n'existe pas."))
    audit("ticket_reply", f"ticket:{ticket_id}", channel=result.get("channel"),
          status=result.get("status"), error=result.get("error"), parts=check["parts"],
          message_id=result.get("message_id"), closed=close)
    category, message = outcome_message(result)
    flash(message, category)
    if result.get("status") in ("sent", "queued"):
        return redirect(url_for("admin.inbox_ticket", ticket_id=ticket_id))
    # Failed or not sendable: keep the text in the box so nothing typed is lost.
    return _render_ticket(load_ticket(app, ticket_id) or view, text, check, close=close)


@bp.post("/inbox/<int:ticket_id>/status", endpoint="inbox_status")
@require_role("agent")
def status(ticket_id: int):
    """Assign to me, unassign, close or reopen (action=…)."""
    action = request.form.get("action", "")
    app = current_app._get_current_object()
    assignee = current_user.email
    names = dict(assignees(app))
    if action == "assign_to":
        assignee = request.form.get("assignee", "")
        if assignee not in names:
            flash(_("Ce compte ne peut pas recevoir de ticket (agent ou administrateur actif)."),
                  "error")
            return redirect(url_for("admin.inbox_ticket", ticket_id=ticket_id))
    try:
        old, new = move_ticket(app, ticket_id, action, assignee)
    except InboxError as exc:
        flash(str(exc), "error")
    else:
        audit("ticket_" + action, f"ticket:{ticket_id}", old=old, new=new,
              **({"to": assignee} if action == "assign_to" else {}))
        if action == "assign_to" and assignee != current_user.email:
            done = _("Ticket attribué à %(name)s.", name=names.get(assignee, assignee))
        else:
            done = {"assign": _("Le ticket vous est attribué."),
                    "assign_to": _("Le ticket vous est attribué."),
                    "unassign": _("Ticket remis dans les non attribués."),
                    "close": _("Ticket fermé."), "reopen": _("Ticket rouvert.")}[action]
        flash(done, "info")
    return redirect(url_for("admin.inbox_ticket", ticket_id=ticket_id))


@bp.post("/inbox/<int:ticket_id>/note", endpoint="inbox_note")
@require_role("agent")
def note(ticket_id: int):
    """Add an internal note to a ticket (never sent to the person)."""
    try:
        add_note(current_app._get_current_object(), ticket_id, request.form.get("body", ""),
                 current_user.email)
    except InboxError as exc:
        flash(str(exc), "error")
    else:
        audit("ticket_note", f"ticket:{ticket_id}")  # never the note's text
        flash(_("Note interne enregistrée (la personne ne la voit pas)."), "info")
    return redirect(url_for("admin.inbox_ticket", ticket_id=ticket_id) + "#notes")


@bp.post("/inbox/<int:ticket_id>/reveal", endpoint="inbox_reveal")
@require_role("admin")
def reveal(ticket_id: int):
    """Show an admin the full number of the ticket's person when that person is not in the
    registry (an agent sees registry numbers on the actor's page): to call them back.
    Audited with bot.audit.record_audit (who, which ticket; never the number)."""
    app = current_app._get_current_object()
    view = load_ticket(app, ticket_id)
    if view is None:
        abort(404, _("Ce ticket n'existe pas."))
    if view.contact is None or str(view.contact.phone).startswith("deleted:"):
        flash(_("Le numéro n'est plus connu (données supprimées à la demande de la personne)."),
              "error")
        return redirect(url_for("admin.inbox_ticket", ticket_id=ticket_id))
    if view.actor is not None:
        flash(_("Cette personne est au registre : son numéro est sur sa fiche."), "info")
        return redirect(url_for("admin.inbox_ticket", ticket_id=ticket_id))
    record_audit(app, "phone_reveal", f"ticket:{ticket_id}", staff_id=current_user.id,
                 staff_email=current_user.email, ip=request.remote_addr,
                 detail={"contact": view.contact.id})
    return _render_ticket(view, revealed=view.contact.phone)


@bp.get("/inbox/replies", endpoint="inbox_replies")
@require_role("agent")
def replies():
    """The saved replies, by language, with the form to add one."""
    return render_template("admin/inbox_replies.html", title=_("Réponses enregistrées"),
                           replies=saved_replies(current_app._get_current_object()),
                           languages=LANGUAGES)


@bp.post("/inbox/replies", endpoint="inbox_replies_save")
@require_role("agent")
def replies_save():
    """Add a saved reply (language, title, text) or delete one (``delete=<id>``)."""
    app = current_app._get_current_object()
    if request.form.get("delete", "").isdigit():
        r = SavedReply.__table__
        with transaction(app) as conn:
            conn.execute(sa.delete(r).where(r.c.id == int(request.form["delete"])))
        audit("saved_reply_delete", f"saved_reply:{request.form['delete']}")
        flash(_("Réponse enregistrée supprimée."), "info")
        return redirect(url_for("admin.inbox_replies"))
    try:
        new_id = save_reply(app, request.form.get("language", ""), request.form.get("title", ""),
                            request.form.get("text", ""), current_user.email)
    except InboxError as exc:
        flash(str(exc), "error")
    else:
        audit("saved_reply_add", f"saved_reply:{new_id}", language=request.form["language"])
        flash(_("Réponse enregistrée ajoutée."), "info")
    return redirect(url_for("admin.inbox_replies"))


@bp.get("/media/<int:message_id>/<int:index>", endpoint="inbox_media")
@require_role("viewer")
def media(message_id: int, index: int):
    """Relay media `index` of message `message_id` from Twilio (see :func:`open_media`);
    404/502/503 with a French reason."""
    app = current_app._get_current_object()
    entry = media_of(app, message_id, index)
    if entry is None:
        abort(404, _("Ce média n'existe pas."))
    audit("media_view", f"message:{message_id}", index=index,
          kind=_media_kind(entry["content_type"]))
    try:
        upstream = open_media(app.config, entry["url"], request.headers.get("Range"))
    except MediaError as exc:
        abort(exc.status, exc.reason)
    content_type, inline = _safe_content_type(upstream.headers.get("Content-Type"),
                                              entry["content_type"])

    def relay():
        sent = 0
        try:
            for chunk in upstream.iter_content(64 * 1024):
                sent += len(chunk)
                if sent > MAX_MEDIA_BYTES:
                    break
                yield chunk
        finally:
            upstream.close()

    headers = {"Content-Disposition": "inline" if inline else
               f'attachment; filename="media-{message_id}-{index}"'}
    for name in ("Content-Length", "Content-Range", "Accept-Ranges"):
        if upstream.headers.get(name):
            headers[name] = upstream.headers[name]
    return Response(stream_with_context(relay()), status=upstream.status_code,
                    content_type=content_type, headers=headers)
