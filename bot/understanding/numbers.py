"""Numbers typed in digits or in French and Bambara words.

Part of :mod:`bot.understanding` (pure Python); see its docstring for the sources.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.understanding.text import MAX_INPUT_CHARS, _collapse, _tokens, fold
from bot.understanding.words import WORDS as _WORDS

# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

# Number words, folded and collapsed (_collapse). French cardinals and ordinals; Bambara 0-10
# from docs/domain.md §5 (kelen, fila, saba, naani, duuru, wɔɔrɔ, wolonwula, segin, kɔnɔntɔn, tan;
# fu = 0), typed with or without the special letters (wɔɔrɔ → wooro → woro).
_NUMBER_WORDS = _WORDS.map("number_words")
_FRENCH_UNITS: dict[str, int] = {
    "zero": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6,
    "sept": 7, "huit": 8, "neuf": 9, "dix": 10,
}
# Larger French numbers, only for free numbers and ages ("trente-cinq ans").
_FRENCH_TENS: dict[str, int] = {
    "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16,
    "vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
    "septante": 70, "huitante": 80, "octante": 80, "nonante": 90,
}
# Words that are also French articles: a number only when the message is nothing else.
_ARTICLE_NUMBERS = {"un", "une"}
_MAX_DIGITS = 15  # longer digit strings are not numbers people mean (and int() limits exist)


def _word_number(token: str) -> int | None:
    return _NUMBER_WORDS.get(_collapse(token), _NUMBER_WORDS.get(token))


@dataclass(frozen=True)
class _Num:
    index: int
    value: int
    kind: Literal["digit", "word", "article"]
    text: str


def _find_numbers(tokens: Sequence[str]) -> list[_Num]:
    out: list[_Num] = []
    for i, tok in enumerate(tokens):
        if tok.isdigit():
            if len(tok) <= _MAX_DIGITS:
                out.append(_Num(i, int(tok), "digit", tok))
            continue
        value = _word_number(tok)
        if value is not None:
            kind = "article" if tok in _ARTICLE_NUMBERS else "word"
            out.append(_Num(i, value, kind, tok))
    return out


def _french_compound(tokens: Sequence[str]) -> tuple[int, int, int] | None:
    """Find the first run of French number words (0-99) and return (value, start, end).

    "trente cinq" → 35, "vingt et un" → 21, "soixante dix sept" → 77, "quatre vingt" → 80.
    """
    i = 0
    while i < len(tokens):
        start = i
        values: list[int] = []
        while i < len(tokens):
            tok = _collapse(tokens[i])
            if tok == "et" and values:
                i += 1
                continue
            if tok in _FRENCH_TENS:
                v = _FRENCH_TENS[tok]
                if v == 20 and values and values[-1] == 4:
                    values[-1] = 80
                else:
                    values.append(v)
            elif tok in _FRENCH_UNITS or tokens[i] in _FRENCH_UNITS:
                values.append(_FRENCH_UNITS.get(tokens[i], _FRENCH_UNITS.get(tok, 0)))
            else:
                break
            i += 1
        if values and any(v >= 11 for v in values):
            return sum(values), start, i
        i = max(i, start + 1)
    return None


# Bambara tens (from general knowledge of Bambara numerals, not in docs/domain.md §5: to be checked
# with a native speaker): "bi" + a unit 2-9 is that many tens ("bi fila" 20, "bi saba" 30,
# "bi naani" 40, "bi duuru" 50, "bi wɔɔrɔ" 60), also typed glued ("binaani"); "ni" adds units
# ("bi saba ni duuru" 35, "tan ni fila" 12). "bi" alone means "today": only before a unit.
_BAMBARA_UNITS = {"kelen": 1, "fila": 2, "saba": 3, "nani": 4, "duru": 5, "woro": 6,
                  "wolonwula": 7, "segin": 8, "kononton": 9}


def _bambara_tens(token: str, following: str | None) -> tuple[int, int] | None:
    """(tens value, tokens used) of "bi" + unit or a glued "biunit" at `token`, else None."""
    tok = _collapse(token)
    if tok == "tan":
        return 10, 1
    if tok == "bi" and following is not None:
        unit = _BAMBARA_UNITS.get(_collapse(following), 0)
        return (unit * 10, 2) if unit >= 2 else None
    if tok.startswith("bi") and _BAMBARA_UNITS.get(tok[2:], 0) >= 2:
        return _BAMBARA_UNITS[tok[2:]] * 10, 1
    return None


def _bambara_compound(tokens: Sequence[str]) -> tuple[int, int, int] | None:
    """Find the first Bambara number of tens (20-99, or "tan ni X" 11-19) and return
    (value, start, end): "bi naani" → 40, "binaani" → 40, "bi saba ni duuru" → 35."""
    for i, token in enumerate(tokens):
        tens = _bambara_tens(token, tokens[i + 1] if i + 1 < len(tokens) else None)
        if tens is None:
            continue
        value, end = tens[0], i + tens[1]
        if end + 1 < len(tokens) and tokens[end] == "ni" \
                and _collapse(tokens[end + 1]) in _BAMBARA_UNITS:
            value += _BAMBARA_UNITS[_collapse(tokens[end + 1])]
            end += 2
        if value == 10 and end == i + 1:
            continue  # "tan" alone is an ordinary number word (10)
        return value, i, end
    return None


# Approximate counts ("une trentaine de membres"): French -aine nouns, read as the round number.
_APPROXIMATE = _WORDS.map("approximate_numbers")


def is_number_only(text: str | None) -> bool:
    """True when the message is only numbers, in digits or words ("2", "fila", "deux",
    "trente cinq", "le 2"): not a free-text answer such as a trade. Never raises."""
    tokens = [t for t in _tokens(fold(text if isinstance(text, str) else "")[:MAX_INPUT_CHARS])
              if t not in {"le", "la", "l", "n", "no", "numero", "et", "ni"}]
    return bool(tokens) and all(
        t.isdigit() or _word_number(t) is not None or _collapse(t) in _FRENCH_TENS
        or _bambara_tens(t, None) is not None for t in tokens)


@dataclass(frozen=True)
class NumberResult:
    """Result of :func:`parse_number`.

    ``value``: the integer, or None. ``error``: None, ``"empty"``, ``"not_understood"`` (no
    number), ``"ambiguous"`` (several different numbers), ``"not_integer"`` ("2,5") or
    ``"too_large"`` (more than 15 digits).
    """

    value: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when a value was read."""
        return self.value is not None


_DIGIT_RUN = re.compile(r"\d+(?:[ \u00a0\u202f.,']\d+)*")


def _ascii_digits(text: str) -> str:
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        d = unicodedata.decimal(ch, None)
        out.append(str(d) if d is not None else ch)
    return "".join(out)


def _digit_run_values(run: str) -> list[int] | str:
    """Read one run of digit groups: "1 200" / "1.200" / "1,200" → [1200]; "2,5" → "not_integer";
    "12 34" → [12, 34] (two numbers, since 34 is not a thousands group)."""
    groups = re.split(r"[ \u00a0\u202f.,']", run)
    seps = re.findall(r"[ \u00a0\u202f.,']", run)
    if len(groups) > 1 and 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
        joined = "".join(groups)
        return [int(joined)] if len(joined) <= _MAX_DIGITS else "too_large"
    if len(groups) == 2 and seps[0] in ".," and len(groups[1]) <= 2:
        return "not_integer"
    values = []
    for g in groups:
        if len(g) > _MAX_DIGITS:
            return "too_large"
        values.append(int(g))
    return values


def parse_number(text: str | None) -> NumberResult:
    """Read one whole number from what a person typed.

    Takes any string; returns a :class:`NumberResult`. Accepts digits with spaces, dots or a
    comma as thousands separators ("12", "1 200", "1.200", "10 000 FCFA") — a group of three
    digits after the separator is read as thousands, so "1,200" is 1200 and "2,5" is
    ``not_integer`` —, extra words ("j'ai 3 enfants"), French number words up to 99
    ("trente-cinq"), approximate counts ("une trentaine" → 30, "une centaine" → 100), Bambara
    tens ("bi naani" / "binaani" → 40, "bi saba ni duuru" → 35; general knowledge, see
    _bambara_compound) and French/Bambara words 0-10 (docs/domain.md §5: kelen … tan, fu = 0).
    Signs are
    ignored (counts are never negative). Two different numbers ("2 ou 3") give ``ambiguous``.
    """
    if not isinstance(text, str) or not text.strip():
        return NumberResult(None, "empty")
    raw = _ascii_digits(text[:MAX_INPUT_CHARS])
    values: list[int] = []
    for run in _DIGIT_RUN.findall(raw):
        got = _digit_run_values(run)
        if isinstance(got, str):
            return NumberResult(None, got)
        values.extend(got)
    if not values:
        tokens = _tokens(fold(raw))
        approximate = [_APPROXIMATE[t] for t in tokens if t in _APPROXIMATE]
        if approximate:
            tokens = [t for t in tokens if t not in _APPROXIMATE and t not in _ARTICLE_NUMBERS]
            values.extend(approximate)
        compound = _french_compound(tokens) or _bambara_compound(tokens)
        if compound:
            values.append(compound[0])
            tokens = list(tokens[:compound[1]]) + list(tokens[compound[2]:])
        values.extend(n.value for n in _find_numbers(tokens))
    distinct = list(dict.fromkeys(values))
    if not distinct:
        return NumberResult(None, "not_understood")
    if len(distinct) > 1:
        return NumberResult(None, "ambiguous")
    return NumberResult(distinct[0])


