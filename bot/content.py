"""Information content (scheme and topic articles) and free-question retrieval.

Pure Python (pydantic, yaml, rapidfuzz; no Flask, SQLAlchemy or twilio), so the dialog engine
and the staff interface can both use it with plain data.

Content
-------
``dialogs/content/*.yaml`` holds one record per scheme or topic (issue 4, "Build" 1), seeded
from docs/domain.md section 2 (and section 1 for the commune's ESS policy). Every
user-facing text is given in French and Bambara (:class:`Text`); :func:`load_content` checks
each record against the cost rules of issue 4 ("Must show"):

- every text, once rendered for SMS (:func:`bot.sms.render`, which folds ɛ ɔ ɲ ŋ to è ò ny ng),
  is GSM-7, so no single character multiplies the cost of a message;
- ``short`` fits ONE SMS part, ``details`` at most :data:`DETAILS_MAX_PARTS`, the other texts at
  most :data:`FIELD_MAX_PARTS`; a ``title`` is at most :data:`TITLE_MAX_CHARS` characters
  (titles are listed in numbered menus);
- ``source`` and ``verified`` are present; ``verified`` is a date ("YYYY", "YYYY-MM" or
  "YYYY-MM-DD": only as precise as the source) that is not in the future;
- a record marked ``uncertain`` (docs/domain.md "unverified") says so in its short answer, in both
  languages (:data:`UNCERTAIN_MARKERS`).

Problems are reported all at once by :class:`ContentError`, one line per record and field.

Retrieval
---------
:func:`search` matches a free question against the titles, keywords and synonyms of the
articles, in both languages whatever the person's language (people mix them). Both sides are
folded with :func:`bot.understanding.fold` (case, accents, punctuation, Bambara ɛ/è → e,
ɔ/ò → o, ɲ → ny, ŋ → ng), plural endings are dropped (French -s/-x, Bambara -w), question
words and politeness are dropped (:data:`STOP_WORDS`), and each remaining word is compared
with the article words: exact, typo-tolerant (rapidfuzz), transposed letters ("apje"), cut
short ("retrai"), or glued to an elided article ("lapej", "linps").

A word counts according to how rare it is among the articles (inverse document frequency):
"ramu" names one article and decides alone, "assurance" is shared by several and only
narrows the field. A multi-word keyword whose words are all present ("assurance maladie",
"inps volontaire", "artisan retraite") adds :data:`PHRASE_BONUS` per extra word. Trades
("soudeur", "couturière") count as "artisan" (:data:`PERSON_WORDS`); words such as
"conditions", "adresse" or "démarche" say which part of the article is wanted
(:data:`ASPECT_WORDS`, reported as ``aspect``). The result's ``decision`` is ``one`` (a clear
top match), ``several`` (a short list to choose from or confirm) or ``none`` (offer a
hand-over); see the thresholds below and how they were chosen.

Typical use by a dialog::

    index = ContentIndex(load_content())           # once, and again after staff edits
    result = search(text, index, language="bm")
    if result.decision == "one":      answer result.offered[0].article (field result.aspect)
    elif result.decision == "several": numbered list of result.offered, 0 = agent
    else:                              offer the hand-over
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein, OSA

from bot import sms
from bot.understanding import fold

__all__ = [
    "LANGUAGES",
    "CATEGORIES",
    "CONTENT_DIR",
    "FORMAT_VERSION",
    "SHORT_MAX_PARTS",
    "DETAILS_MAX_PARTS",
    "FIELD_MAX_PARTS",
    "TITLE_MAX_CHARS",
    "UNCERTAIN_MARKERS",
    "TOKEN_FUZZY_MIN",
    "TOKEN_FUZZY_MIN_SHORT",
    "LONG_WORD_LEN",
    "ONE_COVERAGE",
    "PERSON_WORDS",
    "ASPECT_WORDS",
    "TYPO_SIMILARITY",
    "PREFIX_MIN_LEN",
    "PREFIX_SIMILARITY",
    "ELISION_SIMILARITY",
    "FUZZY_MIN_LEN",
    "PHRASE_BONUS",
    "MIN_SCORE",
    "ONE_RATIO",
    "SEVERAL_RATIO",
    "SEVERAL_MAX",
    "MAX_QUESTION_CHARS",
    "STOP_WORDS",
    "Text",
    "Terms",
    "Category",
    "Article",
    "Content",
    "Library",
    "ContentError",
    "Problem",
    "ContentIndex",
    "Match",
    "SearchResult",
    "load_catalog",
    "load_content",
    "search",
]

#: Languages of every text field (docs/architecture.md: French and Bambara).
LANGUAGES: tuple[str, ...] = ("fr", "bm")

#: Article categories, in menu order (issue 4, "Build" 1).
CATEGORIES: tuple[str, ...] = (
    "protection_sociale",
    "emploi_jeunes",
    "formation",
    "financement",
    "structures_ess",
    "demarches_mairie",
)
CategoryId = Literal["protection_sociale", "emploi_jeunes", "formation", "financement",
                     "structures_ess", "demarches_mairie"]

#: Default content location: the repository's ``dialogs/content/`` (a sub-folder, so the
#: dialog loader, which reads ``dialogs/*.yaml`` only, does not see it).
CONTENT_DIR = Path(__file__).resolve().parents[1] / "dialogs" / "content"

#: The content file format this code reads; a file with another ``version`` is refused.
FORMAT_VERSION = 1

# --------------------------------------------------------------------------------------------
# Cost rules of the content (issue 4, "Must show"); parts are counted by bot.sms.analyze on
# the text as bot.sms.render(text, "sms", language) sends it.
# --------------------------------------------------------------------------------------------

#: SMS parts allowed for a short answer: one (issue 4).
SHORT_MAX_PARTS = 1
#: SMS parts allowed for the details: "a few SMS at most" (issue 4), i.e. 3 (459 GSM-7 chars).
DETAILS_MAX_PARTS = 3
#: SMS parts allowed for eligibility, how_to_apply and where: each is sent alone on request,
#: and two parts (306 GSM-7 characters) is plenty for one of these answers.
FIELD_MAX_PARTS = 2
#: Longest title once rendered: titles are listed in numbered menus, where five titles and
#: their numbers must share a page of one or two SMS.
TITLE_MAX_CHARS = 60
#: Words (folded, see bot.understanding.fold) that a short answer of an ``uncertain`` record
#: must contain, per language: "à confirmer (auprès de la mairie)" and Bambara "a ɲininka
#: (meri la)" = "ask about it (at the mairie)". docs/domain.md: unverified facts are presented
#: with care and say where to confirm.
UNCERTAIN_MARKERS: dict[str, str] = {"fr": "a confirmer", "bm": "nyininka"}


def _normalise(word: str) -> str:
    """Matching form of one folded word: French plural -s/-x and Bambara plural -w dropped."""
    if len(word) >= 5 and word[-1] in "sx" and word[-2] != "s":
        return word[:-1]
    if len(word) >= 4 and word[-1] == "w" and word[-2] in "aeioun":
        return word[:-1]
    return word


# --------------------------------------------------------------------------------------------
# Retrieval thresholds. Chosen on tests/data/questions.yaml (142 questions written the way
# people write, with the expected article) by trying each constant over a range with the
# others fixed and keeping a value inside the range that gives the best top-1 accuracy and
# the most correct ``one`` decisions; figures quoted below were measured with this module and
# dialogs/content/schemes.yaml (18 articles). Values outside the ranges quoted lose questions.
#
# A question word weighs idf = ln(1 + N / df), where N is the number of articles and df the
# number of articles it matches (typos included): with N = 18, a word matching one article
# weighs 2.94, two 2.30, four 1.70, nine 1.10, all of them 0.69.
# --------------------------------------------------------------------------------------------

#: Lowest rapidfuzz ``fuzz.ratio`` (normalised Indel similarity, 0-100) at which two words
#: count as the same word typed with a typo, when the shorter has at least
#: :data:`LONG_WORD_LEN` letters: 80 lets one or two slips through ("asurance" 94,
#: "retrete"/"retraite" 80, "formasion" 89) and refuses different words ("apej"/"anpe" 75).
#: Same value as bot.understanding.CHOICE_FUZZY_MIN.
TOKEN_FUZZY_MIN = 80.0
#: The same for shorter words (4 to 6 letters), where 80 also joins different words:
#: "marier"/"mairie" 83, "coute"/"couture" 83, "acte"/"acteur" 80. 85 still takes one slip
#: in such words ("maladi" 92, "mutuel"/"mutuelle" 86, "jeun"/"jeune" 89). On the question
#: set, 80 answers 3 more questions directly ("assuré"/"assurance" 80, "kɔrɔla"/"kɔrɔya" 83)
#: but answers "je veux me marier à la mairie" with the commune's ESS policy and lists
#: articles for "acte de naissance": a wrong answer costs more than a list.
TOKEN_FUZZY_MIN_SHORT = 85.0
#: Words of at least this many letters use TOKEN_FUZZY_MIN, shorter ones TOKEN_FUZZY_MIN_SHORT.
LONG_WORD_LEN = 7
#: Similarity given to two letters swapped ("apje" for "apej", "insp" for "inps"): the
#: Indel ratio punishes a swap twice (75 for a 4-letter word), but it is one slip of the thumb.
TYPO_SIMILARITY = 0.8
#: A word of at least this many letters that starts another word of at most twice its length
#: matches it ("retrai" → retraite, "forma" → formation, "mutu" → mutuelle).
PREFIX_MIN_LEN = 5
#: Similarity of such a cut word.
PREFIX_SIMILARITY = 0.85
#: Similarity of a word with an elided article glued on ("lapej" for l'APEJ, "linps",
#: "dassurance"): the word itself is intact, the apostrophe was dropped.
ELISION_SIMILARITY = 0.95
#: Fuzzy matching is only tried on words at least this long (shorter ones: exact only, so
#: "amo" is never "ano"). Same value as bot.understanding.MIN_FUZZY_LEN.
FUZZY_MIN_LEN = 4
#: Added per extra word of the longest title, keyword or synonym of an article whose words
#: are all in the question (any order), and once more when the question is exactly that term
#: (all its words and nothing else): "inps volontaire", "artisan retraite", RAMU's
#: "assurance maladie" against AMO's "assurance maladie obligatoire", "APCMM" alone against
#: the artisan card that mentions the APCMM. 0 loses 6 questions, 0.5 loses 1, 1.0 answers 2
#: fewer directly; 1.5 to 4 give the same result; 2.0 is about one more rare word.
PHRASE_BONUS = 2.0
#: Below this score nothing is proposed (decision ``none``). A word that every article
#: matches weighs 0.69 and says nothing alone; one word shared by up to about ten articles
#: (1.0) is the least evidence that still narrows the list. Values from 0.5 to 1.5 give the
#: same result; 2.0 and above lose single common words ("baara"). Chatter ("quel temps
#: fait-il", "je veux parler à un agent") scores 0.
MIN_SCORE = 1.0
#: The top article is a clear answer (``one``) when the runner-up scores less than this
#: fraction of it. Measured: "inps volontaire" INPS 2.3 of 9.2 (0.25), "je suis artisan je
#: veux la retraite" INPS 2.3 of 8.0 (0.29), "comment avoir l'assurance maladie" AMO 4.2 of
#: 8.2 (0.52); true ties such as "retraite" or "assurance" alone are 1.0. Values from 0.7 to
#: 0.9 give the same result; 0.6 turns 3 correct answers into lists.
ONE_RATIO = 0.75
#: A clear answer (``one``) must also account for MORE than this fraction of the question's
#: words (after stop words). Otherwise the words it leaves unexplained may mean another
#: subject: "carte d'identité" matches the artisan's card on "carte" alone, "je veux me marier
#: à la mairie" the mairie's ESS policy on "mairie"; such matches come back as ``several``
#: (a list to confirm, with the hand-over) rather than as an answer.
ONE_COVERAGE = 0.5
#: In a ``several`` list, only articles scoring at least this fraction of the top one appear.
SEVERAL_RATIO = 0.5
#: At most this many articles in a ``several`` list (a numbered list that fits one SMS page).
SEVERAL_MAX = 5
#: Only this many characters of a question are read (three SMS parts).
MAX_QUESTION_CHARS = 480

# Question words, pronouns, articles, auxiliaries, politeness and all-purpose verbs, folded.
# French as typed on phones ("cmt", "kel", "koi", "slt", "stp", "jveux"); Bambara: docs/domain.md
# §5 greetings and "n b'a fɛ", plus common grammar words (n/i/a/an/aw/u pronouns, bɛ/tɛ/ye/
# ka/ma/la/kɔnɔ particles and postpositions, mun "what", min "which/where", cogo di "how",
# joli "how much", sɔrɔ "get", ɲini "look for", dɔn "know"; ours, to be checked by a native
# speaker). Words that name a scheme or a need are never here. Also here on purpose:
# "agent" and "conseiller" (the hand-over keyword, handled before search; "agent" is one
# letter from "argent"), cost words ("combien coûte", "prix": the article answers the cost),
# and search verbs ("chercher", "trouver", "ɲini": "je cherche un prêt" is about the loan).
_STOP_FR = """
a ai as au aux avec avez avoir avon bcp besoin bien bjr bonjour bonsoir bsr c ca cc ce cela
cest ces cet cette chui cmt cmnt coment comman comment connaitre coucou d dans de des dire
dis dite donc du e elle en es est et etre faire fait faut g hello i il ils j jai je jsui
jsuis jv jve jveu jveux k ke kel kelle kesk keske kment koi kwa l la le les leur lui m ma
mais me merci mes mr mme moi mon mw mwa n ne nous o obtenir on optenir ou oui par pas peu
peut peux plai plait pour pourquoi pouvez pr puis q qu quand que quel quelle quelles quels
question qui quoi renseignement renseigner s sa sai sais savoir se ses si sil slt salut
souhaite stp suis svp t ta te toi ton tu un une v ve veu veut veux voudrai voudrais vous
vx y ya aide aider aimerai aimerais infos info information explique expliquer parle parler
demande demander avoire koman agent conseiller combien coute coutent cout prix tarif
son sont ont trop tres plus moins aussi deja encore alors vraiment cherche chercher
cherch trouver trouve aller venir commence commencer
"""
_STOP_BM = """
a an ani aw b be bi cogo ce de di do don dow fe fo i ja jon joli k ka kama ko kono la le
m ma man min mun n na ne ni nin o olu sogoma sa se soro su ta te tile ti tun u wa walima
ye wula ayiwa awo owo ayi hali fana sisan taa ke nyini
"""
#: Words ignored in a question (folded forms; French and Bambara lists above).
STOP_WORDS: frozenset[str] = frozenset(_normalise(w) for w in (_STOP_FR + _STOP_BM).split())

# Words that say who the person is rather than what they ask, replaced by the word the
# articles use for such people: trades of artisans (docs/domain.md §1: artisans are a main ESS
# actor; the trade list is ours) → "artisan", so "je suis soudeur, la retraite?" finds the
# artisans' pension rather than welding courses; old age → "vieillesse" (INPS branch).
# Bambara: numu (blacksmith), ours, to be checked.
_TRADES = """
tailleur couturier couturiere soudeur menuisier macon mecanicien coiffeur coiffeuse
teinturier teinturiere forgeron cordonnier bijoutier potier potiere tisserand tisserande
electricien plombier brodeur brodeuse vulcanisateur frigoriste tanneur sculpteur
maroquinier ebeniste tapissier artisane numu
"""
#: Words saying which part of an article is wanted (folded; Bambara yɔrɔ "place", nimɔrɔ
#: "number", sarati "condition" are ours, to be checked). They are taken out of the words
#: looked up, so "conditions pour l'APEJ" is a clear question about the APEJ, and reported
#: in SearchResult.aspect. "où" is not here: folded, it is "ou" ("or").
ASPECT_WORDS: dict[str, tuple[str, ...]] = {
    "eligibility": ("condition", "critere", "eligible", "eligibilite", "age", "sarati"),
    "how_to_apply": ("demarche", "dossier", "piece", "procedure", "postuler", "candidature",
                     "adherer", "adhesion"),
    "where": ("adresse", "adrese", "bureau", "bureaux", "lieu", "situe", "localisation",
              "contact", "telephone", "tel", "numero", "yoro", "nimoro"),
    "details": ("detail", "montant"),
}
_ASPECT_LOOKUP = {_normalise(word): aspect
                  for aspect, words in ASPECT_WORDS.items() for word in words}

#: Person words of a question and the word they are replaced with before matching (folded).
PERSON_WORDS: dict[str, str] = {_normalise(word): "artisan" for word in _TRADES.split()} | {
    _normalise(word): "vieillesse" for word in ("vieux", "vieille", "agee")
}


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parts(text: str, language: str) -> sms.SegmentInfo:
    return sms.analyze(sms.render(text, "sms", language))


class Text(_Strict):
    """One user-facing text in French (``fr``) and Bambara (``bm``); both are required and
    may not be blank. Leading and trailing whitespace is removed."""

    fr: str
    bm: str

    @field_validator("fr", "bm")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("empty text")
        return value

    def get(self, language: str) -> str:
        """Return the text in ``language`` ("fr" or "bm"); raises ValueError otherwise."""
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
        return getattr(self, language)


class Terms(_Strict):
    """Search words of one article per language: ``fr`` and ``bm`` lists of words or phrases
    (any spelling; they are folded before matching). Blank entries are refused."""

    fr: tuple[str, ...] = ()
    bm: tuple[str, ...] = ()

    @field_validator("fr", "bm")
    @classmethod
    def _no_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(v.strip() for v in value)
        if any(not fold(v) for v in cleaned):
            raise ValueError("blank or punctuation-only search term")
        return cleaned

    def all(self) -> tuple[str, ...]:
        """Every term, French then Bambara."""
        return self.fr + self.bm


class Category(_Strict):
    """A menu category: its ``id`` (one of :data:`CATEGORIES`) and its ``title`` per
    language (at most :data:`TITLE_MAX_CHARS` characters, GSM-7 on SMS)."""

    id: CategoryId
    title: Text

    @field_validator("title")
    @classmethod
    def _title_fits(cls, value: Text) -> Text:
        _check_title(value)
        return value


_VERIFIED = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def _check_title(value: Text) -> None:
    for language in LANGUAGES:
        text = value.get(language)
        rendered = sms.render(text, "sms", language)
        info = sms.analyze(rendered)
        if info.encoding != sms.GSM7:
            raise ValueError(f"{language}: not GSM-7 on SMS (characters {info.ucs2_characters})")
        if len(rendered) > TITLE_MAX_CHARS:
            raise ValueError(f"{language}: {len(rendered)} characters, at most "
                             f"{TITLE_MAX_CHARS} for a menu title")


class Article(_Strict):
    """One scheme or topic of the information menu (issue 4, "Build" 1).

    Fields:
        id: stable identifier, lowercase letters, digits and "_" (``"inps_volontaire"``);
            staff edits and re-seeding are matched on it.
        category: one of :data:`CATEGORIES`.
        title, short, details, eligibility, how_to_apply, where: :class:`Text` in French and
            Bambara. ``short`` fits one SMS, ``details`` at most three, the others at most
            two (:data:`SHORT_MAX_PARTS`, :data:`DETAILS_MAX_PARTS`, :data:`FIELD_MAX_PARTS`);
            all GSM-7 once rendered for SMS. ``where`` names an office, address or phone only
            when docs/domain.md gives it, otherwise it sends people to the mairie's ESS service.
        source: where the facts come from (docs/domain.md's source names and section).
        verified: date the facts were reported, as precise as the source: "YYYY", "YYYY-MM"
            or "YYYY-MM-DD"; never in the future.
        verified_note: optional staff note on the date (e.g. why it is only a year).
        uncertain: True when docs/domain.md marks a fact unverified; the short answer then says
            where to confirm (:data:`UNCERTAIN_MARKERS`).
        bm_review: True while the Bambara awaits a native speaker's review.
        keywords, synonyms: :class:`Terms` used by :func:`search` (with the titles and the
            id). At least one keyword per language.

    Construction raises pydantic's ``ValidationError`` on any broken rule; the message names
    the field and the language. :func:`load_content` turns these into :class:`ContentError`.
    """

    #: Fields holding user-facing :class:`Text`, in the order a dialog shows them.
    TEXT_FIELDS: ClassVar[tuple[str, ...]] = ("title", "short", "details", "eligibility",
                                              "how_to_apply", "where")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    category: CategoryId
    title: Text
    short: Text
    details: Text
    eligibility: Text
    how_to_apply: Text
    where: Text
    source: str = Field(min_length=1)
    verified: str
    verified_note: str | None = None
    uncertain: bool = False
    bm_review: bool = False
    keywords: Terms
    synonyms: Terms = Terms()

    @field_validator("source")
    @classmethod
    def _source_not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("empty source")
        return value

    @field_validator("verified", mode="before")
    @classmethod
    def _verified_date(cls, value: Any) -> str:
        if isinstance(value, dt.date):  # YAML reads 2026-02-16 as a date
            value = value.isoformat()
        if isinstance(value, int):  # and 2018 as an int
            value = str(value)
        if not isinstance(value, str):
            raise ValueError("must be a date: YYYY, YYYY-MM or YYYY-MM-DD")
        match = _VERIFIED.match(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a date: YYYY, YYYY-MM or YYYY-MM-DD")
        year, month, day = match.groups()
        try:
            earliest = dt.date(int(year), int(month or 1), int(day or 1))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a date: {exc}") from None
        if earliest > dt.date.today():
            raise ValueError(f"{value!r} is in the future")
        return value.strip()

    @field_validator("title")
    @classmethod
    def _title_fits(cls, value: Text) -> Text:
        _check_title(value)
        return value

    @field_validator("short", "details", "eligibility", "how_to_apply", "where")
    @classmethod
    def _fits_sms(cls, value: Text, info: ValidationInfo) -> Text:
        limit = {"short": SHORT_MAX_PARTS, "details": DETAILS_MAX_PARTS}.get(
            info.field_name, FIELD_MAX_PARTS)
        problems = []
        for language in LANGUAGES:
            parts = _parts(value.get(language), language)
            if parts.encoding != sms.GSM7:
                problems.append(f"{language}: not GSM-7 on SMS because of "
                                f"{parts.ucs2_characters}")
            elif parts.segments > limit:
                problems.append(f"{language}: {parts.segments} SMS parts ({parts.units} "
                                f"characters), at most {limit} allowed")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords_both_languages(cls, value: Terms) -> Terms:
        missing = [language for language in LANGUAGES if not getattr(value, language)]
        if missing:
            raise ValueError(f"no keyword in {', '.join(missing)}")
        return value

    @field_validator("uncertain")
    @classmethod
    def _uncertain_said(cls, value: bool, info: ValidationInfo) -> bool:
        short = info.data.get("short")
        if value and isinstance(short, Text):
            missing = [language for language, marker in UNCERTAIN_MARKERS.items()
                       if marker not in fold(short.get(language))]
            if missing:
                raise ValueError(
                    "uncertain record: the short answer must say where to confirm ("
                    + "; ".join(f"{lang}: {UNCERTAIN_MARKERS[lang]!r}" for lang in missing)
                    + ")")
        return value

    def text(self, field: str, language: str) -> str:
        """Return text ``field`` (one of :attr:`TEXT_FIELDS`) in ``language``.

        Raises ValueError for an unknown field or language.
        """
        if field not in self.TEXT_FIELDS:
            raise ValueError(f"unknown text field {field!r}; expected one of {self.TEXT_FIELDS}")
        return getattr(self, field).get(language)

    def seed_hash(self) -> str:
        """SHA-256 (hex) of the record's content, stable across runs and key order.

        For seeding the database without clobbering staff edits: store the hash of the seeded
        version with the row; on re-seed, update a row only if its current content still has
        the stored hash (staff did not edit it), otherwise keep the staff version and report
        the file change for review.
        """
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Content:
    """Everything read from the content files: the ``categories`` in menu order and the
    ``articles`` in file order (files sorted by name)."""

    categories: tuple[Category, ...]
    articles: tuple[Article, ...]

    def by_id(self) -> dict[str, Article]:
        """Articles by id."""
        return {article.id: article for article in self.articles}

    def in_category(self, category: str) -> list[Article]:
        """Articles of one category, in file order."""
        return [article for article in self.articles if article.category == category]


@dataclass(frozen=True)
class Problem:
    """One problem found while loading content: the ``path`` of the file, the ``record``
    (article id, ``"categories"`` or None for the file itself), the ``field`` (dotted, or
    None) and a ``message``."""

    path: str
    record: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.path
        if self.record is not None:
            where += f": record {self.record!r}"
        if self.field:
            where += f": field {self.field}"
        return f"{where}: {self.message}"


class ContentError(ValueError):
    """Content files that break a rule. ``problems`` lists every :class:`Problem`; the message
    has one line per problem, naming the file, the record and the field."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"- {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the content:\n{lines}")


def _content_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
        if not files:
            raise ContentError([Problem(str(path), None, None, "no *.yaml file in the folder")])
        return files
    if not path.exists():
        raise ContentError([Problem(str(path), None, None, "no such file or folder")])
    return [path]


def _validation_problems(path: str, record: str, exc: ValidationError) -> Iterator[Problem]:
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        yield Problem(path, record, loc or None, message)


def load_catalog(path: str | Path | None = None) -> Content:
    """Load and check content from a YAML file or a folder of ``*.yaml`` files.

    Args:
        path: a file or a folder; default :data:`CONTENT_DIR`.

    A file is a mapping with ``version`` (:data:`FORMAT_VERSION`), optional ``categories``
    (list of :class:`Category`; each id at most once across files) and ``articles`` (list of
    :class:`Article` mappings). Every id of :data:`CATEGORIES` that has articles needs a
    category title somewhere; article ids must be unique across files.

    Returns:
        :class:`Content`, categories in :data:`CATEGORIES` order.

    Raises:
        ContentError: listing every problem (file unreadable or not YAML, wrong version,
            unknown key, missing or broken field, text too long for its SMS budget or not
            GSM-7, duplicate id, category without title), each naming file, record and field.
    """
    base = Path(path) if path is not None else CONTENT_DIR
    problems: list[Problem] = []
    categories: dict[str, Category] = {}
    articles: list[Article] = []
    seen: dict[str, str] = {}
    for file in _content_files(base):
        name = str(file)
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(Problem(name, None, None, f"cannot read: {exc}"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(name, None, None, "expected a mapping with 'version' and "
                                                      "'articles'"))
            continue
        unknown = set(data) - {"version", "categories", "articles"}
        if unknown:
            problems.append(Problem(name, None, None, f"unknown keys {sorted(unknown)}"))
        if data.get("version") != FORMAT_VERSION:
            problems.append(Problem(name, None, "version",
                                    f"expected {FORMAT_VERSION}, found {data.get('version')!r}"))
            continue
        for index, raw in enumerate(data.get("categories") or []):
            label = raw.get("id") if isinstance(raw, dict) else None
            try:
                category = Category.model_validate(raw)
            except ValidationError as exc:
                problems.extend(_validation_problems(name, f"categories[{index}] {label or ''}"
                                                     .strip(), exc))
                continue
            if category.id in categories:
                problems.append(Problem(name, "categories", category.id, "category given twice"))
            categories[category.id] = category
        raw_articles = data.get("articles")
        if not isinstance(raw_articles, list):
            problems.append(Problem(name, None, "articles", "expected a list of records"))
            continue
        for index, raw in enumerate(raw_articles):
            label = (raw.get("id") if isinstance(raw, dict) else None) or f"#{index + 1}"
            if not isinstance(raw, dict):
                problems.append(Problem(name, str(label), None, "expected a mapping"))
                continue
            try:
                article = Article.model_validate(raw)
            except ValidationError as exc:
                problems.extend(_validation_problems(name, str(label), exc))
                continue
            if article.id in seen:
                problems.append(Problem(name, article.id, "id",
                                        f"duplicate id (first in {seen[article.id]})"))
                continue
            seen[article.id] = name
            articles.append(article)
    for category in sorted({a.category for a in articles} - set(categories)):
        problems.append(Problem(str(base), "categories", category,
                                "articles use this category but it has no title"))
    if problems:
        raise ContentError(problems)
    ordered = tuple(categories[c] for c in CATEGORIES if c in categories)
    return Content(ordered, tuple(articles))


def load_content(path: str | Path | None = None) -> list[Article]:
    """Load and check the articles of a content file or folder (see :func:`load_catalog`).

    Returns the articles in file order. Raises :class:`ContentError` naming every broken
    record and field.
    """
    return list(load_catalog(path).articles)


# --------------------------------------------------------------------------------------------
# Retrieval
# --------------------------------------------------------------------------------------------

# Elided articles and pronouns glued to the next word when the apostrophe is dropped
# (l'APEJ → "lapej", d'assurance → "dassurance", j', m', s', n', qu').
_ELISION_PREFIXES = ("l", "d", "j", "m", "s", "n", "qu")


_DOTTED_LETTERS = re.compile(r"\b([^\W\d_])\.(?=[^\W\d_]\b)")


def _words(text: str) -> list[str]:
    """Folded, normalised words of ``text``, stop words dropped; dotted acronyms are joined
    ("A.P.E.J" → apej). Digits are dropped (amounts and menu numbers name no article)."""
    text = _DOTTED_LETTERS.sub(r"\1", text[:MAX_QUESTION_CHARS])
    words = [_normalise(w) for w in fold(text).split() if not w.isdigit()]
    return [w for w in words if w not in STOP_WORDS]


def is_confident(result: "SearchResult") -> bool:
    """Whether a search result is sure enough to answer with an article (issue 15: below it, a
    question goes to a person, never to a wrong scheme).

    Takes a :class:`SearchResult`; returns False only for a ``several`` result with a single
    article that matches at most half of the question's words, none of them a word of the
    article's title in either language ("la maison du partenariat": only "maison" matched the
    mutual insurance's "Maison des artisans"). A partial match on the article's name ("mon
    dossier APEJ est bloqué") is confident. ``one`` and lists of several articles are."""
    if result.decision != "several" or len(result.ids) != 1 or not result.matches:
        return True
    top = result.matches[0]
    if 2 * len(top.matched) > len(result.words):
        return True
    title = {w for language in LANGUAGES for w in _words(top.article.title.get(language))}
    return any(word in title for word in top.matched)


def _question(text: str) -> tuple[tuple[str, ...], str | None]:
    """Words of a question to look up (person words replaced, aspect words removed, each
    once) and the aspect asked about, if any (see :data:`ASPECT_WORDS`)."""
    words: list[str] = []
    aspect: str | None = None
    for word in _words(text):
        if word in _ASPECT_LOOKUP:
            aspect = aspect or _ASPECT_LOOKUP[word]
            continue
        word = PERSON_WORDS.get(word, word)
        if word not in words:
            words.append(word)
    return tuple(words), aspect


def _similarity(query: str, word: str) -> float:
    """How well a question word matches an article word, 0 to 1 (see the thresholds)."""
    if query == word:
        return 1.0
    best = 0.0
    if len(query) >= FUZZY_MIN_LEN and len(word) >= FUZZY_MIN_LEN:
        cutoff = (TOKEN_FUZZY_MIN if min(len(query), len(word)) >= LONG_WORD_LEN
                  else TOKEN_FUZZY_MIN_SHORT)
        ratio = fuzz.ratio(query, word, score_cutoff=cutoff)
        if ratio:
            best = ratio / 100.0
        if (len(query) == len(word) and OSA.distance(query, word) == 1
                and Levenshtein.distance(query, word) == 2):
            best = max(best, TYPO_SIMILARITY)  # two neighbouring letters swapped
    if len(query) >= PREFIX_MIN_LEN and word.startswith(query) and 2 * len(query) >= len(word):
        best = max(best, PREFIX_SIMILARITY)
    for prefix in _ELISION_PREFIXES:  # "lapej", "linps", "dassurance": article glued on
        if (query.startswith(prefix) and len(query) - len(prefix) >= 3
                and query[len(prefix):] == word):
            best = max(best, ELISION_SIMILARITY)
    return best


@dataclass(frozen=True)
class _Entry:
    article: Article
    order: int
    words: frozenset[str]
    words_by_language: dict[str, frozenset[str]]
    terms: tuple[tuple[str, ...], ...]


class ContentIndex:
    """Search index over articles: their words (titles, keywords, synonyms and id, both
    languages, folded and normalised) and their terms (each title, keyword or synonym as a
    tuple of words, for the phrase bonus).

    Build it once per content version and pass it to :func:`search` (building takes about
    10 ms for 18 articles, a search about 1 ms); :func:`search` also accepts a plain list and
    then builds one. Raises ValueError on duplicate article ids.
    """

    def __init__(self, articles: Iterable[Article]):
        entries: list[_Entry] = []
        ids: set[str] = set()
        for order, article in enumerate(articles):
            if article.id in ids:
                raise ValueError(f"duplicate article id {article.id!r}")
            ids.add(article.id)
            by_language: dict[str, set[str]] = {language: set() for language in LANGUAGES}
            terms: set[tuple[str, ...]] = set()
            for language in LANGUAGES:
                texts = [article.title.get(language)]
                texts += list(getattr(article.keywords, language))
                texts += list(getattr(article.synonyms, language))
                for text in texts:
                    words = tuple(dict.fromkeys(_words(text)))
                    by_language[language].update(words)
                    if words:
                        terms.add(words)
            id_words = [w for w in _words(article.id.replace("_", " ")) if len(w) >= 3]
            for language in LANGUAGES:
                by_language[language].update(id_words)
            entries.append(_Entry(
                article=article,
                order=order,
                words=frozenset().union(*by_language.values()),
                words_by_language={k: frozenset(v) for k, v in by_language.items()},
                terms=tuple(sorted(terms, key=lambda t: (-len(t), t))),
            ))
        self.entries: tuple[_Entry, ...] = tuple(entries)
        #: Every article word, sorted (question words are compared with each once).
        self.vocabulary: tuple[str, ...] = tuple(sorted(set().union(*(e.words for e in entries))))

    @property
    def articles(self) -> list[Article]:
        """The indexed articles, in their original order."""
        return [entry.article for entry in self.entries]


@dataclass(frozen=True)
class Match:
    """One article found by :func:`search`: the ``article``, its ``score`` (sum of the
    weights of the question words it matched, plus phrase bonus) and the question words
    that ``matched`` it."""

    article: Article
    score: float
    matched: tuple[str, ...]

    @property
    def id(self) -> str:
        """The article's id."""
        return self.article.id


@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` found.

    Attributes:
        decision: ``"one"`` (answer ``matches[0]`` directly), ``"several"`` (offer
            :attr:`offered` as a numbered list) or ``"none"`` (nothing fits: offer a
            hand-over to staff).
        matches: every article that scored above 0, best first (ties in content order).
        words: the question's words that were looked up (folded, without stop words).
        aspect: the part of an article the question asks for, when it says so:
            ``"eligibility"`` ("conditions"), ``"how_to_apply"`` ("démarche", "dossier"),
            ``"where"`` ("adresse", "bureau", "yɔrɔ") or ``"details"`` ("détails", "montant");
            None otherwise. A dialog answering ``one`` may show that field instead of the
            short answer.
    """

    decision: Literal["one", "several", "none"]
    matches: tuple[Match, ...]
    words: tuple[str, ...]
    aspect: str | None = None

    @property
    def top(self) -> Match | None:
        """The best match, or None when nothing matched at all."""
        return self.matches[0] if self.matches else None

    @property
    def offered(self) -> tuple[Match, ...]:
        """The matches to show: one for ``one``, up to :data:`SEVERAL_MAX` for ``several``,
        none for ``none``."""
        if self.decision == "one":
            return self.matches[:1]
        if self.decision == "several":
            floor = self.matches[0].score * SEVERAL_RATIO
            return tuple(m for m in self.matches if m.score >= floor)[:SEVERAL_MAX]
        return ()

    @property
    def ids(self) -> list[str]:
        """Ids of :attr:`offered`."""
        return [match.id for match in self.offered]


def search(question: str | None, articles: Sequence[Article] | ContentIndex, *,
           language: str) -> SearchResult:
    """Find the articles a free question is about.

    Args:
        question: what the person typed, any language, any spelling; None or blank gives
            ``none``. Only the first :data:`MAX_QUESTION_CHARS` characters are read.
        articles: the articles, or a :class:`ContentIndex` built from them (faster when
            searching often).
        language: the person's language, ``"fr"`` or ``"bm"``. Both languages' words are
            always searched (people mix them); the language only breaks exact ties in
            favour of articles matched by words of that language.

    Returns:
        A :class:`SearchResult`. Rules (constants of this module): the question is folded,
        :data:`STOP_WORDS` are dropped, :data:`ASPECT_WORDS` set ``aspect`` and are dropped,
        :data:`PERSON_WORDS` are replaced. A question word matches an article word exactly,
        with a typo (:data:`TOKEN_FUZZY_MIN`, :data:`TOKEN_FUZZY_MIN_SHORT`,
        :data:`TYPO_SIMILARITY`), cut short (:data:`PREFIX_MIN_LEN`) or glued to an elided
        article (:data:`ELISION_SIMILARITY`). An article's score is the sum over question
        words of similarity × idf (idf from the number of articles the word matches), plus
        :data:`PHRASE_BONUS` per extra word of its longest term whose words are all present,
        and once more if the question is exactly that term. Decision: ``none`` below
        :data:`MIN_SCORE`; ``several`` when the runner-up scores at least :data:`ONE_RATIO`
        of the top, or when the top explains at most :data:`ONE_COVERAGE` of the question's
        words; ``one`` otherwise.

    Raises:
        ValueError: if ``language`` is not "fr" or "bm".

    Never raises on what a person typed.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    index = articles if isinstance(articles, ContentIndex) else ContentIndex(articles)
    words, aspect = _question(question if isinstance(question, str) else "")
    if not words or not index.entries:
        return SearchResult("none", (), words, aspect)

    # Similarity of each question word to each article word, computed once.
    similar: dict[str, dict[str, float]] = {}
    for query in words:
        row = {}
        for word in index.vocabulary:
            value = _similarity(query, word)
            if value > 0:
                row[word] = value
        similar[query] = row

    # A question word weighs by how many articles it matches (typos and cut words included):
    # idf = ln(1 + N / df). So "inps" weighs the same in both INPS articles, and a rare
    # misspelling listed as a synonym of one article gives it no extra weight.
    total = len(index.entries)
    weight: dict[str, float] = {}
    for query in words:
        df = sum(1 for entry in index.entries if not entry.words.isdisjoint(similar[query]))
        weight[query] = math.log(1.0 + total / df) if df else 0.0
    sure = TOKEN_FUZZY_MIN / 100.0

    scored: list[tuple[float, int, int, Match]] = []
    for entry in index.entries:
        score = 0.0
        matched: list[str] = []
        in_language = 0
        # question word -> the article words it matches well enough to complete a term
        hits: dict[str, set[str]] = {}
        for query in words:
            best, best_word = 0.0, None
            for word, value in similar[query].items():
                if word in entry.words and value > best:
                    best, best_word = value, word
            if best_word is None:
                continue
            score += best * weight[query]
            matched.append(query)
            hits[query] = {w for w, v in similar[query].items() if w in entry.words and v >= sure}
            if best_word in entry.words_by_language[language]:
                in_language += 1
        if not matched:
            continue
        hit_words = set().union(*hits.values())
        bonus = 0.0
        for term in entry.terms:
            if not all(word in hit_words for word in term):
                continue
            term_bonus = PHRASE_BONUS * (len(term) - 1)
            if len(hits) == len(words) and all(hits[q] & set(term) for q in words):
                term_bonus += PHRASE_BONUS  # the question is exactly this term
            bonus = max(bonus, term_bonus)
        score += bonus
        scored.append((-round(score, 9), -in_language, entry.order,
                       Match(entry.article, round(score, 3), tuple(matched))))
    scored.sort(key=lambda item: item[:3])
    matches = tuple(item[3] for item in scored)
    if not matches or matches[0].score < MIN_SCORE:
        return SearchResult("none", matches, words, aspect)
    if len(matches) > 1 and matches[1].score >= ONE_RATIO * matches[0].score:
        return SearchResult("several", matches, words, aspect)
    if len(matches[0].matched) <= ONE_COVERAGE * len(words):
        return SearchResult("several", matches, words, aspect)
    return SearchResult("one", matches, words, aspect)


@dataclass(frozen=True)
class Library:
    """What the dialog engine needs to answer questions: the ``categories`` in menu order,
    the ``articles`` in menu order and their search ``index`` (a :class:`ContentIndex`).
    Built by bot/content_store.py from the database copy and cached per process."""

    categories: tuple[Category, ...]
    articles: tuple[Article, ...]
    index: ContentIndex

    @classmethod
    def of(cls, categories: Iterable[Category], articles: Iterable[Article]) -> "Library":
        """Build a Library (and its index) from categories and articles."""
        articles = tuple(articles)
        return cls(tuple(categories), articles, ContentIndex(articles))

    def by_id(self) -> dict[str, Article]:
        """Articles by id."""
        return {article.id: article for article in self.articles}

    def in_category(self, category: str) -> list[Article]:
        """Articles of one category, in menu order."""
        return [article for article in self.articles if article.category == category]
