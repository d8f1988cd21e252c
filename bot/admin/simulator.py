"""Staff interface: the Simulateur (``/admin/simulator``), a phone on which staff talk to the
bot as a test contact, on SMS or WhatsApp, in French or Bambara.

Messages go through the Twilio code path (bot/simulator.py): what staff see is what a person
gets, GSM-7 folding, paging ("9 = suite") and part counts included. The page works without
JavaScript (plain forms, POST then redirect back to the page); bot/admin/static/simulator.js
sends with ``fetch`` and appends the bubbles without reloading. Agents and admins only.
"""

from __future__ import annotations

from flask import current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user

from bot import simulator
from bot.admin import _, audit, bp, require_role

#: Keywords offered as buttons, by the test contact's language (the words the bot's own help
#: lists: dialogs/main.yaml ``help`` and its Bambara translation). "9" asks for the next page.
KEYWORDS = {
    "fr": ("MENU", "AIDE", "INSCRIPTION", "PROFIL", "LANGUE", "ANNONCES", "AGENT", "SUPPRIMER",
           "STOP", "START", "9"),
    "bm": ("MENU", "DEME", "TOGOSEBEN", "PROFIL", "KAN", "ANNONCES", "AGENT", "JOSI",
           "A DABILA", "A DAMINE", "9"),
}
LANGUAGE_NAMES = {"fr": "Français", "bm": "Bambara"}
CHANNEL_NAMES = {"sms": "SMS", "whatsapp": "WhatsApp"}
#: Flask session key: channels whose simulator session was already audited.
_AUDITED = "simulator_audited"


def _channel(value: str | None) -> str:
    """The channel asked for, else the one used last in this session, else SMS."""
    if value in simulator.CHANNELS:
        return value
    last = session.get("simulator_channel")
    return last if last in simulator.CHANNELS else "sms"


def _audit_start(channel: str, **detail) -> None:
    """Audit the start of a simulator session on `channel`: once per login session and
    channel (and again after "Recommencer"), never per message."""
    done = list(session.get(_AUDITED) or [])
    if channel in done and not detail.get("reset"):
        return
    audit("simulate", "simulator", channel=channel, **detail)
    if channel not in done:
        session[_AUDITED] = done + [channel]


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _back(channel: str, anchor: str = "sim-text"):
    return redirect(url_for("admin.simulator", channel=channel) + f"#{anchor}")


def _context(channel: str) -> dict:
    screen = simulator.screen(current_app, current_user.id, channel)
    language = screen.language or "fr"
    return {"screen": screen, "channel": channel, "keywords": KEYWORDS[language],
            "languages": LANGUAGE_NAMES, "channels": CHANNEL_NAMES,
            "last_id": screen.bubbles[-1].id if screen.bubbles else 0,
            "title": _("Simulateur")}


@bp.get("/simulator", endpoint="simulator")
@require_role("agent")
def index():
    """The phone: the test contact's conversation on the chosen channel (``?channel=sms`` or
    ``whatsapp``), the text box, keywords, language and "Recommencer", and the running cost."""
    channel = _channel(request.args.get("channel"))
    session["simulator_channel"] = channel
    return render_template("admin/simulator.html", **_context(channel))


@bp.post("/simulator/send", endpoint="simulator_send")
@require_role("agent")
def send():
    """Play one message as the test contact (form fields ``channel``, ``text``, or a
    ``keyword`` button, which wins). Without JavaScript: redirect back to the page. With
    ``Accept: application/json`` (simulator.js): the new bubbles after ``after`` (the last
    message id the page shows) as HTML, the cost and the state; 400 with ``error`` when the
    message is empty or the channel unknown."""
    channel = request.form.get("channel")
    text = (request.form.get("keyword") or request.form.get("text") or "").strip()
    error = None
    if channel not in simulator.CHANNELS:
        error = _("Canal inconnu : choisissez SMS ou WhatsApp.")
    elif not text:
        error = _("Écrivez un message avant d'envoyer.")
    if error:
        if _wants_json():
            return jsonify({"error": error}), 400
        flash(error, "error")
        return _back(_channel(channel))
    _audit_start(channel)
    turn = simulator.send(current_app, current_user.id, channel, text)
    if turn.deleted:
        notice = _("Le contact de test a effacé ses données (SUPPRIMER) : la conversation de "
                   "test est supprimée. Réponse du bot : %(reply)s", reply=" / ".join(turn.replies))
        flash(notice, "warning")
        if _wants_json():
            return jsonify({"reload": url_for("admin.simulator", channel=channel)})
        return _back(channel)
    if not _wants_json():
        return _back(channel)
    try:
        after = int(request.form.get("after") or 0)
    except ValueError:
        after = 0
    screen = simulator.screen(current_app, current_user.id, channel, after_id=after)
    return jsonify({
        "html": render_template("admin/_simulator_bubbles.html", bubbles=screen.bubbles),
        "side": render_template("admin/_simulator_side.html", screen=screen, channel=channel,
                                languages=LANGUAGE_NAMES),
        "last": screen.bubbles[-1].id if screen.bubbles else after,
        "replies": turn.replies,
    })


@bp.post("/simulator/reset", endpoint="simulator_reset")
@require_role("agent")
def reset():
    """"Recommencer": delete the test contact's conversation, messages, tickets and registry
    entry; with a ``language`` the fresh contact has it (the bot skips its language
    question), without one the bot asks."""
    channel = request.form.get("channel")
    language = request.form.get("language") or None
    if channel not in simulator.CHANNELS or language not in (None, *simulator.LANGUAGES):
        flash(_("Choix invalide : canal SMS ou WhatsApp, langue français ou bambara."), "error")
        return _back(_channel(channel))
    simulator.reset(current_app, current_user.id, channel, language)
    _audit_start(channel, reset=True, language=language)
    if language:
        flash(_("Conversation de test effacée. Le contact de test parle %(language)s : écrivez "
                "un premier message.", language=LANGUAGE_NAMES[language].lower()))
    else:
        flash(_("Conversation de test effacée. Écrivez un premier message : le bot demandera "
                "la langue."))
    return _back(channel)


@bp.post("/simulator/language", endpoint="simulator_language")
@require_role("agent")
def language():
    """Give the test contact a language without restarting (as if it had answered the
    bot's language question); the conversation goes on where it was."""
    channel = request.form.get("channel")
    language = request.form.get("language") or None
    if channel not in simulator.CHANNELS:
        flash(_("Canal inconnu : choisissez SMS ou WhatsApp."), "error")
        return _back(_channel(channel))
    if language not in simulator.LANGUAGES:
        flash(_("Choisissez le français ou le bambara pour changer la langue (ou « Recommencer » "
                "pour que le bot la demande)."), "error")
        return _back(channel)
    simulator.set_language(current_app, current_user.id, channel, language)
    flash(_("Le contact de test parle maintenant %(language)s.",
            language=LANGUAGE_NAMES[language].lower()))
    return _back(channel)
