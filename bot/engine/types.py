"""The engine's vocabulary: what comes in (Inbound, Facts), what goes out (Reply, Join,
Effect, Turn), rendering replies to text, and the constants every part shares.

Part of the pure dialog engine (:mod:`bot.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Mapping

from bot.engine.state import State
from bot.i18n import N_, translate

#: Misunderstood answers in a row before the bot offers help and the way to reach staff.
MAX_MISSES = 3
#: Dialog ids the engine itself refers to (keywords and first contact).
MAIN = "main"
REGISTRATION = "registration"
#: Longest piece of free text shown back in a summary line (names, trades): keeps a summary
#: within 2 SMS parts (bot/sms.py) whatever people typed.
SHOWN_CHARS = 24
#: Longest free-text answer kept (a trade, a quartier outside the commune).
TEXT_MAX_CHARS = 80
#: An opted-out person who writes again is reminded how to restart at most this often; any
#: other message gets no reply (they asked for no messages).
REMINDER_EVERY = timedelta(hours=24)
#: Inbound kinds a person cannot type around (many users don't read): they open a ticket.
HANDOVER_KINDS = frozenset({"audio", "image", "video"})
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
    ``{"at": "YYYY-MM-DD", "text": str}``, or a function returning it.
    """

    language: str | None
    opted_out: bool = False
    default_language: str = "fr"
    channel: str = "sms"
    actor: Mapping[str, Any] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    content: Any = None
    announcements: Any = None


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

    kind: "set_language" (value "fr" | "bm"), "opt_out", "opt_in", "save_actor" (value: a
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
