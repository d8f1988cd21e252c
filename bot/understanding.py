"""Understanding what people type: numbers, menu choices, yes/no, quartiers, years, names, keywords.

Pure Python (no Flask, SQLAlchemy or twilio), so the dialog engine can call it with plain
strings. People answer in French or Bambara, often on basic phones, and type Bambara "the French
way" (docs/domain.md section 4): every comparison therefore happens on :func:`fold`\\ ed text, and
Bambara words are listed in their folded spelling.

Every parser takes any ``str`` (``None`` is read as empty) and never raises on what a person
typed: when it cannot tell, it says so in its result (``None``, ``error=...``, ``sure=False``)
so that the dialog can ask again or ask for confirmation.

Sources of the rules: docs/domain.md section 1 (quartiers, kept as data in
``dialogs/places/*.yaml``), section 3 (SMS commands for each data right), section 4 (phones and
spelling) and section 5 (Bambara alphabet, folding, vocabulary). Words marked "unverified" below
come from docs/domain.md's unverified list or are additions of ours to be checked with a native
speaker.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from rapidfuzz import fuzz

__all__ = [
    "fold",
    "Option",
    "ChoiceResult",
    "MultiChoiceResult",
    "NumberResult",
    "YearResult",
    "NameResult",
    "Place",
    "Places",
    "PlaceMatch",
    "parse_choice",
    "parse_multi_choice",
    "parse_yes_no",
    "parse_number",
    "parse_year",
    "parse_name",
    "detect_keyword",
    "detect_command",
    "detect_doubt",
    "agent_request",
    "is_acknowledgement",
    "is_number_only",
    "guess_language",
    "match_quartier",
    "load_places",
    "places_from_dict",
    "CHOICE_FUZZY_MIN",
    "CHOICE_SURE",
    "CHOICE_MARGIN",
    "PLACE_MIN",
    "PLACE_SURE",
    "PLACE_MARGIN",
    "BARE_AGE_MAX",
    "NAME_MAX_CHARS",
]

# --------------------------------------------------------------------------------------------
# Thresholds. Scores are rapidfuzz ``fuzz.ratio`` (0-100, normalised Indel similarity) between
# folded, "sound-alike" spellings (see _sound): one typo in an 8-letter word costs about 6-12
# points, in a 4-letter word about 15-25. Values chosen on tests/data/understanding_cases.yaml;
# the scores quoted below were measured with this module.
# --------------------------------------------------------------------------------------------

#: Lowest score at which a menu option's words count as an answer. 80 accepts one typo in a word
#: of 5+ letters ("artisant" 93, "fransais" 88, "auter" for "autre" 80) and refuses unrelated
#: trades ("menuisier" vs "mutuelle" 38). Number words are read before fuzzy words, so "quatre"
#: (80 against "autre") is 4.
CHOICE_FUZZY_MIN = 80.0
#: From this score a fuzzy option match needs no confirmation (at most one letter off in ~10).
CHOICE_SURE = 90.0
#: Two options scoring within this many points of each other are ambiguous: ask again. 8 is
#: one letter in a 10-letter word, so a single typo cannot decide between two options.
CHOICE_MARGIN = 8.0

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

#: A bare one- or two-digit answer to "year of birth" up to this value is read as an age
#: ("35" → 35 years old), above it as a year ("85" → 1985). Registrants are mostly working-age
#: adults; 60 splits the overlap so that ages 10-60 and years 1961-1999 read naturally. When
#: another reading is also plausible the result is not ``sure``, and the dialog confirms it.
BARE_AGE_MAX = 60

#: Longest accepted name (a person's or an organisation's); longer text is most likely not a name.
NAME_MAX_CHARS = 80

#: Text beyond this length is ignored: three concatenated SMS segments; protects the fuzzy
#: window search (quadratic in tokens) from pathological input.
MAX_INPUT_CHARS = 480

#: Fuzzy matching is only tried for words at least this long: shorter words differ too much
#: after a single typo for a ratio to mean anything.
MIN_FUZZY_LEN = 4


# --------------------------------------------------------------------------------------------
# Folding
# --------------------------------------------------------------------------------------------

# Bambara letters of the official alphabet and their older typed spellings (docs/domain.md §5:
# ɛ/è → e, ɔ/ò → o, ɲ → ny, ŋ → ng). "ñ" is typed for ɲ on some keyboards (our assumption).
_LETTERS = str.maketrans({
    "ɛ": "e", "ɔ": "o", "ɲ": "ny", "ŋ": "ng", "ñ": "ny",
    "œ": "oe", "æ": "ae", "ø": "o", "đ": "d", "ł": "l", "ı": "i",
})
# Apostrophes of every keyboard. Modifier letters (category Lm) such as U+02BC count as letters
# for str.isalpha, so they are listed explicitly.
_APOSTROPHES = set("'’‘ʼʹʻʽ`´′")


def _fold_once(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).casefold().translate(_LETTERS)
    text = unicodedata.normalize("NFKD", text)
    out: list[str] = []
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch).startswith("M"):
            continue  # accents and Bambara tone marks
        digit = unicodedata.decimal(ch, None)
        if digit is not None:
            out.append(str(digit))  # any script's digits become ASCII digits
        elif ch.isalpha() and ch not in _APOSTROPHES and unicodedata.category(ch) != "Lm":
            out.append(ch)
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def fold(text: str | None) -> str:
    """Return the matching key of ``text``: case-, accent- and punctuation-insensitive.

    Takes any string (``None`` gives ``""``) and returns a string of lowercase letters, ASCII
    digits and single spaces, with no leading or trailing space. Never raises. Idempotent:
    ``fold(fold(s)) == fold(s)``.

    Steps: Unicode NFKD and case folding; Bambara letters folded as in docs/domain.md §5 (ɛ → e,
    ɔ → o, ɲ → ny, ŋ → ng; è é ê ë → e and ò ô → o by dropping accents); every combining mark
    (accents, tone marks) dropped; digits of any script → ASCII; apostrophes and all other
    punctuation, symbols, emoji and control characters → space; spaces collapsed.

    Only the first 2 × MAX_INPUT_CHARS characters are read, and the result is cut to as many.

    Apostrophes become a space rather than vanishing, so elisions stay separate words
    ("n'habite" → "n habite", "n b'a fɛ" → "n b a fe", "d'accord" → "d accord"). Where people
    also type the joined form ("N'Tomikorobougou" / "Ntomikorobougou", "daccord"), matchers
    compare space-less forms as well.
    """
    if not isinstance(text, str):
        return ""
    limit = MAX_INPUT_CHARS * 2
    result = _fold_once(text[:limit])
    # A second pass settles the rare characters whose NFKD or case folding yields characters
    # that fold further (e.g. "℃" → "°C"); four passes are never needed in practice.
    for _ in range(4):
        again = _fold_once(result)
        if again == result:
            break
        result = again
    # Cut the output too (NFKD can lengthen text), so that folding it again changes nothing.
    return result[:limit].rstrip()


_LETTER_DIGIT = re.compile(r"(?<=[0-9])(?=[^\W\d_])|(?<=[^\W\d_])(?=[0-9])")
# Ordinal suffixes typed after a digit: 1er, 1ère, 2e, 2ème, 2eme, 2ieme, 2nd, 2nde.
_ORDINAL_SUFFIXES = {"er", "ere", "re", "e", "eme", "em", "ieme", "iem", "me", "nd", "nde"}


def _tokens(folded: str) -> list[str]:
    """Split folded text into words, separating digits glued to letters ("no2", "35ans") and
    dropping ordinal suffixes after digits ("2eme" → "2")."""
    words = _LETTER_DIGIT.sub(" ", folded).split()
    out: list[str] = []
    for word in words:
        if word in _ORDINAL_SUFFIXES and out and out[-1].isdigit():
            continue
        out.append(word)
    return out


def _collapse(word: str) -> str:
    """Collapse doubled letters ("naani" → "nani", "ouiii" → "oui"): vowel length is written
    inconsistently in typed Bambara, and people stretch words in chat."""
    return re.sub(r"(.)\1+", r"\1", word)


def _sound(word: str) -> str:
    """Sound-alike key of one folded word for the French-style spelling of Bambara and Malian
    names: "ou" before a vowel → w (Ouolofobougou/Wolofobougou), "ou" → u (Koulouba/Kuluba),
    dj/di+vowel → j (Badjalan/Badialan), c/qu → k (Coura/Kura), gn and ni+vowel → ny
    (Niomirambougou/Nyomirambougou), final ng → n (Sogonafing/Sogonafin), ph → f, doubled letters
    once. Applied to both sides, so it can only make equal spellings of one sound match."""
    w = _collapse(word)
    w = w.replace("ph", "f").replace("qu", "k").replace("ck", "k")
    w = re.sub(r"c(?=[aou]|$)", "k", w)
    w = re.sub(r"ou(?=[aeio])", "w", w)
    w = w.replace("ou", "u")
    w = w.replace("dj", "j")
    w = re.sub(r"di(?=[aeou])", "j", w)
    w = w.replace("gn", "ny")
    w = re.sub(r"(?<!y)ni(?=[aeou])", "ny", w)
    w = re.sub(r"ng$", "n", w)
    return _collapse(w)


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

# Number words, folded and collapsed (_collapse). French cardinals and ordinals; Bambara 0-10
# from docs/domain.md §5 (kelen, fila, saba, naani, duuru, wɔɔrɔ, wolonwula, segin, kɔnɔntɔn, tan;
# fu = 0), typed with or without the special letters (wɔɔrɔ → wooro → woro).
_NUMBER_WORDS: dict[str, int] = {
    # French
    "zero": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6,
    "sept": 7, "huit": 8, "neuf": 9, "dix": 10,
    "premier": 1, "premiere": 1, "deuxieme": 2, "second": 2, "seconde": 2, "troisieme": 3,
    "quatrieme": 4, "cinquieme": 5, "sixieme": 6, "septieme": 7, "huitieme": 8,
    "neuvieme": 9, "dixieme": 10,
    # frequent phone spellings of the French words
    "deu": 2, "troi": 3, "katre": 4, "cinque": 5, "sinq": 5, "sis": 6, "set": 7, "uit": 8,
    # Bambara (docs/domain.md §5)
    "fu": 0, "kelen": 1, "fila": 2, "saba": 3, "nani": 4, "duru": 5, "woro": 6,
    "wolonwula": 7, "segin": 8, "kononton": 9, "tan": 10,
}
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
# Numerals inside quartier names. "un" is left out: it is also an article ("Badialan, un peu
# plus loin"). Bambara fila/saba from docs/domain.md §5.
_PLACE_NUMERALS = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6",
                   "premier": "1", "premiere": "1", "deux": "2", "deuxieme": "2", "trois": "3",
                   "troisieme": "3", "kelen": "1", "fila": "2", "saba": "3"}
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
_APPROXIMATE = {"dizaine": 10, "douzaine": 12, "quinzaine": 15, "vingtaine": 20,
                "trentaine": 30, "quarantaine": 40, "cinquantaine": 50, "soixantaine": 60,
                "centaine": 100}


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


# --------------------------------------------------------------------------------------------
# Fuzzy window matching (shared by choices and places)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Key:
    """A phrase to look for: its sound-alike tokens and their space-less form."""

    tokens: tuple[str, ...]
    compact: str

    @classmethod
    def of(cls, phrase: str, numerals: bool = False) -> _Key:
        toks = _tokens(fold(phrase))
        if numerals:
            toks = [_PLACE_NUMERALS.get(t, t) for t in toks]
        snd = tuple(_sound(t) for t in toks)
        return cls(snd, "".join(snd))


@functools.lru_cache(maxsize=4096)
def _key_of(phrase: str, numerals: bool = False) -> _Key:
    return _Key.of(phrase, numerals)


# One-letter Bambara pronouns and particles (n = I/my, i = you, a = he/it, u = they;
# docs/domain.md §5 greetings "i ni ce", "n b'a fɛ").
# Glued onto the word before them they make other words:
# "n bɛ fɛ ka n tɔgɔ sɛbɛn" (I want to register) held "ka"+"n" = "kan" (language), which sent
# a newcomer to the language menu.
_LONE_PRONOUNS = frozenset({"n", "i", "a", "u"})


def _windows(q: Sequence[str], key: _Key) -> Iterable[tuple[int, int, str]]:
    """Windows of one token fewer to one more than ``key``, joined without spaces. A lone
    pronoun (_LONE_PRONOUNS) is never joined onto the word before it, unless the key itself
    has these very tokens ("Badialan I")."""
    n = len(key.tokens)
    for size in range(max(1, n - 1), n + 2):
        for start in range(0, len(q) - size + 1):
            words = q[start:start + size]
            if size > 1 and any(w in _LONE_PRONOUNS for w in words[1:]) \
                    and tuple(words) != key.tokens:
                continue
            yield start, start + size, "".join(words)


def _best_window(q: Sequence[str], key: _Key, *, fuzzy: bool,
                 guard=None) -> tuple[float, int, int]:
    """Best (score, start, end) of ``key`` over windows of the query tokens ``q``.

    Exact space-less equality scores 100; otherwise fuzz.ratio when ``fuzzy`` and both sides are
    at least MIN_FUZZY_LEN long. ``guard(start, end)`` can veto a window.
    """
    best = (0.0, 0, 0)
    for start, end, window in _windows(q, key):
        if guard is not None and not guard(start, end):
            continue
        if window == key.compact:
            score = 100.0
        elif fuzzy and len(key.compact) >= MIN_FUZZY_LEN and len(window) >= MIN_FUZZY_LEN - 1:
            score = fuzz.ratio(window, key.compact)
        else:
            continue
        if score > best[0] or (score == best[0] and end - start > best[2] - best[1]):
            best = (score, start, end)
    return best


# --------------------------------------------------------------------------------------------
# Menu choices
# --------------------------------------------------------------------------------------------

def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class Option:
    """One entry of a numbered menu.

    ``key``: the value the dialog stores (e.g. ``"bm"``). ``number``: the number shown to the
    person; None means its 1-based position in the list. ``fr`` / ``bm``: its labels in each
    language; ``synonyms``: other words that mean it (any language). Labels may be given as a
    string or a list; they are stored as tuples.
    """

    key: str
    number: int | None = None
    fr: tuple[str, ...] = ()
    bm: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("fr", "bm", "synonyms"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))

    def labels(self, language: str) -> tuple[str, ...]:
        """All words of this option (tuple of str), the given language's ("fr"/"bm") first."""
        first, second = (self.bm, self.fr) if language == "bm" else (self.fr, self.bm)
        return first + second + self.synonyms


@dataclass(frozen=True)
class ChoiceResult:
    """Result of :func:`parse_choice`.

    ``key``: the chosen option's key, or None. ``number``: the number the person typed, if any
    (also when out of range). ``score``: 0-100 confidence. ``sure``: True when the dialog can go
    on without confirming. ``candidates``: keys of the options in play when ambiguous (or of a
    fuzzy match). ``reason``: None, ``"empty"``, ``"no_match"``, ``"out_of_range"``,
    ``"ambiguous"`` or ``"sentence"`` (strict mode: a number inside a longer
    sentence). ``via``: ``"number"``, ``"word"`` or ``"fuzzy"``.
    """

    key: str | None
    number: int | None = None
    score: float = 0.0
    sure: bool = False
    candidates: tuple[str, ...] = ()
    reason: str | None = None
    via: str | None = None

    @property
    def ambiguous(self) -> bool:
        """True when several options fit equally well."""
        return self.reason == "ambiguous"


def _numbered(options: Sequence[Option]) -> dict[int, Option]:
    table: dict[int, Option] = {}
    for pos, opt in enumerate(options, start=1):
        number = opt.number if opt.number is not None else pos
        if number in table:
            raise ValueError(f"two options have number {number}")
        table[number] = opt
    return table


# Words around a number that do not change its meaning ("c'est le 2", "option 2", "n b'a fɛ
# fila" = I want two, "numéro 2 svp"). Bambara: n = I, b(ɛ) = is, a = it, fɛ = want, ye/don =
# it is, de = emphasis.
_CHOICE_FILLERS = {
    "c", "ce", "est", "cest", "le", "la", "l", "les", "option", "options", "choix", "numero",
    "num", "no", "n", "nr", "nu", "je", "j", "veux", "voudrais", "prends", "prend", "choisis",
    "choisi", "choisir", "reponse", "rep", "svp", "stp", "merci", "ok", "moi", "pour", "mon",
    "ma", "ca", "sa", "plait", "vous", "te", "il", "s", "b", "be", "a", "fe", "ye", "don", "de",
    "i", "ni", "et", "ou", "bon", "alors", "euh", "voila", "the", "number",
}


# More words that may surround a menu number in strict mode ("le numéro 2 s'il vous plaît",
# "2 merci beaucoup", "je choisis le 2 svp").
_STRICT_FILLERS = {"s", "il", "plait", "beaucoup", "please", "pls", "numero", "nº", "bien",
                   "oui", "voudrai", "veut", "aimerais", "donc"}


# Words that only link an option's word to nothing in particular ("je voudrais des
# informations s'il vous plaît", "comment m'inscrire au registre"): not a topic of their own.
_TOPIC_GLUE = {"des", "du", "de", "d", "sur", "au", "aux", "un", "une", "plus", "avoir",
               "savoir", "besoin", "comment", "quel", "quels", "quelle", "quelles", "en", "me",
               "m", "donner", "donnez", "dire", "qui", "que", "quoi", "sont", "y", "faire",
               "veux", "voudrais", "aimerais", "peux", "puis", "se", "si", "vos", "votre",
               "mes", "svp", "bonjour", "salut", "merci", "moi", "nous", "on", "avec", "tout",
               "toutes", "tous", "autre", "autres", "demande", "demander", "recevoir"}


def _names_a_topic(tokens: Sequence[str], matches: Sequence[tuple]) -> bool:
    """Whether `tokens` hold a word of their own beside the option words `matches` cover
    (``(score, start, end, option, …)`` spans): "ramu" in "des informations sur le RAMU"."""
    covered = {i for m in matches for i in range(m[1], m[2])}
    return any(i not in covered and len(t) > 1 and t not in _CHOICE_FILLERS
               and t not in _STRICT_FILLERS and t not in _TOPIC_GLUE and _word_number(t) is None
               for i, t in enumerate(tokens))


def _meaningful(tokens: Sequence[str]) -> list[str]:
    return [t for t in tokens if t not in _CHOICE_FILLERS]


def _label_scores(q: Sequence[str], options: Sequence[Option], language: str, *,
                  fuzzy: bool) -> list[tuple[float, int, int, Option, bool]]:
    """Best (score, start, end, option, matched_in_language) per option, best first."""
    scored = []
    for opt in options:
        own = set(opt.bm if language == "bm" else opt.fr)
        best: tuple[float, int, int, bool] = (0.0, 0, 0, False)
        for label in opt.labels(language):
            key = _key_of(label)
            if not key.compact:
                continue
            score, start, end = _best_window(q, key, fuzzy=fuzzy)
            if (score, end - start) > (best[0], best[2] - best[1]):
                best = (score, start, end, label in own)
        if best[0] > 0:
            scored.append((best[0], best[1], best[2], opt, best[3]))
    scored.sort(key=lambda s: (-s[0], -(s[2] - s[1]), not s[4]))
    return scored


def _drop_contained(scored: list[tuple[float, int, int, Any]]) -> list[tuple[float, int, int, Any]]:
    """Forget matches lying inside the best one's window ("Bolibana" inside "Dravela
    Bolibana"): the longer phrase is what the person typed."""
    if not scored:
        return scored
    top = scored[0]
    top_len = top[2] - top[1]
    return [top] + [s for s in scored[1:]
                    if not (top[1] <= s[1] and s[2] <= top[2] and s[2] - s[1] < top_len)]


def _decide_labels(scored, *, minimum: float) -> tuple[list, bool]:
    """Return (options within the margin of the best, whether ambiguous)."""
    scored = [s for s in _drop_contained(scored) if s[0] >= minimum]
    if not scored:
        return [], False
    close = [s for s in scored if scored[0][0] - s[0] < CHOICE_MARGIN]
    # Equal fits: a word of the conversation's language beats words of the other one.
    own = [s for s in close if s[4] and s[0] == close[0][0]]
    if len(close) > 1 and len(own) == 1 and not any(s[4] for s in close if s is not own[0]):
        return own, False
    return close, len(close) > 1


def parse_choice(text: str | None, options: Sequence[Option], *,
                 language: str = "fr", strict: bool = False,
                 topic_words: bool = False) -> ChoiceResult:
    """Read which one option of a numbered menu a person chose.

    Takes the message, the menu's :class:`Option` list and the conversation language (``"fr"``
    or ``"bm"``). Words of both languages are always accepted, since people mix them; when two
    options fit equally, the one matched by a word of the conversation's language wins.
    Returns a :class:`ChoiceResult`. Raises ValueError only when two options share a number
    (a dialog bug, not user input).

    Order of reading: (1) an option's words typed exactly, anywhere in the message
    ("c'est artisan", "bamanankan"); (2) digits ("2", "2.", "2)", "n°2", "#2", "option 2",
    "le 2", "2ème"); (3) a message that is only a number word ("deux", "fila", "le deuxième",
    "n b'a fɛ fila"), Bambara numbers from docs/domain.md §5; (4) fuzzy option words (rapidfuzz,
    CHOICE_FUZZY_MIN); (5) a number word inside other words. Digits and exact words that point
    to different options, or two different numbers, give ``reason="ambiguous"``. "un"/"une"
    count as 1 only when the message is nothing else, since they are also articles.

    With ``strict=True`` (menus where any other text is searched as a question), a number is
    a choice only when the message is essentially nothing else: the number plus filler words
    ("2", "n°2", "c'est le 2", "option 2", "fila") or option words; a sentence with other
    words ("c'est où la mairie de la commune 3", "j'ai 1 question sur l'AMO") gives
    ``reason="sentence"`` and no key, and a number word lost among other words is not guessed.
    With ``topic_words=True`` as well (the main menu), an option's word inside a sentence that
    names something else ("des informations sur le RAMU", "inscription à l'INPS") is a
    sentence too: the question is searched rather than the option opened (newcomer's test).
    """
    table = _numbered(options)
    folded = fold(text)
    if not folded:
        return ChoiceResult(None, reason="empty")
    q_raw = _tokens(folded)[:60]
    q = [_sound(t) for t in q_raw]

    def number_of(opt: Option) -> int:
        return next(n for n, o in table.items() if o is opt)

    exact, exact_amb = _decide_labels(_label_scores(q, options, language, fuzzy=False),
                                      minimum=100.0)
    nums = _find_numbers(q_raw)
    digits = list(dict.fromkeys(n.value for n in nums if n.kind == "digit"))

    if exact and not exact_amb and not digits:
        opt = exact[0][3]
        if strict and topic_words and _names_a_topic(q_raw, exact):
            return ChoiceResult(None, reason="sentence")
        return ChoiceResult(opt.key, number_of(opt), 100.0, True, (opt.key,), via="word")
    if exact_amb and not digits:
        keys = tuple(s[3].key for s in exact)
        return ChoiceResult(None, None, 100.0, False, keys, "ambiguous", "word")

    def by_number(values: list[int], via: str) -> ChoiceResult:
        if len(values) > 1:
            keys = tuple(table[v].key for v in values if v in table)
            return ChoiceResult(None, None, 0.0, False, keys, "ambiguous", via)
        value = values[0]
        if value not in table:
            return ChoiceResult(None, value, 0.0, False, (), "out_of_range", via)
        opt = table[value]
        if exact and exact[0][3] is not opt:
            keys = tuple(dict.fromkeys([opt.key] + [s[3].key for s in exact]))
            return ChoiceResult(None, value, 0.0, False, keys, "ambiguous", via)
        return ChoiceResult(opt.key, value, 100.0, True, (opt.key,), via=via)

    if strict and nums:
        covered = {i for e in exact for i in range(e[1], e[2])}
        number_at = {n.index for n in nums}
        extra = [t for i, t in enumerate(q_raw) if i not in covered and i not in number_at
                 and t not in _CHOICE_FILLERS and t not in _STRICT_FILLERS]
        if extra:
            return ChoiceResult(None, reason="sentence")

    if digits:
        return by_number(digits, "number")

    rest = _meaningful(q_raw)
    words = list(dict.fromkeys(n.value for n in nums if n.kind in ("word", "article")))
    if words and rest and all(_word_number(t) is not None for t in rest):
        return by_number(words, "number")

    fuzzy, fuzzy_amb = _decide_labels(_label_scores(q, options, language, fuzzy=True),
                                      minimum=CHOICE_FUZZY_MIN)
    if fuzzy and not fuzzy_amb:
        score, _, _, opt, _ = fuzzy[0]
        if strict and topic_words and _names_a_topic(q_raw, fuzzy):
            return ChoiceResult(None, reason="sentence")
        return ChoiceResult(opt.key, number_of(opt), float(score), score >= CHOICE_SURE,
                            (opt.key,), via="fuzzy")
    if fuzzy_amb:
        keys = tuple(s[3].key for s in fuzzy)
        return ChoiceResult(None, None, float(fuzzy[0][0]), False, keys, "ambiguous", "fuzzy")

    weak = list(dict.fromkeys(n.value for n in nums if n.kind == "word"))
    if weak and not strict:
        result = by_number(weak, "number")
        # A number word lost among other words is a guess: confirm it.
        return ChoiceResult(result.key, result.number, 80.0 if result.key else 0.0, False,
                            result.candidates, result.reason, result.via)
    return ChoiceResult(None, reason="no_match")


@dataclass(frozen=True)
class MultiChoiceResult:
    """Result of :func:`parse_multi_choice`.

    ``keys``: chosen option keys, in the order typed, without duplicates. ``invalid``: the parts
    of the message that were not understood or out of range (as typed, folded). ``ambiguous``:
    parts that fit several options. ``sure``: True when every part was read with certainty.
    """

    keys: tuple[str, ...]
    invalid: tuple[str, ...] = ()
    ambiguous: tuple[str, ...] = ()
    sure: bool = False

    @property
    def ok(self) -> bool:
        """True when something was chosen and nothing was left unread."""
        return bool(self.keys) and not self.invalid and not self.ambiguous


# Separators between items: punctuation (split before folding), and the words "et", "ni"
# (Bambara "and", as in the greetings "i ni …" of docs/domain.md §5), "ou", "puis", "aussi".
_MULTI_SPLIT_RAW = re.compile(r"[,;/+&|\n]|(?<=\d)\s*[-–—]\s*(?=\d)|\s[-–—]\s")
_MULTI_SPLIT_WORDS = {"et", "ni", "ou", "puis", "aussi", "plus", "avec", "and"}


def parse_multi_choice(text: str | None, options: Sequence[Option], *,
                       language: str = "fr") -> MultiChoiceResult:
    """Read several options of a numbered menu ("cochez tout ce qui s'applique").

    Takes the message, the menu's :class:`Option` list and the language (as
    :func:`parse_choice`); returns a :class:`MultiChoiceResult`. Items may be separated by
    spaces, commas, ";", "/", "+", "et", "ni" (Bambara "and"), "ou": "1 3", "1,3", "1 et 3",
    "1 ni 3", "kelen ni saba", "artisan, commerçant".

    "1-3" is read as two items, 1 and 3, not a range: a dash is the separator some phones
    offer, and reading it as a range could record a choice the person never typed. "13" with
    fewer than 13 options, when each digit is a valid option, is read as "1 3" (a missing
    space is likelier than an impossible number).
    """
    table = _numbered(options)
    if not isinstance(text, str) or not fold(text):
        return MultiChoiceResult((), sure=False)
    keys: list[str] = []
    invalid: list[str] = []
    ambiguous: list[str] = []
    sure = True
    pieces: list[str] = []
    for part in _MULTI_SPLIT_RAW.split(text[:MAX_INPUT_CHARS]):
        tokens = _tokens(fold(part))
        current: list[str] = []
        for tok in tokens:
            if tok in _MULTI_SPLIT_WORDS:
                if current:
                    pieces.append(" ".join(current))
                current = []
            else:
                current.append(tok)
        if current:
            pieces.append(" ".join(current))

    def add(key: str) -> None:
        if key not in keys:
            keys.append(key)

    for piece in pieces:
        toks = piece.split()
        nums = _find_numbers(toks)
        digit_nums = [n for n in nums if n.kind == "digit"]
        if digit_nums or (nums and all(_word_number(t) is not None for t in _meaningful(toks))
                          and _meaningful(toks)):
            use = digit_nums or [n for n in nums]
            for n in use:
                if n.value in table:
                    add(table[n.value].key)
                elif (n.kind == "digit" and len(n.text) > 1
                      and all(int(d) in table for d in n.text)
                      and len(set(n.text)) == len(n.text)):
                    for d in n.text:
                        add(table[int(d)].key)
                else:
                    invalid.append(n.text)
            continue
        if not _meaningful(toks):
            continue
        single = parse_choice(piece, options, language=language)
        if single.key is not None:
            add(single.key)
            sure = sure and single.sure
            continue
        # Several option words without separators ("artisan commerçant"): try word by word.
        found_any = False
        for tok in _meaningful(toks):
            one = parse_choice(tok, options, language=language)
            if one.key is not None:
                add(one.key)
                sure = sure and one.sure
                found_any = True
            elif one.reason == "ambiguous":
                ambiguous.append(tok)
        if not found_any and not ambiguous:
            if single.reason == "ambiguous":
                ambiguous.append(piece)
            else:
                invalid.append(piece)
    sure = sure and bool(keys) and not invalid and not ambiguous
    return MultiChoiceResult(tuple(keys), tuple(invalid), tuple(ambiguous), sure)


# --------------------------------------------------------------------------------------------
# Yes / no
# --------------------------------------------------------------------------------------------

# Folded phrases. Bambara from docs/domain.md §5: awɔ / ɔwɔ (yes; typed awo, owo, aw), ayi (no),
# ayiwa (OK); "de" adds emphasis ("ayi de"). "n b'a fɛ" (I want it) / "n t'a fɛ" (I don't)
# are ours, unverified.
_YES = {
    "oui", "ouai", "ouais", "wi", "o", "ok", "okay", "oky", "oki", "okey", "d accord",
    "daccord", "dacord", "dak", "dac", "bien sur", "bien sure", "biensur", "yes", "yep", "yeah",
    "ya", "exact", "exactement", "voila", "tout a fait", "c est ca", "c est bon", "cest bon",
    "c bon", "sa marche", "ca marche",
    "c est exact", "correct", "vrai", "si", "parfait", "entendu", "volontiers", "j accepte",
    "accepte", "je confirme", "confirme", "je veux bien", "pas de probleme", "pas de souci",
    "sans probleme", "awo", "aw", "owo", "ayiwa", "n b a fe", "n be a fe",
    # Issue 15: forms people use at the consent and the summary. "ui" (SMS spelling),
    # "valider" (the summary says "OUI pour valider"), Bambara "n sɔnna" (I agree; typed
    # "n sonna", it was read as the "n" of "nn" = no). "n sɔnna" is ours, unverified.
    "ui", "wui", "valider", "valide", "je valide", "validez", "c est ok", "cest ok",
    "ok c est bon", "n sonna", "sonna", "n son na", "n sonnen", "n be son", "n b a son",
}
_NO = {
    "non", "no", "nan", "nn", "nope", "nop", "jamais", "pas du tout", "faux", "pas d accord",
    "pas daccord", "pas ok", "pas vrai", "c est faux", "c est pas ca", "ce n est pas ca",
    "je refuse", "refuse", "pas interesse", "ayi", "n t a fe", "n te a fe",
}
def _collapsed_set(phrases: Iterable[str]) -> set[str]:
    return {" ".join(_collapse(w) for w in p.split()) for p in phrases}


# Compared after _collapse ("ouiii" → "oui", "accord" → "acord"), so the lexicons are too.
_YES = _collapsed_set(_YES)
_NO = _collapsed_set(_NO)
# Yes-words too short or too common to count anywhere but alone or first.
_YES_ALONE = _collapsed_set({"o", "si", "ya", "aw", "vrai", "correct", "accepte", "confirme",
                             "exact"})
# Doubt: never a yes or a no.
_UNSURE = {"sais", "sait", "peut", "peutetre", "hesite", "pense", "crois", "bof", "ptet",
           "ptetre",
           # "je n'ai pas compris", "n ma a faamu" (I did not understand, docs/domain.md §5 style):
           # a question back, not a no.
           "compris", "comprends", "comprend", "faamu", "famu"}
_POLITE = {"svp", "stp", "merci", "beaucoup", "beaucop", "please", "pls", "bonjour", "bonsoir",
           "salut", "madame", "monsieur", "mr", "mme", "i", "ni", "ce", "de", "bien", "oh", "ah",
           "eh", "euh", "hein", "alors", "bon"}


def _phrase_spans(tokens: Sequence[str], lexicon: set[str]) -> list[tuple[int, int]]:
    spans = []
    for entry in lexicon:
        words = entry.split()
        for i in range(len(tokens) - len(words) + 1):
            if list(tokens[i:i + len(words)]) == words:
                spans.append((i, i + len(words)))
    return spans


def parse_yes_no(text: str | None, *, numbered: bool = False) -> bool | None:
    """Read a yes or a no; None when unclear.

    Takes the message; returns True, False or None. Accepts French ("oui", "ouais", "ok",
    "d'accord", "dac", "bien sûr", "pas de problème"; "non", "nan", "pas d'accord", "pas du
    tout", "je ne veux pas"), English ("yes", "no") and Bambara (docs/domain.md §5: awɔ/ɔwɔ typed
    "awo", "owo", "aw"; "ayiwa" = OK; "ayi", "ayi de"), with politeness or extra words ("oui
    merci", "non je ne veux pas"). A message holding both a yes and a no ("oui mais non"), doubt
    ("je ne sais pas", "peut-être") or neither gives None. "pas" alone, or negating the
    sentence ("je ne suis pas intéressé"), is a no. Digits "1" (yes) and "2" (no), and the number
    words alone ("un", "kelen"; "deux", "fila"), are read only with ``numbered=True``, for
    prompts that say "1 = oui, 2 = non".
    """
    folded = fold(text)
    if not folded:
        # "👍", "👌🏾", "✅" alone (WhatsApp): yes (issue 15); "👎" stays unclear.
        return True if _only_positive_emoji(text) else None
    tokens = [_collapse(t) for t in folded.split()[:40]]
    digits = [t for t in tokens if t.isdigit()]
    if digits:
        if numbered and len(digits) == 1 and digits[0] in {"1", "2"} and tokens[0] == digits[0]:
            return digits[0] == "1"
        return None
    if numbered and len(tokens) == 1 and _word_number(tokens[0]) in (1, 2):
        # "kelen", "fila", "un", "deux" answer a "1 Oui / 2 Non" prompt like the digits do
        # (Bambara numbers: docs/domain.md §5).
        return _word_number(tokens[0]) == 1
    if any(t in _UNSURE for t in tokens) or "peut etre" in " ".join(tokens) or "ptet" in tokens:
        return None
    while len(tokens) > 1 and tokens[-1] in _POLITE - {"bon", "bien", "alors"}:
        tokens.pop()
    while len(tokens) > 1 and tokens[0] in _POLITE and " ".join(tokens[:2]) not in _YES:
        tokens.pop(0)
    phrase = " ".join(tokens)
    if phrase in _NO or phrase in {"pas", "ayi de", "ayi ayi", "non merci", "non non"}:
        return False
    if phrase in _YES or phrase in {"oui oui", "awo de", "owo de", "ok merci"}:
        return True

    yes_spans = _phrase_spans(tokens, _YES)
    no_spans = _phrase_spans(tokens, _NO)
    # A yes-phrase inside a no-phrase ("d accord" in "pas d accord") is part of the no, and
    # "pas" inside "pas de problème" is part of the yes.
    yes_spans = [y for y in yes_spans
                 if not any(n[0] <= y[0] and y[1] <= n[1] and n != y for n in no_spans)]
    yes_spans = [y for y in yes_spans
                 if tokens[y[0]] not in _YES_ALONE or y[0] == 0]
    covered_by_yes = {i for a, b in yes_spans for i in range(a, b)}
    negated = any(t == "pas" and i not in covered_by_yes for i, t in enumerate(tokens)) or any(
        t in {"ne", "n"} and i + 2 < len(tokens) and "pas" in tokens[i + 1:i + 4]
        for i, t in enumerate(tokens))
    no_spans = [n for n in no_spans if not any(
        y[0] <= n[0] and n[1] <= y[1] and y != n for y in yes_spans)]
    is_no = bool(no_spans) or negated
    is_yes = bool(yes_spans)
    if is_yes and is_no:
        # "oui, pas de souci" is yes; "non, pas d'accord" is no; "oui mais non" is unclear.
        return None
    if is_no:
        return False
    if is_yes:
        return True
    return None


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


_MONTHS = {
    "janvier", "janv", "jan", "fevrier", "fev", "fevr", "mars", "avril", "avr", "mai", "juin",
    "juillet", "juil", "aout", "septembre", "sept", "oct", "octobre", "novembre", "nov",
    "decembre", "dec",
}
# Words before a number that make it a year: "né en 85", "année 85", "naissance 85".
_YEAR_MARKERS = {"en", "ne", "nee", "annee", "naissance", "naissances", "nait", "depuis"}
# Words that make a number an age: "35 ans", "j'ai 35", "âge 35", Bambara "san 35" and
# "n si ye san 35 ye" (si = age, san = year(s); docs/domain.md §5 has neither: unverified).
_AGE_AFTER = {"ans", "an", "ens", "ands", "age", "san"}
_AGE_BEFORE = {"ai", "age", "san", "si", "ag"}
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


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NameResult:
    """Result of :func:`parse_name`.

    ``name``: the cleaned name, or None. ``error``: None, ``"empty"``, ``"no_letters"``
    (digits or symbols only), ``"too_short"`` (one letter) or ``"too_long"`` (more than
    NAME_MAX_CHARS characters after cleaning).
    """

    name: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when a name was read."""
        return self.name is not None


# Leading phrases that introduce a name, folded. Bambara: "n tɔgɔ ye … ye" / "ne tɔgɔ ye"
# (my name is; tɔgɔ is on docs/domain.md §5's unverified list), "ne ye" (it is me), greetings
# from §5.
# Never "togo" alone: Togo is also a family name.
_NAME_PREFIXES = [
    "je m appelle", "je mappelle", "j m appelle", "moi c est", "moi cest", "mon nom c est",
    "mon nom est", "mon nom", "nom et prenom", "nom prenom", "nom complet", "nom", "c est",
    "cest", "je suis", "moi", "ici", "il s agit de", "notre organisation est",
    "notre association s appelle", "le nom est", "mon nom complet est",
    "n togo ye", "ne togo ye", "n togo", "ne togo", "ne ye", "n ye",
    "bonjour", "bonsoir", "salut", "i ni ce", "aw ni ce", "i ni sogoma", "i ni tile",
    "i ni wula", "i ni su",
]
_NAME_PREFIXES.sort(key=lambda p: -len(p.split()))
_NAME_SUFFIXES = ["ye", "svp", "stp", "merci", "i ni ce"]
# Lower-case inside names: French particles and Arabic/Tamasheq ones common in Mali.
_PARTICLES = {"de", "du", "des", "d", "la", "le", "les", "l", "et", "pour", "en", "au", "aux",
              "ben", "bin", "ould", "ag", "ou", "sur", "a"}
# Organisation acronyms kept upper-case even when the message is all capitals.
_ACRONYMS = {"gie", "ong", "sarl", "sa", "suarl", "scoops", "scoop", "coop", "asbl", "ccoop",
             "cmdt", "apcmm", "apej", "anpe", "inps", "utm", "ess", "sfd", "ags"}
_WORD_RE = re.compile(r"[^\W_]+(?:['’ʼ][^\W_]+)*(?:-[^\W_]+(?:['’ʼ][^\W_]+)*)*|[&.]", re.UNICODE)


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:].lower()


def _case_word(word: str, first: bool, all_caps: bool) -> str:
    f = fold(word)
    if f in _ACRONYMS or (len(word) >= 2 and word.isupper() and not all_caps and not any(
            c in "AEIOUYÉÈÊÀÂÎÔÛ" for c in word.upper())):
        return word.upper()
    if not first and f in _PARTICLES:
        return word.lower()
    # Hyphens and apostrophes: capitalise each part, except elided particles ("d'", "l'").
    parts = re.split(r"(['’ʼ-])", word)
    out = []
    for k, part in enumerate(parts):
        if part in ("'", "’", "ʼ", "-"):
            out.append(part)
            continue
        nxt_is_apos = k + 1 < len(parts) and parts[k + 1] in ("'", "’", "ʼ")
        if nxt_is_apos and fold(part) in {"d", "l"} and not (first and k == 0):
            out.append(part.lower())
        else:
            out.append(_cap(part))
    return "".join(out)


def parse_name(text: str | None, *, keep_case: bool = False) -> NameResult:
    """Clean a person's or an organisation's name.

    Takes the message; returns a :class:`NameResult`. Drops introductions ("je m'appelle",
    "mon nom est", "c'est", Bambara "n tɔgɔ ye … ye" / "n togo ye", greetings "i ni ce"),
    emoji and stray punctuation; keeps accents as typed ("Traoré"), hyphens and apostrophes
    ("N'Diaye"). Capitalises each word, keeps particles lower-case inside the name ("de",
    "des", "ag", "ould") and keeps acronyms upper-case ("GIE", "ONG"). Refuses an empty answer,
    one without letters ("12345"), a single letter and more than NAME_MAX_CHARS characters.
    With ``keep_case=True`` (organisation names: "Musow ka jɛkulu Benkadi") a name typed in
    mixed case keeps the case it was typed in (all lower- or upper-case text is still cased).
    """
    if not isinstance(text, str):
        return NameResult(None, "empty")
    if len(text) > NAME_MAX_CHARS * 4:
        return NameResult(None, "too_long")
    words = _WORD_RE.findall(unicodedata.normalize("NFC", text))
    words = [w.replace("’", "'").replace("ʼ", "'") for w in words]
    # Drop standalone punctuation except "&" and "." between initials.
    words = [w for w in words if w not in (".",)]
    folded = [fold(w) for w in words]

    def strip_prefix() -> bool:
        for prefix in _NAME_PREFIXES:
            p = prefix.split()
            flat: list[str] = []
            count = 0
            for f in folded:
                if len(flat) >= len(p):
                    break
                flat.extend(f.split())
                count += 1
            if flat[:len(p)] == p and len(flat) == len(p):
                del words[:count]
                del folded[:count]
                return True
        return False

    changed = True
    while changed and words:
        changed = strip_prefix()
    while words and (folded[-1] in _NAME_SUFFIXES or words[-1] == "&"):
        words.pop()
        folded.pop()
    if words and words[0] == "&":
        words.pop(0)
        folded.pop(0)
    if not words:
        return NameResult(None, "empty")
    if not any(ch.isalpha() for w in words for ch in w):
        return NameResult(None, "no_letters")
    letters = [ch for w in words for ch in w if ch.isalpha()]
    all_caps = all(ch.isupper() for ch in letters)
    # An organisation name typed with capitals is kept as typed; all lower or upper case
    # ("gie benkadi") is still cased.
    keep_case = keep_case and not all_caps and any(ch.isupper() for ch in letters)
    cased = [w if keep_case or not any(c.isalpha() for c in w)
             else _case_word(w, i == 0, all_caps) for i, w in enumerate(words)]
    name = " ".join(cased)
    if len(letters) < 2:
        return NameResult(None, "too_short")
    if len(name) > NAME_MAX_CHARS:
        return NameResult(None, "too_long")
    return NameResult(name)


# --------------------------------------------------------------------------------------------
# Global keywords
# --------------------------------------------------------------------------------------------

# Whole-message keywords, folded. Bambara: "a dabila" = stop it (docs/domain.md §5), "a daminɛ" =
# start it, "dɛmɛ" = help (unverified list), "kan" = language (tubabukan/bamanankan, unverified).
# STOP also takes Twilio's English opt-out words, which Twilio forwards after acting on them.
# Data rights (docs/domain.md §3): delete ("supprimer", "effacer") and access ("mes données").
_KEYWORDS: dict[str, set[str]] = {
    "stop": {"stop", "stopp", "arret", "arreter", "arrete", "arret sms", "a dabila", "dabila",
             "ka dabila",
             "stopall", "unsubscribe", "end", "quit", "cancel", "optout", "opt out", "revoke",
             "desabonner", "se desabonner", "me desabonner", "desinscrire", "me desinscrire",
             "desinscription", "desabonnement", "stop sms", "stop messages"},
    "start": {"start", "a damine", "damine", "ka damine", "reprendre", "unstop",
              # Issue 15: the French word people type for START.
              "demarrer", "redemarrer", "demarre", "recommencer les messages"},
    "menu": {"menu", "0", "accueil", "menu principal"},
    "help": {"aide", "help", "deme", "n deme", "aidez moi", "aide moi", "a deme"},
    "language": {"langue", "language", "kan", "langue kan", "changer de langue",
                 "changer langue"},
    "delete": {"supprimer", "effacer", "supprime", "efface", "delete", "supprimer mes donnees",
               "effacer mes donnees", "supprimer mon compte", "supprimer mon inscription",
               # Bambara "jɔsi" = wipe (used by the Bambara texts; unverified, ours)
               "josi", "a josi", "ka josi", "u josi", "k u josi", "n ka kunnafoniw josi"},
    "agent": {"agent", "un agent", "parler a un agent", "je veux parler a un agent",
              "parler avec un agent", "parler a quelqu un", "conseiller", "operateur"},
    # ANNONCES: the latest announcements (issue 4). "kibaru" = news (unverified).
    "news": {"annonces", "annonce", "les annonces", "mes annonces", "nouvelles", "kibaru",
             "kibaruw", "kibaruya", "kibaruyaw"},
    # ABONNER (issue 12): consent to receive announcements. French "s'abonner"; Bambara
    # "kibaru sɔn" = accept the news (ours, unverified: the catalog marks it fuzzy), typed
    # without the special letter. Not "kibaru" alone, which is ANNONCES above.
    "subscribe": {"abonner", "s abonner", "m abonner", "je m abonne", "abonne moi",
                  "abonnez moi", "abonnement", "abonnement annonces", "abonner annonces",
                  "recevoir les annonces", "kibaru son", "kibaruson", "kibaruw son",
                  "n b a fe kibaru", "ka kibaru son"},
    "mydata": {"mes donnees", "mes donnee", "mes infos", "mes informations", "mydata",
               "my data", "voir mes donnees", "mes donnees personnelles"},
}
_KEYWORD_LOOKUP = {phrase: kw for kw, phrases in _KEYWORDS.items() for phrase in phrases}
# Keywords that also count at the start of a longer message ("STOP les messages", "menu
# principal svp", "supprimer tout"). Not "aide" ("aide-ménagère" is a trade), not "agent"
# ("agent de santé"), not "arrêt" ("arrêt de bus"), not "kan": a sentence must not trigger them.
_KEYWORD_PREFIXES = {"stop": "stop", "menu": "menu", "supprimer": "delete", "effacer": "delete",
                     "unsubscribe": "stop", "mes donnees": "mydata", "langue": "language",
                     "language": "language", "a dabila": "stop", "ka dabila": "stop"}
_KEYWORD_POLITE = {"svp", "stp", "merci", "please", "pls", "plz", "s il vous plait",
                   "s il te plait", "sil vous plait", "sil te plait", "i ni ce", "aw ni ce",
                   "bonjour", "bonsoir", "salut", "hello", "allo", "je veux", "je voudrais",
                   "n b a fe", "n be a fe"}


def detect_keyword(text: str | None) -> str | None:
    """Return the global keyword a message is, or None.

    Takes the message; returns one of ``"menu"``, ``"help"``, ``"language"``, ``"stop"``,
    ``"start"``, ``"delete"``, ``"agent"``, ``"mydata"``, ``"news"``, ``"subscribe"`` or None.
    Matching is accent- and case-insensitive and ignores punctuation ("STOP!", "Arrêt.") and
    politeness around it ("stop svp", "bonjour, aide", "i ni ce, a dabila").

    The message must BE the keyword: "je veux arrêter de fumer", "aide-ménagère" or "agent de
    santé" are answers, not commands, so a sentence never opts a person out or derails a
    question by accident. A few unambiguous words also count at the start of a longer message
    ("STOP les SMS", "supprimer mes données", "menu principal"). "?" alone is help; "0" alone
    is the menu. Sources: docs/domain.md §3 (a command per data right), §5 ("a dabila" = stop it).
    """
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if stripped and len(stripped) <= 5 and set(stripped) <= set("?¿ "):
        return "help"
    folded = fold(text[:MAX_INPUT_CHARS])
    if not folded or len(folded) > 60:
        return None
    words = folded.split()

    changed = True
    while changed and words:
        changed = False
        for polite in _KEYWORD_POLITE:
            p = polite.split()
            if len(words) > len(p) and words[-len(p):] == p:
                words = words[:-len(p)]
                changed = True
            elif len(words) > len(p) and words[:len(p)] == p:
                words = words[len(p):]
                changed = True
    phrase = " ".join(words)
    if phrase in _KEYWORD_LOOKUP:
        return _KEYWORD_LOOKUP[phrase]
    compact = phrase.replace(" ", "")
    for candidate, kw in _KEYWORD_LOOKUP.items():
        if len(candidate) > 3 and candidate.replace(" ", "") == compact:
            return kw
    for prefix, kw in _KEYWORD_PREFIXES.items():
        p = prefix.split()
        if words[:len(p)] == p:
            return kw
    return None


# --------------------------------------------------------------------------------------------
# Commands beyond the global keywords, and the language of a first message
# --------------------------------------------------------------------------------------------

# INSCRIPTION and its Bambara equivalent. "tɔgɔsɛbɛn" (registration) is on docs/domain.md §5's
# unverified list; "n tɔgɔ sɛbɛn" (write my name) is ours, unverified. Matched on the whole
# message after politeness ("je veux", "n b'a fɛ", "i ni ce") is removed, like keywords.
_REGISTER = {"inscription", "inscriptions", "inscrire", "m inscrire", "s inscrire",
             "minscrire", "sinscrire", "je m inscris", "enregistrement", "m enregistrer",
             "register", "togoseben", "togo seben", "n togo seben", "ka n togo seben",
             "ka togo seben", "a togo seben", "i togo seben",
             # SMS spellings (issue 15): "jveu minscrire", "m inscri", "inscrir".
             "m inscrir", "m inscri", "inscrir", "inscri", "sinscrir", "minscrir",
             "m enregistre", "je m inscrit", "je veu m inscrire"}
# One typo in INSCRIPTION ("inscripsion", "incription"): single words compared with
# rapidfuzz from this score (≈ one letter off in 10; "description" scores 73).
_REGISTER_FUZZY = ("inscription", "inscrire", "minscrire", "sinscrire", "enregistrement")
_REGISTER_FUZZY_MIN = 85.0
# PROFIL (see my data, docs/domain.md §3: a command per data right); read as the "mydata" keyword.
_PROFILE = {"profil", "profile", "mon profil", "voir profil", "voir mon profil", "mes infos"}
# "n bɛ fɛ" / "n b'a fɛ" (I want, docs/domain.md §5 and the Bambara texts), typed with or without
# the special letters and the "a".
_COMMAND_POLITE = _KEYWORD_POLITE | {"je veux", "je voudrais", "n b a fe", "n be a fe",
                                     "n be fe", "n b fe", "svp", "bonjour", "i ni ce",
                                     "aw ni ce", "ka",
                                     # SMS spellings and the ways of asking how (issue 15).
                                     "jveu", "jveux", "jeveux", "je veu", "je vx", "jvx",
                                     "je voudrai", "je souhaite", "comment faire pour",
                                     "comment je peux", "comment puis je", "comment",
                                     "je peux", "pour", "faire", "moi", "aussi"}
# Registration in Bambara, also with one typo ("n togo sebe"): compared space-less after
# "ka", "n", "i" and "a" are dropped, from CHOICE_SURE (≈ one letter off in 9).
_REGISTER_BM = "togoseben"


def detect_command(text: str | None) -> str | None:
    """Return the command a whole message is, or None: a global keyword of
    :func:`detect_keyword`, ``"register"`` (INSCRIPTION, "je veux m'inscrire", Bambara "n b'a fɛ
    ka n tɔgɔ sɛbɛn" / TOGOSEBEN), or ``"mydata"`` also for PROFIL.

    Takes any string; never raises. Like :func:`detect_keyword`, the message must BE the
    command (politeness around it is ignored), so an answer that merely contains the word
    ("inscription au RCCM") is left to the question being asked.
    """
    keyword = detect_keyword(text)
    if keyword is not None or not isinstance(text, str):
        return keyword
    words = fold(text[:MAX_INPUT_CHARS]).split()
    if not words or len(words) > 12:
        return None
    changed = True
    while changed and words:
        changed = False
        for polite in _COMMAND_POLITE:
            p = polite.split()
            if len(words) > len(p) and words[:len(p)] == p:
                words, changed = words[len(p):], True
            elif len(words) > len(p) and words[-len(p):] == p:
                words, changed = words[:-len(p)], True
    phrase = " ".join(words)
    if phrase in _REGISTER or phrase.replace(" ", "") in {w.replace(" ", "") for w in _REGISTER}:
        return "register"
    if len(words) == 1 and len(words[0]) >= 8 and any(
            fuzz.ratio(words[0], w) >= _REGISTER_FUZZY_MIN for w in _REGISTER_FUZZY):
        return "register"
    core = "".join(w for w in words if w not in _LONE_PRONOUNS and w != "ka")
    if len(core) >= len(_REGISTER_BM) - 1 and core.startswith("togo") \
            and fuzz.ratio(core, _REGISTER_BM) >= CHOICE_SURE:
        return "register"
    if phrase in _PROFILE:
        return "mydata"
    return None


# Markers that a first message is Bambara: the greetings of docs/domain.md §5 ("i ni ce", "aw ni
# ce", "i ni sɔgɔma"…), "n b'a fɛ" (I want), "tɔgɔ sɛbɛn" (unverified), and any letter of the
# official alphabet (ɛ ɔ ɲ ŋ), which only Bambara writers type.
_BAMBARA_MARKERS = ("i ni ce", "aw ni ce", "i ni sogoma", "aw ni sogoma", "i ni tile",
                    "aw ni tile", "i ni wula", "aw ni wula", "i ni su", "aw ni su", "n b a fe",
                    "n be a fe", "n be fe", "togo seben", "bamanankan", "an ka taa",
                    # Bambara keywords typed as a first message (newcomer's test).
                    "deme", "a deme", "n deme", "a dabila", "ka dabila", "a damine",
                    "ka damine", "togoseben", "josi", "a josi", "kibaru son",
                    # Greetings typed in one word or as thanks (issue 15).
                    "inice", "awnice", "a ni ce", "anice")
_BAMBARA_LETTERS = set("ɛɔɲŋƐƆƝŊ")


def guess_language(text: str | None) -> str | None:
    """Guess the language of a first message when it is obvious: ``"bm"`` for a Bambara
    greeting or phrase ("I ni ce", "aw ni sɔgɔma", "n b'a fe ka n togo seben") or a letter of
    the Bambara alphabet; otherwise None (French greetings such as "bonjour" are used by
    speakers of both languages, so they decide nothing and the bot asks). Never raises."""
    if not isinstance(text, str):
        return None
    if _BAMBARA_LETTERS & set(text[:MAX_INPUT_CHARS]):
        return "bm"
    folded = f" {fold(text[:MAX_INPUT_CHARS])} "
    if any(f" {marker} " in folded for marker in _BAMBARA_MARKERS):
        return "bm"
    return None


# "AGENT: <question>" (newcomer's test): the keyword, a separator, then the question. Without
# a separator only the upper-case keyword counts ("AGENT je veux savoir…"): "agent de santé"
# is a trade, not a request.
_AGENT_WITH_TEXT = re.compile(
    r"^\s*(?:(?i:agent|parler (?:à|a) un agent|un agent))\s*[:\-–—,]\s*(?P<q>.+)$|"
    r"^\s*AGENT\s+(?P<q2>.+)$", re.S)


def agent_request(text: str | None) -> str | None:
    """The question of an "AGENT: je veux savoir pour le crédit" message (keyword, then ":",
    "-" or ","; or "AGENT" in capitals and the question), stripped; None when the message is
    not such a request or the rest has fewer than 2 letters. Never raises."""
    if not isinstance(text, str):
        return None
    match = _AGENT_WITH_TEXT.match(text[:MAX_INPUT_CHARS * 3])
    if match is None:
        return None
    rest = " ".join((match.group("q") or match.group("q2") or "").split())
    return rest if sum(ch.isalpha() for ch in rest) >= 2 else None


# Acknowledgements said on their own at a menu ("ok", "d'accord", "👍"): a friendly word back.
_ACKNOWLEDGE = {"ok", "okay", "oki", "oky", "okey", "ok ok", "d accord", "daccord", "dacord",
                "dac", "dak", "ok d accord", "d accord ok", "bien", "tres bien", "ok bien",
                "super", "cool", "parfait", "compris", "bien compris", "c est compris",
                "entendu", "c est note", "note", "ok c est note", "ayiwa", "o", "oui", "awo",
                "owo", "ok merci bien"}
_ACKNOWLEDGE_KEYS = _collapsed_set(_ACKNOWLEDGE)


# Emoji that say "ok"/"yes"/"thanks" (newcomer's test: 👎 and 😡 got "Très bien!"). Others
# (👎 😡 😢 🤔 …) are not an acknowledgement.
_POSITIVE_EMOJI = frozenset("👍👌✅✔☑🙏👏🤝💯🆗😊🙂😀😃😄😁☺🥰😍❤💚💙💛🧡💜🤗😇")
# Ignored around them: skin tones, variation selectors, zero-width joiner, spaces.
_EMOJI_MODIFIERS = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400)) | {"\ufe0f", "\ufe0e",
                                                                        "\u200d"}


def is_acknowledgement(text: str | None) -> bool:
    """True when the whole message is an acknowledgement ("ok", "d'accord", "très bien",
    Bambara "ayiwa") or only positive emoji ("👍", "👌🏾", "🙏", "✅"; not "👎" or "😡"), not a
    menu answer. Never raises."""
    if not isinstance(text, str) or not text.strip():
        return False
    folded = fold(text[:MAX_INPUT_CHARS])
    if not folded:
        return _only_positive_emoji(text)
    return " ".join(_collapse(w) for w in folded.split()) in _ACKNOWLEDGE_KEYS


def _only_positive_emoji(text: str) -> bool:
    """True when `text` holds only positive emoji (:data:`_POSITIVE_EMOJI`), modifiers and
    spaces, at least one: the one rule for "👍" meaning yes/ok (parse_yes_no and
    is_acknowledgement)."""
    marks = [ch for ch in text[:MAX_INPUT_CHARS]
             if not ch.isspace() and ch not in _EMOJI_MODIFIERS]
    return bool(marks) and all(ch in _POSITIVE_EMOJI for ch in marks)


# "I don't know" said on its own. French; Bambara "n t'a dɔn" / "n tɛ a dɔn" (I don't know it)
# and "n m'a dɔn" are ours (general knowledge, not in docs/domain.md §5: unverified).
_DOUBT = {"je sais pas", "je ne sais pas", "sais pas", "j sais pas", "je sai pas", "jsp",
          "chais pas", "je c pas", "je ne sait pas", "je sait pas", "aucune idee", "aucun idee",
          "pas d idee", "j en sais rien", "je n en sais rien", "sais pas trop", "je sais plus",
          "je ne sais plus", "je ne connais pas", "je connais pas", "connais pas",
          "je ne me souviens pas", "je me souviens pas", "je ne sais vraiment pas",
          "n t a don", "n te a don", "n m a don", "n ma a don", "n t a lon", "n te a lon",
          "idk", "je ne sais", "pas su", "ne sais pas"}


def detect_doubt(text: str | None) -> bool:
    """True when the whole message says "I don't know" ("je sais pas", "je ne connais pas",
    "aucune idée", Bambara "n t'a dɔn"), politeness around it ignored. Never raises. Such an
    answer must not be read as "none" or "no" (newcomer's test: "je sais pas" was stored as
    "Aucune" protection)."""
    if not isinstance(text, str):
        return False
    words = [w for w in fold(text[:MAX_INPUT_CHARS]).split() if w not in _POLITE]
    while words and words[0] in {"non", "euh", "ah", "ben", "mais", "vraiment", "ayi"}:
        words = words[1:]
    phrase = " ".join(words)
    return phrase in _DOUBT or " ".join(_collapse(w) for w in words) in _DOUBT


# Greetings, thanks and goodbyes said on their own (docs/domain.md §5 greetings; "k'an bɛn" = see
# you). Answered politely without counting as a misunderstood answer (newcomer's test).
_COURTESY: dict[str, set[str]] = {
    "courtesy_hello": {"bonjour", "bonsoir", "salut", "hello", "allo", "coucou", "salam",
                       "bonjour monsieur", "bonjour madame", "i ni ce", "aw ni ce",
                       "i ni sogoma", "aw ni sogoma", "i ni tile", "aw ni tile", "i ni wula",
                       "aw ni wula", "i ni su", "aw ni su", "i ka kene", "i ka kene wa",
                       # Issue 15: the Arabic greeting as typed in Bamako.
                       "assalamou alaykoum", "assalamou alaikoum", "assalam alaykoum",
                       "salam alaykoum", "salam aleykoum", "salamalekoum", "salamalekum",
                       "assalamu alaikum", "as salam alaykoum", "salam alaikoum",
                       "salamou alaykoum", "salam aleikoum", "assalamou aleykoum"},
    "courtesy_thanks": {"merci", "merci bien", "merci beaucoup", "thanks", "thank you",
                        "barika", "a ni ce", "ok merci", "d accord merci"},
    "courtesy_bye": {"au revoir", "aurevoir", "bye", "a bientot", "a plus", "bonne journee",
                     "bonne nuit", "k an ben", "kan ben", "an ka ben", "ka ben"},
}
_COURTESY_LOOKUP = {phrase: kind for kind, phrases in _COURTESY.items() for phrase in phrases}
# The same written without spaces ("inice", "anice", "bonjourmadame").
_COURTESY_COMPACT = {phrase.replace(" ", ""): kind for phrase, kind in _COURTESY_LOOKUP.items()}
# Who a greeting is addressed to ("bonjour la mairie", "salam à tous"): dropped at the end.
_COURTESY_ADDRESSEES = ("la mairie", "a la mairie", "mairie", "le service", "service ess",
                        "l ess", "ess", "a tous", "tout le monde", "monsieur", "madame",
                        "mr", "mme", "mon frere", "ma soeur", "chers", "cher", "m", "wa")
# A greeting with one typo ("bonjuor", "bonjoure"): one word of at least 5 letters compared
# with the one-word greetings from this rapidfuzz score ("bonjuor" scores 86 against
# "bonjour", "bonsoir" 71).
_COURTESY_FUZZY_MIN = 85.0


def detect_courtesy(text: str | None) -> str | None:
    """Return ``"courtesy_hello"``, ``"courtesy_thanks"`` or ``"courtesy_bye"`` when the
    whole message is a greeting, a thank-you or a goodbye ("Bonjour!", "merci beaucoup",
    "i ni sɔgɔma", "k'an bɛn"), else None. Accent-, case- and punctuation-insensitive;
    never raises. The names are dialog message names (dialogs/main.yaml)."""
    if not isinstance(text, str):
        return None
    folded = fold(text[:MAX_INPUT_CHARS])
    if not folded or len(folded) > 40:
        return None
    words = folded.split()
    changed = True
    while changed and len(words) > 1:
        changed = False
        for addressee in _COURTESY_ADDRESSEES:
            a = addressee.split()
            if len(words) > len(a) and words[-len(a):] == a:
                words, changed = words[:-len(a)], True
    phrase = " ".join(words)
    kind = _COURTESY_LOOKUP.get(phrase) or _COURTESY_COMPACT.get(phrase.replace(" ", ""))
    if kind is None and len(words) == 1 and len(phrase) >= 5:
        best = max(((fuzz.ratio(phrase, p), k) for p, k in _COURTESY_LOOKUP.items()
                    if " " not in p and len(p) >= 5), default=(0.0, None))
        kind = best[1] if best[0] >= _COURTESY_FUZZY_MIN else None
    return kind


# --------------------------------------------------------------------------------------------
# Questions the information content does not answer (issue 15)
# --------------------------------------------------------------------------------------------

# "je veux parler au maire", "voir un responsable": a person is asked for, not a scheme (the
# search matched "maire" to the commune's ESS policy). Folded; a verb then a person.
_PERSON_VERBS = ("parler", "voir", "rencontrer", "joindre", "contacter", "appeler", "kuma",
                 "ye")
_PERSONS = {"maire", "madame le maire", "monsieur le maire", "le maire", "quelqu un",
            "une personne", "un humain", "un responsable", "le responsable", "le chef",
            "le directeur", "la directrice", "un conseiller", "le secretaire", "meri",
            "mogo", "mogo do", "madame maire", "monsieur maire"}


def asks_for_person(text: str | None) -> bool:
    """True when the message asks to talk to or meet a person rather than asking about a
    scheme: a verb of :data:`_PERSON_VERBS` ("parler", "voir", "rencontrer"…) followed, within
    three words, by a person of :data:`_PERSONS` ("au maire", "à quelqu'un", "un responsable").
    Never raises."""
    if not isinstance(text, str):
        return False
    words = fold(text[:MAX_INPUT_CHARS]).split()
    for i, word in enumerate(words):
        if word not in _PERSON_VERBS:
            continue
        rest = [w for w in words[i + 1:i + 5] if w not in {"au", "a", "avec", "le", "la"}]
        for size in (3, 2, 1):
            if " ".join(rest[:size]) in _PERSONS:
                return True
        if words[i + 1:i + 2] == ["au"] and rest[:1] == ["maire"]:
            return True
    return False


# Questions about the mairie itself: where it is, when it opens. Folded words.
_MAIRIE_WORDS = {"mairie", "meri"}
_WHERE_WORDS = {"ou", "adresse", "trouve", "situe", "situee", "aller", "yoro", "min", "localiser"}
_HOURS_WORDS = {"horaire", "horaires", "heure", "heures", "ouvert", "ouverte", "ouvre",
                "ferme", "fermee", "quand", "jours", "tuma"}


def mairie_question(text: str | None) -> str | None:
    """``"hours"`` for a question about opening hours ("quels sont les horaires", "la mairie
    ouvre quand"), ``"where"`` for one about where the mairie is ("où se trouve la mairie",
    "adresse de la mairie", Bambara "meri bɛ min"), else None. Hours need no mention of the
    mairie (the person writes to its service); "where" does. Never raises."""
    if not isinstance(text, str):
        return None
    folded = fold(text[:MAX_INPUT_CHARS])
    words = set(folded.split())
    if len(words) > 12:
        return None
    about_mairie = any(w in words for w in _MAIRIE_WORDS) or "service ess" in folded
    if words & {"horaire", "horaires"} or (about_mairie and words & _HOURS_WORDS):
        return "hours"
    if about_mairie and words & _WHERE_WORDS:
        return "where"
    return None


# What comes before a trade in an answer ("je suis menuisier", "je fais de la couture").
_TRADE_LEAD = re.compile(
    r"^(?:(?:moi\s+)?(?:je\s+suis|jsuis|je\s+fais|je\s+travaille|suis|c\s+est|n\s+ye)\s+)"
    r"(?:(?:dans|en)\s+)?(?:(?:un|une|de\s+la|de\s+l|du|des|la|le|l|d)\s+)?")


def trade_words(text: str | None, labels: Sequence[str]) -> str | None:
    """The trade a person typed as an answer to a sector question ("je suis menuisier" →
    "menuisier", "je fais de la couture" → "couture"), without the lead-in words; None when
    the answer has no such lead-in ("couture" alone answers the sector only), is a number,
    one of the option `labels` itself, or has fewer than 3 letters. Never raises."""
    if not isinstance(text, str) or is_number_only(text):
        return None
    cleaned = " ".join(text.split())
    folded_labels = {fold(label) for label in labels}
    if fold(cleaned) in folded_labels:
        return None
    lead = _TRADE_LEAD.match(fold(cleaned))
    if not lead or not lead.end():
        # A word alone ("couture", "jago") answers the sector only: the trade is asked next,
        # as for one answer at a time.
        return None
    # Cut as many words from the typed text as the lead-in has.
    cleaned = " ".join(cleaned.split()[len(lead.group(0).split()):])
    if sum(ch.isalpha() for ch in cleaned) < 3 or fold(cleaned) in folded_labels:
        return None
    return cleaned


# --------------------------------------------------------------------------------------------
# Several registration answers in one message (issue 15)
# --------------------------------------------------------------------------------------------

# A registration asked for with its answers: "INSCRIPTION Aminata Traoré, femme, 1985…",
# "je veux m'inscrire: …", "n b'a fɛ ka n tɔgɔ sɛbɛn Awa …". Folded lead-ins.
_REGISTER_LEADS = ("inscription", "je veux m inscrire", "je voudrais m inscrire", "m inscrire",
                   "inscrire", "togoseben", "n b a fe ka n togo seben", "n be a fe ka n togo seben",
                   "n togo seben", "ka n togo seben")
# Pieces of an answer list: commas, semicolons, new lines, " - ".
_ANSWER_SPLIT = re.compile(r"\s*(?:[,;\n]|\s[-–]\s)\s*")


def answer_pieces(text: str | None) -> list[str]:
    """The pieces of a message that gives several answers at once, split at commas,
    semicolons, new lines and " - " ("Aminata Traoré, femme, 1985" → three pieces); blanks
    dropped. Never raises."""
    if not isinstance(text, str):
        return []
    return [p.strip(" .:") for p in _ANSWER_SPLIT.split(text[:MAX_INPUT_CHARS]) if p.strip(" .:")]


def register_with_answers(text: str | None) -> str | None:
    """The answers of a registration asked for together with them ("INSCRIPTION Aminata
    Traoré, femme, 1985, Badialan 2" → "Aminata Traoré, femme, 1985, Badialan 2"): the text
    after a registration lead-in (:data:`_REGISTER_LEADS`) when it holds at least two pieces
    (:func:`answer_pieces`); else None. Never raises."""
    if not isinstance(text, str):
        return None
    words = text.strip().split()
    for size in range(min(len(words) - 1, 7), 0, -1):
        if fold(" ".join(words[:size])) in _REGISTER_LEADS:
            rest = " ".join(words[size:]).lstrip(" :,-")
            return rest if len(answer_pieces(rest)) >= 2 else None
    return None
