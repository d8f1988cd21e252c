"""Year of birth, typed as a year, a two-digit year or an age.

Part of :mod:`bot.understanding` (pure Python); see its docstring for the sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.understanding.text import MAX_INPUT_CHARS, _tokens, fold
from bot.understanding.numbers import (
    _ascii_digits, _bambara_compound, _find_numbers, _french_compound,
)
from bot.understanding.words import WORDS as _WORDS

#: A bare one- or two-digit answer to "year of birth" up to this value is read as an age
#: ("35" → 35 years old), above it as a year ("85" → 1985). Registrants are mostly working-age
#: adults; 60 splits the overlap so that ages 10-60 and years 1961-1999 read naturally. When
#: another reading is also plausible the result is not ``sure``, and the dialog confirms it.
BARE_AGE_MAX = 60

# --------------------------------------------------------------------------------------------
# Year of birth
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class YearResult:
    """Result of :func:`parse_year`.

    ``year``: the birth year (also set, for the error message, when implausible). ``age``: the
    age it implies (``now_year - year``; for an answer given as an age, the age typed). ``how``:
    ``"year"`` (four digits), ``"two_digit_year"``, ``"date"``, ``"age"``. ``sure``: False when
    another reading was possible (a bare "35" or "85"): confirm with the person. ``error``:
    None, ``"implausible"`` (age below min_age, above max_age, or a future year),
    ``"ambiguous"`` (several different years or numbers) or ``"not_understood"`` (no number).
    """

    year: int | None
    age: int | None = None
    how: str | None = None
    sure: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when a plausible year was read."""
        return self.error is None and self.year is not None


_MONTHS = _WORDS.set("months")
# Words before a number that make it a year: "né en 85", "année 85", "naissance 85".
_YEAR_MARKERS = _WORDS.set("year_markers")
# Words that make a number an age: "35 ans", "j'ai 35", "âge 35", Bambara "san 35" and
# "n si ye san 35 ye" (si = age, san = year(s); docs/domain.md §5 has neither: unverified).
_AGE_AFTER = _WORDS.set("age_after")
_AGE_BEFORE = _WORDS.set("age_before")
_YEAR_GROUPED = re.compile(r"(?<![\d.,])([12])[ .\u00a0\u202f](\d{3})(?![\d.,]|\s\d)")


def parse_year(text: str | None, *, now_year: int, min_age: int = 10,
               max_age: int = 110) -> YearResult:
    """Read a year of birth, given as a year, a date or an age.

    Takes the message, the current year and the plausible age range; returns a
    :class:`YearResult` (never raises). Accepts "1985", "né en 1985", "née le 3 mars 1985",
    "03/03/1985", "3.3.85", "en 85", "85", "05", "35 ans", "j'ai 35 ans", "35", "trente-cinq
    ans", Bambara "san 35", "n si ye san 35 ye" (unverified vocabulary: si = age, san =
    year) and Bambara tens ("san bi naani", "binaani", "bi saba ni duuru", see
    _bambara_compound). An age becomes ``now_year - age`` (the birthday is unknown, so ±1 year).

    Two-digit numbers have up to three readings (an age, 19xx, 20xx); only plausible ones are
    kept (age in [min_age, max_age], year not in the future). One left: ``sure``. Several: a
    bare number up to BARE_AGE_MAX is an age, above it a year ("35" → 35 years, "85" → 1985),
    with ``sure=False``. A leading zero ("05") means a year. None left: ``"implausible"``.
    """
    if isinstance(text, str):
        # "1 985" / "1.985": a year typed with a thousands separator.
        text = _YEAR_GROUPED.sub(r"\1\2", _ascii_digits(text[:MAX_INPUT_CHARS]))
    folded = fold(text)
    if not folded:
        return YearResult(None, error="not_understood")
    tokens = _tokens(folded)[:80]

    def plausible_year(y: int) -> bool:
        return y <= now_year and min_age <= now_year - y <= max_age

    def from_year(y: int, how: str, sure: bool) -> YearResult:
        err = None if plausible_year(y) else "implausible"
        return YearResult(y, now_year - y, how, sure and err is None, err)

    def from_age(a: int, sure: bool) -> YearResult:
        err = None if min_age <= a <= max_age else "implausible"
        return YearResult(now_year - a, a, "age", sure and err is None, err)

    nums = [(i, t) for i, t in enumerate(tokens) if t.isdigit() and len(t) <= 8]
    four = list(dict.fromkeys(int(t) for _, t in nums if len(t) == 4))
    if len(four) > 1:
        return YearResult(None, error="ambiguous")
    if four:
        return from_year(four[0], "year", True)

    # Number words for ages ("trente-cinq ans", "j'ai vingt ans"): French 11-99 words.
    if not nums:
        compound = _french_compound(tokens) or _bambara_compound(tokens)
        if compound is not None:
            value, start, end = compound
            tokens = list(tokens[:start]) + [str(value)] + list(tokens[end:])
            nums = [(start, str(value))]
        else:
            # "dix ans", "san tan": one number word (articles "un"/"une" excluded).
            words = [n for n in _find_numbers(tokens) if n.kind == "word"]
            if len(words) == 1:
                tokens = list(tokens)
                tokens[words[0].index] = str(words[0].value)
                nums = [(words[0].index, str(words[0].value))]
    if not nums:
        return YearResult(None, error="not_understood")

    has_month = any(t in _MONTHS for t in tokens)
    small = [(i, t) for i, t in nums if len(t) <= 3]
    if not small:
        return YearResult(None, error="implausible")

    def is_age_marked(i: int) -> bool:
        before = tokens[i - 1] if i > 0 else ""
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        return after in _AGE_AFTER or before in _AGE_BEFORE

    def is_year_marked(i: int) -> bool:
        before = tokens[i - 1] if i > 0 else ""
        return before in _YEAR_MARKERS

    def two_digit_years(n: int) -> list[int]:
        return [y for y in (2000 + n, 1900 + n) if plausible_year(y)]

    aged = [(i, t) for i, t in small if is_age_marked(i)]
    if len(aged) == 1:
        return from_age(int(aged[0][1]), True)

    # Dates: "3 mars 85", "03 03 85" (day month year): the year is the last number.
    if has_month or (len(small) == 3 and int(small[0][1]) <= 31 and int(small[1][1]) <= 12):
        t = small[-1][1]
        if len(t) == 2:
            years = two_digit_years(int(t))
            if not years:
                return from_year(1900 + int(t), "date", False)
            return from_year(years[0], "date", len(years) == 1)
        return YearResult(None, error="not_understood")

    if len({int(t) for _, t in small}) > 1:
        return YearResult(None, error="ambiguous")

    i, t = small[0]
    n = int(t)
    if len(t) == 3:
        return from_age(n, False) if n <= max_age else YearResult(None, error="implausible")
    if is_year_marked(i) and len(t) == 2:
        years = two_digit_years(n)
        if not years:
            return from_year(1900 + n, "two_digit_year", False)
        return from_year(years[0], "two_digit_year", len(years) == 1)
    if t.startswith("0") and len(t) == 2:
        return from_year(2000 + n, "two_digit_year", plausible_year(2000 + n))

    readings: list[tuple[str, int]] = []
    if min_age <= n <= max_age:
        readings.append(("age", n))
    if len(t) == 2:
        readings += [("year", y) for y in two_digit_years(n)]
    if not readings:
        if len(t) == 2 and n > BARE_AGE_MAX:
            return from_year(1900 + n, "two_digit_year", False)
        return from_age(n, False)
    if len(readings) == 1:
        kind, value = readings[0]
        return from_age(value, True) if kind == "age" else from_year(
            value, "two_digit_year", True)
    prefer_age = n <= BARE_AGE_MAX
    chosen = next((r for r in readings if (r[0] == "age") == prefer_age), readings[0])
    if chosen[0] == "age":
        return from_age(chosen[1], False)
    return from_year(chosen[1], "two_digit_year", False)


