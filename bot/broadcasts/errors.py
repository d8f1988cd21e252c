"""Errors of the broadcast engine, each with a code, and the French sentence staff read for it.

The engine speaks English to the CLI (``str(exc)``, shown as ``Error: …``); the staff pages and
DIFFUSER answers choose their French sentence by the error's ``code`` (never by reading the
English text), through :func:`staff_message`. A new error without a code of its own gets
``"invalid"``: its English reason is shown after a generic French sentence.
"""

from __future__ import annotations

from typing import Any

from bot.i18n import S_
from bot.models.broadcasts import InvalidTransition  # noqa: F401  (code "state")
from bot.i18n import admin_text as _


class BroadcastEngineError(ValueError):
    """Base of the broadcast engine's errors: ``code`` (a key of STAFF_MESSAGES, or
    ``"invalid"``) and ``params`` (details for the French sentence, e.g. ``names`` of the
    missing settings). ``str(exc)`` is the English reason for the CLI."""

    code: str = "invalid"

    def __init__(self, message: str, code: str | None = None, **params: Any):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.params = params


class BroadcastError(BroadcastEngineError):
    """Something staff asked cannot be done; the message says why (shown by the CLI as is)."""


class BroadcastNotFound(BroadcastError):
    """No broadcast has this id."""

    code = "not_found"


class SegmentError(BroadcastEngineError):
    """A filter staff typed cannot be read (unknown field, unknown value, bad age band); the
    message says what is accepted."""


#: The French sentence of each code (admin catalog, French source; marked S_, not N_,
#: which marks messages sent to people).
STAFF_MESSAGES = {
    "title": S_("Le titre doit avoir de 1 à 120 caractères."),
    "text_fr": S_("Le texte en français est obligatoire."),
    "past": S_("L'heure choisie est déjà passée : choisissez une heure à venir (heure de "
               "Bamako) ou envoyez maintenant."),
    "too_long": S_("Le texte est trop long : Twilio n'accepte pas plus de 1 600 caractères par "
                   "message."),
    "no_sender": S_("Envoi impossible : l'expéditeur n'est pas configuré (compte Twilio, numéro "
                    "SMS ou WhatsApp, ou passerelle SMS). Voyez avec l'informaticien."),
    "templates": S_("Les modèles WhatsApp (ESSBOT_WHATSAPP_TEMPLATES) sont mal configurés."),
    "state": S_("Impossible : cette annonce a déjà changé d'état (rechargez la page)."),
    "not_found": S_("Cette annonce n'existe pas."),
    "quartier": S_("Quartier inconnu ou ambigu."),
    "age_band": S_("Tranche d'âge illisible : écrivez par exemple 18-35, -25 ou 60-."),
    "not_finished": S_("Attendez la fin de l'envoi : on ne renvoie qu'une annonce terminée."),
    "nothing_to_resend": S_("Aucun message en échec à renvoyer (chacun n'est renvoyé qu'une "
                            "fois)."),
}


def staff_message(exc: Exception) -> str:
    """The French sentence for `exc` (a BroadcastEngineError), chosen by its ``code``: a
    ``no_sender`` error also names the missing settings; an unknown code or another exception
    shows its reason after a generic French sentence."""
    code = getattr(exc, "code", None)
    if code in STAFF_MESSAGES:
        text = _(STAFF_MESSAGES[code])
        names = getattr(exc, "params", {}).get("names")
        if code == "no_sender" and names:
            # Name what is missing (newcomer's test: a gateway-only install refused a
            # broadcast with WhatsApp recipients without saying it needs Twilio for them).
            text += " " + _("Réglages manquants : %(names)s.", names=names)
        return text
    return _("Impossible : %(reason)s", reason=str(exc))
