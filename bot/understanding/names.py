"""Names of people and organisations, cleaned and cased.

Part of :mod:`bot.understanding` (pure Python); see its docstring for the sources.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.understanding.text import fold
from bot.understanding.words import WORDS as _WORDS

#: Longest accepted name (a person's or an organisation's); longer text is most likely not a name.
NAME_MAX_CHARS = 80

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
# Longest first, so that "mon nom est" is removed whole rather than its "mon nom".
_NAME_PREFIXES = sorted(_WORDS.list("name_prefixes"), key=lambda p: -len(p.split()))
_NAME_SUFFIXES = _WORDS.list("name_suffixes")
# Lower-case inside names: French particles and Arabic/Tamasheq ones common in Mali.
_PARTICLES = _WORDS.set("name_particles")
# Organisation acronyms kept upper-case even when the message is all capitals.
_ACRONYMS = _WORDS.set("acronyms")
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


