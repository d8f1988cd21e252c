"""Fixes from a third newcomer's test (`essbot chat`), with plain data (the engine, a fake
clock)."""

from __future__ import annotations

import pytest

from bot import sms
from tests.test_engine import InfoPhone, Phone


@pytest.mark.parametrize("text", ["n be fe ka n tomo se", "n b'a fe ka n tomo se",
                                  "n be fe ka n togo sebe"])
def test_bambara_ka_n_at_the_menu_is_not_the_language_menu(text):
    phone = InfoPhone()
    phone.run("i ni ce")
    out = phone.say(text)
    assert not out.startswith("Langue / Kan"), out
    assert phone.state.node != "language"
    # Searched as a question or registration started; "awo" then never switches to French.
    assert phone.state.node in ("offer_handover", "info", "consent")
    phone.say("awo")
    assert phone.language == "bm"


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize("text", ["n bɛ fɛ ka n tɔgɔ sɛbɛn", "n be fe ka n togo seben",
                                  "n b'a fe ka togo seben", "togoseben",
                                  "n be fe ka n togo sebe"])
def test_bambara_registration_intent_starts_registration(text, channel):
    phone = InfoPhone(channel=channel)
    phone.run("i ni ce")
    phone.say(text)
    assert (phone.state.dialog, phone.state.node) == ("registration", "consent")


def test_bambara_registration_intent_as_a_first_message_starts_registration():
    phone = InfoPhone(channel="whatsapp")
    phone.say("n bɛ fɛ ka n tɔgɔ sɛbɛn")
    assert phone.language == "bm"
    assert (phone.state.dialog, phone.state.node) == ("registration", "consent")


ARTICLE = ("Bonjour", "1", "2", "1", "1")  # French, Informations, health, RAMU: its short answer


@pytest.mark.parametrize("typed, field", [
    ("un", "details"), ("deux", "eligibility"), ("trois", "how_to_apply"),
    ("quatre", "where"), ("kelen", "details"), ("fila", "eligibility"), ("saba", "how_to_apply"),
    ("naani", "where"), ("le deuxième", "eligibility"), ("2", "eligibility"),
    ("plus", "details"),
])
def test_number_words_work_at_the_article_step(typed, field):
    phone = InfoPhone()
    phone.run(*ARTICLE)
    assert phone.state.answers["_info"]["view"] == "article"
    out = phone.say(typed)
    assert "Je n'ai pas compris" not in out
    info = phone.state.answers["_info"]
    assert (info["view"], info["id"], info["field"]) == ("article", "ramu", field)


@pytest.mark.parametrize("typed", ["zéro", "fu", "0"])
def test_zero_in_words_goes_back_from_the_article(typed):
    phone = InfoPhone()
    phone.run(*ARTICLE)
    phone.say(typed)
    assert phone.state.answers["_info"]["view"] == "topics"


@pytest.mark.parametrize("start", [("i ni ce", "n be fe ka n tomo se"),
                                   ("Bonjour", "1", "xylophone quantique")])
@pytest.mark.parametrize("question, article", [
    ("banaw ka furakeli", None), ("amo ye mun ye", "amo"), ("apej", "apej"),
    ("c'est quoi l'AMO", "amo"),
])
def test_a_new_question_at_the_hand_over_offer_is_searched(start, question, article):
    phone = InfoPhone()
    phone.run(*start)
    assert phone.state.node == "offer_handover"
    out = phone.say(question)
    assert "compris" not in out and "faamu" not in out, out
    assert not any(e.kind == "handover" for e in phone.effects)
    info = phone.state.answers.get("_info") or {}
    assert phone.state.node == "info" and info.get("view") in ("article", "list")
    if article:
        assert info.get("id") == article
    assert "_question" not in phone.state.answers


def test_a_new_question_not_found_at_the_offer_is_offered_instead():
    phone = InfoPhone()
    phone.run("Bonjour", "1", "xylophone quantique")
    out = phone.say("trompette galactique")
    assert "compris" not in out and phone.state.node == "offer_handover"
    phone.say("oui")
    ticket = next(e for e in phone.effects if e.kind == "handover")
    assert ticket.value["question"] == "trompette galactique"


def test_yes_and_no_at_the_hand_over_offer_still_work():
    phone = InfoPhone()
    phone.run("Bonjour", "1", "xylophone quantique")
    phone.say("2")
    assert phone.state.node == "menu"
    phone.say("xylophone quantique")
    phone.say("1")
    ticket = next(e for e in phone.effects if e.kind == "handover")
    assert ticket.value["question"] == "xylophone quantique"


@pytest.mark.parametrize("emoji", ["👍", "👍🏾", "👌", "✅", "🙏", "🙏🙏"])
def test_positive_emoji_at_the_menu_are_ok(emoji):
    phone = InfoPhone()
    phone.run("Bonjour", "1")
    assert phone.say(emoji).startswith("Très bien!")


@pytest.mark.parametrize("emoji", ["👎", "😡", "😢", "🤔", "👍👎"])
def test_other_emoji_at_the_menu_are_not_ok(emoji):
    phone = InfoPhone()
    phone.run("Bonjour", "1")
    out = phone.say(emoji)
    assert "Très bien" not in out and out.startswith("Je n'ai pas compris.")
    assert phone.state.node == "menu"


BEFORE_BIRTH_YEAR = {"fr": ("Bonjour", "1", "1", "oui", "1", "Awa Traoré", "1"),
                     "bm": ("i ni ce", "1", "awo", "1", "Awa Traoré", "1")}


@pytest.mark.parametrize("language", ["fr", "bm"])
@pytest.mark.parametrize("help_word", ["AIDE", "?"])
def test_help_during_a_confirmation_keeps_it_answerable(language, help_word):
    phone = Phone()
    phone.run(*BEFORE_BIRTH_YEAR[language])
    assert phone.state.node == "birth_year", phone.state
    phone.say("quarante")
    out = phone.say(help_word)
    assert "1986" in out and sms.analyze(sms.render(out, "sms", language)).segments <= 2
    phone.say("awo" if language == "bm" else "oui")
    assert phone.state.answers["registration"]["birth_year"] == 1986
    assert phone.state.node == "quartier"


def test_help_during_a_confirmation_then_no_asks_again():
    phone = Phone()
    phone.run(*BEFORE_BIRTH_YEAR["fr"])
    phone.say("quarante")
    phone.say("AIDE")
    assert phone.say("non").startswith("Écrivez l'année de naissance")


@pytest.mark.parametrize("language, options", [("fr", "1 Une femme\n2 Un homme"),
                                               ("bm", "1 Muso\n2 Cɛ")])
def test_the_third_miss_in_registration_still_shows_how_to_answer(language, options):
    phone = Phone()
    phone.run(*BEFORE_BIRTH_YEAR[language][:-1])
    assert phone.state.node == "gender"
    phone.say("zz")
    phone.say("zz")
    third = phone.say("zz")
    assert [e.value["reason"] for e in phone.effects if e.kind == "handover"] == ["misses"]
    assert options in third
    assert sms.analyze(sms.render(third, "sms", language)).segments <= 2
    phone.say("1")
    assert phone.state.node == "birth_year"


REGISTRATION_PATHS = {
    "fr": [("Bonjour", "1", "1", "oui", "1", "Awa Traoré", "1", "1985", "Samé", "4",
            "vente de légumes", "1", "2"),
           ("Bonjour", "1", "1", "oui", "2", "Musow ka jɛkulu Benkadi", "Awa Traoré", "1",
            "1985", "Samé", "5", "teinture", "1", "12", "1")],
    "bm": [("i ni ce", "1", "awo", "1", "Awa Traoré", "1", "1985", "Samé", "4",
            "vente de légumes", "1", "2"),
           ("i ni ce", "1", "awo", "2", "Musow ka jɛkulu Benkadi", "Awa Traoré", "1", "1985",
            "Samé", "5", "teinture", "1", "12", "1")],
}


@pytest.mark.parametrize("language", ["fr", "bm"])
def test_the_third_miss_at_every_registration_step_fits_two_parts(language):
    for path in REGISTRATION_PATHS[language]:
        for k in range(2, len(path) + 1):
            phone = Phone(settings={"office_hours": "mon-fri 08:00-16:00"})
            phone.run(*path[:k])
            if phone.state.dialog != "registration":
                continue
            node = phone.state.node
            for _ in range(3):
                third = phone.say("zz")
            assert sms.analyze(sms.render(third, "sms", language)).segments <= 2, third
            if node in ("gender", "sector", "kind", "legal_form", "consent", "needs"):
                assert "\n1 " in third and "\n2 " in third, (node, third)


def test_nine_with_nothing_to_page_at_an_article_says_so_and_only_the_options():
    phone = InfoPhone()
    phone.run(*ARTICLE)
    out = phone.say("9")
    assert out == ("Il n'y a pas de suite.\n"
                   "1 Plus de détails, 2 Conditions, 3 Démarches, 4 Où aller, 0 Retour")
    assert "_misses" not in phone.state.answers
    assert phone.state.answers["_info"]["view"] == "article"
    phone.say("2")
    assert phone.state.answers["_info"]["field"] == "eligibility"


def test_nine_with_nothing_to_page_in_bambara_and_at_a_menu():
    phone = InfoPhone(language="bm")
    phone.run("i ni ce")
    out = phone.say("9")
    assert out.startswith("A tɔ si tɛ.\nMenu:") and "faamu" not in out
    phone = Phone()
    phone.run(*BEFORE_BIRTH_YEAR["fr"][:-1])
    out = phone.say("9")
    assert out.startswith("Il n'y a pas de suite.") and "1 Une femme" in out
    assert phone.state.node == "gender" and "_misses" not in phone.state.answers
