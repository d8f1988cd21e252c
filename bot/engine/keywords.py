"""Minimal reading of keywords and numbered answers for the first dialog.

Text is folded (case, accents, Bambara letters, punctuation) before matching; the
full understanding module of the registration issue supersedes this one.
Sources: FACTS.md section 5 (Bambara numbers kelen…tan, "a dabila" = stop it),
TWILIO.md (Twilio's English opt-out and opt-in keywords).
"""

from __future__ import annotations

import re
import unicodedata

_BAMBARA = str.maketrans({"ɛ": "e", "Ɛ": "e", "ɔ": "o", "Ɔ": "o", "ɲ": "ny", "Ɲ": "ny",
                          "ŋ": "ng", "Ŋ": "ng", "’": "'", "‘": "'"})

#: Whole-message keywords, folded. STOP also covers Twilio's English opt-out words,
#: which Twilio forwards to the webhook after acting on them.
KEYWORDS = {
    "stop": {"stop", "arret", "arreter", "a dabila", "dabila", "stopall", "unsubscribe",
             "end", "quit", "cancel", "optout", "revoke", "desabonner", "desinscrire"},
    "start": {"start", "a damine", "damine", "unstop", "reprendre"},
    "menu": {"menu", "0", "accueil"},
    "help": {"aide", "help", "?", "deme", "info"},
    "language": {"langue", "language", "kan", "langue kan"},
}
_LOOKUP = {word: kw for kw, words in KEYWORDS.items() for word in words}

NUMBER_WORDS = {
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
    "huit": 8, "neuf": 9, "dix": 10,
    "kelen": 1, "fila": 2, "saba": 3, "naani": 4, "nani": 4, "duuru": 5, "duru": 5,
    "wooro": 6, "woro": 6, "wolonwula": 7, "segin": 8, "kononton": 9, "tan": 10,
}


def fold(text: str) -> str:
    """Return `text` lowercased, without accents, Bambara letters folded (ɛ→e, ɔ→o, ɲ→ny,
    ŋ→ng), punctuation other than ``?`` turned to spaces, spaces collapsed."""
    text = unicodedata.normalize("NFKD", (text or "").translate(_BAMBARA))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^\w?]+", " ", text)
    return " ".join(text.replace("_", " ").split())


def detect_keyword(text: str) -> str | None:
    """Return the global keyword the whole message is ("stop", "start", "menu", "help",
    "language"), or None. "STOP!", "Arrêt." and "a dabila" count; "je veux arrêter de
    fumer" does not, so a sentence never opts a person out by accident."""
    folded = fold(text)
    if folded in _LOOKUP:
        return _LOOKUP[folded]
    stripped = folded.replace("?", "").strip()
    if stripped in _LOOKUP and stripped:
        return _LOOKUP[stripped]
    if folded.startswith("?") and not stripped:
        return "help"
    return None


def parse_number_choice(text: str) -> int | None:
    """Return the number a person means in answer to a numbered list, or None.

    Accepts "2", "2.", "n°2", "no 2", "deux", "fila", "c'est le 2"; refuses text with
    two different numbers ("1 ou 2").
    """
    found = set()
    for token in re.findall(r"\d+|[a-z]+", fold(text)):
        if token.isdigit():
            found.add(int(token))
        elif token in NUMBER_WORDS:
            found.add(NUMBER_WORDS[token])
    return found.pop() if len(found) == 1 else None
