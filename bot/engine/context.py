"""One turn's working copy (_Ctx) and the small readings every part of a turn uses: settings,
conditions, contact facts, office hours, SMS fitting, counted misses. Also the registries
through which lower parts reach the upper ones without importing them: ACTIONS (a
transition's ``do``), PROMPTERS and ANSWERERS (nodes that say and read themselves:
the summary, the information menu) and HOOKS (a free question at the menu).

Part of the pure dialog engine (:mod:`bot.engine`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Callable, Any, Mapping

from bot import sms
from bot.config import DEFAULTS, engine_settings
from bot.content import Library
from bot.engine.schema import DialogSpec, Dialogs, NodeSpec, holds
from bot.engine.state import STATE_FORMAT, State
from bot.i18n import translate
from bot.officehours import next_answer, parse_office_hours
from bot.understanding import (
    Option, detect_command, detect_courtesy, fold, guess_language, is_number_only,
)
from bot.engine.types import (
    DAY_NAMES, Effect, Facts, Join, MAX_MISSES, REGISTRATION, Reply, SHOWN_CHARS, Turn,
    WHEN_DAY, WHEN_NOW, WHEN_TODAY, WHEN_TOMORROW, render,
)


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
        return Turn(State(self.dialog, self.node, self.answers, STATE_FORMAT), tuple(self.replies),
                    tuple(self.effects))


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


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


# ------------------------------------------------------------------------------------------
# Moving between nodes
# ------------------------------------------------------------------------------------------

#: The engine's settings when the caller gives none (bot.config states each default once).
_DEFAULT_SETTINGS = engine_settings(DEFAULTS)


def _settings_value(ctx: _Ctx, key: str) -> Any:
    """Setting `key` (an ENGINE_SETTINGS name) from the facts, else its default."""
    return ctx.facts.settings.get(key, _DEFAULT_SETTINGS.get(key))


def _holds(ctx: _Ctx, dialog: str, condition: Mapping[str, Any] | None) -> bool:
    """Whether every key of `condition` holds (answers of `dialog`, ``setting.X`` or
    ``contact.X``), read by :func:`bot.engine.schema.holds`."""
    data = ctx.answers.get(dialog, {})

    def value_of(key: str) -> Any:
        if key.startswith("setting."):
            return _settings_value(ctx, key[8:])
        if key.startswith("contact."):
            return _contact_fact(ctx, key[8:])
        return data.get(key)

    return holds(condition, value_of)


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


def _numbered(node: NodeSpec) -> list[tuple[int, Any]]:
    return [(o.number if o.number is not None else i, o)
            for i, o in enumerate(node.options, start=1)]


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


def _is_question(text: str) -> bool:
    """Whether `text` may be a question to keep for later: not a courtesy, a command or a
    number, and more than 3 letters (the rule a first message is kept by)."""
    return detect_courtesy(text) is None and detect_command(text) is None \
        and not is_number_only(text) and len(fold(text)) > 3


def _outside_label(ctx: _Ctx, dialog: str) -> str:
    places = ctx.dialogs.places(dialog)
    return dict(places.outside_label).get("fr") or "Hors commune"


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


def _fits(ctx: _Ctx, parts: int | None = None) -> bool:
    """True when this turn's replies fit `parts` SMS parts (default ``sms_max_segments``,
    the parts of one SMS page); always True off SMS."""
    if ctx.facts.channel != "sms":
        return True
    language = ctx.lang()
    text = sms.render(render(ctx.replies, language), "sms", language)
    budget = parts if parts is not None else int(_settings_value(ctx, "sms_max_segments"))
    return sms.analyze(text).segments <= budget


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


def _field_node(spec: DialogSpec, field_name: str) -> NodeSpec | None:
    for node in spec.nodes.values():
        if node.store == field_name:
            return node
    return None


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3].rstrip() + "..."


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


def short_title(title: str) -> str:
    """A title cut to its name, for a numbered list on SMS: the part before ": " or " ("
    ("RAMU: assurance maladie pour tous" → "RAMU"; "Mutuelles de santé (UTM)" → "Mutuelles
    de santé"); a title with neither is kept whole."""
    for mark in (": ", " ("):
        if mark in title:
            return title.split(mark, 1)[0]
    return title


def _lines(*items: Any) -> Reply:
    """`items` (Reply, Join or str) one per line, as one raw Reply."""
    return Reply("%(t)s", {"t": Join(tuple(items), "\n")}, raw=True)


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


# ------------------------------------------------------------------------------------------
# Registries: how the lower parts of the engine reach the upper ones without importing them
# (the modules of bot.engine form a chain; bot/engine/__init__.py imports them all, which
# fills these before any turn).
# ------------------------------------------------------------------------------------------

#: Actions a transition may run (``do: [...]`` in a dialog file), by name. Each takes the
#: turn's context and returns True when it already moved the conversation elsewhere.
#: Filled by bot/engine/__init__.py.
ACTIONS: dict[str, Callable[[_Ctx], bool]] = {}

#: Nodes that say their own prompt, by input kind: ``PROMPTERS[kind](ctx, dialog, node)``
#: ("summary": bot.engine.registration, "content": bot.engine.info).
PROMPTERS: dict[str, Callable[[_Ctx, str, NodeSpec], None]] = {}

#: Nodes that read their own answers, by input kind:
#: ``ANSWERERS[kind](ctx, dialog, node_id, node, text)``.
ANSWERERS: dict[str, Callable[[_Ctx, str, str, NodeSpec, str], None]] = {}

#: ``HOOKS["free_question"](ctx, text) -> bool``: a message read as a new question at the
#: menu, searched in the content (bot.engine.info); True when it was answered.
HOOKS: dict[str, Callable[..., Any]] = {}
