"""Staff interface: Annonces (issue 7 item 6) — compose, preview, send, follow broadcasts.

Every number on these pages comes from the broadcast engine (bot/broadcasts/): the segment
count from `segments.count`, the SMS parts of a text from `planner.render` (the very function
that renders what is sent, so a broadcast without Bambara text is counted in French for
Bambara speakers, as it will be sent), the preview from `planner.preview`, the send from the
queue's `send_now` / `planner.schedule`, the report from `planner.status`. This module only
adds what a page needs on top: French labels, the list with progress counts, failures by
channel and error code, and the failures CSV.

Pages and endpoints (all under ``/admin``; *viewer* reads, *agent* acts):

==================================  ========  ==================================================
``GET /broadcasts``                 viewer    list: title, state, schedule (Bamako), author,
                                              recipients, parts, cost, progress
``GET|POST /broadcasts/new``        agent     compose: texts FR + BM, segment builder, channel
                                              policy, "send when confirmed" or a time
``GET|POST /broadcasts/<id>/edit``  agent     the same form for a draft
``GET /broadcasts/count``           agent     JSON recipient count of the filters in the query
``POST /broadcasts/parts``          agent     JSON SMS parts of the texts (the JS live count)
``GET /broadcasts/<id>``            viewer    preview before sending / progress and report after
``GET /broadcasts/<id>/status``     viewer    JSON progress (the optional JS polling)
``POST /broadcasts/<id>/send``      agent     send now, or schedule at the draft's time
``POST /broadcasts/<id>/cancel``    agent     cancel (what is not yet handed to Twilio)
``GET /broadcasts/<id>/failures``   agent     CSV of recipients who got nothing (full phones,
                                              audited: staff call them)
==================================  ========  ==================================================

Audited actions (bot.admin.audit): ``create``, ``edit``, ``send`` (now or scheduled),
``cancel``, ``export`` — target ``broadcast:<id>``; details hold counts, never texts or phones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from bot import sms
from bot.admin import _, audit, bamako_time, bp, number, require_role
from bot.admin.parts import ucs2_note
from bot.broadcasts import planner, segments
from bot.broadcasts import notices
from bot.broadcasts.errors import staff_message
from bot.broadcasts.models import Broadcast, BroadcastState, InvalidTransition, Outbox, OutboxState
from bot.db import get_engine
from bot.i18n import N_
from bot.i18n import admin_ngettext as ngettext
from bot.models import Actor, Contact, utcnow
from bot.engine import REGISTRATION
from bot.engine.schema import load_dialogs
from bot.registry import fields as F
from bot.registry import filters
from bot.broadcasts.diffuser import pending_until as until
from bot.registry.export import CSV_DELIMITER
from bot.broadcasts.tasks import get_queue

#: Broadcasts per page of the list.
PAGE_SIZE = 50
#: A text needing at least this many SMS parts gets a warning (the preview's rule).
MANY_PARTS = notices.MANY_PARTS
#: Longest text the parts endpoint measures (Twilio's body limit with room to spare).
MAX_TEXT_CHARS = 5000

STATE_LABELS = {
    BroadcastState.DRAFT: N_("Brouillon"),
    BroadcastState.SCHEDULED: N_("Programmée"),
    BroadcastState.SENDING: N_("Envoi en cours"),
    BroadcastState.SENT: N_("Envoyée"),
    BroadcastState.CANCELLED: N_("Annulée"),
    BroadcastState.FAILED: N_("Échec"),
}
STATE_BADGES = {BroadcastState.SENT: "ok", BroadcastState.SENDING: "warn",
                BroadcastState.SCHEDULED: "warn", BroadcastState.FAILED: "err",
                BroadcastState.CANCELLED: "err"}

#: Why a recipient gets nothing (bot.broadcasts.models.SKIP_REASONS), for staff.
SKIP_LABELS = {
    "test_phone": N_("téléphone de test du simulateur : jamais contacté"),
    "demo_contact": N_("contact de démonstration (numéro hors du plan du Mali) : jamais "
                       "contacté"),
    "opted_out": N_("désabonné (a écrit STOP) : jamais contacté"),
    "no_consent": N_("pas d'accord pour recevoir les annonces (la personne peut écrire "
                     "ABONNER ; un agent peut le noter sur sa fiche)"),
    "no_channel": N_("aucun canal : n'a jamais écrit au bot et le numéro n'est pas un mobile"),
    "whatsapp_window_closed": N_("fenêtre WhatsApp de 24 h fermée, pas de modèle approuvé "
                                 "ni de SMS possible"),
    "invalid_number": N_("numéro refusé par Twilio (invalide ou pas un mobile)"),
    "other": N_("autre raison"),
}

#: Twilio error codes explained (docs/twilio.md "Errors worth handling"; 30008 is
#: Twilio's "Unknown error" of its error dictionary, https://www.twilio.com/docs/api/errors).
ERROR_LABELS = {
    20429: N_("trop de requêtes à la fois chez Twilio (réessayé automatiquement)"),
    21211: N_("numéro invalide"),
    21610: N_("la personne a répondu STOP : désabonnée, ne plus lui écrire"),
    21614: N_("pas un numéro de mobile : ne peut pas recevoir de SMS"),
    30003: N_("téléphone injoignable (éteint ou hors réseau) : réessayer plus tard"),
    30005: N_("numéro inconnu ou qui n'existe plus : ne pas réessayer"),
    30006: N_("ligne fixe ou opérateur injoignable : ne pas réessayer"),
    30007: N_("message filtré par l'opérateur"),
    30008: N_("erreur inconnue de l'opérateur : réessayer, puis signaler à Twilio"),
    30450: N_("bloqué par la protection contre la fraude aux SMS de Twilio"),
    30453: N_("bloqué par la protection contre la fraude aux SMS de Twilio"),
    63016: N_("hors de la fenêtre WhatsApp de 24 h : seul un modèle approuvé peut être envoyé"),
    63018: N_("limite de débit WhatsApp atteinte"),
}

CHANNEL_LABELS = {"sms": N_("SMS"), "whatsapp": N_("WhatsApp"),
                  "whatsapp_template": N_("WhatsApp (modèle approuvé)"), "none": N_("aucun")}
POLICY_LABELS = {
    "auto": N_("Automatique : le dernier canal de chaque personne (WhatsApp hors fenêtre de "
               "24 h → modèle approuvé, sinon SMS)"),
    "sms": N_("SMS uniquement"),
    "whatsapp": N_("WhatsApp uniquement"),
}
LANGUAGE_LABELS = {"fr": N_("Français"), "bm": N_("Bambara")}
FIELD_LABELS = {"quartier": N_("Quartier"), "sector": N_("Secteur"), "kind": N_("Type"),
                "gender": N_("Genre"), "needs": N_("Besoins déclarés"),
                "age": N_("Tranche d'âge"), "language": N_("Langue"),
                "channel": N_("A écrit par"), "registered": N_("Inscription au registre")}
#: Labels of values the registration dialog words for the person, not for staff.
_VALUE_LABELS = {"kind": {"individu": N_("Individu"), "organisation": N_("Organisation")},
                 "language": LANGUAGE_LABELS,
                 "channel": {"sms": N_("SMS"), "whatsapp": N_("WhatsApp")},
                 "registered": {"oui": N_("inscrit (fiche confirmée)"),
                                "non": N_("pas inscrit")}}


# --- the segment builder ---------------------------------------------------------------------

def segment_choices() -> list[dict[str, Any]]:
    """The segment builder's fields, in bot.broadcasts.segments.FIELDS order.

    Returns ``[{"field", "label", "widget", "options": [(value, label)]}]``: ``widget`` is
    ``"checkboxes"`` (any of the values), ``"radio"`` (registered: one or none) or ``"text"``
    (age bands). Values and labels come from the registration dialog (option keys and
    labels) and the quartier list (dialogs/places/commune3.yaml), the very lists segments.py
    checks filters against.
    """
    dialogs = load_dialogs()
    labels = {field: dict(F.options(short=True).get(field, ()))
              for field in ("sector", "gender", "needs")}
    options: dict[str, list[tuple[str, str]]] = {
        "quartier": [(name, name) for name in dialogs.places(REGISTRATION).names()]}
    for field, keys in filters.option_fields().items():
        shown = {**labels.get(field, {}), **_VALUE_LABELS.get(field, {})}
        options[field] = [(key, _(shown.get(key, key))) for key in keys]
    for field in ("language", "channel", "registered"):
        options[field] = [(key, _(label)) for key, label in _VALUE_LABELS[field].items()]
    out = []
    for field in segments.FIELDS:
        widget = "text" if field == "age" else "radio" if field == "registered" else "checkboxes"
        out.append({"field": field, "label": _(FIELD_LABELS[field]), "widget": widget,
                    "options": options.get(field, [])})
    return out


def segment_from_args(args: Mapping[str, Any]) -> dict[str, list[str]]:
    """The checked segment definition of the builder's form fields (a MultiDict: one list
    per field of segments.FIELDS; ``age`` holds bands separated by commas). The empty
    definition is every contact who has not opted out. Raises segments.SegmentError."""
    raw: dict[str, list[str]] = {}
    for field in segments.FIELDS:
        values = [v.strip() for v in args.getlist(field) if v and v.strip()]
        if field == "age":
            values = [part.strip() for v in values for part in v.split(",") if part.strip()]
        if values:
            raw[field] = values
    return segments.normalize(raw)


def segment_summary(definition: Mapping[str, list[str]] | None) -> str:
    """The segment in one French line ("Quartier : Badialan I · Langue : Bambara"), or
    "Tous les contacts abonnés" for the empty definition."""
    if not definition:
        return _("Tous les contacts abonnés (accord pour les annonces, pas de STOP)")
    choices = {c["field"]: dict(c["options"]) for c in segment_choices()}
    parts = []
    for field, values in definition.items():
        shown = [choices.get(field, {}).get(v, v) for v in values]
        parts.append(f"{_(FIELD_LABELS.get(field, field))} : {', '.join(shown)}")
    return " · ".join(parts)


def count_segment(app: Flask, definition: Mapping[str, list[str]], policy: str = "auto",
                  now: datetime | None = None) -> dict[str, Any]:
    """`planner.count` of a checked definition and channel `policy` (the very decisions of
    the preview and the send): ``{"contacts", "recipients", "reachable", "opted_out",
    "skipped", "by_channel", "notes"}`` — ``notes`` the French words for each reason with
    left-out contacts ("3 sans accord pour les annonces"), in SKIP_REASONS order. An unknown
    policy counts as ``auto``."""
    counts = planner.count(app, definition, policy if policy in POLICY_LABELS else "auto",
                           now or utcnow())
    counts["notes"] = notices.skip_notes(counts["skipped"])
    return counts


def text_parts(app: Flask, title: str, text_fr: str, text_bm: str | None) -> dict[str, Any]:
    """What each language's text costs as it will be sent: ``{"fr": {"sms": {"parts",
    "encoding", "characters", "body"}, "whatsapp": {…}}, "bm": {…, "same_as_fr": bool},
    "max_parts": ESSBOT_SMS_MAX_SEGMENTS}`` from `planner.render` (empty texts count 0)."""
    texts = planner.Texts(title or "", text_fr or "", (text_bm or "").strip() or None)
    out: dict[str, Any] = {"max_parts": int(app.config["ESSBOT_SMS_MAX_SEGMENTS"]),
                           "many_parts": MANY_PARTS}
    for language in ("fr", "bm"):
        shown: dict[str, Any] = {}
        for channel in ("sms", "whatsapp"):
            rendered = planner.render(texts, language, channel, "text", app.config)
            info = rendered.as_dict()
            if channel == "sms" and "body" in info:
                # Which characters make it UCS-2: named on the page (bot.admin.parts.ucs2_note).
                info["ucs2_characters"] = sms.analyze(info["body"]).ucs2_characters
            if not texts.text(language).strip():
                info["parts"] = 0
            shown[channel] = info
        shown["same_as_fr"] = language == "bm" and texts.bm is None
        out[language] = shown
    return out


def text_warnings(parts: Mapping[str, Any]) -> dict[str, list[str]]:
    """French warnings per language for `text_parts` output: many parts (more than
    ESSBOT_SMS_MAX_SEGMENTS or at least MANY_PARTS), UCS-2, no Bambara text."""
    out: dict[str, list[str]] = {}
    for language in ("fr", "bm"):
        sms_info = parts[language]["sms"]
        notes = []
        n = sms_info.get("parts", 0)
        if n >= MANY_PARTS or n > parts["max_parts"]:
            notes.append(_("Ce texte prend %(n)s SMS par personne : raccourcissez-le si possible "
                           "(chaque partie est payée).", n=n))
        if n and sms_info.get("encoding") == "UCS-2":
            note = ucs2_note(sms_info.get("ucs2_characters") or [])
            notes.append(note[:1].upper() + note[1:] + ".")
        if language == "bm" and parts["bm"]["same_as_fr"]:
            notes.append(_("Pas de texte en bambara : les bambaraphones recevront le texte "
                           "français."))
        out[language] = notes
    return out


# --- list and report -------------------------------------------------------------------------

def progress(app: Flask, ids: list[int]) -> dict[int, dict[str, int]]:
    """Outbox progress of broadcasts `ids` in one query: ``{id: {"sent", "delivered",
    "failed", "skipped", "open", "cancelled", "total"}}``. ``sent`` = accepted by Twilio;
    ``delivered`` = of them, delivered or read (status callbacks); ``failed`` = refused, or
    accepted then failed/undelivered (:func:`bot.broadcasts.planner.outcome`: then not
    counted as sent, so that every table of the report agrees); ``open`` = still to send."""
    out = {i: {"sent": 0, "delivered": 0, "failed": 0, "skipped": 0, "open": 0,
               "cancelled": 0, "total": 0} for i in ids}
    if not ids:
        return out
    o = Outbox.__table__
    with get_engine(app).connect() as conn:
        rows = conn.execute(sa.select(o.c.broadcast_id, o.c.state, o.c.status, sa.func.count())
                            .where(o.c.broadcast_id.in_(ids))
                            .group_by(o.c.broadcast_id, o.c.state, o.c.status)).all()
    for broadcast_id, state, status, n in rows:
        counts = out[broadcast_id]
        counts["total"] += n
        state = planner.outcome(state, status)  # accepted then undelivered: a failure
        if state == OutboxState.SENT:
            counts["sent"] += n
            if status in ("delivered", "read"):
                counts["delivered"] += n
        elif state == OutboxState.FAILED:
            counts["failed"] += n
        elif state == OutboxState.SKIPPED:
            counts["skipped"] += n
        elif state == OutboxState.CANCELLED:
            counts["cancelled"] += n
        else:
            counts["open"] += n
    return out


def list_broadcasts(app: Flask, page: int = 1) -> tuple[list[dict[str, Any]], int]:
    """One page of broadcasts, newest first, with their progress: ``(rows, total)``. Each row
    has the Broadcast columns plus ``progress`` (see `progress`), ``recipients``, ``parts``
    and ``cost`` (from the plan stored when sending started; None before)."""
    b = Broadcast.__table__
    with get_engine(app).connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(b)).scalar_one()
        rows = conn.execute(sa.select(b.c.id, b.c.title, b.c.state, b.c.scheduled_at,
                                      b.c.author, b.c.plan, b.c.created_at, b.c.started_at)
                            .order_by(b.c.id.desc()).limit(PAGE_SIZE)
                            .offset((max(1, page) - 1) * PAGE_SIZE)).mappings().all()
    counts = progress(app, [r["id"] for r in rows])
    out = []
    for row in rows:
        plan = row["plan"] if row["started_at"] is not None else None
        out.append({**row, "progress": counts[row["id"]],
                    "recipients": plan.get("recipients") if plan else None,
                    "parts": plan.get("parts") if plan else None,
                    "cost": plan.get("cost") if plan else None,
                    "pending_until": pending_until(row["plan"])})
    return out, total


def pending_until(plan: Mapping[str, Any] | None) -> datetime | None:
    """When a DIFFUSER draft stops waiting for its "OUI" (bot.broadcasts.diffuser), or None."""
    return until(plan)


def failures_by_channel(app: Flask, broadcast_id: int) -> list[dict[str, Any]]:
    """Recipients who got nothing, grouped by channel and Twilio error code: ``[{"channel",
    "code", "n", "label"}]`` (refused by Twilio, or accepted then failed/undelivered), most
    frequent first."""
    o = Outbox.__table__
    failed = sa.or_(o.c.state == OutboxState.FAILED,
                    sa.and_(o.c.state == OutboxState.SENT,
                            o.c.status.in_(planner.DELIVERY_FAILED)))
    with get_engine(app).connect() as conn:
        rows = conn.execute(sa.select(o.c.channel, o.c.kind, o.c.error_code, sa.func.count())
                            .where(o.c.broadcast_id == broadcast_id, failed)
                            .group_by(o.c.channel, o.c.kind, o.c.error_code)).all()
    out = []
    for channel, kind, code, n in rows:
        name = channel if kind == "text" else f"{channel}_{kind}"
        out.append({"channel": name, "code": code, "n": n, "label": error_label(code)})
    return sorted(out, key=lambda r: (-r["n"], r["channel"], r["code"] or 0))


def error_label(code: int | None) -> str:
    """The French explanation of a Twilio error code ("" for None; a pointer to Twilio's
    error dictionary for codes not explained here)."""
    if code is None:
        return _("sans code d'erreur (passerelle SMS, ou service injoignable après plusieurs "
                 "essais)")
    label = ERROR_LABELS.get(int(code))
    if label:
        return _(label)
    return _("voir https://www.twilio.com/docs/api/errors/%(code)s", code=code)


#: Columns of the failures CSV (French headers: staff open it in Excel).
FAILURE_COLUMNS = (N_("téléphone"), N_("nom"), N_("quartier"), N_("langue"), N_("canal"),
                   N_("état"), N_("statut Twilio"), N_("code erreur"), N_("explication"))


def _safe_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP "CSV injection"): text
    a person typed (a name) starting with = + - @ gets a leading apostrophe. Phones are
    written by the bot in E.164 and kept as they are."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def failures_csv(app: Flask, broadcast_id: int) -> tuple[str, int]:
    """The CSV (UTF-8 text with a BOM, comma-separated like `essbot actors export`) of every
    recipient who got nothing: failed, undelivered, or skipped (no channel, window closed,
    refused number) — with the full phone, the registry name and quartier, channel, state,
    Twilio status, error code and its French explanation. Returns ``(text, rows)``."""
    o, c, a = Outbox.__table__, Contact.__table__, Actor.__table__
    failed = sa.or_(o.c.state.in_((OutboxState.FAILED, OutboxState.SKIPPED)),
                    sa.and_(o.c.state == OutboxState.SENT,
                            o.c.status.in_(planner.DELIVERY_FAILED)))
    query = (sa.select(c.c.phone, sa.func.coalesce(a.c.name, a.c.org_name).label("name"),
                       a.c.quartier, o.c.language, o.c.channel, o.c.kind, o.c.state,
                       o.c.status, o.c.error_code, o.c.skip_reason)
             .select_from(o.join(c, c.c.id == o.c.contact_id)
                          .outerjoin(a, a.c.contact_id == c.c.id))
             .where(o.c.broadcast_id == broadcast_id, failed).order_by(o.c.id))
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER)
    writer.writerow([_(h) for h in FAILURE_COLUMNS])
    n = 0
    with get_engine(app).connect() as conn:
        for row in conn.execute(query):
            if row.state == OutboxState.SKIPPED:
                state, why = _("non envoyé"), _(SKIP_LABELS.get(row.skip_reason or "other",
                                                                SKIP_LABELS["other"]))
            else:
                state, why = _("échec"), error_label(row.error_code)
            channel = row.channel if row.kind == "text" else f"{row.channel}_{row.kind}"
            writer.writerow([row.phone, _safe_cell(row.name), row.quartier or "",
                             _(LANGUAGE_LABELS.get(row.language, row.language)),
                             _(CHANNEL_LABELS.get(channel, channel)), state, row.status or "",
                             row.error_code or "", why])
            n += 1
    return buffer.getvalue(), n


# --- forms -----------------------------------------------------------------------------------

class BroadcastForm(FlaskForm):
    """The compose form's own fields; the segment fields are read from the request by
    `segment_from_args` (their names are segments.FIELDS)."""

    title = StringField(N_("Titre (pour le personnel ; variable des modèles WhatsApp)"),
                        validators=[DataRequired(N_("Le titre est obligatoire.")),
                                    Length(max=120)])
    text_fr = TextAreaField(N_("Texte en français"),
                            validators=[DataRequired(N_("Le texte en français est "
                                                        "obligatoire.")),
                                        Length(max=MAX_TEXT_CHARS)])
    text_bm = TextAreaField(N_("Texte en bambara (vide : le texte français est envoyé)"),
                            validators=[Optional(), Length(max=MAX_TEXT_CHARS)])
    channel_policy = SelectField(N_("Canal"), choices=list(POLICY_LABELS.items()),
                                 default="auto")
    when = RadioField(N_("Quand"), choices=[("now", N_("Dès que j'ai confirmé l'aperçu")),
                                            ("at", N_("À une heure précise (heure de Bamako)"))],
                      default="now")
    at = StringField(N_("Date et heure (heure de Bamako)"), validators=[Optional()],
                     render_kw={"type": "datetime-local"})


def read_local_time(value: str | None, timezone: str) -> datetime | None:
    """A ``datetime-local`` input (``2026-12-01T09:30``, or with a space) read in `timezone`
    (ESSBOT_TIMEZONE) as an aware UTC datetime with `planner.parse_local_time` — never the
    server's own zone. None for an empty value; raises planner.BroadcastError otherwise."""
    if not value or not value.strip():
        return None
    text = value.strip().replace("T", " ")[:16]
    return planner.parse_local_time(text, timezone)


def _form_values(form: BroadcastForm) -> dict[str, Any]:
    return {"title": form.title.data or "", "text_fr": form.text_fr.data or "",
            "text_bm": form.text_bm.data or None, "channel_policy": form.channel_policy.data}


def _local_input(value: datetime | None) -> str:
    """An aware datetime as a ``datetime-local`` value in ESSBOT_TIMEZONE."""
    if value is None:
        return ""
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(current_app.config["ESSBOT_TIMEZONE"])).strftime(
        "%Y-%m-%dT%H:%M")


def _compose(broadcast: Any | None):
    """The compose page for a new broadcast (`broadcast` None) or a draft; handles the
    "Compter" (count and parts, nothing saved) and "Prévisualiser" (save the draft, show
    the preview) submits."""
    app = current_app._get_current_object()
    if request.method == "GET" and broadcast is not None:
        form = BroadcastForm(data={"title": broadcast.title, "text_fr": broadcast.text_fr,
                                   "text_bm": broadcast.text_bm or "",
                                   "channel_policy": broadcast.channel_policy,
                                   "when": "at" if broadcast.scheduled_at else "now",
                                   "at": _local_input(broadcast.scheduled_at)})
        chosen = broadcast.segment or {}
    else:
        form = BroadcastForm()
        chosen = {}
    count = parts = None
    errors: list[str] = []
    if request.method == "POST":
        try:
            chosen = segment_from_args(request.form)
        except segments.SegmentError as exc:
            errors.append(staff_message(exc))
            chosen = {f: request.form.getlist(f) for f in segments.FIELDS
                      if request.form.getlist(f)}
        planned = None
        if form.when.data == "at" and "count" not in request.form:
            try:
                planned = read_local_time(form.at.data, app.config["ESSBOT_TIMEZONE"])
            except planner.BroadcastError:
                errors.append(_("Date et heure illisibles : utilisez le sélecteur (AAAA-MM-JJ "
                                "HH:MM, heure de Bamako)."))
            if planned is None and not errors:
                errors.append(_("Choisissez la date et l'heure d'envoi, ou « Dès que j'ai "
                                "confirmé »."))
        valid = "count" not in request.form and form.validate_on_submit()
        if not errors and "count" not in request.form and valid:
            try:
                if broadcast is None:
                    broadcast_id = planner.create(app, **_form_values(form), segment=chosen,
                                                  planned_at=planned,
                                                  author=current_user.email)
                    audit("create", f"broadcast:{broadcast_id}",
                          filters=sorted(chosen), scheduled=planned is not None)
                else:
                    broadcast_id = broadcast.id
                    planner.update_draft(app, broadcast_id, **_form_values(form),
                                         segment=chosen, planned_at=planned)
                    audit("edit", f"broadcast:{broadcast_id}", filters=sorted(chosen),
                          scheduled=planned is not None)
            except (planner.BroadcastError, segments.SegmentError,
                    InvalidTransition) as exc:
                errors.append(staff_message(exc))
            else:
                return redirect(url_for("admin.broadcasts_view", broadcast_id=broadcast_id))
        if not errors or "count" in request.form:
            try:
                count = count_segment(app, segments.normalize(chosen),
                                      form.channel_policy.data or "auto")
            except segments.SegmentError:
                count = None
        for message in errors:
            flash(message, "error")
    else:
        count = count_segment(app, segments.normalize(chosen), form.channel_policy.data or "auto")
    parts = text_parts(app, form.title.data or "", form.text_fr.data or "", form.text_bm.data)
    return render_template("admin/broadcast_form.html", form=form, broadcast=broadcast,
                           choices=segment_choices(), chosen=chosen, count=count, parts=parts,
                           warnings=text_warnings(parts) if parts else None,
                           timezone=app.config["ESSBOT_TIMEZONE"])


@bp.app_template_filter("bcast_money")
def money(amount: float | None) -> str:
    """An amount in ESSBOT_CURRENCY as staff read it: "1 250", "12,5" (French separators,
    no needless decimals)."""
    if amount is None:
        return "—"
    text = f"{float(amount):,.2f}".rstrip("0").rstrip(".")
    return text.replace(",", "\u202f").replace(".", ",")


# --- views -----------------------------------------------------------------------------------

def _row_or_404(broadcast_id: int) -> Any:
    try:
        return planner.get(current_app._get_current_object(), broadcast_id)
    except planner.BroadcastNotFound:
        abort(404, _("Cette annonce n'existe pas."))


@bp.get("/broadcasts", endpoint="broadcasts")
@require_role("viewer")
def index():
    """The list of broadcasts, newest first (PAGE_SIZE a page)."""
    page = request.args.get("page", 1, type=int) or 1
    rows, total = list_broadcasts(current_app._get_current_object(), page)
    return render_template("admin/broadcasts.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // PAGE_SIZE)), labels=STATE_LABELS,
                           badges=STATE_BADGES, now=utcnow())


@bp.route("/broadcasts/new", methods=["GET", "POST"], endpoint="broadcasts_new")
@require_role("agent")
def new():
    """Compose a broadcast."""
    return _compose(None)


@bp.route("/broadcasts/<int:broadcast_id>/edit", methods=["GET", "POST"],
          endpoint="broadcasts_edit")
@require_role("agent")
def edit(broadcast_id: int):
    """Change a draft (other states cannot change: the page says so)."""
    row = _row_or_404(broadcast_id)
    if row.state != BroadcastState.DRAFT:
        flash(_("Seul un brouillon peut être modifié."), "error")
        return redirect(url_for("admin.broadcasts_view", broadcast_id=broadcast_id))
    return _compose(row)


@bp.get("/broadcasts/count", endpoint="broadcasts_count")
@require_role("agent")
def count():
    """JSON `count_segment` (``reachable`` the recipients, ``notes`` why the others are left
    out) and ``summary`` for the filters and ``channel_policy`` in the query string (the
    builder's field names); 400 with a French ``error`` for a bad filter."""
    try:
        definition = segment_from_args(request.args)
    except segments.SegmentError as exc:
        return jsonify({"error": staff_message(exc)}), 400
    counts = count_segment(current_app._get_current_object(), definition,
                           request.args.get("channel_policy", "auto"))
    return jsonify({**counts, "summary": segment_summary(definition)})


@bp.post("/broadcasts/parts", endpoint="broadcasts_parts")
@require_role("agent")
def parts():
    """JSON `text_parts` of the form fields ``title``, ``text_fr``, ``text_bm`` (POST: texts
    never travel in URLs, which end up in access logs), with French ``warnings``."""
    texts = {k: request.form.get(k, "") for k in ("title", "text_fr", "text_bm")}
    if any(len(v) > MAX_TEXT_CHARS for v in texts.values()):
        return jsonify({"error": _("Texte trop long : au plus %(n)s caractères.",
                                   n=MAX_TEXT_CHARS)}), 400
    report = text_parts(current_app._get_current_object(), texts["title"], texts["text_fr"],
                        texts["text_bm"] or None)
    return jsonify({**report, "warnings": text_warnings(report)})


@bp.get("/broadcasts/<int:broadcast_id>", endpoint="broadcasts_view")
@require_role("viewer")
def view(broadcast_id: int):
    """Before sending: the planner's preview and the confirm buttons. After: progress and the
    delivery report."""
    app = current_app._get_current_object()
    row = _row_or_404(broadcast_id)
    started = row.started_at is not None
    preview = report = None
    failures: list[dict[str, Any]] = []
    resendable = 0
    if started:
        report = planner.status(app, broadcast_id)
        failures = failures_by_channel(app, broadcast_id)
        if row.state == BroadcastState.SENT:
            with get_engine(app).connect() as conn:
                resendable = planner.resendable(conn, broadcast_id)
    else:
        preview = planner.preview(app, broadcast_id)
    warnings = _preview_warnings(app, preview) if preview and not started else []
    parts = text_parts(app, row.title, row.text_fr, row.text_bm)
    return render_template(
        "admin/broadcast_view.html", b=row, preview=preview, report=report,
        failures=failures, warnings=warnings, parts=parts, progress=progress(app, [row.id])[row.id],
        segment=segment_summary(row.segment), labels=STATE_LABELS, badges=STATE_BADGES,
        skip_labels=SKIP_LABELS, channel_labels=CHANNEL_LABELS, language_labels=LANGUAGE_LABELS,
        policy_labels=POLICY_LABELS, pending=pending_until(row.plan) if not started else None,
        now=utcnow(), resendable=resendable)


def _preview_warnings(app: Flask, preview: Mapping[str, Any]) -> list[str]:
    """The French warnings of a preview: the planner's own list (bot.broadcasts.notices), the
    very one ``essbot broadcast preview`` prints — price unset, many parts, UCS-2, no Bambara
    text, nobody to send to."""
    return [w["message"] if isinstance(w, dict) else str(w)
            for w in preview.get("warnings") or []]


@bp.get("/broadcasts/<int:broadcast_id>/status", endpoint="broadcasts_status")
@require_role("viewer")
def status(broadcast_id: int):
    """JSON progress for the page's optional polling: ``{"state", "state_label", "final",
    "progress": {sent, delivered, failed, skipped, open, cancelled, total}}``."""
    row = _row_or_404(broadcast_id)
    counts = progress(current_app._get_current_object(), [broadcast_id])[broadcast_id]
    return jsonify({"state": row.state, "state_label": _(STATE_LABELS[row.state]),
                    "final": row.state in BroadcastState.FINAL, "progress": counts})


@bp.post("/broadcasts/<int:broadcast_id>/send", endpoint="broadcasts_send")
@require_role("agent")
def send(broadcast_id: int):
    """Confirm: send now (``mode=now``), or schedule a draft at its chosen time
    (``mode=schedule``; the huey ``broadcast_fire`` task is queued for that time)."""
    app = current_app._get_current_object()
    row = _row_or_404(broadcast_id)
    target = f"broadcast:{broadcast_id}"
    back = redirect(url_for("admin.broadcasts_view", broadcast_id=broadcast_id))
    mode = request.form.get("mode", "now")
    try:
        if mode == "schedule":
            if row.scheduled_at is None:
                flash(_("Aucune heure choisie : modifiez le brouillon ou envoyez maintenant."),
                      "error")
                return back
            # Refused now rather than at the scheduled hour, as "send now" is (newcomer's test:
            # a broadcast nothing could send was accepted for tomorrow morning).
            routes = planner.preview(app, broadcast_id).get("by_channel") or {}
            planner.check_sender(app.config, {route.split("_")[0] for route, n in
                                              routes.items() if n})
            planner.schedule(app, broadcast_id, row.scheduled_at)
            audit("send", target, mode="schedule",
                  scheduled_at=planner.local_time(row.scheduled_at,
                                                  app.config["ESSBOT_TIMEZONE"]))
            try:
                get_queue(app).schedule_fire(broadcast_id, row.scheduled_at)
            except Exception:  # noqa: BLE001 — the worker's tick fires it anyway
                current_app.logger.warning("broadcast %s: fire task not queued; the tick will "
                                           "start it", broadcast_id)
            flash(_("Annonce programmée pour le %(at)s (heure de Bamako).",
                    at=bamako_time(row.scheduled_at)),
                  "info")
            return back
        plan = get_queue(app).send_now(broadcast_id)
    except (planner.BroadcastError, InvalidTransition) as exc:
        flash(staff_message(exc), "error")
        return back
    audit("send", target, mode="now", recipients=plan["recipients"], pending=plan["pending"],
          sms_parts=plan["parts"]["sms"], cost=plan["cost"]["total"])
    flash(_("Envoi lancé : %(n)s messages à envoyer.", n=plan["pending"]), "info")
    if plan.get("queue_error"):
        flash(_("La file d'envoi est injoignable : les messages partiront dès qu'elle revient "
                "(le travailleur « essbot worker » les reprend)."), "warning")
    return back


@bp.post("/broadcasts/<int:broadcast_id>/cancel", endpoint="broadcasts_cancel")
@require_role("agent")
def cancel(broadcast_id: int):
    """Cancel: messages not yet handed to Twilio are not sent; those already accepted cannot
    be called back (the flash says how many)."""
    _row_or_404(broadcast_id)
    try:
        result = planner.cancel(current_app._get_current_object(), broadcast_id)
    except (planner.BroadcastError, InvalidTransition) as exc:
        flash(staff_message(exc), "error")
    else:
        audit("cancel", f"broadcast:{broadcast_id}", cancelled=result["cancelled"],
              in_flight=result["in_flight"])
        message = _("Annonce annulée : %(n)s messages ne partiront pas.", n=result["cancelled"])
        if result["in_flight"]:
            message += " " + _("%(n)s messages déjà en route chez Twilio ne peuvent pas être "
                               "rappelés.", n=result["in_flight"])
        flash(message, "info")
    return redirect(url_for("admin.broadcasts_view", broadcast_id=broadcast_id))


@bp.post("/broadcasts/<int:broadcast_id>/resend", endpoint="broadcasts_resend")
@require_role("agent")
def resend(broadcast_id: int):
    """Send again, once, the messages that failed, after the cause was fixed (a finished
    broadcast only); audited."""
    _row_or_404(broadcast_id)
    try:
        result = get_queue(current_app._get_current_object()).resend_failed(broadcast_id)
    except (planner.BroadcastError, InvalidTransition) as exc:
        flash(staff_message(exc), "error")
    else:
        audit("resend", f"broadcast:{broadcast_id}", resent=result["resent"])
        flash(ngettext("%(num)s message en échec renvoyé.", "%(num)s messages en échec renvoyés.",
                       result["resent"]) % {"num": number(result["resent"])}, "info")
    return redirect(url_for("admin.broadcasts_view", broadcast_id=broadcast_id))


@bp.get("/broadcasts/<int:broadcast_id>/failures", endpoint="broadcasts_failures")
@require_role("agent")
def failures(broadcast_id: int):
    """Download the failures CSV (full phone numbers: staff call these people); audited."""
    _row_or_404(broadcast_id)
    text, n = failures_csv(current_app._get_current_object(), broadcast_id)
    audit("export", f"broadcast:{broadcast_id}", rows=n, what="failures")
    return current_app.response_class(
        text, mimetype="text/csv",
        headers={"Content-Disposition":
                 f'attachment; filename="annonce-{broadcast_id}-echecs.csv"'})
