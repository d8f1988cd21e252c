"""Dialogs as data: the pydantic schema of ``dialogs/*.yaml``, the loader and the checker.

A dialog file describes one dialog: its ``version``, its ``id``, the ``start`` node, named
``messages`` (texts said outside any question, e.g. the answer to AIDE) and ``nodes``. A node
has a ``prompt`` (French text, the gettext msgid; Bambara lives in the catalog), an ``input``
kind that says how the answer is read (bot/understanding/), where the answer is ``store``\\ d,
the ``next`` node (with conditions), and optional ``reprompt``/``help`` texts. The schema refuses
unknown keys, so a typo fails at load (``essbot dialogs check`` and CI), never in a user's
conversation.

This module imports pydantic and yaml only (no Flask, SQLAlchemy or twilio): the engine loads
dialogs with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from bot.understanding import load_places

#: Where the dialog files live (the repository's top-level ``dialogs/``, docs/architecture.md
#: layout).
DIALOGS_DIR = Path(__file__).resolve().parents[2] / "dialogs"

#: The dialog file format this code reads. A file with another version is refused.
FORMAT_VERSION = 1

#: How an answer is read. "none" asks nothing: the node says its prompt and goes on.
InputKind = Literal["choice", "multi_choice", "yes_no", "text", "name", "year", "number",
                    "quartier", "summary", "content", "none"]

#: A condition: every key must hold one of the given values. Keys are answer fields of the
#: dialog ("kind"), settings ("setting.ask_protection") or facts about the contact
#: ("contact.registered": has a registry code; "contact.registering": a registration was
#: started and not finished); a list means "any of".
Condition = dict[str, Any]


def holds(condition: Mapping[str, Any] | None, value_of: Callable[[str], Any]) -> bool:
    """Whether a dialog `condition` (see :data:`Condition`) holds: every key's value, as
    `value_of(key)` gives it (an answer, ``setting.X`` or ``contact.X``), is the expected value
    or one of the expected list. An empty or missing condition holds. The one reading of
    conditions: the engine (``only_if``, ``when``) and the registry's completeness use it.
    Raises nothing of its own (`value_of` may)."""
    if not condition:
        return True
    for key, expected in condition.items():
        allowed = expected if isinstance(expected, list) else [expected]
        if value_of(key) not in allowed:
            return False
    return True


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Strict):
    """A prompt used only when its condition holds (e.g. another wording for organisations)."""

    when: Condition
    text: str


class OptionSpec(_Strict):
    """One numbered option: stored ``key``, shown ``label`` (French msgid; the Bambara label
    from the catalog is also accepted as an answer), extra accepted ``words`` in any language,
    ``words_bm`` in Bambara, and an explicit ``number`` (default: position in the list)."""

    key: str
    label: str
    #: A shorter label for summaries, which must fit 2 SMS parts (default: the label).
    short: str | None = None
    words: list[str] = []
    words_bm: list[str] = []
    number: int | None = None
    #: Shown labels are translated unless False (language names stay in their own language).
    translate: bool = True
    #: Other labels, each shown instead of ``label`` when its condition holds (the first that
    #: does), e.g. "Mon profil" for a registered person (``contact.registered: true``).
    labels: list[Variant] = []


class Transition(_Strict):
    """Go to ``goto`` (a node of this dialog, or ``dialog:node``) when ``when`` holds (always
    when None), running the named ``do`` actions first (see bot.engine.ACTIONS)."""

    goto: str
    when: Condition | None = None
    do: list[str] = []
    #: Move without saying the target's prompt (e.g. back to the menu after a final message).
    quiet: bool = False


class SummaryGroup(_Strict):
    """One numbered line of a summary: the ``fields`` it shows, an optional ``label`` before
    them, the ``nodes`` asked again to correct it, and ``only_if`` to hide it."""

    fields: list[str]
    nodes: list[str]
    label: str | None = None
    only_if: Condition | None = None


class NodeSpec(_Strict):
    """One step of a dialog. See the module docstring; ``min``/``max`` bound numbers and the
    length of text answers, ``confirm`` asks about an unsure reading (``%(value)s``),
    ``exclusive`` options of a multi-choice cannot be combined with others (the last of them
    typed wins), ``skip`` is the option key meaning "I prefer not to answer" (stores None),
    ``on_outside`` is where a quartier answer that only says "elsewhere" goes, ``shown`` formats
    the answer in a summary (``%(value)s``) and ``shown_one`` does when the value is 1 ("1
    membre"), ``unknown_ok`` accepts "I don't know" (bot.understanding.detect_doubt) as no
    answer (stores None) on an optional question, and a number below ``confirm_below`` is
    confirmed with ``confirm`` before it is stored."""

    prompt: str | list[Variant] | None = None
    input: InputKind = "none"
    options: list[OptionSpec] = []
    list_options: bool = True
    store: str | None = None
    next: str | list[Transition] | None = None
    reprompt: str | None = None
    help: str | None = None
    confirm: str | None = None
    footer: str | None = None
    shown: str | None = None
    shown_one: str | None = None
    unknown_ok: bool = False
    #: A name kept in the case it was typed in (organisation names), not capitalised.
    keep_case: bool = False
    #: Asked even before the language is chosen (AGENT at the language question): then the
    #: prompt is said in the language guessed from the message, else in French and Bambara.
    bilingual: bool = False
    confirm_below: int | None = None
    only_if: Condition | None = None
    min: int | None = None
    max: int | None = None
    exclusive: list[str] = []
    skip: str | None = None
    on_outside: str | None = None
    groups: list[SummaryGroup] = []
    #: A choice answered with one of an option's words rather than its number or label ("je
    #: suis menuisier" at the sector question) also stores the words typed under this field
    #: (issue 15: the trade was asked again).
    words_store: str | None = None
    #: Passed over, in the normal order, when its field already holds an answer (given with
    #: an earlier answer); still asked when corrected from the summary.
    skip_if_answered: bool = False

    @field_validator("next", mode="before")
    @classmethod
    def _next_as_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [{"goto": value}]
        return value

    def transitions(self) -> list[Transition]:
        """The node's transitions, in order (an empty list for a node that stays put)."""
        return list(self.next or [])  # type: ignore[arg-type]

    def texts(self) -> Iterator[str]:
        """Every user-facing text of the node (prompt variants, options, group labels)."""
        if isinstance(self.prompt, str):
            yield self.prompt
        elif self.prompt:
            for variant in self.prompt:
                yield variant.text
        for text in (self.reprompt, self.help, self.confirm, self.footer, self.shown,
                     self.shown_one):
            if text:
                yield text
        for option in self.options:
            if option.translate:
                yield option.label
                if option.short:
                    yield option.short
        for group in self.groups:
            if group.label:
                yield group.label


class Registry(_Strict):
    """Data of the registry a registration dialog fills: the registration code (``prefix``
    then the actor id on ``digits`` digits, e.g. ESS3-000123), the consent text version
    recorded with each consent, and the places file of the area."""

    code_prefix: str = Field(min_length=1, max_length=10)
    code_digits: int = Field(6, ge=3, le=10)
    consent_version: str
    places: str


class DialogSpec(_Strict):
    """One dialog file."""

    version: int
    id: str
    start: str
    nodes: dict[str, NodeSpec]
    messages: dict[str, str] = {}
    registry: Registry | None = None
    #: Renamed nodes, old id → new id: a saved state on an old id continues on the new one
    #: (bot/engine/state.py).
    moved: dict[str, str] = {}

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != FORMAT_VERSION:
            raise ValueError(f"unsupported dialog format version {value} "
                             f"(this code reads {FORMAT_VERSION})")
        return value

    @model_validator(mode="after")
    def _moved_to_existing_nodes(self) -> DialogSpec:
        for old, new in self.moved.items():
            if old in self.nodes:
                raise ValueError(f"moved: {old!r} is still a node")
            if new not in self.nodes:
                raise ValueError(f"moved: {old!r} → {new!r}, which is not a node")
        return self

    @model_validator(mode="after")
    def _choices_have_options(self) -> DialogSpec:
        for name, node in self.nodes.items():
            if node.input in ("choice", "multi_choice") and not node.options:
                raise ValueError(f"node {name!r}: a {node.input} without options")
            if node.input == "summary" and not node.groups:
                raise ValueError(f"node {name!r}: a summary without groups")
            numbers = [o.number if o.number is not None else i
                       for i, o in enumerate(node.options, start=1)]
            if len(set(numbers)) != len(numbers):
                raise ValueError(f"node {name!r}: two options share a number")
            if 9 in numbers:
                # "9" asks for the next page of a long reply (bot/conversations.py NEXT_PAGE).
                raise ValueError(f"node {name!r}: 9 is reserved for '9 = suite'")
        return self

    def texts(self) -> Iterator[tuple[str, str]]:
        """Every user-facing text as (where, msgid); where is ``node:X`` or ``message:X``."""
        for name, text in self.messages.items():
            yield f"message:{name}", text
        for name, node in self.nodes.items():
            for text in node.texts():
                yield f"node:{name}", text


class DialogError(ValueError):
    """A dialog file that cannot be used; the message names the file and the problem."""


def load_file(path: str | Path) -> DialogSpec:
    """Load and validate one dialog file.

    Raises DialogError (with the file name) when the file is not YAML or breaks the schema.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return DialogSpec.model_validate(data)
    except (yaml.YAMLError, ValidationError, TypeError) as exc:
        raise DialogError(f"{path.name}: {exc}") from None


class Dialogs:
    """Every dialog of a deployment, by id, with the places file of the registry.

    Built by :func:`load_dialogs`; read-only. ``get("registration")`` returns a DialogSpec,
    ``node("registration", "ask_year")`` a NodeSpec (KeyError when unknown).
    """

    def __init__(self, specs: dict[str, DialogSpec], base: Path):
        self.specs = specs
        self.base = base
        self._places: dict[str, Any] = {}

    def get(self, dialog: str) -> DialogSpec:
        """The dialog with this id (KeyError when unknown)."""
        return self.specs[dialog]

    def node(self, dialog: str, node: str) -> NodeSpec:
        """One node (KeyError when unknown)."""
        return self.specs[dialog].nodes[node]

    def message(self, name: str) -> str:
        """A named message (msgid) from any dialog's ``messages`` (KeyError when unknown)."""
        for spec in self.specs.values():
            if name in spec.messages:
                return spec.messages[name]
        raise KeyError(name)

    def places(self, dialog: str):
        """The bot.understanding.Places of the dialog's registry (loaded once)."""
        spec = self.get(dialog)
        if spec.registry is None:
            raise KeyError(f"dialog {dialog!r} has no registry")
        if dialog not in self._places:
            self._places[dialog] = load_places(self.base / spec.registry.places)
        return self._places[dialog]


def load_dialogs(directory: str | Path | None = None) -> Dialogs:
    """Load every ``*.yaml`` of ``directory`` (default DIALOGS_DIR; sub-folders such as
    ``places/`` are data, not dialogs). Raises DialogError on a bad file or two files with one
    id. Cached per directory: dialogs are read once per process."""
    if directory is None:
        return _load_cached(str(DIALOGS_DIR))
    return _load_cached(str(Path(directory).resolve()))


@functools.lru_cache(maxsize=8)
def _load_cached(directory: str) -> Dialogs:
    base = Path(directory)
    specs: dict[str, DialogSpec] = {}
    for path in sorted(base.glob("*.yaml")):
        spec = load_file(path)
        if spec.id in specs:
            raise DialogError(f"{path.name}: dialog id {spec.id!r} is used twice")
        specs[spec.id] = spec
    if not specs:
        raise DialogError(f"no dialog file in {base}")
    return Dialogs(specs, base)


# ----------------------------------------------------------------------------------------------
# The checker behind `essbot dialogs check`
# ----------------------------------------------------------------------------------------------

def _targets(spec: DialogSpec, node: NodeSpec) -> Iterator[str]:
    for transition in node.transitions():
        yield transition.goto
    if node.on_outside:
        yield node.on_outside
    for group in node.groups:
        yield from group.nodes


def _resolve(spec: DialogSpec, target: str) -> tuple[str, str]:
    if ":" in target:
        dialog, node = target.split(":", 1)
        return dialog, node
    return spec.id, target


#: Nodes the engine enters by itself (keywords, first contact), per dialog id.
ENGINE_ENTRY_NODES = {"main": ("language", "menu", "confirm_delete", "handover", "info",
                               "offer_handover", "agent_question"),
                      "registration": ("resume", "summary")}


def check(directory: str | Path | None = None,
          translations: dict[str, set[str]] | None = None) -> list[str]:
    """Check every dialog file of ``directory``; return the problems (empty when all is well).

    Finds: a file that breaks the schema (unknown key, wrong version, a choice without options),
    a transition or a summary group to an unknown node or dialog, a node no path reaches from
    the start (or from the nodes the engine enters by itself), a condition on an answer no
    node stores, and, with ``translations`` ({language: msgids translated}), a text missing
    from a catalog. Never raises for a bad file: the problem is listed.
    """
    base = Path(directory or DIALOGS_DIR)
    problems: list[str] = []
    specs: dict[str, DialogSpec] = {}
    for path in sorted(base.glob("*.yaml")):
        try:
            spec = load_file(path)
        except DialogError as exc:
            problems.append(str(exc))
            continue
        if spec.id in specs:
            problems.append(f"{path.name}: dialog id {spec.id!r} is used twice")
        specs[spec.id] = spec
        if spec.registry is not None and not (base / spec.registry.places).exists():
            problems.append(f"{path.name}: places file {spec.registry.places} not found")
    if not specs and not problems:
        problems.append(f"no dialog file in {base}")

    reached: set[tuple[str, str]] = set()
    todo = [(d, spec.start) for d, spec in specs.items()]
    todo += [(d, n) for d, names in ENGINE_ENTRY_NODES.items() for n in names if d in specs]
    for d, spec in specs.items():
        for name, node in spec.nodes.items():
            for target in _targets(spec, node):
                dialog, target_node = _resolve(spec, target)
                if dialog not in specs:
                    problems.append(f"{d}: node {name!r} goes to unknown dialog {dialog!r}")
                elif target_node not in specs[dialog].nodes:
                    problems.append(f"{d}: node {name!r} goes to unknown node {target!r}")
        if spec.start not in spec.nodes:
            problems.append(f"{d}: start node {spec.start!r} does not exist")
        stored = {node.store for node in spec.nodes.values() if node.store}
        for name, node in spec.nodes.items():
            conditions = [t.when for t in node.transitions() if t.when] + [node.only_if or {}]
            conditions += [g.only_if for g in node.groups if g.only_if]
            conditions += [v.when for v in (node.prompt if isinstance(node.prompt, list) else [])]
            for condition in conditions:
                for key in condition:
                    if not key.startswith("setting.") and key not in stored:
                        problems.append(f"{d}: node {name!r} tests {key!r}, which no node stores")
            for group in node.groups:
                for field in group.fields:
                    if field not in stored and field != "quartier_text":
                        problems.append(f"{d}: node {name!r} shows {field!r}, "
                                        "which no node stores")
    while todo:
        d, n = todo.pop()
        if (d, n) in reached or d not in specs or n not in specs[d].nodes:
            continue
        reached.add((d, n))
        spec = specs[d]
        todo.extend(_resolve(spec, t) for t in _targets(spec, spec.nodes[n]))
    for d, spec in specs.items():
        for name in spec.nodes:
            if (d, name) not in reached:
                problems.append(f"{d}: node {name!r} is unreachable")

    if translations is not None:
        for d, spec in specs.items():
            for where, text in spec.texts():
                for language, done in translations.items():
                    if text not in done:
                        problems.append(f"{d}: {where}: no {language} translation for "
                                        f"{text[:40]!r}")
    return problems


def all_texts(directory: str | Path | None = None) -> dict[str, list[str]]:
    """Every msgid of the dialog files, with where it appears (``dialog:X node:Y``)."""
    out: dict[str, list[str]] = {}
    for spec in load_dialogs(directory).specs.values():
        for where, text in spec.texts():
            out.setdefault(text, []).append(f"dialog:{spec.id} {where}")
    return out

