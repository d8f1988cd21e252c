"""The word lists are data per language (dialogs/words/*.yaml, docs/words.md): they load,
they are written as the readers compare them, and a language's file changes what is understood
with no Python change."""

from __future__ import annotations

import pytest

from bot.understanding import detect_keyword, fold, parse_number, parse_yes_no
from bot.understanding.words import WORDS, WORDS_DIR, Words, WordsError


def _phrases(value):
    if isinstance(value, list):
        return value
    return [p for v in value.values() if isinstance(v, list) for p in v] or list(value)


def test_the_shipped_files_are_french_bambara_and_any():
    assert WORDS.languages == ("any", "bm", "fr")
    assert sorted(p.stem for p in WORDS_DIR.glob("*.yaml")) == ["any", "bm", "fr"]


@pytest.mark.parametrize("language", ["any", "bm", "fr"])
def test_every_phrase_is_folded(language):
    # "nº" is the one phrase kept as typed: fold would read it as "n o".
    unfolded = [(name, p) for name in sorted(WORDS.names(language))
                for p in _phrases(WORDS._files[language][name]) if fold(p) != p and p != "nº"]
    assert unfolded == []


def test_bambara_words_live_in_the_bambara_file():
    assert {"awo", "owo", "aw"} <= WORDS.set("yes", "bm")
    assert "ayi" in WORDS.set("no", "bm")
    assert "a dabila" in WORDS.map_of_sets("keywords")["stop"]
    assert "a dabila" not in WORDS.set("yes", "fr")
    assert WORDS.map("number_words")["kelen"] == 1
    assert "oui" in WORDS.set("yes", "fr") and "oui" not in WORDS.set("yes", "bm")


def test_readers_use_the_merged_lists():
    assert parse_yes_no("awo") is True and parse_yes_no("ayi") is False
    assert parse_yes_no("oui") is True
    assert detect_keyword("A DABILA") == "stop"
    assert parse_number("fila").value == 2


def _write(tmp_path, name, text):
    (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")


def test_a_new_language_file_adds_its_words(tmp_path):
    _write(tmp_path, "fr", "language: fr\nformat: 1\n'yes': [oui]\nnumber_words: {deux: 2}\n")
    _write(tmp_path, "snk", "language: snk\nformat: 1\n'yes': [haa]\nnumber_words: {filo: 2}\n"
                            "keywords:\n  stop: [a dabi]\n")
    words = Words.load(tmp_path)
    assert words.languages == ("fr", "snk")
    assert words.set("yes") == {"oui", "haa"}
    assert words.set("yes", "snk") == {"haa"}
    assert words.map("number_words") == {"deux": 2, "filo": 2}
    assert words.map_of_sets("keywords") == {"stop": {"a dabi"}}
    assert words.list("unknown") == ()


def test_two_values_for_one_phrase_are_refused(tmp_path):
    _write(tmp_path, "fr", "format: 1\nnumber_words: {tan: 10}\n")
    _write(tmp_path, "xx", "format: 1\nnumber_words: {tan: 3}\n")
    with pytest.raises(WordsError, match="tan"):
        Words.load(tmp_path).map("number_words")


@pytest.mark.parametrize("text, why", [
    ('format: 2\n"yes": [oui]\n', "format 1"),
    ('"yes": [oui\n', "fr.yaml"),
    ('format: 1\n"yes": oui\n', "suite ou une table"),
    ("format: 1\nyes: [oui]\n", "guillemets"),
])
def test_a_broken_file_is_refused_with_its_name(tmp_path, text, why):
    _write(tmp_path, "fr", text)
    with pytest.raises(WordsError, match=why):
        Words.load(tmp_path)
