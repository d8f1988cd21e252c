"""Menu choices: one option, or several, by number or by the option's words.

Part of :mod:`bot.understanding` (pure Python); see its docstring for the sources.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.understanding.text import MAX_INPUT_CHARS, _best_window, _key_of, _sound, _tokens, fold
from bot.understanding.numbers import _find_numbers, _word_number
from bot.understanding.words import WORDS as _WORDS

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
_CHOICE_FILLERS = _WORDS.set("choice_fillers")


# More words that may surround a menu number in strict mode ("le numéro 2 s'il vous plaît",
# "2 merci beaucoup", "je choisis le 2 svp").
_STRICT_FILLERS = _WORDS.set("strict_fillers")


# Words that only link an option's word to nothing in particular ("je voudrais des
# informations s'il vous plaît", "comment m'inscrire au registre"): not a topic of their own.
_TOPIC_GLUE = _WORDS.set("topic_glue")


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
_MULTI_SPLIT_WORDS = _WORDS.set("list_separators")


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


