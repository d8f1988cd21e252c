"""Reading an answer to the current node: choices, yes/no, names, years, quartiers, numbers;
confirmations and picks, misses and re-prompts, storing the value and the registry fields.

Part of the pure dialog engine (:mod:`bot.engine`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from bot.engine.schema import NodeSpec
from bot.i18n import translate
from bot.understanding import (
    Option, answer_pieces, detect_doubt, fold, is_number_only, match_quartier, parse_choice,
    parse_multi_choice, parse_name, parse_number, parse_year, parse_yes_no, trade_words,
)
from bot.understanding.words import WORDS
from bot.engine.types import (
    Join, MAIN, NEXT_PAGE, NO_MORE_PAGES, REGISTRATION, Reply, TEXT_MAX_CHARS,
)
from bot.engine.context import (
    ANSWERERS, HOOKS,
    _Ctx, _count_miss, _fits, _holds, _is_question, _label_of, _numbered, _options,
    _outside_label, _pending_shown, _say_confirm, _say_pick, _when,
)
from bot.engine.nodes import _advance, _goto, _option_label, _option_lines, _prompt
#: Words that never occur in a name but often in an answer that is not one (French doubt and
#: questions, Bambara "n ma a faamu" = I did not understand, docs/domain.md §5 vocabulary).
NOT_NAME_WORDS = WORDS.set("not_name_words")


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


def _read(ctx: _Ctx, dialog: str, node: NodeSpec, text: str) -> _Reading:
    """Read `text` as an answer to `node` (bot/understanding/ does the reading)."""
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
    if node.input in ANSWERERS and node.input != "content":  # the summary
        ANSWERERS[node.input](ctx, dialog, node_id, node, text)
        return
    if node.input == "none":
        # A node that asks nothing and leads nowhere: read the message as a menu answer.
        _goto(ctx, MAIN, "menu", quiet=True)
        _answer(ctx, text)
        return
    if node.input == "content":  # the information menu
        ANSWERERS["content"](ctx, dialog, node_id, node, text)
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
            and HOOKS["free_question"](ctx, text):
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


def _miss(ctx: _Ctx, dialog: str, node_id: str, node: NodeSpec, why: Reply | None = None) -> None:
    """Not understood: `why` (a precise repair, issue 15) or "not understood", then the
    re-prompt with the valid answers; after MAX_MISSES, help and staff, and during
    registration the question again (newcomer's test: the gender step lost its
    "1 Une femme 2 Un homme")."""
    if _count_miss(ctx, why):
        _prompt(ctx, dialog, node_id, node, reprompt=True)
    elif dialog == REGISTRATION:
        _reask_briefly(ctx, dialog, node_id, node)


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
