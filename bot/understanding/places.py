"""Quartiers: the places file and the fuzzy match of a typed quartier.

Part of :mod:`bot.understanding` (pure Python); see its docstring for the sources.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from bot.understanding.text import (
    MAX_INPUT_CHARS, _Key, _PLACE_NUMERALS, _best_window, _key_of, _sound, _tokens, fold,
)
from bot.understanding.choices import _as_tuple, _drop_contained

#: Lowest score at which a quartier is proposed at all (with confirmation below PLACE_SURE).
#: 75 lets a missing or wrong letter through ("kodabogou" 88, "sam" for "Samé" 86) and keeps
#: out the nearest names of other communes: "Daoudabougou" scores 71 against Kodabougou. Some
#: score higher ("Torokorobougou" 80 against N'Tomikorobougou): the places file lists them as
#: outside places, and an exact outside match wins.
PLACE_MIN = 75.0
#: From this score a quartier is taken without confirmation: one typo in a name of 10+ letters
#: ("ntomikorobougo" 92, "sogonafign" 95).
PLACE_SURE = 90.0
#: If a second quartier scores within this many points, the answer is ambiguous and the dialog
#: offers both. 6 is about one letter in a long name: "Badialan" alone scores 93 against each
#: of Badialan I, II and III and must be ambiguous.
PLACE_MARGIN = 6.0

# --------------------------------------------------------------------------------------------
# Quartiers
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    """One quartier: ``name`` (canonical, as stored), ``variants`` (other accepted spellings)
    and ``confirm_variants`` (spellings accepted only with a confirmation, e.g. a name shared
    with other quartiers)."""

    name: str
    variants: tuple[str, ...] = ()
    confirm_variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class Places:
    """The deployment area's quartiers, loaded from ``dialogs/places/*.yaml``.

    ``version``: file format version (1). ``area``: the area's name. ``commune_number``: the
    commune's number (mentions of another number mean "outside"). ``commune_words``: words for
    "commune". ``generic_words``: words that never name a quartier on their own ("Bamako",
"quartier"). ``source``: where the list comes from. ``quartiers``: the :class:`Place` list.
    ``outside_phrases`` / ``outside_places``: folded phrases and place names meaning "outside
    the area". ``outside_label``: label of the outside answer per language.
    """

    version: int
    area: str
    source: str
    quartiers: tuple[Place, ...]
    commune_number: int | None = None
    commune_words: tuple[str, ...] = ("commune",)
    generic_words: tuple[str, ...] = ()
    outside_phrases: tuple[str, ...] = ()
    outside_places: tuple[str, ...] = ()
    outside_label: tuple[tuple[str, str], ...] = ()

    def names(self) -> list[str]:
        """Canonical quartier names, in file order."""
        return [p.name for p in self.quartiers]


@dataclass(frozen=True)
class PlaceMatch:
    """Result of :func:`match_quartier`.

    ``kind``: ``"quartier"`` (``name`` is set), ``"outside"`` (the person lives outside the
    area; keep ``text``), ``"ambiguous"`` (several quartiers fit: ask, offering ``candidates``)
    or ``"none"`` (not understood). ``name``: canonical quartier name or None. ``score``: 0-100.
    ``sure``: False when the dialog must confirm (fuzzy match below PLACE_SURE, a close second,
    a ``confirm_variants`` spelling, or an outside answer that also names a quartier).
    ``candidates``: canonical names to offer when confirming. ``text``: the person's answer,
    whitespace-trimmed (the free text kept for outside answers). ``matched``: the spelling or
    phrase that matched.
    """

    kind: Literal["quartier", "outside", "ambiguous", "none"]
    name: str | None
    score: float
    sure: bool
    candidates: tuple[str, ...] = ()
    text: str = ""
    matched: str | None = None


def places_from_dict(data: dict) -> Places:
    """Build :class:`Places` from the parsed YAML mapping (see ``dialogs/places/commune3.yaml``).

    Raises ValueError when the data is malformed: wrong ``version``, no quartiers, a quartier
    without a name, a name or variant used by two quartiers, or a missing ``source``.
    """
    if not isinstance(data, dict):
        raise ValueError("places file must be a mapping")
    if data.get("version") != 1:
        raise ValueError(f"unsupported places version: {data.get('version')!r} (expected 1)")
    if not data.get("source"):
        raise ValueError("places file needs a 'source' saying where the list comes from")
    area = data.get("area") or {}
    if isinstance(area, str):
        area = {"name": area}
    raw_quartiers = data.get("quartiers") or []
    if not raw_quartiers:
        raise ValueError("places file has no quartiers")
    quartiers: list[Place] = []
    owner: dict[str, str] = {}
    for entry in raw_quartiers:
        if isinstance(entry, str):
            entry = {"name": entry}
        name = str(entry.get("name") or "").strip()
        if not name:
            raise ValueError(f"quartier without a name: {entry!r}")
        place = Place(name, _as_tuple(entry.get("variants")),
                      _as_tuple(entry.get("confirm_variants")))
        for spelling in (place.name,) + place.variants:
            key = _Key.of(spelling, numerals=True).compact
            if key in owner and owner[key] != name:
                raise ValueError(f"{spelling!r} is given for both {owner[key]!r} and {name!r}")
            owner[key] = name
        quartiers.append(place)
    outside = data.get("outside") or {}
    label = outside.get("label") or {}
    number = area.get("commune_number")
    return Places(
        version=1,
        area=str(area.get("name") or ""),
        source=str(data["source"]).strip(),
        quartiers=tuple(quartiers),
        commune_number=int(number) if number is not None else None,
        commune_words=tuple(fold(w) for w in _as_tuple(area.get("commune_words"))) or (
            "commune",),
        generic_words=tuple(fold(w) for w in _as_tuple(area.get("generic_words")) if fold(w)),
        outside_phrases=tuple(fold(p) for p in _as_tuple(outside.get("phrases")) if fold(p)),
        outside_places=_as_tuple(outside.get("places")),
        outside_label=tuple((str(k), str(v)) for k, v in label.items()),
    )


def load_places(path: str | Path) -> Places:
    """Load a quartier list from a YAML file; returns :class:`Places`.

    Raises OSError when the file cannot be read, yaml.YAMLError when it is not YAML, and
    ValueError when its content is malformed (see :func:`places_from_dict`).
    """
    with open(path, encoding="utf-8") as fh:
        return places_from_dict(yaml.safe_load(fh))


_ROMAN_OR_DIGIT = re.compile(r"^(?:[0-9]+|i{1,3}|iv|vi|v)$")


def _numeral_value(tok: str) -> str | None:
    if tok.isdigit():
        return str(int(tok)) if len(tok) <= 3 else None
    return _PLACE_NUMERALS.get(tok)


@dataclass(frozen=True)
class _PlaceKey:
    name: str
    spelling: str
    key: _Key
    numeral: str | None
    confirm: bool
    outside: bool


def _place_keys(places: Places) -> list[_PlaceKey]:
    cached = _PLACE_KEY_CACHE.get(id(places))
    if cached is not None and cached[0] is places:
        return cached[1]
    keys: list[_PlaceKey] = []
    for p in places.quartiers:
        spellings = [(p.name, False)] + [(v, False) for v in p.variants] + [
            (v, True) for v in p.confirm_variants]
        for spelling, confirm in spellings:
            key = _Key.of(spelling, numerals=True)
            numeral = next((t for t in key.tokens if t.isdigit()), None)
            keys.append(_PlaceKey(p.name, spelling, key, numeral, confirm, False))
    for spelling in places.outside_places:
        key = _Key.of(spelling, numerals=True)
        keys.append(_PlaceKey(spelling, spelling, key, None, False, True))
    if len(_PLACE_KEY_CACHE) > 16:
        _PLACE_KEY_CACHE.clear()
    _PLACE_KEY_CACHE[id(places)] = (places, keys)
    return keys


_PLACE_KEY_CACHE: dict[int, tuple[Places, list[_PlaceKey]]] = {}


def _contains(tokens: Sequence[str], phrase: Sequence[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(list(tokens[i:i + n]) == list(phrase) for i in range(len(tokens) - n + 1))


def match_quartier(text: str | None, places: Places) -> PlaceMatch:
    """Recognise the quartier a person names, or that they live outside the area.

    Takes the message and the :class:`Places` from :func:`load_places`; returns a
    :class:`PlaceMatch`. Extra words are fine ("j'habite à Badialan 2", "n bɛ Sogonafin").
    Spellings are compared folded and sound-alike (see _sound), with roman and arabic numerals
    equal (I = 1, II = 2, III = 3) and never confused with each other: a spelling with a numeral
    is refused when the answer carries a different numeral, so "Badialan 2" can only be
    Badialan II, while "Badialan" alone is ``ambiguous`` between I, II and III.

    Outside answers (docs/domain.md §1: store the free text): a mention of another commune number
    ("commune 4", "commune IV"), an outside phrase from the file ("hors commune", "autre",
    "je n'habite pas…"), or a listed place outside the area ("Kalaban Coura"). "Commune 3"
    itself is dropped before matching.
    """
    raw = text if isinstance(text, str) else ""
    shown = " ".join(raw.split())[:MAX_INPUT_CHARS]
    folded = fold(raw[:MAX_INPUT_CHARS])
    if not folded:
        return PlaceMatch("none", None, 0.0, False, (), shown)
    tokens = _tokens(folded)[:60]

    # Commune mentions: "commune 4" / "commune iv" / "c4"; own number is dropped.
    other_commune = False
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        is_word = tok in places.commune_words or tok == "c"
        if is_word and nxt is not None and _ROMAN_OR_DIGIT.match(nxt):
            value = _numeral_value(nxt)
            if places.commune_number is not None and value is not None and \
                    int(value) != places.commune_number:
                other_commune = True
            i += 2
            continue
        kept.append(tok)
        i += 1
    tokens = kept
    q = [_sound(_PLACE_NUMERALS.get(t, t)) for t in tokens]

    generic = {_sound(w) for w in places.generic_words}

    def guard_for(pk: _PlaceKey):
        def guard(start: int, end: int) -> bool:
            # "Bamako" alone must not come close to "Bamako-Coura".
            if all(t in generic for t in q[start:end]):
                return False
            if pk.numeral is None:
                return True
            # A numeral in the window, or right after it, must be this spelling's numeral.
            near = list(q[start:end]) + ([q[end]] if end < len(q) else [])
            numerals = {v for v in (_numeral_value(t) for t in near) if v is not None}
            return not numerals or numerals == {pk.numeral}
        return guard

    best_by_name: dict[tuple[str, bool], tuple[float, int, int, _PlaceKey]] = {}
    for pk in _place_keys(places):
        score, start, end = _best_window(q, pk.key, fuzzy=True, guard=guard_for(pk))
        if score <= 0:
            continue
        ident = (pk.name, pk.outside)
        prev = best_by_name.get(ident)
        # Prefer the higher score, then the longer window, then a spelling needing no confirm.
        if prev is None or (score, end - start, not pk.confirm) > (
                prev[0], prev[2] - prev[1], not prev[3].confirm):
            best_by_name[ident] = (score, start, end, pk)
    ranked = sorted(best_by_name.values(), key=lambda s: (-s[0], -(s[2] - s[1])))
    ranked = [s for s in _drop_contained(ranked) if s[0] >= PLACE_MIN]

    outside_phrase = next((p for p in places.outside_phrases
                           if _contains(tokens, p.split())), None)
    best_quartier = next((s for s in ranked if not s[3].outside), None)
    if other_commune or outside_phrase:
        named = best_quartier is not None and best_quartier[0] >= PLACE_SURE
        matched = outside_phrase or "commune"
        return PlaceMatch("outside", None, 100.0, not named,
                          (best_quartier[3].name,) if named else (), shown, matched)
    if not ranked:
        return PlaceMatch("none", None, 0.0, False, (), shown)

    top = ranked[0]
    score, _, _, pk = top
    if pk.outside:
        sure = score >= PLACE_SURE
        return PlaceMatch("outside", None, float(score), sure, (), shown, pk.spelling)

    close = [s for s in ranked[1:] if not s[3].outside and score - s[0] < PLACE_MARGIN]
    if close:
        names = tuple(dict.fromkeys([pk.name] + [s[3].name for s in close]))
        return PlaceMatch("ambiguous", None, float(score), False, names, shown, pk.spelling)
    candidates: tuple[str, ...] = (pk.name,)
    if pk.confirm:
        # Offer every quartier whose name holds the typed word ("Bolibana").
        others = [p.name for p in places.quartiers if p.name != pk.name and any(
            _contains(_key_of(s, True).tokens, pk.key.tokens)
            for s in (p.name,) + p.variants)]
        candidates = (pk.name, *others)
    sure = score >= PLACE_SURE and not pk.confirm
    return PlaceMatch("quartier", pk.name, float(score), sure, candidates, shown, pk.spelling)


