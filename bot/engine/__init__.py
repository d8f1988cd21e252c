"""The dialog engine: a pure function from (dialogs, state, message, contact facts, now) to a turn.

It imports nothing from Flask, SQLAlchemy or twilio and reads no clock of its own:
`bot/conversations.py` loads the state, calls :func:`step`, applies the effects and saves
everything in one transaction. Dialogs are data (``dialogs/*.yaml``, schema in
:mod:`bot.engine.schema`); this module interprets them. Replies are gettext msgids (French
source) with parameters, rendered by :func:`render` in the contact's language.

How a message is handled, in order:

1. Global commands, in any state (docs/domain.md §3: a command per data right): STOP / ARRÊT /
   "A DABILA" (opt out), START / "A DAMINƐ" (opt in), MENU / 0, AIDE / ?, LANGUE,
   INSCRIPTION / TOGOSEBEN, PROFIL, SUPPRIMER (with confirmation), AGENT (a ticket for
   staff), ANNONCES. An opted-out person gets no reply but a reminder once a day; a voice
   note or an image opens a ticket. Before a language is chosen, messages are said in the
   language guessed from the message, else in both.
2. First contact: the language is guessed from an obvious Bambara greeting, else asked; what
   the person wanted ("je veux m'inscrire") is remembered for after the choice.
3. A registration left for more than ``resume_after_days`` asks "continue or restart".
4. Otherwise the message answers the current node: it is read with bot/understanding.py
   according to the node's ``input``, confirmed when the reading is unsure, stored, and the
   dialog moves on. A greeting or a thank-you gets a polite word and the question again.
   Not understood: a short re-prompt that shows the valid answers; after MAX_MISSES in a
   row, the keywords and a ticket for staff. At the main menu and in the information menu
   (issue 4: categories → topics → short answer → details, numbered, 0 = back), anything
   else is searched as a free question (bot.content.search): one match (or a single article
   offered) answers, several give a list, none offers a hand-over. There a number is a
   choice only when the message is essentially that number ("2", "le 2", "fila";
   parse_choice strict): "la mairie de la commune 3" is a question.
5. AGENT opens a ticket and asks for the question, which is added to the ticket ("AGENT:
   question" gives it at once). Before a language is chosen, the question is asked in both
   languages (or the guessed one), and the language only after it is passed on.

State (``State.answers``, JSON): answers of each dialog under the dialog id (the registration's
under ``"registration"``, with ``_at``, the time of the last answer, and ``_node``, where it
stopped), and the engine's own keys, all starting with ``_``: ``_misses``, ``_pending`` (a
reading awaiting confirmation), ``_queue`` (nodes to ask again when correcting from the
summary), ``_mode`` (``"profile"`` when a registered person views their data), ``_intent``,
``_first_question`` (a first message asked before the language), ``_info`` (where the person
is in the information menu), ``_options_shown`` (the article options 1-4 were shown in this
visit of the information menu: on SMS they may then be left out), ``_question`` (a question
offered to staff), ``_reminded_at``
(last "send START" reminder to an opted-out person).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from bot import sms
from bot.config import DEFAULTS, engine_settings
from bot.content import Library, is_confident, search
from bot.engine.schema import DialogSpec, Dialogs, NodeSpec, load_dialogs
from bot.i18n import N_, translate
from bot.officehours import next_answer
from bot.understanding.words import WORDS
from bot.understanding import (
    Option, agent_request, answer_pieces, asks_for_person, detect_command, detect_courtesy,
    detect_doubt,
    fold, is_acknowledgement, is_number_only, guess_language, mairie_question, match_quartier,
    parse_choice, parse_multi_choice, parse_name, parse_number, parse_year, parse_yes_no,
    register_with_answers, trade_words,
)
from bot.officehours import parse_office_hours

__all__ = ["State", "Inbound", "Facts", "Reply", "Join", "Effect", "Turn", "step", "render",
           "load_dialogs", "Dialogs", "MAX_MISSES", "REGISTRATION", "MAIN", "ACTIONS",
           "year_band", "registration_code"]

#: Misunderstood answers in a row before the bot offers help and the way to reach staff.
MAX_MISSES = 3
#: Dialog ids the engine itself refers to (keywords and first contact).
MAIN = "main"
REGISTRATION = "registration"
#: Longest piece of free text shown back in a summary line (names, trades): keeps a summary
#: within 2 SMS parts (bot/sms.py) whatever people typed.
SHOWN_CHARS = 24
#: Words that never occur in a name but often in an answer that is not one (French doubt and
#: questions, Bambara "n ma a faamu" = I did not understand, docs/domain.md §5 vocabulary).
NOT_NAME_WORDS = WORDS.set("not_name_words")
#: Longest free-text answer kept (a trade, a quartier outside the commune).
TEXT_MAX_CHARS = 80
#: An opted-out person who writes again is reminded how to restart at most this often; any
#: other message gets no reply (they asked for no messages).
REMINDER_EVERY = timedelta(hours=24)
#: Inbound kinds a person cannot type around (many users don't read): they open a ticket.
HANDOVER_KINDS = frozenset({"audio", "image", "video"})
#: Texts of the information menu and of hand-overs built in code (dialog texts are in YAML).
INFO_ARTICLE_OPTIONS = N_("1 Plus de détails, 2 Conditions, 3 Démarches, 4 Où aller, 0 Retour")
#: The same options on SMS, where every character may cost a part (issue 15: the long line
#: pushed 17 of 19 short answers to 2 parts).
INFO_ARTICLE_OPTIONS_SMS = N_("1 Plus 2 Qui 3 Comment 4 Où 0 Retour")
INFO_VERIFIED = N_("Mise à jour: %(verified)s.")
#: Shorter endings of a "Plus de détails" answer, used on SMS when the full one would push the
#: date and the options alone onto a second page (newcomer's test: "9 = suite" for a date).
INFO_DETAILS_OPTIONS = N_("2 Conditions, 3 Démarches, 4 Où aller, 0 Retour")
INFO_VERIFIED_SHORT = N_("(màj %(verified)s)")
INFO_LIST = N_("Votre question concerne:")
INFO_LIST_FOOTER = N_("0 Retour. AGENT: parler à un agent.")
INFO_BACK = N_("0 Retour")
#: What a person types for the next page of a long reply (bot/conversations.py pages it).
NEXT_PAGE = "9"
#: "9" when there is no next page and 9 is no answer (newcomer's test: the whole article was
#: sent again with "Je n'ai pas compris.").
NO_MORE_PAGES = N_("Il n'y a pas de suite.")
WHEN_NOW = N_("aujourd'hui")
WHEN_TODAY = N_("aujourd'hui à partir de %(time)s")
WHEN_TOMORROW = N_("demain à partir de %(time)s")
WHEN_DAY = N_("%(day)s à partir de %(time)s")
DAY_NAMES = (N_("lundi"), N_("mardi"), N_("mercredi"), N_("jeudi"), N_("vendredi"),
             N_("samedi"), N_("dimanche"))
#: Article fields offered after a short answer, by option number (bot.content.Article).
ARTICLE_FIELDS = {1: "details", 2: "eligibility", 3: "how_to_apply", 4: "where"}
ARTICLE_FIELD_WORDS = {
    "details": (("plus", "details", "detail", "plus de details", "more", "en savoir plus"),
                ("caman", "do were", "kunnafoni were", "a kunnafoniw")),
    "eligibility": (("conditions", "condition", "qui", "pour qui", "eligibilite"), ("jon",)),
    "how_to_apply": (("demarches", "demarche", "comment", "comment faire", "dossier"),
                     ("cogo", "di", "a ke cogo")),
    "where": (("ou", "ou aller", "adresse", "bureau", "lieu"), ("yoro", "min")),
}


@dataclass(frozen=True)
class State:
    """Where a contact is: `dialog` and `node` ids (None before the first message) and the
    answers collected so far (a JSON-serialisable mapping, layout in the module docstring)."""

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
    """What the engine may know about the contact and the deployment.

    language: chosen language ("fr" | "bm", None if not yet); opted_out: bool;
    default_language: the deployment's ("fr"); channel: "sms" | "whatsapp" | "console" (saved
    with the registration); actor: the contact's registry entry as a mapping of the fields
    stored by the registration dialog plus ``id``, ``registration_code``, ``consent_at``, or
    None; settings: ``ask_protection`` (bool), ``retention_days`` (int, days),
    ``resume_after_days`` (int, days), ``office_hours`` (str, "mon-fri 08:00-16:00",
    bot/officehours.py), ``timezone`` (str, "Africa/Bamako"), ``sms_max_segments`` (int,
    parts per SMS page, default 2); content: the information
    articles (a bot.content.Library) or a function of no argument returning one (called
    only when needed, so a turn that does not search does not load them), or None;
    announcements: the latest announcements sent to the contact, newest first, as a list of
    ``{"at": "YYYY-MM-DD", "text": str}``, or a function returning it; subscribed: whether the
    contact consented to receive announcements (True / False; None when the caller does not
    say, e.g. plain engine tests: then nothing is said about it).
    """

    language: str | None
    opted_out: bool = False
    default_language: str = "fr"
    channel: str = "sms"
    actor: Mapping[str, Any] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    content: Any = None
    announcements: Any = None
    subscribed: bool | None = None


@dataclass(frozen=True)
class Reply:
    """One piece of reply text: a gettext `msgid`, its `params`, and the `language` to say it
    in (None: the contact's language after this turn's effects). With `raw`, `msgid` is a
    format used as is (not translated). A param may itself be a Reply or a Join, rendered in
    the same language (e.g. an option label inside a summary line)."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)
    language: str | None = None
    raw: bool = False


@dataclass(frozen=True)
class Join:
    """Items (str, int, Reply or Join) rendered and joined with `sep`."""

    items: tuple[Any, ...]
    sep: str = ", "


@dataclass(frozen=True)
class Effect:
    """A change the caller must apply with the new state, in the same transaction.

    kind: "set_language" (value "fr" | "bm"), "opt_out", "opt_in", "subscribe" (consent to
    receive announcements, by the ABONNER keyword: issue 12), "save_actor" (value: a
    dict of registry fields, see :func:`_actor_fields`), "delete_data" (remove the contact's
    personal data, keep anonymous counts), "handover" (value: ``{"reason": "asked" |
    "no_match" | "misses" | "media", "question": str | None}``; open a ticket for staff).
    """

    kind: str
    value: Any = None


@dataclass(frozen=True)
class Turn:
    """The outcome of one message: the new state, replies in order, effects."""

    state: State
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()


def render(replies: tuple[Reply, ...] | list[Reply], language: str,
           translator: Callable[[str, str | None, dict | None], str] = translate) -> str:
    """Return the text of `replies` in `language`, one reply per line.

    Each reply is translated with `translator` (bot.i18n.translate) in its own language or
    `language`; Reply and Join params are rendered first, in the same language.
    """

    def text_of(item: Any, lang: str) -> str:
        if isinstance(item, Reply):
            own = item.language or lang
            params = {k: text_of(v, own) for k, v in item.params.items()}
            if item.raw:
                return item.msgid % params if params else item.msgid
            return translator(item.msgid, own, params or None)
        if isinstance(item, Join):
            return item.sep.join(text_of(i, lang) for i in item.items)
        return str(item)

    return "\n".join(text_of(r, language) for r in replies)


def registration_code(prefix: str, actor_id: int, digits: int = 6) -> str:
    """The registration code of actor `actor_id`: `prefix` then the id on `digits` digits
    (``registration_code("ESS3-", 123)`` → ``"ESS3-000123"``)."""
    return f"{prefix}{actor_id:0{digits}d}"


def year_band(year: int | None) -> str | None:
    """The decade of a birth year, kept after a deletion for anonymous counts (1985 →
    ``"1980-1989"``; None → None)."""
    if year is None:
        return None
    start = (int(year) // 10) * 10
    return f"{start}-{start + 9}"


# ------------------------------------------------------------------------------------------
# The turn
# ------------------------------------------------------------------------------------------

class _Ctx:
    """Mutable working copy of one turn: answers, replies, effects, where we are."""

    def __init__(self, dialogs: Dialogs, state: State, facts: Facts, now: datetime):
        self.dialogs = dialogs
        self.facts = facts
        self.now = now
        self.answers: dict[str, Any] = _deep_copy(dict(state.answers))
        # The code shown by the last turn's "done" message is not kept.
        self.answers.pop("_code", None)
        self.dialog = state.dialog
        self.node = state.node
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []
        self.language = facts.language
        self.text = ""
        self._library: Any = None

    # answers of a dialog
    def data(self, dialog: str) -> dict[str, Any]:
        """The answers saved so far in `dialog` (a mutable dict, created when missing)."""
        return self.answers.setdefault(dialog, {})

    def say(self, msgid: str, **params: Any) -> None:
        """Add the reply `msgid` (a French gettext msgid) with its %-format `params`."""
        self.replies.append(Reply(msgid, params))

    def message(self, name: str, **params: Any) -> None:
        """Say a dialog message, as :meth:`say_understood` says a reply."""
        self.say_understood(Reply(self.dialogs.message(name), params))

    def say_understood(self, reply: Reply) -> None:
        """Say `reply`; before a language is chosen, in the language guessed from the
        message, else in French and Bambara (newcomer test: a person who has not chosen
        yet must understand every answer)."""
        if self.language is not None:
            self.replies.append(reply)
            return
        guessed = guess_language(self.text)
        for language in (guessed,) if guessed is not None else ("fr", "bm"):
            self.replies.append(replace(reply, language=language))

    def library(self) -> Library | None:
        """The information articles (Facts.content), loaded on first use in this turn."""
        if self._library is None:
            content = self.facts.content
            self._library = content() if callable(content) else content
        return self._library

    def lang(self) -> str:
        """The language to show content in: the contact's, else the deployment's."""
        return self.language or self.facts.default_language

    def effect(self, kind: str, value: Any = None) -> None:
        """Add an effect for bot.conversations to apply (``kind`` as in :class:`Effect`)."""
        self.effects.append(Effect(kind, value))

    def turn(self) -> Turn:
        """The turn's result: the new state, the replies and the effects, in order."""
        return Turn(State(self.dialog, self.node, self.answers), tuple(self.replies),
                    tuple(self.effects))


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def step(state: State, inbound: Inbound, facts: Facts, now: datetime,
         dialogs: Dialogs | None = None) -> Turn:
    """Advance the conversation by one inbound message.

    Takes the current `state`, the `inbound` message, the contact `facts`, the current time
    `now` (aware datetime, injected so tests use a fake clock) and the `dialogs` to run
    (default: :func:`load_dialogs`, the repository's ``dialogs/``). Returns a Turn. Never raises
    on user input: anything not understood gets a re-prompt. Raises KeyError only for a dialog
    bug (a node the dialogs do not define), which `essbot dialogs check` catches first.
    """
    dialogs = dialogs if dialogs is not None else load_dialogs()
    ctx = _Ctx(dialogs, state, facts, now)
    text = inbound.text
    ctx.text = text
    command = detect_command(text)
    if command is None:
        answers_given = register_with_answers(text)
        if answers_given is not None:
            # "INSCRIPTION Aminata Traoré, femme, 1985, …" (issue 15): the registration, its
            # answers kept for after the consent (never before it).
            command = "register"
            ctx.answers["_prefill"] = answers_given[:TEXT_MAX_CHARS * 5]
    if command is not None and command != "help":
        # Every command leaves a pending "Vous voulez dire X?" or "Lequel?" (issue 15: after
        # STOP then START, the next menu choice was read as its answer). AIDE keeps it
        # answerable (_command). The one place where a command clears it.
        ctx.answers.pop("_pending", None)

    if command == "stop":
        ctx.answers.pop("_reminded_at", None)
        ctx.message("opted_out")
        ctx.effect("opt_out")
        return ctx.turn()
    if command == "start":
        ctx.answers.pop("_reminded_at", None)
        if facts.opted_out:
            # Only someone who had stopped is welcomed back; others just get the menu.
            ctx.message("opted_in")
            ctx.effect("opt_in")
        if ctx.language is None:
            _ask_language(ctx)
        else:
            _goto(ctx, MAIN, "menu")
        return ctx.turn()
    if facts.opted_out:
        # They asked for no messages: the message is stored, and the way back is said at
        # most once per REMINDER_EVERY; otherwise no reply at all.
        last = ctx.answers.get("_reminded_at")
        try:
            recent = last is not None and now - datetime.fromisoformat(last) < REMINDER_EVERY
        except (TypeError, ValueError):
            recent = False
        if not recent:
            ctx.answers["_reminded_at"] = now.isoformat()
            ctx.message("still_opted_out")
        return ctx.turn()

    if inbound.kind != "text" and not text.strip():
        if inbound.kind in HANDOVER_KINDS:
            # A voice note or a picture: many users don't read or write; staff listen.
            ctx.effect("handover", {"reason": "media", "question": None})
            ctx.message("media_ticket", when=_when(ctx))
            if ctx.node == "agent_question":
                # A voice note as the question asked after AGENT: it is the question.
                _goto(ctx, MAIN, "menu", quiet=True)
                return ctx.turn()
        else:
            ctx.message("location_received" if inbound.kind == "location" else "media_received")
        if ctx.language is None:
            _ask_language(ctx)
        else:
            _repeat_prompt(ctx)
        return ctx.turn()

    if ctx.language is None and command in ("mydata", "delete") and facts.actor is None \
            and not ctx.answers.get(REGISTRATION) and facts.subscribed is not True:
        # PROFIL or SUPPRIMER from a contact with nothing stored (e.g. right after SUPPRIMER,
        # which starts the phone afresh): say so, not the first-contact welcome. Announcement
        # consent is something stored: SUPPRIMER then erases it (issue 12).
        ctx.message("no_data")
        _ask_language(ctx)
        return ctx.turn()
    # AGENT before the language is chosen (newcomer's test: the question typed next was
    # taken for a first contact and lost): staff first; the language is asked afterwards
    # unless the message shows it.
    for_staff = command == "agent" or (command is None and agent_request(text) is not None) \
        or (ctx.dialog == MAIN and ctx.node == "agent_question")
    if ctx.language is None and for_staff:
        guessed = guess_language(text)
        if guessed is not None:
            ctx.language = guessed
            ctx.effect("set_language", guessed)
    elif ctx.language is None and not (ctx.dialog == MAIN and ctx.node == "language"):
        guessed = guess_language(text)
        if guessed is None:
            # First contact: welcome in the default language, then the bilingual choice.
            if command == "register":
                ctx.answers["_intent"] = "register"
            elif command == "subscribe":
                # ABONNER as a first message: recorded at once, the language asked after.
                ctx.effect("subscribe")
                ctx.replies.append(Reply(dialogs.message("subscribed"),
                                         language=facts.default_language))
                _ask_language(ctx)
                return ctx.turn()
            elif _is_question(text):
                ctx.answers["_first_question"] = text[:TEXT_MAX_CHARS * 5]
            ctx.replies.append(Reply(dialogs.message("welcome"), language=facts.default_language))
            _ask_language(ctx)
            return ctx.turn()
        ctx.language = guessed
        ctx.effect("set_language", guessed)
        if command is None:
            ctx.message("welcome")
            if detect_courtesy(text) is None and _free_question(ctx, text, offer=False):
                return ctx.turn()
            _goto(ctx, MAIN, "menu")
            return ctx.turn()

    if command == "menu" and text.strip() == "0" and ctx.dialog == MAIN and ctx.node == "info":
        # 0 inside the information menu goes one level back, not home.
        _info_back(ctx)
        return ctx.turn()
    if command is not None and command not in ("stop", "start"):
        _command(ctx, command)
        return ctx.turn()
    question = agent_request(text) if command is None else None
    if question is not None:
        # "AGENT: je veux savoir pour le crédit": the ticket carries the question at once.
        _leave_queue(ctx)
        ctx.answers.pop("_pending", None)
        ctx.answers.pop("_info", None)
        ctx.effect("handover", {"reason": "asked", "question": question})
        _handed_over(ctx)
        return ctx.turn()

    if ctx.dialog is None or ctx.node is None:
        _goto(ctx, MAIN, "menu")
        return ctx.turn()
    if ctx.dialog not in dialogs.specs or ctx.node not in dialogs.get(ctx.dialog).nodes:
        # A state saved by an older dialog version: start again from the menu.
        ctx.answers.pop("_pending", None)
        _goto(ctx, MAIN, "menu")
        return ctx.turn()
    if ctx.dialog == REGISTRATION and ctx.node != "resume" and _stale(ctx):
        ctx.data(REGISTRATION)["_node"] = ctx.node
        _goto(ctx, REGISTRATION, "resume")
        return ctx.turn()
    courtesy = detect_courtesy(text)
    if courtesy is not None and ctx.dialog is not None and ctx.node is not None \
            and ctx.answers.get("_pending") is None:
        # "bonjour", "merci", "i ni ce": a polite word back and the question again, not a miss.
        ctx.message(courtesy)
        node = _current_node(ctx)
        if node is not None and node.input in ("none", "content"):
            # A node that asks nothing, or the information menu (an article again after
            # "merci" is noise): the main menu is the question.
            ctx.answers.pop("_info", None)
            _goto(ctx, MAIN, "menu")
        else:
            _repeat_prompt(ctx)
        return ctx.turn()
    if ctx.dialog == MAIN and ctx.node == "menu" and ctx.answers.get("_pending") is None \
            and is_acknowledgement(text):
        # "ok", "d'accord", "👍" at the menu: a friendly word and the menu, not a miss.
        ctx.answers.pop("_misses", None)
        ctx.message("courtesy_ok")
        _repeat_prompt(ctx)
        return ctx.turn()
    _answer(ctx, text)
    return ctx.turn()


def _ask_language(ctx: _Ctx) -> None:
    _goto(ctx, MAIN, "language")


def _command(ctx: _Ctx, command: str) -> None:
    """The global commands (docs/domain.md §3 for the data rights)."""
    # AIDE leaves a pending "c'est bien ça?" answerable (newcomer's test: "oui" after AIDE
    # was a miss); step() has already cleared it for every other command.
    pending = ctx.answers.pop("_pending", None) if command == "help" else None
    ctx.answers.pop("_misses", None)
    if command == "menu":
        _leave_queue(ctx)
        ctx.answers.pop("_info", None)
        ctx.answers.pop("_options_shown", None)
        _goto(ctx, MAIN, "menu")
    elif command == "help":
        node = _current_node(ctx)
        if ctx.language is None:
            # Before the language choice: the short keyword list in both languages (or the
            # guessed one), then the choice again; the full help would take 4 SMS parts.
            ctx.message("help_short")
            _ask_language(ctx)
        elif node is not None and isinstance(pending, Mapping):
            # The short help, then the confirmation or the choice again, still answerable.
            ctx.answers["_pending"] = pending
            if node.help:
                ctx.say(node.help)
            ctx.message("help_short")
            if "pick" in pending:
                _say_pick(ctx, list(pending["pick"]))
            else:
                _say_confirm(ctx, node, _pending_shown(node, pending))
        elif node is not None and node.help:
            # The question's own help, and the keywords in one line (2 SMS parts at most).
            ctx.say(node.help)
            ctx.message("help_short")
        else:
            ctx.message("help")
    elif command == "language":
        _leave_queue(ctx)
        _goto(ctx, MAIN, "language")
    elif command == "register" and ctx.language is None:
        # INSCRIPTION at the language question (newcomer's test: the consent was shown in
        # French and the answer then taken for a first contact): the language first, then
        # the registration, as when INSCRIPTION is the first message.
        _leave_queue(ctx)
        ctx.answers["_intent"] = "register"
        _ask_language(ctx)
    elif command == "register":
        _leave_queue(ctx)
        _open_registration(ctx)
    elif command == "mydata":
        _leave_queue(ctx)
        _open_profile(ctx)
    elif command == "delete":
        _leave_queue(ctx)
        _goto(ctx, MAIN, "confirm_delete")
    elif command == "agent":
        ctx.answers.pop("_info", None)
        _leave_queue(ctx)
        ctx.effect("handover", {"reason": "asked", "question": None})
        _goto(ctx, MAIN, "agent_question")
    elif command == "news":
        _say_news(ctx)
    elif command == "subscribe":
        _subscribe(ctx)
    else:  # pragma: no cover - detect_command returns only the names above
        raise KeyError(command)


def _leave_queue(ctx: _Ctx) -> None:
    ctx.answers.pop("_queue", None)
    if ctx.answers.pop("_mode", None) == "profile":
        # The profile's copy of the registry entry is not kept in the conversation.
        ctx.answers.pop(REGISTRATION, None)


def _current_node(ctx: _Ctx) -> NodeSpec | None:
    try:
        return ctx.dialogs.node(ctx.dialog or "", ctx.node or "")
    except KeyError:
        return None


def _repeat_prompt(ctx: _Ctx) -> None:
    node = _current_node(ctx)
    if node is None:
        _goto(ctx, MAIN, "menu")
    else:
        _prompt(ctx, ctx.dialog or MAIN, ctx.node or "menu", node)


# ------------------------------------------------------------------------------------------
# Moving between nodes
# ------------------------------------------------------------------------------------------

#: The engine's settings when the caller gives none (bot.config states each default once).
_DEFAULT_SETTINGS = engine_settings(DEFAULTS)


def _settings_value(ctx: _Ctx, key: str) -> Any:
    """Setting `key` (an ENGINE_SETTINGS name) from the facts, else its default."""
    return ctx.facts.settings.get(key, _DEFAULT_SETTINGS.get(key))


def _holds(ctx: _Ctx, dialog: str, condition: Mapping[str, Any] | None) -> bool:
    """Whether every key of `condition` holds (answers of `dialog`, or ``setting.X``)."""
    if not condition:
        return True
    data = ctx.answers.get(dialog, {})
    for key, expected in condition.items():
        if key.startswith("setting."):
            value = _settings_value(ctx, key[8:])
        elif key.startswith("contact."):
            value = _contact_fact(ctx, key[8:])
        else:
            value = data.get(key)
        allowed = expected if isinstance(expected, list) else [expected]
        if value not in allowed:
            return False
    return True


def _contact_fact(ctx: _Ctx, name: str) -> bool:
    """``contact.registered`` / ``contact.registering`` of a dialog condition."""
    if name == "registered":
        return _registered(ctx)
    if name == "registering":
        data = ctx.answers.get(REGISTRATION) or {}
        return (not _registered(ctx) and ctx.answers.get("_mode") != "profile"
                and bool(data.get("consent_at")) and bool(data.get("_node")))
    return False


def _split_target(dialog: str, target: str) -> tuple[str, str]:
    return tuple(target.split(":", 1)) if ":" in target else (dialog, target)  # type: ignore


def _goto(ctx: _Ctx, dialog: str, node_id: str, *, quiet: bool = False, depth: int = 0) -> None:
    """Enter a node: skip it when its ``only_if`` fails, say its prompt, and pass straight on
    from a node that asks nothing."""
    if depth > 50:  # a loop of nodes that ask nothing: a dialog bug caught by the checker
        raise RuntimeError(f"dialog loop at {dialog}:{node_id}")
    node = ctx.dialogs.node(dialog, node_id)
    ctx.answers.pop("_misses", None)
    if not _holds(ctx, dialog, node.only_if):
        _advance(ctx, dialog, node_id, node, depth=depth + 1)
        return
    ctx.dialog, ctx.node = dialog, node_id
    if dialog == REGISTRATION and node.input not in ("none",) and node_id not in ("resume",):
        ctx.data(REGISTRATION)["_node"] = node_id
    if not quiet:
        _prompt(ctx, dialog, node_id, node)
    if node.input == "none" and node.transitions():
        _advance(ctx, dialog, node_id, node, depth=depth + 1)


def _advance(ctx: _Ctx, dialog: str, node_id: str, node: NodeSpec, *, depth: int = 0) -> None:
    """Leave `node_id`: to the next node queued for correction, else by its transitions."""
    queue = ctx.answers.get("_queue")
    if queue is not None and dialog == REGISTRATION:
        while queue:
            nxt = queue.pop(0)
            if _holds(ctx, dialog, ctx.dialogs.node(dialog, nxt).only_if):
                _goto(ctx, dialog, nxt, depth=depth + 1)
                return
        ctx.answers.pop("_queue", None)
        _goto(ctx, dialog, "summary", depth=depth + 1)
        return
    for transition in node.transitions():
        if _holds(ctx, dialog, transition.when):
            target_dialog, target = _split_target(dialog, transition.goto)
            for action in transition.do:
                redirected = ACTIONS[action](ctx)
                if redirected:
                    return
            target_node = ctx.dialogs.node(target_dialog, target)
            if target_node.skip_if_answered and target_node.store and \
                    ctx.answers.get(target_dialog, {}).get(target_node.store) is not None:
                # Already answered with an earlier answer ("je suis menuisier"): passed over.
                _advance(ctx, target_dialog, target, target_node, depth=depth + 1)
                return
            _goto(ctx, target_dialog, target, quiet=transition.quiet, depth=depth + 1)
            return
    # No transition: the conversation stays on this node.
    ctx.dialog, ctx.node = dialog, node_id


# ------------------------------------------------------------------------------------------
# Prompts
# ------------------------------------------------------------------------------------------

def _prompt_text(ctx: _Ctx, dialog: str, node: NodeSpec) -> str | None:
    if isinstance(node.prompt, list):
        for variant in node.prompt:
            if _holds(ctx, dialog, variant.when):
                return variant.text
        return None
    return node.prompt


def _prompt_params(ctx: _Ctx) -> dict[str, Any]:
    days = int(_settings_value(ctx, "retention_days"))
    if days % 365 == 0:
        duration = Reply(ctx.dialogs.message("years"), {"n": days // 365})
    elif days % 30 == 0:
        duration = Reply(ctx.dialogs.message("months"), {"n": days // 30})
    else:
        duration = Reply(ctx.dialogs.message("days"), {"n": days})
    code = (ctx.facts.actor or {}).get("registration_code") or ctx.answers.get("_code") or ""
    return {"duration": duration, "code": code, "when": _when(ctx)}


def _option_label(ctx: _Ctx, dialog: str, option: Any) -> str:
    """The option's label for this contact: the first of ``labels`` whose condition holds,
    else ``label``."""
    return next((v.text for v in option.labels if _holds(ctx, dialog, v.when)), option.label)


def _option_lines(node: NodeSpec, ctx: _Ctx | None = None, dialog: str = MAIN,
                  short: bool = False) -> list[Reply]:
    """The numbered option lines of `node` (labels chosen for the contact when `ctx` is
    given, else the default labels; with `short`, an option's ``short`` label where it has
    one: "Agriculture" for "Agriculture et transformation")."""
    lines = []
    for number, option in _numbered(node):
        text = _option_label(ctx, dialog, option) if ctx is not None else option.label
        if short and option.short:
            text = option.short
        label = Reply(text) if option.translate else Reply(text, raw=True)
        lines.append(Reply("%(n)s %(label)s", {"n": number, "label": label}, raw=True))
    return lines


def _numbered(node: NodeSpec) -> list[tuple[int, Any]]:
    return [(o.number if o.number is not None else i, o)
            for i, o in enumerate(node.options, start=1)]


def _prompt(ctx: _Ctx, dialog: str, node_id: str, node: NodeSpec, *,
            reprompt: bool = False) -> None:
    """Say the node's question: prompt (or re-prompt), numbered options, footer."""
    if node.input == "summary":
        _say_summary(ctx, dialog, node)
        return
    if node.input == "content":
        _say_info(ctx, node)
        return
    text = node.reprompt if (reprompt and node.reprompt) else _prompt_text(ctx, dialog, node)
    params = _prompt_params(ctx) if text and "%(" in text else {}
    parts: list[Reply] = [Reply(text, params)] if text else []
    if node.input in ("choice", "multi_choice") and node.list_options:
        full = Reply("%(t)s", {"t": Join((*parts, *_option_lines(node, ctx, dialog)), "\n")},
                     raw=True)
        shorter = Reply("%(t)s", {"t": Join((*parts, *_option_lines(node, ctx, dialog, True)),
                                            "\n")}, raw=True)
        # On SMS the options' short labels when the full ones need a second part (issue
        # 15: the 8 sectors took 2 parts for "Agriculture et transformation").
        chosen = full if node.bilingual else (_fitting(ctx, [full, shorter], parts=1) or full)
        parts = [chosen]
    if not parts and not node.footer:
        return
    reply = Reply("%(t)s", {"t": Join(tuple(parts), "\n")}, raw=True)
    if node.footer:
        # The footer ("AIDE: aide. STOP: arrêter.") is a reminder, not the question: on SMS
        # it is left out when it alone would push the turn to a second part (issue 15: the
        # Bambara welcome and menu took 2 parts for it).
        full = Reply("%(t)s", {"t": Join((*parts, Reply(node.footer)), "\n")}, raw=True)
        reply = full if not parts or node.bilingual else (
            _fitting(ctx, [full, reply], parts=1) or full)
    if node.bilingual:
        ctx.say_understood(reply)
    else:
        ctx.replies.append(reply)


# ------------------------------------------------------------------------------------------
# Answers
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Reading:
    """How an answer was read: ``ok`` (value), ``confirm`` (value + shown), ``pick``
    (candidates), ``outside`` (ask for the free text), or a miss."""

    outcome: str
    value: Any = None
    shown: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _options(node: NodeSpec) -> list[Option]:
    out = []
    for number, o in _numbered(node):
        labels = [o.label, *(v.text for v in o.labels)]
        bm = [translate(label, "bm") for label in labels] if o.translate else []
        out.append(Option(o.key, number=number, fr=(*labels, *o.words),
                          bm=(*bm, *o.words_bm)))
    return out


def _label_of(node: NodeSpec, key: Any, short: bool = False) -> Reply | str:
    for option in node.options:
        if option.key == key:
            label = (option.short or option.label) if short else option.label
            return Reply(label) if option.translate else label
    return str(key)


def _read(ctx: _Ctx, dialog: str, node: NodeSpec, text: str) -> _Reading:
    """Read `text` as an answer to `node` (bot/understanding.py does the reading)."""
    language = ctx.language or ctx.facts.default_language
    kind = node.input
    if node.unknown_ok and detect_doubt(text):
        # "je sais pas", "n t'a dɔn" on an optional question: no answer, not "none" (a
        # newcomer's "je sais pas" was stored as "Aucune" protection).
        return _Reading("ok", None)
    if kind == "choice":
        # At the main menu any other text is searched as a question: a number inside a
        # sentence ("la mairie de la commune 3") is not a choice there.
        # The language question too: "j'ai 2 enfants et je veux l'AMO" must not pick Bambara.
        strict = dialog == MAIN and ctx.node in ("menu", "language")
        result = parse_choice(text, _options(node), language=language, strict=strict,
                              topic_words=dialog == MAIN and ctx.node == "menu")
        if result.key is None:
            if ctx.node == "language" and dialog == MAIN and (
                    result.reason == "sentence"
                    or (_is_question(text) and len(fold(text).split()) >= 2)):
                # (One word, "anglais", is an answer not understood, not a question.)
                # Kept, and answered once the language is chosen (as a first message is;
                # issue 15: "c'est quoi l'APEJ" there was lost): the choice is asked again.
                ctx.answers["_first_question"] = text[:TEXT_MAX_CHARS * 5]
                return _Reading("miss", extra={"_kept": True})
            return _Reading("miss", extra=_wrong_number(ctx, node, text))
        extra = {}
        if node.words_store and not is_number_only(text):
            words = trade_words(text, [_option_label(ctx, dialog, o) for o in node.options])
            if words:
                extra = {node.words_store: words[:TEXT_MAX_CHARS]}
        if result.sure:
            return _Reading("ok", result.key, extra=extra)
        return _Reading("confirm", result.key, _label_of(node, result.key), extra=extra)
    if kind == "multi_choice":
        result = parse_multi_choice(text, _options(node), language=language)
        if not result.ok:
            return _Reading("miss")
        keys = list(result.keys)
        chosen_exclusive = [k for k in keys if k in node.exclusive]
        if chosen_exclusive and len(keys) > 1:
            return _Reading("miss")  # "aucune" with "AMO": contradictory, ask again
        if node.skip and keys == [node.skip]:
            return _Reading("ok", None)
        return _Reading("ok", keys)
    if kind == "yes_no":
        value = parse_yes_no(text, numbered=True)
        return _Reading("miss", extra=_wrong_number(ctx, node, text)) if value is None \
            else _Reading("ok", value)
    if kind == "name":
        # A bare "oui", "ok", "awo" answers an earlier question, not this one; "je sais pas",
        # "n ma a faamu" (I did not understand) say something else: never a name.
        words = fold(text).split()
        if (len(words) <= 2 and parse_yes_no(text) is not None) or NOT_NAME_WORDS & set(words):
            return _Reading("miss")
        result = parse_name(text, keep_case=node.keep_case)
        return _Reading("ok", result.name) if result.ok else _Reading("miss")
    if kind == "text":
        cleaned = " ".join(text.split())
        letters = sum(ch.isalpha() for ch in cleaned)
        limit = node.max or TEXT_MAX_CHARS
        if letters < 2 or len(cleaned) > limit * 3 or is_number_only(cleaned) \
                or detect_doubt(cleaned):
            # "fila", "deux": a menu number typed at a free-text question, not a trade;
            # "je sais pas" is not a trade either (third newcomer's test): ask again.
            return _Reading("miss")
        return _Reading("ok", cleaned[:limit])
    if kind == "number":
        result = parse_number(text)
        low, high = node.min if node.min is not None else 0, node.max
        if not result.ok or result.value < low or (high is not None and result.value > high):
            return _Reading("miss")
        if node.confirm_below is not None and result.value < node.confirm_below:
            # "1" member for an organisation is likely a slip: confirm it.
            return _Reading("confirm", result.value, result.value)
        return _Reading("ok", result.value)
    if kind == "year":
        result = parse_year(text, now_year=ctx.now.year)
        if not result.ok:
            return _Reading("miss", extra=_year_refused(ctx, dialog, result))
        if result.sure:
            return _Reading("ok", result.year)
        return _Reading("confirm", result.year, result.year)
    if kind == "quartier":
        return _read_quartier(ctx, dialog, node, text)
    return _Reading("miss")


def _is_question(text: str) -> bool:
    """Whether `text` may be a question to keep for later: not a courtesy, a command or a
    number, and more than 3 letters (the rule a first message is kept by)."""
    return detect_courtesy(text) is None and detect_command(text) is None \
        and not is_number_only(text) and len(fold(text)) > 3


def _wrong_number(ctx: _Ctx, node: NodeSpec, text: str) -> dict[str, Any]:
    """For a bare number that is no answer ("3" at "1 Une femme 2 Un homme"): the precise
    repair, ``{"_why": Reply}`` ("Répondez 1 ou 2."); else ``{}``."""
    number = parse_number(text) if is_number_only(text) else None
    if number is None or not number.ok:
        return {}
    count = 2 if node.input == "yes_no" else len(_numbered(node))
    if count < 2 or (node.input == "choice" and 0 < number.value <= count):
        return {}
    if count == 2:
        return {"_why": Reply(ctx.dialogs.message("wrong_number_two"))}
    return {"_why": Reply(ctx.dialogs.message("wrong_number"), {"n": count})}


def _year_refused(ctx: _Ctx, dialog: str, result: Any) -> dict[str, Any]:
    """Why an implausible birth year is refused (a year to come, an age out of range), as
    ``{"_why": Reply}``; ``{}`` for a year not understood at all."""
    if result.error != "implausible" or result.year is None or result.age is None:
        return {}
    if result.year > ctx.now.year:
        return {"_why": Reply(ctx.dialogs.message("year_future"), {"year": result.year})}
    name = "year_too_young" if result.age < 10 else "year_too_old"
    if result.how == "age":  # "2", "san 300": said as an age
        name = "age_too_young" if result.age < 10 else "age_too_old"
    return {"_why": Reply(ctx.dialogs.message(name), {"year": result.year, "age": result.age})}


def _outside_label(ctx: _Ctx, dialog: str) -> str:
    places = ctx.dialogs.places(dialog)
    return dict(places.outside_label).get("fr") or "Hors commune"


def _read_quartier(ctx: _Ctx, dialog: str, node: NodeSpec, text: str) -> _Reading:
    places = ctx.dialogs.places(dialog)
    match = match_quartier(text, places)
    if match.kind == "outside":
        extra = {"quartier_text": match.text[:TEXT_MAX_CHARS]}
        if match.matched in places.outside_phrases and node.on_outside:
            # Only "elsewhere" was said: ask where (docs/domain.md §1: keep the free text).
            return _Reading("outside", _outside_label(ctx, dialog))
        return _Reading("ok", _outside_label(ctx, dialog), extra=extra)
    if match.kind == "quartier" and match.sure:
        return _Reading("ok", match.name, extra={"quartier_text": None})
    if match.kind == "quartier" and len(match.candidates) <= 1:
        return _Reading("confirm", match.name, match.name, extra={"quartier_text": None})
    if match.candidates:
        return _Reading("pick", list(match.candidates))
    return _Reading("miss")


def _answer(ctx: _Ctx, text: str) -> None:
    dialog, node_id = ctx.dialog or MAIN, ctx.node or "menu"
    node = ctx.dialogs.node(dialog, node_id)
    pending = ctx.answers.get("_pending")
    if pending is not None:
        _answer_pending(ctx, dialog, node_id, node, text, pending)
        return
    if node.input == "summary":
        _answer_summary(ctx, dialog, node_id, node, text)
        return
    if node.input == "none":
        # A node that asks nothing and leads nowhere: read the message as a menu answer.
        _goto(ctx, MAIN, "menu", quiet=True)
        _answer(ctx, text)
        return
    if node.input == "content":
        _answer_info(ctx, text)
        return
    if dialog == REGISTRATION and node_id == "name" and len(answer_pieces(text)) >= 3:
        # "Aminata Traoré, femme, 1985, Badialan 2, couturière" at the name question.
        fields = _several_answers(ctx, text)
        if "name" in fields and len(fields) >= 3:
            _store_fields(ctx, fields)
            _advance(ctx, dialog, node_id, node)
            return
    reading = _read(ctx, dialog, node, text)
    if reading.outcome == "miss" and text.strip() == NEXT_PAGE \
            and node.input in ("choice", "yes_no"):
        # "9" with no next page and no option 9: say so and ask again, not a miss.
        ctx.say(NO_MORE_PAGES)
        _prompt(ctx, dialog, node_id, node, reprompt=True)
        return
    if reading.outcome == "miss" and dialog == MAIN and node_id in ("menu", "offer_handover") \
            and _free_question(ctx, text):
        # At the menu, and instead of "yes"/"no" to passing an unanswered question to staff
        # (newcomer's test: "c'est quoi l'AMO" there was a miss): a new question, searched;
        # if nothing answers it either, the hand-over is offered for this one.
        return
    if reading.outcome == "ok":
        _store(ctx, dialog, node_id, node, reading.value, reading.extra)
        _advance(ctx, dialog, node_id, node)
    elif reading.outcome == "confirm":
        ctx.answers["_pending"] = {"value": reading.value, "extra": dict(reading.extra)}
        _say_confirm(ctx, node, reading.shown)
    elif reading.outcome == "pick":
        ctx.answers["_pending"] = {"pick": reading.value}
        _say_pick(ctx, reading.value)
    elif reading.outcome == "outside":
        _store(ctx, dialog, node_id, node, reading.value, {})
        if node.on_outside:
            _goto(ctx, dialog, node.on_outside)
    elif reading.extra.get("_kept"):
        _prompt(ctx, dialog, node_id, node)  # a question kept for after the choice
    else:
        _miss(ctx, dialog, node_id, node, reading.extra.get("_why"))


def _say_confirm(ctx: _Ctx, node: NodeSpec, shown: Any) -> None:
    msgid = node.confirm or ctx.dialogs.message("confirm_choice")
    ctx.say(msgid, value=shown)


def _pending_shown(node: NodeSpec, pending: Mapping[str, Any]) -> Any:
    """How a pending value is shown in "Vous voulez dire: X?": a choice by its label."""
    value = pending.get("value")
    return _label_of(node, value) if node.input == "choice" else value


def _say_pick(ctx: _Ctx, candidates: list[str]) -> None:
    lines: list[Reply] = [Reply(ctx.dialogs.message("which_quartier"))]
    for i, name in enumerate(candidates, start=1):
        lines.append(Reply("%(n)s %(name)s", {"n": i, "name": name}, raw=True))
    lines.append(Reply("%(n)s %(label)s", {"n": len(candidates) + 1,
                                           "label": Reply(ctx.dialogs.message("other_quartier"))},
                       raw=True))
    ctx.replies.append(Reply("%(t)s", {"t": Join(tuple(lines), "\n")}, raw=True))


def _answer_pending(ctx: _Ctx, dialog: str, node_id: str, node: NodeSpec, text: str,
                    pending: Mapping[str, Any]) -> None:
    """The answer to "did you mean X?" or "which one?"."""
    if "pick" in pending:
        candidates = list(pending["pick"])
        options = [Option(str(i), fr=(name,)) for i, name in enumerate(candidates, start=1)]
        options.append(Option("other", fr=("autre", "aucun"), bm=("wɛrɛ",)))
        result = parse_choice(text, options, language=ctx.language or "fr")
        if result.key is not None and result.key != "other":
            ctx.answers.pop("_pending", None)
            _store(ctx, dialog, node_id, node, candidates[int(result.key) - 1],
                   {"quartier_text": None})
            _advance(ctx, dialog, node_id, node)
            return
        if result.key == "other":
            ctx.answers.pop("_pending", None)
            _prompt(ctx, dialog, node_id, node)
            return
        # Perhaps a new answer to the question itself.
        ctx.answers.pop("_pending", None)
        _answer(ctx, text)
        return
    yes = parse_yes_no(text, numbered=True)
    if yes is True:
        ctx.answers.pop("_pending", None)
        _store(ctx, dialog, node_id, node, pending["value"], pending.get("extra") or {})
        _advance(ctx, dialog, node_id, node)
        return
    if yes is False:
        ctx.answers.pop("_pending", None)
        _prompt(ctx, dialog, node_id, node, reprompt=True)
        return
    reading = _read(ctx, dialog, node, text)
    if reading.outcome == "ok":
        ctx.answers.pop("_pending", None)
        _store(ctx, dialog, node_id, node, reading.value, reading.extra)
        _advance(ctx, dialog, node_id, node)
        return
    misses = int(ctx.answers.get("_misses", 0)) + 1
    ctx.answers["_misses"] = misses
    ctx.message("not_understood")
    _say_confirm(ctx, node, _pending_shown(node, pending))


def _too_many_misses(ctx: _Ctx) -> None:
    """The MAX_MISSES-th miss in a row: instead of the re-prompt, the keywords and a ticket
    for staff, who will read the messages (one message within 2 SMS parts: the newcomer's
    test found the help pushed behind "9 = suite")."""
    ctx.answers["_misses"] = 0
    ctx.effect("handover", {"reason": "misses", "question": None})
    ctx.message("too_many_misses", when=_when(ctx))


def _count_miss(ctx: _Ctx, why: Reply | None = None) -> bool:
    """Count a misunderstood answer and say so (`why`, the precise repair, or "Je n'ai pas
    compris."); after MAX_MISSES in a row, give help and the way to reach staff instead.
    Returns True when the caller should re-ask its question."""
    misses = int(ctx.answers.get("_misses", 0)) + 1
    if misses >= MAX_MISSES:
        _too_many_misses(ctx)
        return False
    ctx.answers["_misses"] = misses
    if why is not None:
        ctx.say_understood(why)
    else:
        ctx.message("not_understood")
    return True


def _miss(ctx: _Ctx, dialog: str, node_id: str, node: NodeSpec, why: Reply | None = None) -> None:
    """Not understood: `why` (a precise repair, issue 15) or "not understood", then the
    re-prompt with the valid answers; after MAX_MISSES, help and staff, and during
    registration the question again (newcomer's test: the gender step lost its
    "1 Une femme 2 Un homme")."""
    if _count_miss(ctx, why):
        _prompt(ctx, dialog, node_id, node, reprompt=True)
    elif dialog == REGISTRATION:
        _reask_briefly(ctx, dialog, node_id, node)


def _fits(ctx: _Ctx, parts: int | None = None) -> bool:
    """True when this turn's replies fit `parts` SMS parts (default ``sms_max_segments``,
    the parts of one SMS page); always True off SMS."""
    if ctx.facts.channel != "sms":
        return True
    language = ctx.lang()
    text = sms.render(render(ctx.replies, language), "sms", language)
    budget = parts if parts is not None else int(_settings_value(ctx, "sms_max_segments"))
    return sms.analyze(text).segments <= budget


def _reask_briefly(ctx: _Ctx, dialog: str, node_id: str, node: NodeSpec) -> None:
    """After the hand-over message, the question again so the person still sees how to
    answer. The first layout that fits the SMS budget: the hand-over and the re-prompt; the
    hand-over and only the numbered answers ("1 Une femme\n2 Un homme"); the same with the
    hand-over without its keyword list (too_many_misses_short); else the hand-over alone."""
    before = len(ctx.replies)
    _prompt(ctx, dialog, node_id, node, reprompt=True)
    prompt = ctx.replies[before:]
    del ctx.replies[before:]
    if node.input in ("choice", "multi_choice") and node.list_options:
        lines = _option_lines(node, ctx, dialog)
    elif node.input == "yes_no":
        lines = [Reply("%(n)s %(label)s", {"n": n, "label": Reply(ctx.dialogs.message(name))},
                       raw=True) for n, name in ((1, "answer_yes"), (2, "answer_no"))]
    else:
        lines = []
    options = [Reply("%(t)s", {"t": Join(tuple(lines), "\n")}, raw=True)] if lines else []
    handover = ctx.replies[before - 1:before]
    short = [Reply(ctx.dialogs.message("too_many_misses_short"), {"when": _when(ctx)})]
    head = ctx.replies[:before - 1]
    for first, then in ((handover, prompt), (handover, options), (short, prompt),
                        (short, options)):
        if not then:
            continue
        ctx.replies[:] = head + first + then
        if _fits(ctx):
            return
    ctx.replies[:] = head + handover


def _store(ctx: _Ctx, dialog: str, node_id: str, node: NodeSpec, value: Any,
           extra: Mapping[str, Any]) -> None:
    ctx.answers.pop("_misses", None)
    if not node.store:
        return
    data = ctx.data(dialog)
    data[node.store] = value
    for key, extra_value in extra.items():
        if key.startswith("_"):
            continue  # the engine's own notes (a repair), not an answer
        if extra_value is None:
            data.pop(key, None)
        else:
            data[key] = extra_value
    if node.store == "quartier" and not extra and value is not None and \
            value != _outside_label(ctx, dialog):
        data.pop("quartier_text", None)
    if dialog == REGISTRATION:
        data["_at"] = ctx.now.isoformat()
        if data.get("consent_at"):
            _save_actor(ctx)
    if dialog == MAIN and node.store == "language":
        ctx.language = value
        ctx.effect("set_language", value)


# ------------------------------------------------------------------------------------------
# Registration: open, resume, summary, profile, finish
# ------------------------------------------------------------------------------------------

def _registered(ctx: _Ctx) -> bool:
    actor = ctx.facts.actor
    return bool(actor and actor.get("registration_code"))


def _stale(ctx: _Ctx) -> bool:
    """Whether the registration in progress was last answered more than resume_after_days
    ago (DESIGN: an old registration asks whether to continue or restart)."""
    at = ctx.answers.get(REGISTRATION, {}).get("_at")
    if not at:
        return False
    try:
        last = datetime.fromisoformat(at)
    except ValueError:
        return False
    return ctx.now - last > timedelta(days=int(_settings_value(ctx, "resume_after_days")))


def _open_registration(ctx: _Ctx) -> bool:
    """INSCRIPTION or menu 1: the profile if registered, else resume, else consent."""
    if _registered(ctx):
        _open_profile(ctx)
        return True
    data = ctx.answers.get(REGISTRATION) or {}
    saved = data.get("_node")
    if data.get("consent_at") and saved and saved in ctx.dialogs.get(REGISTRATION).nodes:
        if _stale(ctx):
            _goto(ctx, REGISTRATION, "resume")
        else:
            ctx.message("resumed")
            _goto(ctx, REGISTRATION, saved)
        return True
    ctx.answers.pop(REGISTRATION, None)
    _goto(ctx, REGISTRATION, ctx.dialogs.get(REGISTRATION).start)
    return True


def _open_profile(ctx: _Ctx) -> None:
    ctx.answers.pop("_prefill", None)  # answers typed with INSCRIPTION by a registered person
    if not _registered(ctx):
        ctx.message("not_registered")
        _goto(ctx, MAIN, "menu", quiet=True)
        return
    actor = dict(ctx.facts.actor or {})
    stored = {n.store for n in ctx.dialogs.get(REGISTRATION).nodes.values() if n.store}
    data = {k: v for k, v in actor.items() if (k in stored or k == "quartier_text")
            and v is not None}
    data["consent_at"] = actor.get("consent_at") or ctx.now.isoformat()
    data["_at"] = ctx.now.isoformat()
    ctx.answers[REGISTRATION] = data
    ctx.answers["_mode"] = "profile"
    _goto(ctx, REGISTRATION, "summary")


def _summary_groups(ctx: _Ctx, dialog: str, node: NodeSpec) -> list[Any]:
    return [g for g in node.groups if _holds(ctx, dialog, g.only_if)]


def _field_node(spec: DialogSpec, field_name: str) -> NodeSpec | None:
    for node in spec.nodes.values():
        if node.store == field_name:
            return node
    return None


def _shown(ctx: _Ctx, dialog: str, field_name: str) -> Any:
    """How one stored answer is shown in a summary line."""
    spec = ctx.dialogs.get(dialog)
    data = ctx.answers.get(dialog, {})
    value = data.get(field_name)
    if value is None or value == []:
        return None
    node = _field_node(spec, field_name)
    if field_name == "quartier" and value == _outside_label(ctx, dialog):
        return Reply(ctx.dialogs.message("outside_shown"),
                     {"value": _cut(data.get("quartier_text") or "-")})
    if node is None:
        return _cut(str(value))
    if node.input in ("choice",):
        return _label_of(node, value, short=True)
    if node.input == "multi_choice":
        return Join(tuple(_label_of(node, k, short=True) for k in value))
    if node.input == "yes_no":
        key = "yes" if value else "no"
        return _label_of(node, key) if node.options else Reply(ctx.dialogs.message(f"answer_{key}"))
    if node.shown_one and value == 1:
        return Reply(node.shown_one, {"value": value})
    if node.shown:
        return Reply(node.shown, {"value": value})
    return _cut(str(value))


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3].rstrip() + "..."


def _say_summary(ctx: _Ctx, dialog: str, node: NodeSpec) -> None:
    profile = ctx.answers.get("_mode") == "profile"
    code = (ctx.facts.actor or {}).get("registration_code") or ""
    lines: list[Reply] = [
        Reply(ctx.dialogs.message("profile_header"), {"code": code}) if profile
        else Reply(_prompt_text(ctx, dialog, node) or "")]
    for number, group in enumerate(_summary_groups(ctx, dialog, node), start=1):
        values = [v for v in (_shown(ctx, dialog, f) for f in group.fields) if v is not None]
        shown = Join(tuple(values)) if values else "-"
        if group.label:
            lines.append(Reply("%(n)s %(label)s: %(v)s",
                               {"n": number, "label": Reply(group.label), "v": shown}, raw=True))
        else:
            lines.append(Reply("%(n)s %(v)s", {"n": number, "v": shown}, raw=True))
    footer = Reply(ctx.dialogs.message("profile_footer")) if profile else Reply(node.footer or "")
    full = Reply("%(t)s", {"t": Join((*lines, footer), "\n")}, raw=True)
    # On SMS the short footer when the full one alone needs a second part (issue 15).
    short = Reply("%(t)s", {"t": Join((*lines, Reply(ctx.dialogs.message("summary_footer_short"))),
                                      "\n")}, raw=True)
    ctx.replies.append(full if profile else (_fitting(ctx, [full, short], parts=1) or full))


def _answer_summary(ctx: _Ctx, dialog: str, node_id: str, node: NodeSpec, text: str) -> None:
    """Confirm (yes) or pick the numbers of the lines to correct ("2", "2 et 4")."""
    groups = _summary_groups(ctx, dialog, node)
    profile = ctx.answers.get("_mode") == "profile"
    if parse_yes_no(text) is True:
        ctx.answers.pop("_misses", None)
        if profile:
            _leave_queue(ctx)
            ctx.message("profile_saved")
            _goto(ctx, MAIN, "menu", quiet=True)
        else:
            _advance(ctx, dialog, node_id, node)
        return
    options = [Option(f"g{i}", number=i) for i in range(1, len(groups) + 1)]
    result = parse_multi_choice(text, options) if fold(text) else None
    if result is None or not result.ok:
        # The summary was just shown: repeat only what to answer (a summary is long).
        misses = int(ctx.answers.get("_misses", 0)) + 1
        ctx.answers["_misses"] = 0 if misses >= MAX_MISSES else misses
        if misses >= MAX_MISSES:
            _too_many_misses(ctx)
        else:
            ctx.message("not_understood")
            ctx.say(ctx.dialogs.message("profile_footer") if profile else (node.footer or ""))
        return
    queue: list[str] = []
    for key in result.keys:
        queue += [n for n in groups[int(key[1:]) - 1].nodes if n not in queue]
    ctx.answers["_queue"] = queue[1:]
    _goto(ctx, dialog, queue[0])


def _actor_fields(ctx: _Ctx) -> dict[str, Any]:
    """The registry fields of the registration in progress, for the save_actor effect.

    Keys: every field a registration node stores (kind, name, org_name, contact_name, gender,
    birth_year, quartier, quartier_text, sector, trade, legal_form, members_count, formalised,
    protection, needs; missing ones None), consent_at (ISO time), consent_version, channel,
    completeness (0-100: share of the questions that apply which are answered; optional
    questions not counted).
    """
    spec = ctx.dialogs.get(REGISTRATION)
    data = ctx.answers.get(REGISTRATION, {})
    fields: dict[str, Any] = {}
    required = answered = 0
    for node in spec.nodes.values():
        if not node.store or node.store.startswith("_") or node.input == "summary":
            continue
        fields[node.store] = data.get(node.store)
        if node.store in ("consent",):
            continue
        if _holds(ctx, REGISTRATION, node.only_if) and not node.skip and not node.on_outside \
                and node.store != "quartier_text":
            required += 1
            answered += data.get(node.store) is not None
    fields.pop("consent", None)
    fields["quartier_text"] = data.get("quartier_text")
    fields["consent_at"] = data.get("consent_at")
    fields["consent_version"] = spec.registry.consent_version if spec.registry else None
    fields["channel"] = ctx.facts.channel
    fields["completeness"] = round(100 * answered / required) if required else 0
    return fields


def _save_actor(ctx: _Ctx, **more: Any) -> None:
    fields = _actor_fields(ctx)
    fields.update(more)
    # One save per turn is enough: the last one carries every answer.
    ctx.effects = [e for e in ctx.effects if e.kind != "save_actor"]
    ctx.effect("save_actor", fields)


#: Folded words that open the needs in a list of answers ("besoins: formation et crédit").
NEEDS_LEADS = WORDS.list("needs_leads")


def _several_answers(ctx: _Ctx, text: str) -> dict[str, Any]:
    """Registration answers read from one message that gives several (issue 15), keeping only
    what is read with confidence: a mapping of registry fields (name, gender, birth_year,
    quartier, sector, trade, needs) to values as the nodes store them. Each piece of the
    message (bot.understanding.answer_pieces) is tried as, in order: the needs (after
    "besoins:"), a birth year (four digits, sure), the gender (a word, sure), a quartier
    (sure), a sector (a word, sure; the word is kept as the trade unless it is the sector's
    label), and, first unread piece of two words or more without digits, the name. What is
    missing or unsure is asked afterwards, one question at a time."""
    spec = ctx.dialogs.get(REGISTRATION)
    language = ctx.language or ctx.facts.default_language
    nodes = {n.store: n for n in spec.nodes.values() if n.store}
    fields: dict[str, Any] = {}
    for piece in answer_pieces(text):
        folded = fold(piece)
        lead = next((w for w in NEEDS_LEADS if folded.startswith(w + " ") or folded == w), None)
        if lead is not None and "needs" in nodes and "needs" not in fields:
            rest = " ".join(piece.split()[len(lead.split()):]).lstrip(" :")
            result = parse_multi_choice(rest, _options(nodes["needs"]), language=language)
            if result.ok:
                fields["needs"] = list(result.keys)
            continue
        year = parse_year(piece, now_year=ctx.now.year)
        if year.ok and year.sure and year.how in ("year", "date") and "birth_year" not in fields:
            fields["birth_year"] = year.year
            continue
        if any(ch.isdigit() for ch in piece) and "quartier" in fields:
            continue
        for store in ("gender", "sector"):
            node = nodes.get(store)
            if node is None or store in fields:
                continue
            result = parse_choice(piece, _options(node), language=language, strict=True)
            if result.key is not None and result.sure and result.via == "word":
                fields[store] = result.key
                labels = {fold(label) for o in node.options
                          for label in (o.label, translate(o.label, "bm"))}
                if store == "sector" and folded not in labels:
                    fields["trade"] = " ".join(piece.split())[:TEXT_MAX_CHARS]
                break
        else:
            if "quartier" not in fields:
                match = match_quartier(piece, ctx.dialogs.places(REGISTRATION))
                if match.kind == "quartier" and match.sure:
                    fields["quartier"] = match.name
                    continue
            words = folded.split()
            if "name" not in fields and len(words) >= 2 and not any(ch.isdigit() for ch in piece) \
                    and not NOT_NAME_WORDS & set(words):
                name = parse_name(piece)
                if name.ok:
                    fields["name"] = name.name
    return fields


def _store_fields(ctx: _Ctx, fields: Mapping[str, Any]) -> None:
    """Store several registration answers at once (from one message), saved like one."""
    data = ctx.data(REGISTRATION)
    data.update(fields)
    if "quartier" in fields:
        data.pop("quartier_text", None)
    data["_at"] = ctx.now.isoformat()
    ctx.answers.pop("_misses", None)
    if data.get("consent_at"):
        _save_actor(ctx)


def _action_set_language(ctx: _Ctx) -> bool:
    """Language chosen: go where the person wanted to go at first contact, if anywhere."""
    if ctx.answers.pop("_intent", None) == "register":
        return _open_registration(ctx)
    question = ctx.answers.pop("_first_question", None)
    if question:
        # The first message was a question ("c'est quoi l'APEJ"): answer it now.
        return _free_question(ctx, question)
    return False


def _action_consent(ctx: _Ctx) -> bool:
    """Consent given (Loi 2013-015): record when, with the consent text's version."""
    data = ctx.data(REGISTRATION)
    data["consent_at"] = ctx.now.isoformat()
    data.pop("consent", None)
    given = ctx.answers.pop("_prefill", None)
    fields = _several_answers(ctx, given) if given else {}
    if "name" in fields:
        # A person's name given with the registration: an individual (organisations are
        # asked one question at a time).
        _store_fields(ctx, {"kind": "individu", **fields})
    _save_actor(ctx)
    return False


def _action_forget(ctx: _Ctx) -> bool:
    """Consent refused or registration abandoned: keep nothing of it."""
    ctx.answers.pop(REGISTRATION, None)
    ctx.answers.pop("_prefill", None)
    ctx.answers.pop("_queue", None)
    return False


def _action_restart(ctx: _Ctx) -> bool:
    """Start the registration again, consent kept (it was given and recorded)."""
    data = ctx.answers.get(REGISTRATION, {})
    ctx.answers[REGISTRATION] = {k: data[k] for k in ("consent_at",) if k in data}
    ctx.answers[REGISTRATION]["_at"] = ctx.now.isoformat()
    return False


def _action_resume(ctx: _Ctx) -> bool:
    """Continue where the registration stopped."""
    data = ctx.data(REGISTRATION)
    data["_at"] = ctx.now.isoformat()
    saved = data.get("_node")
    if saved and saved in ctx.dialogs.get(REGISTRATION).nodes and saved != "resume":
        ctx.message("resumed")
        _goto(ctx, REGISTRATION, saved)
        return True
    return False


def _action_finish(ctx: _Ctx) -> bool:
    """Summary confirmed: the registry entry is complete and gets its code."""
    spec = ctx.dialogs.get(REGISTRATION)
    actor = ctx.facts.actor or {}
    code = actor.get("registration_code")
    if not code and actor.get("id") is not None and spec.registry is not None:
        code = registration_code(spec.registry.code_prefix, int(actor["id"]),
                                 spec.registry.code_digits)
    ctx.answers["_code"] = code or ""
    _save_actor(ctx, registration_code=code, registered=True)
    ctx.answers.pop(REGISTRATION, None)
    ctx.answers.pop("_queue", None)
    return False


def _action_delete(ctx: _Ctx) -> bool:
    """SUPPRIMER confirmed (docs/domain.md §3, right to delete): forget everything here too."""
    ctx.effect("delete_data")
    for key in list(ctx.answers):
        ctx.answers.pop(key)
    return False


# ------------------------------------------------------------------------------------------
# Information: categories → topics → short answer → details (issue 4), free questions
# ------------------------------------------------------------------------------------------
#
# State: ``_info`` = {"view": "categories" | "topics" | "article" | "list", "cat": category id,
# "id": article id, "ids": listed article ids, "from": "topics" | "list"}. Numbers are 1-8
# (never 9: "9 = suite" pages a long reply, bot/conversations.py) and 0 goes back.

def _when(ctx: _Ctx) -> Reply:
    """When staff can answer, from the office-hours setting (bot/officehours.py)."""
    spec = str(_settings_value(ctx, "office_hours"))
    kind, weekday, at = next_answer(ctx.now, spec, str(_settings_value(ctx, "timezone")))
    if kind == "now":
        return Reply(WHEN_NOW)
    if kind == "today":
        return Reply(WHEN_TODAY, {"time": at})
    if kind == "tomorrow":
        return Reply(WHEN_TOMORROW, {"time": at})
    return Reply(WHEN_DAY, {"day": Reply(DAY_NAMES[weekday]), "time": at})


def _info(ctx: _Ctx) -> dict[str, Any]:
    info = ctx.answers.get("_info")
    if not isinstance(info, dict):
        info = ctx.answers["_info"] = {"view": "categories"}
    return info


def _raw(text: str) -> Reply:
    """Content text (from the database, already in the right language): not translated."""
    return Reply("%(t)s", {"t": text}, raw=True)


def _numbered_lines(header: Reply | None, items: list[str], footer: Reply | None) -> Reply:
    lines: list[Any] = [header] if header is not None else []
    lines += [Reply("%(n)s %(label)s", {"n": i, "label": label}, raw=True)
              for i, label in enumerate(items, start=1)]
    if footer is not None:
        lines.append(footer)
    return Reply("%(t)s", {"t": Join(tuple(lines), "\n")}, raw=True)


def _say_info(ctx: _Ctx, node: NodeSpec | None = None) -> None:
    """Say the current view of the information menu."""
    library = ctx.library()
    node = node or ctx.dialogs.node(MAIN, "info")
    if library is None:
        ctx.message("info_unavailable")
        _goto(ctx, MAIN, "menu", quiet=True)
        return
    info, language = _info(ctx), ctx.lang()
    articles = library.by_id()
    view = info.get("view")
    if view == "article" and info.get("id") in articles:
        article = articles[info["id"]]
        field_name = info.get("field") or "short"
        body = _raw(article.text(field_name, language))
        if field_name == "details":
            ctx.replies.append(_details_reply(ctx, body, article.verified, language))
            return
        _say_article(ctx, body)
        return
    if view == "list" and info.get("ids"):
        titles = [articles[i].title.get(language) for i in info["ids"] if i in articles]
        _say_list(ctx, Reply(INFO_LIST), titles, [Reply(INFO_LIST_FOOTER), Reply(INFO_BACK)])
        return
    if view == "topics":
        category = next((c for c in library.categories if c.id == info.get("cat")), None)
        if category is not None:
            titles = [a.title.get(language) for a in library.in_category(category.id)]
            _say_list(ctx, _raw(category.title.get(language) + ":"), titles, [Reply(INFO_BACK)])
            return
    info.clear()
    info["view"] = "categories"
    titles = [c.title.get(language) for c in library.categories
              if library.in_category(c.id)]
    header = Reply(node.prompt) if isinstance(node.prompt, str) else None
    _say_list(ctx, header, titles,
              [Reply(node.footer), Reply(INFO_BACK)] if node.footer else [Reply(INFO_BACK)],
              header_optional=True)


def short_title(title: str) -> str:
    """A title cut to its name, for a numbered list on SMS: the part before ": " or " ("
    ("RAMU: assurance maladie pour tous" → "RAMU"; "Mutuelles de santé (UTM)" → "Mutuelles
    de santé"); a title with neither is kept whole."""
    for mark in (": ", " ("):
        if mark in title:
            return title.split(mark, 1)[0]
    return title


def _say_list(ctx: _Ctx, header: Reply | None, titles: list[str], footers: list[Reply], *,
              header_optional: bool = False) -> None:
    """A numbered list of the information menu, `footers` from the fullest to the shortest.

    On SMS (issue 15: lists of topics were paged, "0 Retour" on the second page), the first
    layout that fits ONE part, trying in order: each footer with the whole titles, then
    without the header when `header_optional`, then with the titles cut by
    :func:`short_title`; if none fits, the list is said whole (and paged)."""
    headers = [header, None] if header_optional and header is not None else [header]
    layouts = [_numbered_lines(h, items, footer)
               for items in (titles, [short_title(t) for t in titles])
               for footer in footers for h in headers]
    ctx.replies.append(_fitting(ctx, layouts, parts=1) or layouts[0])


def _lines(*items: Any) -> Reply:
    """`items` (Reply, Join or str) one per line, as one raw Reply."""
    return Reply("%(t)s", {"t": Join(tuple(items), "\n")}, raw=True)


def _say_article(ctx: _Ctx, body: Reply) -> None:
    """An article text (short answer, conditions, steps, where) and the options 1-4 / 0.

    Off SMS, the full options line. On SMS (issue 15), the first layout that fits ONE part:
    the full line, the short one (INFO_ARTICLE_OPTIONS_SMS), or — once the options have been
    shown since the person last left the information menu (``_options_shown``) — the text
    alone (they still work);
    else the short line, in 2 parts. A menu only when needed: it costs the person nothing to
    type "1" again.
    """
    options = _lines(body, Reply(INFO_ARTICLE_OPTIONS))
    if ctx.facts.channel != "sms":
        ctx.replies.append(options)
        return
    layouts = [options, _lines(body, Reply(INFO_ARTICLE_OPTIONS_SMS))]
    if ctx.answers.get("_options_shown"):
        layouts.append(body)
    chosen = _fitting(ctx, layouts, parts=1) or layouts[1]
    if chosen is not body:
        ctx.answers["_options_shown"] = True
    ctx.replies.append(chosen)


def _fitting(ctx: _Ctx, layouts: list[Reply], parts: int | None = None) -> Reply | None:
    """The first of `layouts` that, said after this turn's replies, keeps the whole turn
    within `parts` SMS parts (default ``sms_max_segments``); None when none does. Off SMS,
    the first layout (WhatsApp and the console are not billed per part)."""
    if ctx.facts.channel != "sms":
        return layouts[0] if layouts else None
    for layout in layouts:
        ctx.replies.append(layout)
        fits = _fits(ctx, parts)
        ctx.replies.pop()
        if fits:
            return layout
    return None


def _details_reply(ctx: _Ctx, body: Reply, verified: Any, language: str) -> Reply:
    """The "Plus de détails" answer: the details, the date they were checked and the options.

    On SMS, the first of these layouts that fits one part, else the first that fits
    ``sms_max_segments`` parts (default 2), so that a body fitting 2 parts is not followed by
    a page holding only the date and the options: date and the short options line on their
    own lines; date, then the options without "1 Plus" (already shown); date inline, then
    "0 Retour" (2-4 still work); "(màj 2018)" inline, then "0 Retour". Otherwise the first
    layout, paged. Off SMS, the date and the full options line.
    """
    def lines(*items: Any) -> Reply:
        return Reply("%(t)s", {"t": Join(tuple(items), "\n")}, raw=True)

    def inline(date: Reply) -> Reply:
        return Reply("%(t)s", {"t": Join((body, date), " ")}, raw=True)

    date = Reply(INFO_VERIFIED, {"verified": verified})
    if ctx.facts.channel != "sms":
        return lines(body, date, Reply(INFO_ARTICLE_OPTIONS))
    full = lines(body, date, Reply(INFO_ARTICLE_OPTIONS_SMS))
    layouts = [full, lines(body, date, Reply(INFO_DETAILS_OPTIONS)),
               lines(inline(date), Reply(INFO_BACK)),
               lines(inline(Reply(INFO_VERIFIED_SHORT, {"verified": verified})), Reply(INFO_BACK))]
    return _fitting(ctx, layouts, parts=1) or _fitting(ctx, layouts) or full


def _show_article(ctx: _Ctx, article_id: str, field_name: str | None = None,
                  came_from: str = "topics") -> None:
    info = _info(ctx)
    info.update(view="article", id=article_id, field=field_name or "short", **{"from": came_from})
    library = ctx.library()
    article = library.by_id().get(article_id) if library else None
    if article is not None:
        info["cat"] = article.category
    ctx.dialog, ctx.node = MAIN, "info"
    ctx.answers.pop("_misses", None)
    _say_info(ctx)


def _info_back(ctx: _Ctx) -> None:
    """0 in the information menu: article → its list, list or topics → categories,
    categories → main menu."""
    info = _info(ctx)
    view = info.get("view")
    ctx.answers.pop("_misses", None)
    if view == "article":
        info["view"] = "list" if info.get("from") == "list" else "topics"
        info.pop("field", None)
        _say_info(ctx)
    elif view in ("topics", "list"):
        ctx.answers["_info"] = {"view": "categories"}
        _say_info(ctx)
    else:
        ctx.answers.pop("_info", None)
        ctx.answers.pop("_options_shown", None)
        _goto(ctx, MAIN, "menu")


def _pick_number(text: str, count: int) -> int | None:
    """A bare number 0..count, in digits or words ("deux", "fila", "zéro", "fu"); 0 is
    "Retour" (the lists here are numbered; titles are matched by search)."""
    result = parse_choice(text, [Option(str(i), number=i) for i in range(0, count + 1)],
                          language="fr", strict=True)
    return int(result.key) if result.key is not None and result.sure else None


def _answer_info(ctx: _Ctx, text: str) -> None:
    """An answer inside the information menu: a number of the current list, a wish for
    more ("plus", "conditions"…) after an article, or else a free question."""
    library = ctx.library()
    if library is None:
        _goto(ctx, MAIN, "menu", quiet=True)
        _answer(ctx, text)
        return
    info = _info(ctx)
    view = info.get("view")
    if view == "article":
        # Only a number or one of the words alone ("plus", "conditions"): a sentence that
        # contains "comment" or "où" is a new question, searched below.
        folded = fold(text)
        number = _pick_number(text, len(ARTICLE_FIELDS))  # "2", "deux", "fila" (README)
        wanted = ARTICLE_FIELDS.get(number or -1) or next(
            (name for name in ARTICLE_FIELDS.values()
             if folded in ARTICLE_FIELD_WORDS[name][0] or folded in ARTICLE_FIELD_WORDS[name][1]),
            None)
        if number == 0:
            _info_back(ctx)
            return
        if wanted is not None:
            _show_article(ctx, info["id"], wanted, info.get("from", "topics"))
            return
    elif view == "list":
        number = _pick_number(text, len(info.get("ids") or []))
        if number == 0:
            _info_back(ctx)
            return
        if number is not None:
            _show_article(ctx, info["ids"][number - 1], came_from="list")
            return
    elif view == "topics":
        topics = library.in_category(info.get("cat") or "")
        number = _pick_number(text, len(topics))
        if number == 0:
            _info_back(ctx)
            return
        if number is not None:
            _show_article(ctx, topics[number - 1].id)
            return
    else:
        # Numbers only: words are better used by the search ("formation couture" is a
        # question about FAFPA, not the training category).
        categories = [c for c in library.categories if library.in_category(c.id)]
        number = _pick_number(text, len(categories))
        if number == 0:
            _info_back(ctx)
            return
        if number is not None:
            ctx.answers["_info"] = {"view": "topics", "cat": categories[number - 1].id}
            ctx.answers.pop("_misses", None)
            _say_info(ctx)
            return
    if text.strip() == NEXT_PAGE:
        # Nothing left to page: say so, and only the options of an article.
        ctx.say(NO_MORE_PAGES)
        if view == "article":
            ctx.say(INFO_ARTICLE_OPTIONS)
        else:
            _say_info(ctx)
        return
    if _free_question(ctx, text):
        return
    if _count_miss(ctx):
        _say_info(ctx)


def _free_question(ctx: _Ctx, text: str, offer: bool = True) -> bool:
    """Answer `text` as a free question (bot.content.search); False when it has no words to
    look up (then it is an ordinary miss), or when nothing matches and `offer` is False.
    One clear match, or a single article offered: its short answer (or the part asked for);
    several: a numbered list; none: offer a hand-over to staff."""
    about = mairie_question(text)
    if about is not None:
        # The mairie itself (issue 15): its hours from ESSBOT_OFFICE_HOURS, and where to ask
        # for the address (no public source gives it).
        ctx.answers.pop("_info", None)
        ctx.message("mairie_info", hours=_office_hours(ctx))
        _goto(ctx, MAIN, "menu", quiet=True)
        return True
    if asks_for_person(text):
        # "je veux parler au maire": a person, not a scheme; offer a ticket.
        return _offer_handover(ctx, text)
    library = ctx.library()
    if library is None:
        return False
    result = search(text, library.index, language=ctx.lang())
    if not result.words:
        return False
    if not is_confident(result):
        # Below the confidence an answer needs (bot.content.is_confident), a person answers
        # (issue 15), never a wrong scheme.
        return _offer_handover(ctx, text) if offer else False
    if result.decision in ("one", "several"):
        ctx.answers.pop("_question", None)  # a question offered to staff earlier is answered
    if result.decision == "one" or (result.decision == "several" and len(result.ids) == 1):
        # A "did you mean" list of one article: answer it directly (newcomer's test).
        field_name = result.aspect if result.aspect in ARTICLE_FIELDS.values() else None
        ctx.answers["_info"] = {"view": "categories"}
        _show_article(ctx, result.ids[0], field_name, came_from="topics")
        return True
    if result.decision == "several":
        ctx.answers["_info"] = {"view": "list", "ids": result.ids}
        ctx.dialog, ctx.node = MAIN, "info"
        ctx.answers.pop("_misses", None)
        _say_info(ctx)
        return True
    if not offer or not any(len(word) >= 4 for word in result.words):
        # "xq", "ok?": too little to pass to staff as a question; an ordinary miss.
        return False
    return _offer_handover(ctx, text)


def _offer_handover(ctx: _Ctx, text: str) -> bool:
    """Offer to pass `text` to staff (a ticket if the person says yes). Returns True."""
    ctx.answers.pop("_info", None)
    ctx.answers["_question"] = text[:TEXT_MAX_CHARS * 5]
    _goto(ctx, MAIN, "offer_handover")
    return True


def _office_hours(ctx: _Ctx) -> Reply:
    """ESSBOT_OFFICE_HOURS said in words: "lundi-vendredi 08:00-16:00", days with the same
    hours grouped (bot/officehours.py parses the setting)."""
    try:
        hours = parse_office_hours(str(_settings_value(ctx, "office_hours"))).hours
    except ValueError:
        hours = ()
    groups: list[tuple[int, int, Any]] = []
    for day, span in enumerate(hours):
        if span is None:
            continue
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == span:
            groups[-1] = (groups[-1][0], day, span)
        else:
            groups.append((day, day, span))
    items = []
    for first, last, (start, end) in groups:
        days = Reply(DAY_NAMES[first]) if first == last else Reply(
            "%(a)s-%(b)s", {"a": Reply(DAY_NAMES[first]), "b": Reply(DAY_NAMES[last])}, raw=True)
        items.append(Reply("%(d)s %(s)s-%(e)s", {"d": days, "s": _hhmm(start), "e": _hhmm(end)},
                           raw=True))
    return Reply("%(t)s", {"t": Join(tuple(items))}, raw=True)


def _hhmm(value: Any) -> str:
    """A time of day as "08:00" (datetime.time or a string already so)."""
    return value.strftime("%H:%M") if hasattr(value, "strftime") else str(value)


def _subscribe(ctx: _Ctx) -> None:
    """ABONNER / KIBARU SON: the person consents to receive announcements (the "subscribe"
    effect records it with source "keyword"); then the menu. Reached only when the person has
    not opted out: after STOP the reminder to send START answers instead (STOP always wins)."""
    ctx.effect("subscribe")
    ctx.message("subscribed")
    if ctx.language is None:
        _ask_language(ctx)
    else:
        _goto(ctx, MAIN, "menu", quiet=True)


def _say_news(ctx: _Ctx) -> None:
    """ANNONCES: the latest announcements sent to this person (Facts.announcements); to a
    person without announcement consent (Facts.subscribed False), how to ask for them."""
    items = ctx.facts.announcements
    items = items() if callable(items) else (items or [])
    if not items:
        ctx.message("no_news_subscribe" if ctx.facts.subscribed is False else "no_news")
    else:
        lines: list[Any] = [Reply(ctx.dialogs.message("news_header"))]
        lines += [Reply("%(at)s: %(text)s", {"at": i.get("at", ""), "text": i.get("text", "")},
                        raw=True) for i in items]
        ctx.replies.append(Reply("%(t)s", {"t": Join(tuple(lines), "\n")}, raw=True))
        if ctx.facts.subscribed is False:
            ctx.message("how_to_subscribe")
    _goto(ctx, MAIN, "menu", quiet=True)


def _action_handover_question(ctx: _Ctx) -> bool:
    """The person accepted to pass a question the content does not answer to staff."""
    ctx.effect("handover", {"reason": "no_match", "question": ctx.answers.pop("_question", None)})
    return False


def _action_agent_question(ctx: _Ctx) -> bool:
    """The question typed after AGENT: added to the ticket opened by AGENT."""
    question = ctx.answers.get(MAIN, {}).pop("_agent_question", None)
    ctx.effect("handover", {"reason": "asked", "question": question})
    if ctx.language is None:
        _handed_over(ctx)
        return True
    return False


def _handed_over(ctx: _Ctx) -> None:
    """A question is with staff: say when they will answer, then the menu. Before a language
    is chosen, a short thanks in both languages (or the guessed one) and the language
    question instead: the menu would be in one language, and 2 SMS parts hold no more."""
    if ctx.language is not None:
        _goto(ctx, MAIN, "handover")
        return
    # What was written before AGENT is in the ticket's messages: not searched later.
    ctx.answers.pop("_first_question", None)
    ctx.message("agent_sent", when=_when(ctx))
    _ask_language(ctx)


def _action_drop_question(ctx: _Ctx) -> bool:
    """The person declined the hand-over: forget the question."""
    ctx.answers.pop("_question", None)
    return False


def _action_open_info(ctx: _Ctx) -> bool:
    """Menu "Informations": the categories."""
    ctx.answers["_info"] = {"view": "categories"}
    return False


#: Actions a transition may run (``do: [...]`` in a dialog file). Each takes the turn's
#: context and returns True when it already moved the conversation elsewhere.
ACTIONS: dict[str, Callable[[_Ctx], bool]] = {
    "after_language": _action_set_language,
    "consent": _action_consent,
    "forget": _action_forget,
    "restart": _action_restart,
    "resume": _action_resume,
    "finish": _action_finish,
    "delete_data": _action_delete,
    "open_registration": _open_registration,
    "handover_question": _action_handover_question,
    "drop_question": _action_drop_question,
    "agent_question": _action_agent_question,
    "open_info": _action_open_info,
}

