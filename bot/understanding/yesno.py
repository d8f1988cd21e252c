"""Yes and no, in French and Bambara, with doubt never read as either.

Part of :mod:`bot.understanding` (pure Python); see its docstring for the sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.understanding.text import _collapse, _only_positive_emoji, fold
from bot.understanding.numbers import _word_number
from bot.understanding.words import WORDS as _WORDS

# --------------------------------------------------------------------------------------------
# Yes / no
# --------------------------------------------------------------------------------------------

# Folded phrases. Bambara from docs/domain.md §5: awɔ / ɔwɔ (yes; typed awo, owo, aw), ayi (no),
# ayiwa (OK); "de" adds emphasis ("ayi de"). "n b'a fɛ" (I want it) / "n t'a fɛ" (I don't)
# are ours, unverified.
_YES = _WORDS.set("yes")
_NO = _WORDS.set("no")
def _collapsed_set(phrases: Iterable[str]) -> set[str]:
    return {" ".join(_collapse(w) for w in p.split()) for p in phrases}


# Compared after _collapse ("ouiii" → "oui", "accord" → "acord"), so the lexicons are too.
_YES = _collapsed_set(_YES)
_NO = _collapsed_set(_NO)
# Yes-words too short or too common to count anywhere but alone or first.
_YES_ALONE = _collapsed_set(_WORDS.set("yes_alone"))
# Doubt: never a yes or a no.
_UNSURE = _WORDS.set("unsure")
_POLITE = _WORDS.set("polite")


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


