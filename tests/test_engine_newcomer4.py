"""Fixes from a fourth newcomer's test (`essbot chat`), with plain data (the engine, a fake
clock): AGENT before the language is chosen."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot import sms
from tests.test_engine import InfoPhone, Phone

QUESTION = "Je cherche la mutuelle des artisans"
ASK_FR = "Quelle est votre question? Écrivez-la ici, un agent du service ESS la lira."
ASK_BM = "I ka ɲininkali ye mun ye? A sɛbɛn yan, ESS baarakɛla dɔ bɛna a kalan."
SENT_FR = "Merci. J'ai transmis votre question au service ESS"
SENT_BM = "I ni ce. N ye i ka ɲininkali ci ESS baarada ma"
LANGUAGE = "Langue / Kan:\n1 Français\n2 Bamanankan"


@pytest.mark.parametrize("before", [("bonjour",), ()])
def test_agent_before_the_language_keeps_the_question_typed_next(before):
    phone = Phone()
    phone.run(*before)
    asked = phone.say("AGENT")
    assert asked == f"{ASK_FR}\n{ASK_BM}"  # no language yet: both, nothing more
    assert [e.value for e in phone.effects] == [{"reason": "asked", "question": None}]
    thanks = phone.say(QUESTION)
    assert [e.value for e in phone.effects] == [{"reason": "asked", "question": QUESTION}]
    assert thanks.startswith(SENT_FR) and SENT_BM in thanks and thanks.endswith(LANGUAGE)
    assert (phone.state.dialog, phone.state.node) == ("main", "language")
    assert phone.language is None and "_agent_question" not in str(phone.state.answers)
    assert phone.say("1").startswith("Menu:") and phone.language == "fr"


def test_a_question_in_bambara_after_agent_sets_the_language():
    phone = Phone()
    phone.run("bonjour", "AGENT")
    out = phone.say("n b'a fɛ ka wari sɔrɔ")
    assert [e.kind for e in phone.effects] == ["set_language", "handover"]
    assert phone.effects[1].value["question"] == "n b'a fɛ ka wari sɔrɔ"
    assert phone.language == "bm" and out.startswith("I ni ce. Meri ka ESS baarada")
    assert "Merci" not in out and phone.state.node == "menu"


@pytest.mark.parametrize("before", [("bonjour",), ()])
def test_agent_with_the_question_before_the_language(before):
    phone = Phone()
    phone.run(*before)
    out = phone.say("AGENT: je cherche la mutuelle")
    assert [e.value for e in phone.effects] == [
        {"reason": "asked", "question": "je cherche la mutuelle"}]
    assert out.startswith(SENT_FR) and SENT_BM in out and out.endswith(LANGUAGE)
    assert phone.state.node == "language"


def test_a_polite_word_after_agent_asks_again_in_both_languages():
    phone = Phone()
    phone.run("bonjour", "AGENT")
    out = phone.say("merci")
    assert out.endswith(f"{ASK_FR}\n{ASK_BM}") and phone.effects == []
    assert phone.state.node == "agent_question"
    phone.say(QUESTION)
    assert phone.effects[0].value["question"] == QUESTION


def test_what_was_written_before_agent_is_not_searched_after_the_language():
    phone = InfoPhone()
    phone.run("c'est quoi l'APEJ", "AGENT", QUESTION)
    assert "_first_question" not in phone.state.answers
    assert phone.say("1").startswith("Menu:")


@pytest.mark.parametrize("now", [datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc),
                                 datetime(2026, 12, 4, 17, 0, tzinfo=timezone.utc)])
def test_agent_before_the_language_fits_two_sms_parts(now):
    """Friday evening gives the longest "when" ("lundi à partir de 08:00")."""
    phone = Phone()
    phone.say("bonjour")
    for text in ("AGENT", QUESTION):
        phone.now = now
        out = phone.say(text)
        assert sms.analyze(sms.render(out, "sms", "fr")).segments <= 2, out


@pytest.mark.parametrize("keyword, choice", [("INSCRIPTION", "1"), ("TOGOSEBEN", "2")])
def test_registration_asked_at_the_language_question_asks_the_language_then_consent(
        keyword, choice):
    """Fifth newcomer's test: "bonjour", INSCRIPTION, "oui" showed the consent in French, then
    threw the answer away (the welcome and the language question came back)."""
    phone = Phone()
    phone.run("bonjour")
    out = phone.say(keyword)
    assert out.startswith("Langue / Kan") or LANGUAGE in out
    assert (phone.state.dialog, phone.state.node) == ("main", "language")
    phone.say(choice)
    assert (phone.state.dialog, phone.state.node) == ("registration", "consent")
    phone.say("1")  # yes, I agree
    assert phone.state.answers["registration"].get("consent_at")


@pytest.mark.parametrize("question, title", [
    ("des informations sur le RAMU", "RAMU"),
    ("information amo", "AMO"),
    ("inscription a l inps", "INPS"),
])
def test_a_question_naming_a_menu_word_is_searched_not_the_menu_opened(question, title):
    """Fifth newcomer's test: "des informations sur le RAMU" at the menu opened the category
    list, "inscription a l inps" the commune's registration."""
    phone = InfoPhone()
    phone.run("Bonjour", "1")
    out = phone.say(question)
    assert not out.startswith("Informations. Choisissez") and phone.state.dialog != "registration"
    assert title in out, out


@pytest.mark.parametrize("choice, start", [
    ("informations", "1 Santé et protection sociale"),
    ("je voudrais des informations svp", "1 Santé et protection sociale"),
    ("inscription", None), ("je veux m'inscrire", None),
])
def test_the_menu_words_alone_still_choose(choice, start):
    phone = InfoPhone()
    phone.run("Bonjour", "1")
    out = phone.say(choice)
    if start:
        assert out.startswith(start), out
    else:
        assert phone.state.dialog == "registration", out
