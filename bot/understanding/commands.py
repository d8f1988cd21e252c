"""Whole-message keywords and commands, and the small readings of a message (language,
agent request, acknowledgement, doubt, courtesy, mairie questions, trades, answer pieces).

Part of :mod:`bot.understanding` (pure Python); see its docstring for the sources.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import fuzz

from bot.understanding.text import (
    MAX_INPUT_CHARS, _LONE_PRONOUNS, _collapse, _only_positive_emoji, fold,
)
from bot.understanding.numbers import is_number_only
from bot.understanding.choices import CHOICE_SURE
from bot.understanding.yesno import _POLITE, _collapsed_set
from bot.understanding.words import WORDS as _WORDS

# --------------------------------------------------------------------------------------------
# Global keywords
# --------------------------------------------------------------------------------------------

# Whole-message keywords, folded. Bambara: "a dabila" = stop it (docs/domain.md §5), "a daminɛ" =
# start it, "dɛmɛ" = help (unverified list), "kan" = language (tubabukan/bamanankan, unverified).
# STOP also takes Twilio's English opt-out words, which Twilio forwards after acting on them.
# Data rights (docs/domain.md §3): delete ("supprimer", "effacer") and access ("mes données").
_KEYWORDS = _WORDS.map_of_sets("keywords")
_KEYWORD_LOOKUP = {phrase: kw for kw, phrases in _KEYWORDS.items() for phrase in phrases}
# Keywords that also count at the start of a longer message ("STOP les messages", "menu
# principal svp", "supprimer tout"). Not "aide" ("aide-ménagère" is a trade), not "agent"
# ("agent de santé"), not "arrêt" ("arrêt de bus"), not "kan": a sentence must not trigger them.
_KEYWORD_PREFIXES = _WORDS.map("keyword_prefixes")
_KEYWORD_POLITE = _WORDS.set("keyword_polite")


def detect_keyword(text: str | None) -> str | None:
    """Return the global keyword a message is, or None.

    Takes the message; returns one of ``"menu"``, ``"help"``, ``"language"``, ``"stop"``,
    ``"start"``, ``"delete"``, ``"agent"``, ``"mydata"``, ``"news"`` or None. Matching is accent-
    and case-insensitive and ignores punctuation ("STOP!", "Arrêt.") and politeness around it
    ("stop svp", "bonjour, aide", "i ni ce, a dabila").

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
_REGISTER = _WORDS.set("register")
# One typo in INSCRIPTION ("inscripsion", "incription"): single words compared with
# rapidfuzz from this score (≈ one letter off in 10; "description" scores 73).
_REGISTER_FUZZY = _WORDS.list("register_fuzzy")
_REGISTER_FUZZY_MIN = 85.0
# PROFIL (see my data, docs/domain.md §3: a command per data right); read as the "mydata" keyword.
_PROFILE = _WORDS.set("profile")
# "n bɛ fɛ" / "n b'a fɛ" (I want, docs/domain.md §5 and the Bambara texts), typed with or without
# the special letters and the "a".
_COMMAND_POLITE = _KEYWORD_POLITE | _WORDS.set("command_polite")
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
_BAMBARA_MARKERS = _WORDS.list("language_markers", language="bm")
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
_ACKNOWLEDGE = _WORDS.set("acknowledgements")
_ACKNOWLEDGE_KEYS = _collapsed_set(_ACKNOWLEDGE)



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


# "I don't know" said on its own. French; Bambara "n t'a dɔn" / "n tɛ a dɔn" (I don't know it)
# and "n m'a dɔn" are ours (general knowledge, not in docs/domain.md §5: unverified).
_DOUBT = _WORDS.set("doubt")


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
_COURTESY = _WORDS.map_of_sets("courtesy")
_COURTESY_LOOKUP = {phrase: kind for kind, phrases in _COURTESY.items() for phrase in phrases}
# The same written without spaces ("inice", "anice", "bonjourmadame").
_COURTESY_COMPACT = {phrase.replace(" ", ""): kind for phrase, kind in _COURTESY_LOOKUP.items()}
# Who a greeting is addressed to ("bonjour la mairie", "salam à tous"): dropped at the end.
# Longest first: "a la mairie" goes whole, not as "mairie" leaving "a la".
_COURTESY_ADDRESSEES = sorted(_WORDS.list("courtesy_addressees"), key=lambda p: -len(p.split()))
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
_PERSON_VERBS = _WORDS.list("person_verbs")
_PERSONS = _WORDS.set("persons")


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
_MAIRIE_WORDS = _WORDS.set("mairie_words")
_WHERE_WORDS = _WORDS.set("where_words")
_HOURS_WORDS = _WORDS.set("hours_words")


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
_REGISTER_LEADS = _WORDS.list("register_leads")
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
