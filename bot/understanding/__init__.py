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

The package is split along the seams of the task: :mod:`.text` (folding, fuzzy windows),
:mod:`.numbers`, :mod:`.choices`, :mod:`.yesno`, :mod:`.places`, :mod:`.years`, :mod:`.names`
and :mod:`.commands`; each imports only those before it in that list.
"""

from __future__ import annotations

from bot.understanding.text import fold, MAX_INPUT_CHARS, MIN_FUZZY_LEN  # noqa: F401
from bot.understanding.numbers import NumberResult, parse_number, is_number_only  # noqa: F401
from bot.understanding.choices import (  # noqa: F401
    Option, ChoiceResult, MultiChoiceResult, parse_choice, parse_multi_choice,
    CHOICE_FUZZY_MIN, CHOICE_SURE, CHOICE_MARGIN,
)
from bot.understanding.yesno import parse_yes_no  # noqa: F401
from bot.understanding.places import (  # noqa: F401
    Place, Places, PlaceMatch, match_quartier, load_places, places_from_dict, PLACE_MIN,
    PLACE_SURE, PLACE_MARGIN,
)
from bot.understanding.years import YearResult, parse_year, BARE_AGE_MAX  # noqa: F401
from bot.understanding.names import NameResult, parse_name, NAME_MAX_CHARS  # noqa: F401
from bot.understanding.commands import (  # noqa: F401
    detect_keyword, detect_command, detect_doubt, agent_request, is_acknowledgement,
    guess_language, trade_words, mairie_question, asks_for_person, detect_courtesy,
    answer_pieces, register_with_answers,
)

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
    "MAX_INPUT_CHARS",
    "trade_words",
    "mairie_question",
    "asks_for_person",
    "detect_courtesy",
    "answer_pieces",
    "register_with_answers",
    "MIN_FUZZY_LEN",
]
