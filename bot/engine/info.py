"""The information menu: categories, articles and their fields, free questions searched in
the content, office hours, the news (ANNONCES), hand-over to staff.

Part of the pure dialog engine (:mod:`bot.engine`).
"""

from __future__ import annotations

from typing import Any

from bot.content import is_confident, search
from bot.engine.schema import NodeSpec
from bot.i18n import N_
from bot.understanding import Option, asks_for_person, fold, mairie_question, parse_choice
from bot.engine.types import Join, MAIN, NEXT_PAGE, NO_MORE_PAGES, Reply, TEXT_MAX_CHARS
from bot.engine.context import (
    PROMPTERS, ANSWERERS, HOOKS,
    _Ctx, _count_miss, _fitting, _lines, _numbered_lines, _office_hours, _raw, _when,
    short_title,
)
from bot.engine.nodes import _ask_language, _goto
from bot.engine.inputs import _answer
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


def _info(ctx: _Ctx) -> dict[str, Any]:
    info = ctx.answers.get("_info")
    if not isinstance(info, dict):
        info = ctx.answers["_info"] = {"view": "categories"}
    return info


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


def _say_news(ctx: _Ctx) -> None:
    """ANNONCES: the latest announcements sent to this person (Facts.announcements)."""
    items = ctx.facts.announcements
    items = items() if callable(items) else (items or [])
    if not items:
        ctx.message("no_news")
    else:
        lines: list[Any] = [Reply(ctx.dialogs.message("news_header"))]
        lines += [Reply("%(at)s: %(text)s", {"at": i.get("at", ""), "text": i.get("text", "")},
                        raw=True) for i in items]
        ctx.replies.append(Reply("%(t)s", {"t": Join(tuple(lines), "\n")}, raw=True))
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


PROMPTERS["content"] = lambda ctx, dialog, node: _say_info(ctx, node)
ANSWERERS["content"] = lambda ctx, dialog, node_id, node, text: _answer_info(ctx, text)
HOOKS["free_question"] = _free_question
