"""SMS part counts for staff texts: ``POST /admin/sms/parts`` and :func:`parts_report`.

Shared by the inbox reply box, the content editor and the broadcast pages. The count comes
from the bot's own functions (:func:`bot.sms.report`, i.e. :func:`bot.sms.render` then
:func:`bot.sms.analyze`), with the app's ESSBOT_SMS_FOLDING, so staff see exactly what the
bot will send and pay for. ``bot/admin/static/parts.js`` calls the endpoint as staff type
(any ``<textarea data-parts-channel="sms" data-parts-language="fr">``); without JavaScript
the pages show the same :func:`parts_report` after a "Vérifier" or "Enregistrer" submit.

The text travels in a POST body (never in a URL: URLs end up in access logs) and is never
logged or audited.
"""

from __future__ import annotations

from typing import Any, Mapping

from flask import abort, current_app, jsonify, request

from bot.config import setting
from bot import sms
from bot.admin import _, bp, require_role

#: Longest text the endpoint measures, in characters: Twilio's body limit with room to spare
#: (a longer text cannot be sent as one message anyway).
MAX_TEXT_CHARS = 5000

_CHANNELS = ("sms", "whatsapp", "none")


def parts_report(text: str, channel: str, language: str | None, settings: Mapping[str, Any],
                 limit: int | None = None) -> dict[str, Any]:
    """What `text` costs once the bot renders it for `channel`.

    Args:
        text: the text as staff typed it.
        channel: "sms", "whatsapp" or "none" (no channel open: measured as an SMS).
        language: "fr", "bm" or None (passed to the folding rules).
        settings: the app config (ESSBOT_SMS_FOLDING, ESSBOT_SMS_MAX_SEGMENTS).
        limit: optional most SMS parts this text may take (a content field's budget,
            bot.content.SHORT_MAX_PARTS…); ``too_long`` says whether it is exceeded.

    Returns:
        :func:`bot.sms.report`'s keys (``encoding``, ``segments``, ``characters``, ``units``,
        ``rendered``, ``ucs2_characters``) plus ``parts`` (= segments), ``channel``,
        ``language``, ``changed`` (the rendered text differs from the typed one: folded
        letters, typographic quotes…), ``max_parts`` (ESSBOT_SMS_MAX_SEGMENTS), ``paged``
        (more parts than that: the bot sends it in pages with "9 = suite"), ``limit``,
        ``too_long``, ``gsm7`` and ``summary`` (one French sentence for the page).

    Raises:
        ValueError: unknown channel or language.
    """
    if channel not in _CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if language not in (None, "fr", "bm"):
        raise ValueError(f"unknown language {language!r}")
    fold = bool(setting(settings, "ESSBOT_SMS_FOLDING"))
    measured = "sms" if channel == "none" else channel
    out: dict[str, Any] = sms.report(text, measured, language, fold=fold)
    max_parts = int(setting(settings, "ESSBOT_SMS_MAX_SEGMENTS"))
    typed = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = out["segments"] if text.strip() else 0
    out.update(parts=parts, channel=channel, language=language,
               changed=out["rendered"] != typed.rstrip() and bool(text.strip()),
               max_parts=max_parts, limit=limit, gsm7=out["encoding"] == sms.GSM7,
               paged=channel != "whatsapp" and parts > max_parts,
               too_long=limit is not None and parts > limit)
    out["summary"] = _summary(out)
    return out


def ucs2_note(characters: list[str]) -> str:
    """The French sentence naming the characters that make an SMS UCS-2 (the one wording of
    the ticket reply counter, the content editor and the announcement composer), e.g.
    ``caractères hors alphabet SMS : « é » (…)``; `characters` as :func:`bot.sms.analyze`
    gives them (``ucs2_characters``)."""
    shown = " ".join(f"« {c} »" for c in characters) or "?"
    return _("caractères hors alphabet SMS : %(chars)s (le message coûte environ 2,3 fois "
             "plus)", chars=shown)


def _summary(report: dict[str, Any]) -> str:
    """One French sentence describing `report` (see :func:`parts_report`)."""
    if not report["parts"]:
        return _("Texte vide.")
    if report["channel"] == "whatsapp":
        return _("WhatsApp : %(n)s caractères, un seul message (pas de coût par partie SMS).",
                 n=report["characters"])
    text = _("%(parts)s SMS · %(encoding)s · %(n)s caractères", parts=report["parts"],
             encoding=report["encoding"], n=report["characters"])
    if not report["gsm7"]:
        text += " · " + ucs2_note(report["ucs2_characters"])
    if report["too_long"]:
        text += " · " + _("au plus %(n)s SMS pour ce texte", n=report["limit"])
    elif report["paged"]:
        text += " · " + _("plus de %(n)s SMS : le bot l'enverra en plusieurs pages "
                          "(« 9 = suite »)", n=report["max_parts"])
    return text


@bp.post("/sms/parts", endpoint="sms_parts")
@require_role("viewer")
def sms_parts():
    """JSON of :func:`parts_report` for the form fields ``text``, ``channel`` (default
    "sms"), ``language`` and optional ``limit``; 400 with a French reason on bad input."""
    text = request.form.get("text", "")
    channel = request.form.get("channel") or "sms"
    language = request.form.get("language") or None
    if len(text) > MAX_TEXT_CHARS:
        abort(400, _("Texte trop long : au plus %(n)s caractères.", n=MAX_TEXT_CHARS))
    try:
        limit = int(request.form["limit"]) if request.form.get("limit") else None
        report = parts_report(text, channel, language, current_app.config, limit)
    except ValueError:
        abort(400, _("Canal, langue ou limite inconnus."))
    return jsonify(report)
