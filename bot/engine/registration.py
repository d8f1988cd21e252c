"""The registration: opening it (or the profile), resuming it, the summary and its
corrections, and the actions of its transitions (consent, finish, forget, delete).

Part of the pure dialog engine (:mod:`bot.engine`).
"""

from __future__ import annotations

from typing import Any

from bot.engine.schema import NodeSpec
from bot.understanding import Option, fold, parse_multi_choice, parse_yes_no
from bot.engine.types import Join, MAIN, MAX_MISSES, REGISTRATION, Reply, registration_code
from bot.engine.context import (
    PROMPTERS, ANSWERERS,
    _Ctx, _cut, _field_node, _fitting, _holds, _label_of, _leave_queue, _outside_label,
    _registered, _stale, _too_many_misses,
)
from bot.engine.nodes import _advance, _goto, _prompt_text
from bot.engine.inputs import _save_actor, _several_answers, _store_fields
from bot.engine.info import _free_question


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


PROMPTERS["summary"] = _say_summary
ANSWERERS["summary"] = _answer_summary
