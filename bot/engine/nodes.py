"""Moving through the dialogs: entering a node (its ``only_if``), leaving it by its
transitions and actions, and saying its prompt with its numbered options.

Part of the pure dialog engine (:mod:`bot.engine`).
"""

from __future__ import annotations

from typing import Any

from bot.engine.schema import NodeSpec
from bot.engine.types import Join, MAIN, REGISTRATION, Reply
from bot.engine.context import (
    ACTIONS, PROMPTERS,
    _Ctx, _current_node, _fitting, _holds, _numbered, _settings_value, _split_target, _when,
)


def _ask_language(ctx: _Ctx) -> None:
    _goto(ctx, MAIN, "language")


def _repeat_prompt(ctx: _Ctx) -> None:
    node = _current_node(ctx)
    if node is None:
        _goto(ctx, MAIN, "menu")
    else:
        _prompt(ctx, ctx.dialog or MAIN, ctx.node or "menu", node)


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


def _prompt(ctx: _Ctx, dialog: str, node_id: str, node: NodeSpec, *,
            reprompt: bool = False) -> None:
    """Say the node's question: prompt (or re-prompt), numbered options, footer."""
    if node.input in PROMPTERS:  # the summary, the information menu
        PROMPTERS[node.input](ctx, dialog, node)
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
