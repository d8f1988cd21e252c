"""Folding typed text and the fuzzy window search that choices and places share.

Part of :mod:`bot.understanding` (pure Python); see its docstring for the sources.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz
from bot.understanding.words import WORDS as _WORDS

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


# Numerals inside quartier names. "un" is left out: it is also an article ("Badialan, un peu
# plus loin"). Bambara fila/saba from docs/domain.md §5.
_PLACE_NUMERALS = _WORDS.map("place_numerals")

# Emoji that say "ok"/"yes"/"thanks" (newcomer's test: 👎 and 😡 got "Très bien!"). Others
# (👎 😡 😢 🤔 …) are not an acknowledgement.
_POSITIVE_EMOJI = frozenset("👍👌✅✔☑🙏👏🤝💯🆗😊🙂😀😃😄😁☺🥰😍❤💚💙💛🧡💜🤗😇")
# Ignored around them: skin tones, variation selectors, zero-width joiner, spaces.
_EMOJI_MODIFIERS = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400)) | {"\ufe0f", "\ufe0e",
                                                                        "\u200d"}


def _only_positive_emoji(text: str) -> bool:
    """True when `text` holds only positive emoji (:data:`_POSITIVE_EMOJI`), modifiers and
    spaces, at least one: the one rule for "👍" meaning yes/ok (parse_yes_no and
    is_acknowledgement)."""
    marks = [ch for ch in text[:MAX_INPUT_CHARS]
             if not ch.isspace() and ch not in _EMOJI_MODIFIERS]
    return bool(marks) and all(ch in _POSITIVE_EMOJI for ch in marks)



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


