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
4. Otherwise the message answers the current node: it is read with bot/understanding/
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

The engine is one package split along its seams, each module importing only those before it:
:mod:`.state` (the saved state and its migration), :mod:`.types` (what comes in and goes out,
rendering), :mod:`.context` (one turn's working copy, the shared readings, the registries),
:mod:`.nodes` (moving through the dialogs, prompts), :mod:`.inputs` (reading answers),
:mod:`.info` (the information menu, free questions, hand-over), :mod:`.registration` (opening,
resuming and confirming the registration), and this module: :func:`step` and the global
commands. The upper modules register what the lower ones call (actions, the nodes that say and
read themselves) in the registries of :mod:`.context`; importing :mod:`bot.engine` loads them all.

State (``State.answers``, JSON): answers of each dialog under the dialog id (the registration's
under ``"registration"``, with ``_at``, the time of the last answer, and ``_node``, where it
stopped), and the engine's own keys, all starting with ``_``: ``_misses``, ``_pending`` (a
reading awaiting confirmation), ``_queue`` (nodes to ask again when correcting from the
summary), ``_mode`` (``"profile"`` when a registered person views their data), ``_intent``,
``_first_question`` (a first message asked before the language), ``_info`` (where the person
is in the information menu), ``_options_shown`` (the article options 1-4 were shown in this
visit of the information menu: on SMS they may then be left out), ``_question`` (a question
offered to staff), ``_reminded_at``
(last "send START" reminder to an opted-out person). The layout has a format number
(``State.format``); bot/engine/state.py migrates an older state and follows renamed nodes
(a dialog's ``moved``) before a turn reads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Mapping

from bot.engine.schema import Dialogs, load_dialogs
from bot.engine.state import STATE_FORMAT, State, migrate  # noqa: F401 (re-exported)
from bot.understanding import (
    agent_request, detect_command, detect_courtesy, guess_language, is_acknowledgement,
    register_with_answers,
)
from bot.engine.types import (  # noqa: F401 (re-exported: bot.engine.X)
    MAX_MISSES, MAIN, REGISTRATION, SHOWN_CHARS, TEXT_MAX_CHARS, REMINDER_EVERY,
    HANDOVER_KINDS, NEXT_PAGE, NO_MORE_PAGES, WHEN_NOW, WHEN_TODAY, WHEN_TOMORROW, WHEN_DAY,
    DAY_NAMES, Inbound, Facts, Reply, Join, Effect, Turn, render, registration_code, year_band,
)
from bot.engine.context import (  # noqa: F401 (re-exported: bot.engine.X)
    ACTIONS, ANSWERERS, HOOKS, PROMPTERS,
    _Ctx, _deep_copy, _leave_queue, _current_node, _DEFAULT_SETTINGS, _settings_value, _holds,
    _contact_fact, _split_target, _numbered, _options, _label_of, _is_question, _outside_label,
    _say_confirm, _pending_shown, _say_pick, _too_many_misses, _count_miss, _fits, _registered,
    _stale, _field_node, _cut, _when, _raw, _numbered_lines, short_title, _lines, _fitting,
    _office_hours, _hhmm,
)
from bot.engine.nodes import (  # noqa: F401 (re-exported: bot.engine.X)
    _ask_language, _repeat_prompt, _goto, _advance, _prompt_text, _prompt_params,
    _option_label, _option_lines, _prompt,
)
from bot.engine.inputs import (  # noqa: F401 (re-exported: bot.engine.X)
    NOT_NAME_WORDS, _Reading, _read, _wrong_number, _year_refused, _read_quartier, _answer,
    _answer_pending, _miss, _reask_briefly, _store, _actor_fields, _save_actor, NEEDS_LEADS,
    _several_answers, _store_fields,
)
from bot.engine.info import (  # noqa: F401 (re-exported: bot.engine.X)
    INFO_ARTICLE_OPTIONS, INFO_ARTICLE_OPTIONS_SMS, INFO_VERIFIED, INFO_DETAILS_OPTIONS,
    INFO_VERIFIED_SHORT, INFO_LIST, INFO_LIST_FOOTER, INFO_BACK, ARTICLE_FIELDS,
    ARTICLE_FIELD_WORDS, _info, _say_info, _say_list, _say_article, _details_reply,
    _show_article, _info_back, _pick_number, _answer_info, _free_question, _offer_handover,
    _say_news, _action_handover_question, _action_agent_question, _handed_over,
    _action_drop_question, _action_open_info,
)
from bot.engine.registration import (  # noqa: F401 (re-exported: bot.engine.X)
    _open_registration, _open_profile, _summary_groups, _shown, _say_summary, _answer_summary,
    _action_set_language, _action_consent, _action_forget, _action_restart, _action_resume,
    _action_finish, _action_delete,
)

__all__ = ["State", "Inbound", "Facts", "Reply", "Join", "Effect", "Turn", "step", "render",
           "load_dialogs", "Dialogs", "MAX_MISSES", "REGISTRATION", "MAIN", "ACTIONS",
           "year_band", "registration_code"]


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
    ctx = _Ctx(dialogs, migrate(state, dialogs), facts, now)
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
            and not ctx.answers.get(REGISTRATION):
        # PROFIL or SUPPRIMER from a contact with nothing stored (e.g. right after SUPPRIMER,
        # which starts the phone afresh): say so, not the first-contact welcome.
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
        # A node that the dialogs no longer define and do not list as moved (migrate has
        # already followed `moved`): a registration with answers asks whether to continue,
        # its answers kept; otherwise the menu, where nothing is lost.
        ctx.answers.pop("_pending", None)
        if ctx.dialog == REGISTRATION and (ctx.answers.get(REGISTRATION) or {}).get("consent_at") \
                and "resume" in dialogs.get(REGISTRATION).nodes:
            ctx.data(REGISTRATION).pop("_node", None)
            _goto(ctx, REGISTRATION, "resume")
        else:
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
    else:  # pragma: no cover - detect_command returns only the names above
        raise KeyError(command)


#: Actions a transition may run (``do: [...]`` in a dialog file). Each takes the turn's
#: context and returns True when it already moved the conversation elsewhere.
ACTIONS.update({
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
})
