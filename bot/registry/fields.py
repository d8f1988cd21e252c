"""Registry fields as staff see them: French labels, the allowed values and their labels (read
from the registration dialog, dialogs/registration.yaml, and the places file,
dialogs/places/commune3.yaml: never re-listed here), plausibility rules and completeness.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from bot.models import search_key  # noqa: F401  (the column's rule; used with the fields)
from bot.engine import REGISTRATION
from bot.engine.schema import holds, load_dialogs
from bot.understanding import fold
from bot.engine import year_band as band

#: French labels of the registry fields, in the order of the detail page.
FIELD_LABELS: dict[str, str] = {
    "registration_code": "Code d'inscription",
    "kind": "Type",
    "name": "Nom et prénom",
    "org_name": "Nom de l'organisation",
    "contact_name": "Personne à contacter",
    "phone": "Téléphone",
    "gender": "Genre",
    "birth_year": "Année de naissance",
    "birth_band": "Décennie de naissance",
    "quartier": "Quartier",
    "quartier_text": "Quartier et commune (hors commune)",
    "sector": "Secteur d'activité",
    "trade": "Métier ou activité",
    "legal_form": "Forme de l'organisation",
    "members_count": "Nombre de membres",
    "formalised": "Organisation déclarée",
    "protection": "Protection sociale",
    "needs": "Besoins",
    "language": "Langue",
    "channel": "Canal d'inscription",
    "completeness": "Fiche remplie à",
    "consent_at": "Consentement le",
    "consent_version": "Version du consentement",
    "registered_at": "Inscription confirmée le",
    "created_at": "Créée le",
    "updated_at": "Modifiée le",
    "deleted_at": "Supprimée le",
}

#: Labels for staff where the dialog's speak to the person ("Vous-même" → "Individu").
STAFF_LABELS = {"kind": {"individu": "Individu", "organisation": "Organisation"}}

#: Labels of the languages and channels (not choices of the registration dialog).
LANGUAGE_LABELS = {"fr": "Français", "bm": "Bambara"}
CHANNEL_LABELS = {"sms": "SMS", "whatsapp": "WhatsApp", "console": "Simulateur ou console",
                  "import": "Import d'une liste"}

#: Twilio message statuses (bot.channels.twilio) in French, for the conversation view.
STATUS_LABELS = {"queued": "en attente", "accepted": "en attente", "sending": "en cours",
                 "sent": "envoyé", "delivered": "remis", "read": "lu", "failed": "échec",
                 "undelivered": "non remis", "received": "reçu", "not_sendable": "non envoyable"}

#: Plausible ages for a birth year, as the bot's own question accepts them
#: (bot.understanding.parse_year: 10 to 110 years).
MIN_AGE, MAX_AGE = 10, 110

#: Largest member count of an organisation (the dialog's members_count bounds).
MAX_MEMBERS = 100000

#: The youth band as APEJ counts it (docs/domain.md §2: "Youth employment agency for ages 15–40").
YOUTH_BAND = "15-40"


@lru_cache(maxsize=1)
def _dialog():
    return load_dialogs().get(REGISTRATION)


def places():
    """The deployment area's quartiers (bot.understanding.Places of the registration dialog)."""
    return load_dialogs().places(REGISTRATION)


def quartier_names() -> list[str]:
    """Canonical quartier names of the commune, in file order."""
    return places().names()


def outside_label() -> str:
    """The stored quartier value of a person living outside the area ("Hors de la Commune
    III"), as the registration dialog stores it."""
    return dict(places().outside_label).get("fr") or "Hors commune"


@lru_cache(maxsize=2)
def options(short: bool = False) -> dict[str, list[tuple[str, str]]]:
    """Choices of the registration dialog by stored field: ``{"sector": [(key, French label),
    …], "kind": …, "gender": …, "legal_form": …, "protection": …, "needs": …}``, in the
    dialog's order. The one home of the registry's option lists: the registry pages, exports
    and imports, broadcast segments, the compose form, the inbox and the dashboard read them
    here. Labels are the dialog's, except where STAFF_LABELS words them for staff and genders,
    whose short label ("Femme") reads better in a table than the question's ("Une femme");
    with `short`, every option's short label where it has one (checkbox lists)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for node in _dialog().nodes.values():
        if node.store and node.options and node.input in ("choice", "multi_choice"):
            if node.store.startswith("_"):
                continue
            staff = STAFF_LABELS.get(node.store, {})
            found[node.store] = [
                (str(o.key), staff.get(str(o.key)) or (o.short if (short or node.store == "gender")
                                                        and o.short else o.label))
                for o in node.options]
    return found


def option_keys(field: str) -> tuple[str, ...]:
    """The stored values a choice field accepts (``option_keys("gender")`` → ``("femme",
    "homme")``), in the dialog's order; ``()`` for a field that is not a choice."""
    return tuple(key for key, _label in options().get(field, ()))


@lru_cache(maxsize=1)
def option_words() -> dict[str, dict[str, str]]:
    """Folded spellings accepted for each option, by field: ``{"sector": {"commerce":
    "commerce", "vente": "commerce", "artisanat de production": "artisanat_production", …}}``
    (key, label, short label and the dialog's words; used to read imported lists)."""
    found: dict[str, dict[str, str]] = {}
    for node in _dialog().nodes.values():
        if not (node.store and node.options) or node.store.startswith("_"):
            continue
        words: dict[str, str] = {}
        for o in node.options:
            key = str(o.key)
            for text in (key, key.replace("_", " "), o.label, o.short or "", *o.words):
                if fold(text):
                    words.setdefault(fold(text), key)
        found[node.store] = words
    return found


def label(field: str, value: Any) -> str:
    """The French text of one registry value: option labels for choices (lists joined with
    ", "), "Oui"/"Non" for yes/no, language and channel names; "" for None."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, list):
        return ", ".join(label(field, v) for v in value)
    if field == "formalised":
        return "Oui" if value else "Non"
    if field == "language":
        return LANGUAGE_LABELS.get(value, str(value))
    if field == "channel":
        return CHANNEL_LABELS.get(value, str(value))
    if field == "completeness":
        return f"{value} %"
    choices = dict(options().get(field, ()))
    return choices.get(str(value), str(value))


def plausible_years(now_year: int) -> tuple[int, int]:
    """The (oldest, youngest) birth years accepted in year `now_year`: ages MIN_AGE to MAX_AGE,
    as the bot accepts them."""
    return now_year - MAX_AGE, now_year - MIN_AGE


def year_band(year: int | None) -> str | None:
    """The birth decade kept after a deletion (bot.engine.year_band)."""
    return band(year)


def completeness(values: Mapping[str, Any], ask_protection: bool = True) -> int:
    """Share (0-100) of the registration questions that apply to `values` which are answered,
    counted as the bot counts them (bot.engine._actor_fields): questions whose ``only_if``
    holds (kind, setting.ask_protection); optional ones (with a ``skip`` option), the quartier
    question (it has an outside follow-up), the consent and summaries not counted, exactly as
    the engine does. An empty list counts as unanswered."""
    required = answered = 0
    for node in _dialog().nodes.values():
        store = node.store
        # The same exclusions as the engine: optional questions (skip), the quartier question
        # (on_outside) and its free-text follow-up, the consent, summaries, private keys.
        if not store or store.startswith("_") or store in ("consent", "quartier_text") \
                or node.input == "summary" or node.skip or node.on_outside:
            continue
        if not _holds(node.only_if, values, ask_protection):
            continue
        required += 1
        value = values.get(store)
        answered += value is not None and value != [] and value != ""
    return round(100 * answered / required) if required else 0


def _holds(condition: Mapping[str, Any] | None, values: Mapping[str, Any],
           ask_protection: bool) -> bool:
    # Facts about the contact and other settings are not known for a registry entry: they
    # hold (the entry's questions were asked).
    def value_of(key: str) -> Any:
        if key == "setting.ask_protection":
            return ask_protection
        return values.get(key)

    relevant = {k: v for k, v in (condition or {}).items()
                if k == "setting.ask_protection" or not k.startswith(("setting.", "contact."))}
    return holds(relevant, value_of)
