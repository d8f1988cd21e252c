"""The engine's saved state: typed, versioned, and migrated rather than thrown away.

A conversation's state outlives the code that wrote it: a person may answer a registration
question days after a deployment renamed a node or changed what the engine keeps. Sending them
back to the menu loses their answers and costs them SMS to type them again. So a saved state
carries its format number, and :func:`migrate` brings an older state to the current format and
onto nodes the current dialogs define before the engine reads it.

Two kinds of change are covered:

- **The state's layout** (:data:`STATE_FORMAT`, one step per format in :data:`STEPS`). Format 0
  is a state saved before the format was recorded; its layout is format 1's, so its step only
  records the number. A change of layout adds format N+1 and its step here, with a test.
- **Renamed nodes**: a dialog file lists ``moved: {old_id: new_id}``; a state (and the
  registration's saved stopping point and its queue of questions to ask again) on an old id
  continues on the new one.

A state on a node that no dialog defines any more, with no ``moved`` entry, keeps its answers:
in a registration with answers (consent given) the engine's step then asks the ``resume``
question ("continue or start again?"); otherwise it shows the main menu, where nothing is lost.
A state from a *newer* format (after a rollback) keeps the registration's answers and drops
the engine's own keys, whose meaning this code does not know.

Pure Python, like the rest of the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.engine.schema import Dialogs

#: The layout of :attr:`State.answers` this code writes (see the module docstring of
#: :mod:`bot.engine` for the keys).
STATE_FORMAT = 1

#: The dialog whose answers are a person's registration in progress (bot.engine.REGISTRATION).
REGISTRATION = "registration"


@dataclass(frozen=True)
class State:
    """Where a contact is: `dialog` and `node` ids (None before the first message), the
    answers collected so far (a JSON-serialisable mapping, layout in :mod:`bot.engine`'s
    docstring) and the `format` of that layout (an int, :data:`STATE_FORMAT` for a state this
    code wrote; 0 for one saved before formats were recorded)."""

    dialog: str | None = None
    node: str | None = None
    answers: Mapping[str, Any] = field(default_factory=dict)
    format: int = STATE_FORMAT


def _from_format_0(answers: dict[str, Any]) -> dict[str, Any]:
    # Format 0 only lacked the number: the layout is format 1's.
    return answers


#: The steps from each format to the next: ``STEPS[n]`` turns format-n answers into format n+1.
STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_format_0}


def _moved(dialogs: Dialogs, dialog: str, node: Any) -> Any:
    if dialog not in dialogs.specs or not isinstance(node, str):
        return node
    return dialogs.get(dialog).moved.get(node, node)


def migrate(state: State, dialogs: Dialogs) -> State:
    """Bring `state` to :data:`STATE_FORMAT` and onto nodes `dialogs` define.

    Takes a saved State and the dialogs to run; returns a State (the same one when nothing
    needs to change). Never raises on a saved state, however old or odd: what cannot be read
    is dropped as the module docstring says, never the registration's answers.
    """
    answers = dict(state.answers)
    fmt = state.format if isinstance(state.format, int) else 0
    dialog, node = state.dialog, state.node
    if fmt > STATE_FORMAT:
        kept = {REGISTRATION: answers[REGISTRATION]} if REGISTRATION in answers else {}
        return State(None, None, kept, STATE_FORMAT)
    for step in range(max(fmt, 0), STATE_FORMAT):
        answers = STEPS[step](answers)

    if dialog is not None:
        node = _moved(dialogs, dialog, node)
    registration = answers.get(REGISTRATION)
    if isinstance(registration, dict) and REGISTRATION in dialogs.specs:
        registration = dict(registration)
        if "_node" in registration:
            registration["_node"] = _moved(dialogs, REGISTRATION, registration["_node"])
        answers[REGISTRATION] = registration
    queue = answers.get("_queue")
    if isinstance(queue, list) and dialog is not None:
        answers["_queue"] = [_moved(dialogs, dialog, n) for n in queue]

    if (dialog, node, answers, fmt) == (state.dialog, state.node, dict(state.answers),
                                        STATE_FORMAT):
        return state
    return replace(state, dialog=dialog, node=node, answers=answers, format=STATE_FORMAT)
