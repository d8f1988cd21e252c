"""Additions to bot/understanding.py for the dialogs: commands (INSCRIPTION, PROFIL), the
language of a first message, and "I did not understand" read as doubt. Table-driven, both
languages; the main table is tests/data/understanding_cases.yaml."""

from __future__ import annotations

import pytest

from bot.understanding import detect_command, detect_doubt, guess_language, parse_yes_no

COMMANDS = [
    ("INSCRIPTION", "register"), ("inscription svp", "register"),
    ("Bonjour, je veux m'inscrire", "register"), ("je voudrais m inscrire", "register"),
    ("TOGOSEBEN", "register"), ("tɔgɔsɛbɛn", "register"), ("n togo seben", "register"),
    ("I ni ce, n b'a fe ka n togo seben", "register"), ("N bɛ a fɛ ka n tɔgɔ sɛbɛn", "register"),
    ("PROFIL", "mydata"), ("mon profil", "mydata"), ("mes données", "mydata"),
    ("SUPPRIMER", "delete"), ("STOP", "stop"), ("a dabila", "stop"), ("ARRÊT", "stop"),
    ("MENU", "menu"), ("0", "menu"), ("AIDE", "help"), ("?", "help"), ("dɛmɛ", "help"),
    ("LANGUE", "language"), ("AGENT", "agent"), ("START", "start"), ("a daminɛ", "start"),
    ("inscription au RCCM", None), ("Awa Traoré", None), ("couture", None), ("1", None),
    ("je veux m'inscrire au registre du commerce demain matin", None), ("", None),
]

LANGUAGES = [
    ("I ni ce", "bm"), ("i ni sogoma", "bm"), ("Aw ni sɔgɔma", "bm"), ("aw ni ce", "bm"),
    ("n b'a fe ka n togo seben", "bm"), ("Nin ye mun ye?", None), ("awɔ", "bm"),
    ("Bonjour", None), ("Salut, c'est quoi l'APEJ ?", None), ("je veux m'inscrire", None),
    ("1", None), ("", None), ("ni ce", None),
]

DOUBT = [
    ("je n'ai pas compris", None), ("n ma a faamu", None), ("j'ai pas compris", None),
    ("je comprends pas", None), ("ayi", False), ("awo", True), ("non merci", False),
]


@pytest.mark.parametrize("text,expected", COMMANDS)
def test_detect_command(text, expected):
    assert detect_command(text) == expected


@pytest.mark.parametrize("text,expected", LANGUAGES)
def test_guess_language(text, expected):
    assert guess_language(text) == expected


@pytest.mark.parametrize("text,expected", DOUBT)
def test_not_understanding_is_not_a_no(text, expected):
    assert parse_yes_no(text, numbered=True) is expected


DOUBT_WHOLE = [
    ("je sais pas", True), ("je ne sais pas", True), ("aucune idée", True),
    ("Je ne connais pas", True), ("n t'a dɔn", True), ("n ta don", False), ("jsp", True),
    ("non", False), ("aucune", False), ("je sais pas comment faire le dossier", False),
    ("", False),
]


@pytest.mark.parametrize("text,expected", DOUBT_WHOLE)
def test_detect_doubt(text, expected):
    assert detect_doubt(text) is expected
