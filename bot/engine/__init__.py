"""The dialog engine: a pure function from (state, message, contact facts, now) to a turn.

It imports nothing from Flask, SQLAlchemy or twilio and reads no clock of its own:
`bot/conversations.py` loads the state, calls `step`, applies the effects and saves
everything in one transaction. Replies are gettext msgids (French source), translated
by the caller in the contact's language.

This first dialog is deliberately small and replaceable (issue: dialog engine and
registration): a bilingual welcome with a language choice, a numbered main menu,
and the global keywords (opt-out, opt-in, menu, help, language).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Mapping

from bot.i18n import N_
from bot.understanding import Option, detect_keyword, parse_choice

#: Misunderstood answers in a row before the bot offers help.
MAX_MISSES = 3

@dataclass(frozen=True)
class State:
    """Where a contact is: `dialog` and `node` names (None before the first message)
    and the answers collected so far (JSON-serialisable mapping)."""

    dialog: str | None = None
    node: str | None = None
    answers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Inbound:
    """A message as the engine sees it: cleaned `text` and its `kind`.

    kind is "text", "audio", "image", "video", "document", "location" or "media";
    button replies arrive as text (their payload or label).
    """

    text: str
    kind: str = "text"


@dataclass(frozen=True)
class Facts:
    """What the engine may know about the contact: chosen `language` (None if not yet),
    `opted_out`, and the deployment's `default_language`."""

    language: str | None
    opted_out: bool = False
    default_language: str = "fr"


@dataclass(frozen=True)
class Reply:
    """One piece of reply text: a gettext `msgid`, its `params`, and the `language`
    to say it in (None: the contact's language after this turn's effects)."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)
    language: str | None = None


@dataclass(frozen=True)
class Effect:
    """A change the caller must apply with the new state, in the same transaction.

    kind: "set_language" (value "fr" | "bm"), "opt_out", "opt_in".
    """

    kind: str
    value: Any = None


@dataclass(frozen=True)
class Turn:
    """The outcome of one message: the new state, replies in order, effects."""

    state: State
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()


# Texts. French is the msgid; Bambara lives in locales/bm/LC_MESSAGES/messages.po.
WELCOME = N_("I ni ce! Bienvenue au service ESS de la mairie de la Commune III.")
CHOOSE_LANGUAGE = N_("Langue / Kan:\n1 Français\n2 Bamanankan")
MAIN_MENU = N_(
    "Menu:\n1 S'inscrire au registre ESS\n2 Informations: santé, emploi, formation, "
    "financement\n3 Changer de langue\nAIDE pour l'aide. STOP pour arrêter."
)
NOT_YET = N_(
    "Ce service ouvre bientôt. Merci de votre patience. Tapez MENU pour revenir au menu."
)
NOT_UNDERSTOOD_CHOICE = N_("Je n'ai pas compris. Répondez avec un numéro de la liste.")
HELP = N_(
    "Aide: répondez avec le numéro de votre choix. MENU: menu principal. LANGUE: changer "
    "de langue. STOP: ne plus recevoir de messages. Vous pouvez aussi passer au service "
    "ESS de la mairie de la Commune III."
)
OPTED_OUT = N_(
    "Vous ne recevrez plus de messages du service ESS. Pour revenir, envoyez START."
)
OPTED_IN = N_("Bon retour! Vous recevrez de nouveau nos messages.")
STILL_OPTED_OUT = N_(
    "Vous avez arrêté les messages du service ESS. Pour revenir, envoyez START."
)
MEDIA_RECEIVED = N_(
    "Merci, nous avons bien reçu votre fichier. Le service ne lit pas encore les "
    "messages vocaux ni les images: écrivez votre réponse."
)
LOCATION_RECEIVED = N_("Merci pour votre position.")

LANGUAGE_OPTIONS = (
    Option("fr", fr=("français", "francais"), bm=("tubabukan", "faransikan"), synonyms=("french",)),
    Option("bm", fr=("bambara",), bm=("bamanankan", "bamana"), synonyms=("bamanan",)),
)
MENU_OPTIONS = (
    Option("register", fr=("inscrire", "inscription", "registre"), bm=("tɔgɔ sɛbɛn",)),
    Option("info", fr=("informations", "info"), bm=("kunnafoniw", "kunnafoni")),
    Option("language", fr=("langue",), bm=("kan",)),
)


def step(state: State, inbound: Inbound, facts: Facts, now: datetime) -> Turn:
    """Advance the conversation by one inbound message.

    Takes the current `state`, the `inbound` message, the contact `facts` and the
    current time `now` (aware datetime, injected so tests use a fake clock). Returns
    a Turn. Never raises on user input: anything not understood gets a re-prompt.
    """
    keyword = detect_keyword(inbound.text)
    if keyword == "stop":
        return Turn(state, (Reply(OPTED_OUT),), (Effect("opt_out"),))
    if keyword == "start":
        turn = _show_menu(state, facts)
        return Turn(turn.state, (Reply(OPTED_IN), *turn.replies), (Effect("opt_in"),))
    if facts.opted_out:
        return Turn(state, (Reply(STILL_OPTED_OUT),))
    if keyword == "menu":
        return _show_menu(state, facts)
    if keyword == "language":
        return _ask_language(state)
    if keyword == "help":
        return Turn(state, (Reply(HELP),))

    if inbound.kind == "location" and not inbound.text.strip():
        return Turn(state, (Reply(LOCATION_RECEIVED), *_prompt_of(state, facts)))
    if inbound.kind != "text" and not inbound.text.strip():
        return Turn(state, (Reply(MEDIA_RECEIVED), *_prompt_of(state, facts)))

    if state.node is None:
        if facts.language is None:
            return Turn(
                State("welcome", "language", {}),
                (Reply(WELCOME, language=facts.default_language), Reply(CHOOSE_LANGUAGE)),
            )
        return _show_menu(state, facts)
    if state.node == "language":
        return _on_language(state, inbound, facts)
    return _on_menu(state, inbound, facts)


def _ask_language(state: State) -> Turn:
    return Turn(State("welcome", "language", _reset_misses(state.answers)), (Reply(CHOOSE_LANGUAGE),))


def _show_menu(state: State, facts: Facts) -> Turn:
    if facts.language is None:
        return _ask_language(state)
    return Turn(State("welcome", "menu", _reset_misses(state.answers)), (Reply(MAIN_MENU),))


def _prompt_of(state: State, facts: Facts) -> tuple[Reply, ...]:
    """The question the contact is currently asked, to repeat after an aside."""
    if state.node == "menu" and facts.language:
        return (Reply(MAIN_MENU),)
    return (Reply(CHOOSE_LANGUAGE),)


def _on_language(state: State, inbound: Inbound, facts: Facts) -> Turn:
    choice = parse_choice(inbound.text, LANGUAGE_OPTIONS, language=facts.default_language)
    language = choice.key if choice.sure else None
    if language is None:
        return _miss(state, (Reply(NOT_UNDERSTOOD_CHOICE), Reply(CHOOSE_LANGUAGE)))
    return Turn(
        State("welcome", "menu", _reset_misses(state.answers)),
        (Reply(MAIN_MENU, language=language),),
        (Effect("set_language", language),),
    )


def _on_menu(state: State, inbound: Inbound, facts: Facts) -> Turn:
    choice = parse_choice(inbound.text, MENU_OPTIONS, language=facts.language or "fr")
    if choice.sure and choice.key in ("register", "info"):
        return Turn(replace(state, answers=_reset_misses(state.answers)), (Reply(NOT_YET),))
    if choice.sure and choice.key == "language":
        return _ask_language(state)
    return _miss(state, (Reply(NOT_UNDERSTOOD_CHOICE), Reply(MAIN_MENU)))


def _miss(state: State, replies: tuple[Reply, ...]) -> Turn:
    misses = int(state.answers.get("_misses", 0)) + 1
    answers = {**state.answers, "_misses": misses}
    if misses >= MAX_MISSES:
        replies = (*replies, Reply(HELP))
        answers["_misses"] = 0
    return Turn(replace(state, answers=answers), replies)


def _reset_misses(answers: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answers.items() if k != "_misses"}
