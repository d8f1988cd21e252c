"""The warnings of a broadcast preview: one list, the same on the web page, in
``essbot broadcast preview`` (JSON) and for DIFFUSER (issue 12 §4).

`preview_warnings` turns a preview's counts (`planner._Plan.summary`) into a list of
``{"code", "message", …params}``: ``code`` for scripts and tests, ``message`` the French
sentence staff read (admin catalog, French source, marked S_). The staff page shows the
messages as they are; the CLI prints the very same list. Codes:

==================  =============================================================================
``price_unset``     SMS parts to send and ESSBOT_PRICE_PER_PART = 0: the cost shown is 0, the real
                    one is not
``whatsapp_price``  WhatsApp messages to send and ESSBOT_PRICE_PER_WHATSAPP = 0
``many_parts``      a language's SMS text takes more parts than ESSBOT_SMS_MAX_SEGMENTS (3 or more
                    with the default 2), or at least MANY_PARTS: each part is paid
``ucs2``            a language's SMS text is UCS-2 (about 2.3 times the cost, bot/sms.py)
``no_bambara``      Bambara speakers among the recipients and no Bambara text: they get French
``no_recipients``   nobody would receive it (the skipped counts say why)
==================  =============================================================================
"""

from __future__ import annotations

from typing import Any, Mapping

from bot import sms
from bot.config import setting
from bot.i18n import S_
from bot.i18n import admin_text as _

#: A text needing at least this many SMS parts gets a warning whatever ESSBOT_SMS_MAX_SEGMENTS
#: says (issue 7: "warn when a text needs many parts").
MANY_PARTS = 4

_LANGUAGES = {"fr": S_("français"), "bm": S_("bambara")}


#: Short French words for each reason a contact is left out (SKIP_REASONS), for the compose
#: page's counter and DIFFUSER's answer.
SKIP_SHORT = {
    "opted_out": S_("%(n)s désabonnés exclus"),
    "no_consent": S_("%(n)s sans accord pour les annonces"),
    "demo_contact": S_("%(n)s contacts de démonstration"),
    "test_phone": S_("%(n)s téléphones de test"),
    "invalid_number": S_("%(n)s numéros refusés"),
    "whatsapp_window_closed": S_("%(n)s hors fenêtre WhatsApp"),
    "no_channel": S_("%(n)s sans canal"),
}


def skip_notes(skipped: Mapping[str, int]) -> list[str]:
    """French words for the left-out counts `skipped` ({reason: n}), reasons with 0 left out:
    ``["3 sans accord pour les annonces", "1 désabonnés exclus"]`` in the order of
    `skipped`."""
    return [_(SKIP_SHORT[r], n=n) for r, n in skipped.items() if n and r in SKIP_SHORT]


def many_parts(parts: int, settings: Mapping[str, Any]) -> bool:
    """Whether a text of `parts` SMS parts deserves the ``many_parts`` warning: more than
    ESSBOT_SMS_MAX_SEGMENTS, or at least MANY_PARTS."""
    return parts >= MANY_PARTS or parts > int(setting(settings, "ESSBOT_SMS_MAX_SEGMENTS"))


def preview_warnings(summary: Mapping[str, Any], settings: Mapping[str, Any],
                     has_bambara_text: bool) -> list[dict[str, Any]]:
    """The warnings of a preview, in a fixed order (see the module docstring).

    `summary` holds ``recipients``, ``parts`` (``sms``, ``whatsapp``), ``cost``
    (``price_per_part``, ``price_per_whatsapp``), ``texts`` (per language, ``sms`` with
    ``parts`` and ``encoding``) and ``by_language``; `has_bambara_text` says whether the
    broadcast has its own Bambara text. Returns a list of dicts with ``code`` and ``message``
    (French) and the numbers the message uses.
    """
    out: list[dict[str, Any]] = []
    cost = summary["cost"]
    if summary["parts"]["sms"] and not cost["price_per_part"]:
        out.append({"code": "price_unset", "message": _(
            "Coût inconnu : le prix d'une partie SMS n'est pas réglé (ESSBOT_PRICE_PER_PART = "
            "0). Le coût affiché est 0, le vrai coût ne l'est pas.")})
    if summary["parts"]["whatsapp"] and not cost["price_per_whatsapp"]:
        out.append({"code": "whatsapp_price",
                    "message": _("Coût WhatsApp inconnu : ESSBOT_PRICE_PER_WHATSAPP = 0.")})
    max_parts = int(setting(settings, "ESSBOT_SMS_MAX_SEGMENTS"))
    for language, shown in summary["texts"].items():
        n = shown["sms"]["parts"]
        name = _(_LANGUAGES.get(language, language))
        if many_parts(n, settings):
            out.append({"code": "many_parts", "language": language, "parts": n, "message": _(
                "Le texte %(language)s prend %(n)s SMS par personne (plus de %(max)s) : "
                "raccourcissez-le si possible.", language=name, n=n,
                max=min(max_parts, MANY_PARTS - 1))})
        if shown["sms"].get("encoding") == sms.UCS2:
            out.append({"code": "ucs2", "language": language, "message": _(
                "Le texte %(language)s contient des caractères hors alphabet SMS : environ 2,3 "
                "fois plus cher.", language=name)})
    bambara = summary["by_language"].get("bm", 0)
    if bambara and not has_bambara_text:
        out.append({"code": "no_bambara", "recipients": bambara, "message": _(
            "Pas de texte en bambara : %(n)s bambaraphones recevront le texte français.",
            n=bambara)})
    if not summary["recipients"]:
        out.append({"code": "no_recipients", "message": _(
            "Personne ne recevra cette annonce : vérifiez les filtres.")})
    return out
