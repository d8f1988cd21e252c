"""DIFFUSER: a staff member broadcasts from their own phone by SMS or WhatsApp (issue 7 item 6).

``DIFFUSER <quartier|TOUS> <texte>`` from the phone of an active staff account with the role
agent or admin (`StaffUser.phone`) creates a draft broadcast and answers with its preview:
recipients, SMS parts and estimated cost (the planner's preview, the same numbers as the web
page). Nothing is sent until the same phone answers ``OUI`` (any yes of
bot.understanding.parse_yes_no: oui, awo, ok…) followed by the staff member's personal PIN
(``OUI 4821``) within CONFIRM_MINUTES minutes. ``NON`` or any other message cancels the draft,
and says so; after the delay, OUI or NON is told the announcement expired and nothing was sent
(any other message then goes to the bot as usual).

Choices, and why:

- **Who**: only active agent/admin accounts (the roles that may send from the web pages).
  Anyone else — a stranger, a viewer, a deactivated account — gets the bot's normal answer,
  so the keyword's existence is not revealed. Only the SMS and WhatsApp channels count: the
  simulator and the terminal chat never start a real broadcast.
- **PIN** (issue 14): the sender's number alone proves nothing — an SMS sender can be
  spoofed, and a lost or borrowed phone sends as its owner. The confirmation must carry the
  account's DIFFUSER PIN (4 to 8 digits, set by an admin on the Comptes page or with
  ``essbot staff pin``; stored as a werkzeug scrypt hash like passwords). An account without
  a PIN cannot broadcast by phone. A yes without the right PIN cancels the draft and counts
  one failure in ``staff_user.diffuser_pin_failures``; after MAX_PIN_FAILURES in a row
  DIFFUSER is locked for PIN_LOCK_MINUTES (a new PIN unlocks it), so the PIN cannot be
  guessed by trying. The stored copy of the confirmation has its digits masked. The threat
  model is in the README ("Broadcasting from a phone").
- **Quartier**: read with the registration's fuzzy matcher (bot.understanding.match_quartier)
  on the first one to three words after DIFFUSER, keeping the words that change the match
  ("Badialan 1", "Dravéla Bolibana", "Point G"); "TOUS" means every contact who has not
  opted out. A quartier the matcher is unsure of is fine: the confirmation names it before
  anything is sent.
- **Languages**: the phone's text is French and is sent to everyone; the confirmation says
  that Bambara speakers get the same text unless staff add a translation on the web page
  (editing the draft there ends the phone confirmation; staff then send from the page). A
  staff phone cannot be trusted to type both languages in one SMS.
- **Pending confirmation**: kept in the database, so it survives a restart — the draft
  broadcast itself (author = the staff e-mail) with ``plan = {"diffuser": {"staff_id",
  "phone", "until"}}`` (the plan column is replaced when sending starts). No migration.
- **Audit**: ``create``, ``send`` and ``cancel`` with the account's e-mail and
  ``broadcast:<id>`` (bot.audit.record_audit).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask
from werkzeug.security import check_password_hash

from bot.audit import record_audit
from bot.broadcasts import notices, planner
from bot.broadcasts.errors import staff_message
from bot.broadcasts.models import Broadcast, BroadcastState, InvalidTransition
from bot.channels.base import InboundMessage
from bot.db import get_engine, transaction
from bot.i18n import admin_text as _
from bot.models import Message, utcnow
from bot.models.staff import MAX_PIN_FAILURES, PIN_LOCK_MINUTES, StaffUser
from bot.phones import mask
from bot.understanding import fold, match_quartier, parse_yes_no
from bot.engine import REGISTRATION
from bot.engine.schema import load_dialogs
from bot.broadcasts.tasks import get_queue

log = logging.getLogger(__name__)

#: The command word (folded: "Diffuser", "DIFFUSER:" …).
KEYWORD = "diffuser"
#: Minutes the staff member has to answer OUI.
CONFIRM_MINUTES = 10
#: Roles allowed to broadcast (as on the web pages).
ROLES = ("agent", "admin")
#: Channels on which the command is honoured.
CHANNELS = ("sms", "whatsapp")
#: Folded words meaning "everyone".
ALL_WORDS = ("tous", "tout", "toutes", "tout le monde")
#: Most words of a quartier name after DIFFUSER ("Bamako Coura Bolibana").
MAX_PLACE_WORDS = 3
#: DIFFUSER drafts of one account looked at for a pending confirmation.
_PENDING_SCAN = 20

_WORDS = re.compile(r"\S+")
#: A PIN typed in the confirmation ("OUI 4821", "oui,4821").
_DIGITS = re.compile(r"\d+")
_LEADING_PUNCT = re.compile(r"^[\s:;,.\-–—]+")


@dataclass(frozen=True)
class Command:
    """A parsed DIFFUSER: ``quartier`` (canonical name, or None for everyone) and ``text``;
    or ``error`` ("usage", "no_text", "unknown", "ambiguous") with ``typed`` (what was read
    as the place) and ``candidates``."""

    quartier: str | None = None
    text: str = ""
    error: str | None = None
    typed: str = ""
    candidates: tuple[str, ...] = ()


def is_command(text: str | None) -> bool:
    """Whether `text` starts with the word DIFFUSER (any case, accents, punctuation)."""
    first = _WORDS.search(text or "")
    return first is not None and fold(first.group()) == KEYWORD


def parse_command(text: str, places: Any) -> Command:
    """Read ``DIFFUSER <quartier|TOUS> <texte>``; the text keeps its letters and line breaks.

    `places` is the registration's quartier list (bot.understanding.Places). The quartier is
    the longest prefix of one to MAX_PLACE_WORDS words whose every added word changed or
    improved the match of `match_quartier`; a first word that is ambiguous ("Badialan") and
    not settled by the next ones gives ``ambiguous``. Never raises.
    """
    words = list(_WORDS.finditer(text or ""))
    if len(words) < 2:
        return Command(error="usage")
    rest = words[1:]

    def after(k: int) -> str:
        return _LEADING_PUNCT.sub("", text[rest[k - 1].end():]).strip()

    for phrase in sorted(ALL_WORDS, key=lambda p: -len(p.split())):
        n = len(phrase.split())
        if len(rest) >= n and fold(" ".join(w.group() for w in rest[:n])) == phrase:
            body = after(n)
            return Command(None, body, None if body else "no_text", phrase)
    best: tuple[int, Any] | None = None
    first_ambiguous = None
    for k in range(1, min(MAX_PLACE_WORDS, len(rest)) + 1):
        prefix = text[rest[0].start():rest[k - 1].end()]
        match = match_quartier(prefix, places)
        if match.kind == "quartier":
            if best is None or (match.name != best[1].name and match.score >= best[1].score) \
                    or (match.name == best[1].name and match.score > best[1].score):
                best = (k, match)
        elif match.kind == "ambiguous" and k == 1:
            first_ambiguous = match
    typed = rest[0].group()
    if best is None:
        if first_ambiguous is not None:
            return Command(error="ambiguous", typed=typed, candidates=first_ambiguous.candidates)
        return Command(error="unknown", typed=typed)
    k, match = best
    if first_ambiguous is not None and match.name not in first_ambiguous.candidates:
        return Command(error="ambiguous", typed=typed, candidates=first_ambiguous.candidates)
    body = after(k)
    return Command(match.name, body, None if body else "no_text",
                   text[rest[0].start():rest[k - 1].end()])


def pending_until(plan: Mapping[str, Any] | None) -> datetime | None:
    """The time (aware UTC) until which a DIFFUSER draft waits for OUI, from its ``plan``;
    None for any other broadcast."""
    spec = (plan or {}).get("diffuser") if isinstance(plan, Mapping) else None
    if not spec or not spec.get("until"):
        return None
    try:
        return datetime.fromisoformat(spec["until"])
    except (TypeError, ValueError):
        return None


def _staff_query() -> sa.Select:
    s = StaffUser.__table__
    return sa.select(s.c.id, s.c.email, s.c.role, s.c.diffuser_pin_hash,
                     s.c.diffuser_pin_failures, s.c.diffuser_locked_until).where(
        s.c.phone == sa.bindparam("phone"), s.c.active.is_(True), s.c.role.in_(ROLES))


#: Built once: this lookup runs for every inbound SMS/WhatsApp message, and building a Core
#: statement costs more than running it (bot/conversations.py, _Statements).
_STAFF_BY_PHONE = _staff_query()


def staff_for_phone(app: Flask, phone: str) -> Any | None:
    """The active agent or admin account whose phone is `phone` (E.164): a row with ``id``,
    ``email``, ``role`` and the DIFFUSER PIN columns; None otherwise (one indexed lookup:
    ``staff_user.phone`` is unique)."""
    with get_engine(app).connect() as conn:
        return conn.execute(_STAFF_BY_PHONE, {"phone": phone}).first()


def find_pending(app: Flask, staff: Any) -> Any | None:
    """The newest draft of `staff` still holding a DIFFUSER confirmation (expired or not), or
    None. Returns the Broadcast row (Core)."""
    b = Broadcast.__table__
    with get_engine(app).connect() as conn:
        rows = conn.execute(sa.select(b).where(b.c.state == BroadcastState.DRAFT,
                                               b.c.author == staff.email)
                            .order_by(b.c.id.desc()).limit(_PENDING_SCAN)).all()
    for row in rows:
        spec = (row.plan or {}).get("diffuser") if isinstance(row.plan, dict) else None
        if spec and spec.get("staff_id") == staff.id:
            return row
    return None


def _clear_pending(app: Flask, broadcast_id: int) -> None:
    """Forget the phone confirmation of a draft (it stays a draft on the web pages)."""
    b = Broadcast.__table__
    with transaction(app) as conn:
        conn.execute(sa.update(b).where(b.c.id == broadcast_id,
                                        b.c.state == BroadcastState.DRAFT).values(plan=None))


def _audit(app: Flask, staff: Any, action: str, broadcast_id: int, **detail: Any) -> None:
    record_audit(app, action, f"broadcast:{broadcast_id}", staff_id=staff.id,
                 staff_email=staff.email, detail={"via": "phone", **detail})


def _cancel(app: Flask, staff: Any, broadcast_id: int, reason: str) -> bool:
    """Cancel a pending DIFFUSER draft; False when it had already left the draft state."""
    try:
        planner.cancel(app, broadcast_id)
    except (InvalidTransition, planner.BroadcastNotFound):
        return False
    _audit(app, staff, "cancel", broadcast_id, reason=reason)
    return True


def check_pin(app: Flask, staff: Any, pin: str | None, now: datetime) -> bool:
    """Whether `pin` is the DIFFUSER PIN of `staff` (a row of staff_for_phone), counting the
    result in the database: the right PIN clears the failures; a missing or wrong one adds
    one (an atomic ``+ 1``: two phones' answers at once both count), and the
    MAX_PIN_FAILURES-th locks DIFFUSER until `now` + PIN_LOCK_MINUTES (audited as
    ``diffuser_locked``). A locked account's PIN is not even checked."""
    s = StaffUser.__table__
    locked = staff.diffuser_locked_until is not None and now < staff.diffuser_locked_until
    ok = (not locked and bool(pin) and bool(staff.diffuser_pin_hash)
          and check_password_hash(staff.diffuser_pin_hash, pin))
    with transaction(app) as conn:
        if ok:
            conn.execute(sa.update(s).where(s.c.id == staff.id).values(
                diffuser_pin_failures=0, diffuser_locked_until=None))
            return True
        failures = conn.execute(sa.update(s).where(s.c.id == staff.id).values(
            diffuser_pin_failures=s.c.diffuser_pin_failures + 1)
            .returning(s.c.diffuser_pin_failures)).scalar_one()
        if failures >= MAX_PIN_FAILURES:
            conn.execute(sa.update(s).where(s.c.id == staff.id).values(
                diffuser_pin_failures=0,
                diffuser_locked_until=now + timedelta(minutes=PIN_LOCK_MINUTES)))
    log.warning("DIFFUSER: wrong or missing PIN for staff %s (%d in a row)", staff.id, failures)
    if failures >= MAX_PIN_FAILURES:
        record_audit(app, "diffuser_locked", f"staff:{staff.id}", staff_id=staff.id,
                     staff_email=staff.email, detail={"minutes": PIN_LOCK_MINUTES})
    return False


def _mask_stored_pin(app: Flask, msg: InboundMessage) -> None:
    """Replace the digits of the stored confirmation with ``*`` (the PIN must not sit in
    the message table, the inbox or exports)."""
    m = Message.__table__
    with transaction(app) as conn:
        conn.execute(sa.update(m).where(m.c.provider_sid == msg.provider_sid).values(
            body=_DIGITS.sub(lambda d: "*" * len(d.group()), msg.text or "")))


def _money(amount: float) -> str:
    """An amount as staff read it: "1 250" (no decimals for whole numbers)."""
    text = f"{amount:,.2f}".rstrip("0").rstrip(".")
    return text.replace(",", " ")


@dataclass(frozen=True)
class Claim:
    """A message DIFFUSER answers: the staff account (row with ``id``, ``email``, ``role``),
    whether it is a DIFFUSER command, and the account's pending draft (or None)."""

    staff: Any
    command: bool
    pending: Any | None


def claim(app: Flask, msg: InboundMessage) -> Claim | None:
    """The inbound hook's first half (bot.conversations.InboundHook, registered by
    bot.app.create_app): whether DIFFUSER answers this stored message.

    None when the message is not for DIFFUSER (not the SMS/WhatsApp channel, not an active
    agent/admin phone, no command and nothing pending): the bot then answers as usual.
    """
    if msg.channel not in CHANNELS:
        return None
    staff = staff_for_phone(app, msg.address)
    if staff is None:
        return None
    command = is_command(msg.text)
    pending = find_pending(app, staff)
    if not command and pending is None:
        return None
    return Claim(staff, command, pending)


def answer(app: Flask, msg: InboundMessage, claim: Claim,
           now: datetime | None = None) -> list[str] | None:
    """The inbound hook's second half: the texts answering a staff phone's DIFFUSER command
    or its answer to a pending confirmation; None for an expired confirmation followed by an
    unrelated message (the bot answers it). bot.conversations calls it once per message (a
    provider retry gets the stored replies). `now` defaults to the current time."""
    now = now or utcnow()
    if claim.command:
        return _start(app, claim.staff, msg, claim.pending, now)
    return _answer(app, claim.staff, msg, claim.pending, now)


def _start(app: Flask, staff: Any, msg: InboundMessage, pending: Any | None,
           now: datetime) -> list[str]:
    """DIFFUSER: create the draft and answer with its preview (or say what is wrong)."""
    nothing = _("Rien n'a été envoyé.")
    if not staff.diffuser_pin_hash:
        return [_("DIFFUSER demande votre code personnel : un administrateur le définit sur "
                  "la page Comptes.") + " " + nothing]
    zone = app.config["ESSBOT_TIMEZONE"]
    if staff.diffuser_locked_until is not None and now < staff.diffuser_locked_until:
        return [_("DIFFUSER est bloqué jusqu'à %(time)s après %(n)s codes faux ; un "
                  "administrateur peut définir un nouveau code.",
                  time=staff.diffuser_locked_until.astimezone(ZoneInfo(zone)).strftime("%H:%M"),
                  n=MAX_PIN_FAILURES) + " " + nothing]
    places = load_dialogs().places(REGISTRATION)
    command = parse_command(msg.text, places)
    usage = _("Écrivez : DIFFUSER <quartier ou TOUS> <texte>. Exemple : DIFFUSER Badialan 1 "
              "Réunion lundi à 9h à la mairie.")
    if command.error == "usage":
        return [usage]
    if command.error == "no_text":
        return [_("Le texte de l'annonce manque.") + " " + usage]
    if command.error == "ambiguous":
        return [_("Quel quartier : %(names)s ? Renvoyez DIFFUSER avec le nom exact.",
                  names=", ".join(command.candidates)) + " " + nothing]
    if command.error == "unknown":
        return [_("Quartier inconnu : « %(typed)s ». Écrivez un quartier de la Commune III "
                  "(ex. Badialan 1, Samé) ou TOUS.", typed=command.typed[:40]) + " " + nothing]
    notes = []
    if pending is not None and _cancel(app, staff, pending.id, "replaced"):
        notes.append(_("L'annonce n°%(id)s en attente est annulée et remplacée.",
                       id=pending.id))
    target = command.quartier or _("tous")
    until = now + timedelta(minutes=CONFIRM_MINUTES)
    title = f"DIFFUSER {target} {now.astimezone(ZoneInfo(zone)).strftime('%d/%m %H:%M')}"
    try:
        broadcast_id = planner.create(
            app, title=title[:120], text_fr=command.text,
            segment={"quartier": [command.quartier]} if command.quartier else {},
            author=staff.email, now=now,
            plan={"diffuser": {"staff_id": staff.id, "phone": msg.address,
                               "until": until.isoformat()}})
    except planner.BroadcastError as exc:
        return [staff_message(exc) + " " + nothing]
    preview = planner.preview(app, broadcast_id, now)
    _audit(app, staff, "create", broadcast_id, recipients=preview["recipients"],
           filters=["quartier"] if command.quartier else [])
    log.info("DIFFUSER from %s: broadcast %s drafted for %d recipients", mask(msg.address),
             broadcast_id, preview["recipients"])
    if not preview["recipients"]:
        _cancel(app, staff, broadcast_id, "no_recipient")
        why = ", ".join(notices.skip_notes(preview["skipped"])) or _("aucun contact")
        return notes + [_("Annonce pour %(target)s : personne ne peut la recevoir (%(why)s).",
                          target=target, why=why) + " " + nothing]
    by_channel = preview["by_channel"]
    sms_n = by_channel.get("sms", 0)
    wa_n = by_channel.get("whatsapp", 0) + by_channel.get("whatsapp_template", 0)
    cost = preview["cost"]
    if preview["parts"]["sms"] and not cost["price_per_part"]:
        cost_text = _("coût inconnu (prix par SMS non réglé)")
    else:
        cost_text = _("coût estimé %(amount)s %(currency)s", amount=_money(cost["total"]),
                      currency=cost["currency"])
    skipped = sum(preview["skipped"].values())
    per_sms = preview["texts"]["fr"]["sms"]["parts"]
    lines = [_("Annonce n°%(id)s pour %(target)s : %(n)s destinataires (%(sms)s par SMS, "
               "%(wa)s par WhatsApp), %(per)s SMS chacun, %(parts)s SMS au total, %(cost)s.",
               id=broadcast_id, target=target, n=preview["recipients"], sms=sms_n, wa=wa_n,
               per=per_sms, parts=preview["parts"]["sms"], cost=cost_text)]
    if skipped:
        lines.append(_("%(n)s autres ne la recevront pas (%(why)s).", n=skipped,
                       why=", ".join(notices.skip_notes(preview["skipped"]))))
    bambara = preview["by_language"].get("bm", 0)
    if bambara:
        lines.append(_("Bambaraphones (%(n)s) : ils recevront ce texte en français, sauf si "
                       "vous ajoutez le bambara sur la page Annonces.", n=bambara))
    local_until = until.astimezone(ZoneInfo(zone)).strftime("%H:%M")
    lines.append(_("Répondez OUI puis votre code DIFFUSER avant %(time)s pour envoyer, NON "
                   "pour annuler.", time=local_until))
    return notes + [" ".join(lines)]


def _answer(app: Flask, staff: Any, msg: InboundMessage, pending: Any,
            now: datetime) -> list[str] | None:
    """The answer to a pending confirmation: OUI with the right PIN sends, anything else
    cancels (a yes with a missing or wrong PIN counts a failure: check_pin); after the delay
    OUI/NON are told it expired, other messages go to the bot (None)."""
    pins = _DIGITS.findall(msg.text or "")
    if pins:
        _mask_stored_pin(app, msg)
    yes = parse_yes_no(_DIGITS.sub(" ", msg.text or ""))
    until = pending_until(pending.plan)
    phone = ((pending.plan or {}).get("diffuser") or {}).get("phone")
    if until is None or now > until or phone != msg.address:
        _cancel(app, staff, pending.id, "expired")
        if yes is None:
            return None
        return [_("Délai de %(n)s minutes dépassé : l'annonce n°%(id)s est annulée, rien n'a "
                  "été envoyé. Renvoyez DIFFUSER pour recommencer.", n=CONFIRM_MINUTES,
                  id=pending.id)]
    if yes is not True:
        _cancel(app, staff, pending.id, "refused" if yes is False else "other_answer")
        text = _("Annonce n°%(id)s annulée : rien n'a été envoyé.", id=pending.id)
        if yes is None:
            text += " " + _("(Seul OUI et votre code confirment l'envoi.)")
        return [text]
    if not check_pin(app, staff, pins[-1] if pins else None, now):
        _cancel(app, staff, pending.id, "wrong_pin")
        text = _("Code absent ou faux : l'annonce n°%(id)s est annulée, rien n'a été envoyé.",
                 id=pending.id)
        if (staff.diffuser_pin_failures or 0) + 1 >= MAX_PIN_FAILURES:
            text += " " + _("DIFFUSER est bloqué pendant %(n)s minutes.", n=PIN_LOCK_MINUTES)
        return [text]
    try:
        plan = get_queue(app).send_now(pending.id, now)
    except InvalidTransition:
        return [_("L'annonce n°%(id)s n'attend plus de confirmation (déjà envoyée ou "
                  "annulée).", id=pending.id)]
    except planner.BroadcastError as exc:
        _clear_pending(app, pending.id)
        return [staff_message(exc) + " " + _("L'annonce n°%(id)s reste en brouillon sur la "
                                            "page Annonces.", id=pending.id)]
    _audit(app, staff, "send", pending.id, mode="now", recipients=plan["recipients"],
           pending=plan["pending"], sms_parts=plan["parts"]["sms"], cost=plan["cost"]["total"])
    log.info("DIFFUSER from %s: broadcast %s sending to %d", mask(msg.address), pending.id,
             plan["pending"])
    text = _("Envoi lancé : annonce n°%(id)s, %(n)s messages.", id=pending.id, n=plan["pending"])
    base = app.config.get("ESSBOT_PUBLIC_URL")
    if base:
        url = f"{base}/admin/broadcasts/{pending.id}"
        text += " " + _("Suivi : %(url)s", url=url)
    return [text]
