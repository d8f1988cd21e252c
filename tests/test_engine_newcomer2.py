"""Fixes from a second newcomer's test, with plain data (the engine, a fake clock)."""

from __future__ import annotations

import pytest

from tests.test_engine import INDIVIDUAL, InfoPhone, Phone

QUESTIONS_WITH_NUMBERS = [
    "c'est où la mairie de la commune 3",
    "mon dossier APEJ est bloqué depuis 3 mois",
    "j'ai 3 enfants et je veux l'AMO",
    "j'ai 1 question sur l'AMO",
    "j'ai 2 enfants, quelle aide pour moi",
    "je travaille depuis 5 ans, la retraite?",
]


@pytest.mark.parametrize("question", QUESTIONS_WITH_NUMBERS)
def test_a_number_inside_a_question_at_the_menu_is_not_a_choice(question):
    phone = InfoPhone()
    phone.run("Bonjour", "1")
    out = phone.say(question)
    assert not out.startswith("Langue") and "Inscription au registre" not in out
    # Answered (an article, a list, a hand-over offer, or the mairie's hours, issue 15).
    assert phone.state.node in ("info", "offer_handover") or out.startswith("Service ESS")
    assert not (phone.state.node == "info"
                and phone.state.answers.get("_info", {}).get("view") == "categories"), out


@pytest.mark.parametrize("question", QUESTIONS_WITH_NUMBERS)
def test_a_number_inside_a_question_in_the_information_menu_is_not_a_choice(question):
    phone = InfoPhone()
    phone.run("Bonjour", "1", "2")  # the categories
    out = phone.say(question)
    info = phone.state.answers.get("_info") or {}
    assert phone.state.node == "offer_handover" or info.get("view") in ("article", "list") \
        or out.startswith("Service ESS")  # the mairie's hours (issue 15)
    assert info.get("view") != "topics"


@pytest.mark.parametrize("choice", ["2", "2.", "n°2", "fila", "le 2", "c'est le 2", "option 2",
                                    "informations"])
def test_a_bare_choice_at_the_menu_still_chooses(choice):
    phone = InfoPhone()
    phone.run("Bonjour", "1")
    # The categories (on SMS without their header when that keeps them in one part).
    assert "1 Santé et protection sociale" in phone.say(choice)
    assert phone.state.node == "info" and phone.state.answers["_info"]["view"] == "categories"


def test_a_single_offered_article_is_answered_directly():
    phone = InfoPhone()
    phone.run("Bonjour", "1")
    out = phone.say("mon dossier APEJ est bloqué depuis 3 mois")
    assert "Votre question concerne" not in out and "1 Plus de détails" in out
    assert phone.state.answers["_info"]["view"] == "article"


BEFORE_PROTECTION = ("Bonjour", "1", "1", "oui", "1", "Awa Traoré", "1", "1985", "Samé", "4",
                     "vente de légumes")


@pytest.mark.parametrize("answer, stored", [
    ("je sais pas", None), ("je ne sais pas", None), ("aucune idée", None),
    ("je préfère pas dire", None), ("je prefere ne pas repondre", None),
    ("n t'a fɛ ka jaabi", None), ("non", ["aucune"]), ("ayi", ["aucune"]),
    ("1 3", ["amo", "mutuelle"]),
])
def test_protection_doubt_is_no_answer_not_none(answer, stored):
    phone = Phone()
    phone.run(*BEFORE_PROTECTION)
    phone.say(answer)
    assert phone.state.node == "needs"
    assert phone.state.answers["registration"]["protection"] == stored


@pytest.mark.parametrize("answer, year", [
    ("je sais pas", None), ("n t'a dɔn", None), ("je ne connais pas", None),
    ("san bi naani", 1986),
])
def test_birth_year_unknown_is_accepted_and_bambara_tens_are_read(answer, year):
    phone = Phone()
    phone.run("Bonjour", "1", "1", "oui", "1", "Awa Traoré", "1")
    phone.say(answer)
    assert phone.state.node == "quartier"
    assert phone.state.answers["registration"]["birth_year"] == year


def test_bambara_tens_alone_are_confirmed_as_an_age():
    phone = Phone()
    phone.run("Bonjour", "1", "1", "oui", "1", "Awa Traoré", "1")
    assert phone.say("bi saba ni duuru").startswith("Né(e) en 1991")
    phone.say("1")
    assert phone.state.answers["registration"]["birth_year"] == 1991


ORGANISATION = ("Bonjour", "1", "1", "oui", "2", "Musow ka jɛkulu Benkadi", "Awa Traoré", "1",
                "1985", "Samé", "5", "teinture", "1")


def test_members_count_approximate_and_one_member_confirmed_and_singular():
    phone = Phone()
    phone.run(*ORGANISATION)
    phone.say("une trentaine")
    assert phone.state.answers["registration"]["members_count"] == 30
    phone = Phone()
    phone.run(*ORGANISATION)
    assert phone.say("1").startswith("1 membre seulement, c'est bien ça?")
    summary = phone.run("oui", "2", "1", "1")
    assert "1 membre," in summary and "1 membres" not in summary
    assert "Musow ka jɛkulu Benkadi" in summary  # kept as typed


def test_one_member_can_be_corrected():
    phone = Phone()
    phone.run(*ORGANISATION)
    phone.say("1")
    assert "Écrivez le nombre de membres" in phone.say("non")
    phone.say("12")
    assert phone.state.answers["registration"]["members_count"] == 12


def test_agent_asks_the_question_and_adds_it_to_the_ticket():
    phone = Phone(language="fr")
    phone.say("Bonjour")
    assert phone.say("parler à un agent").startswith("Quelle est votre question?")
    assert [e.value for e in phone.effects] == [{"reason": "asked", "question": None}]
    out = phone.say("je veux savoir pour le crédit")
    assert "vous répondra ici" in out
    assert [e.value for e in phone.effects] == [
        {"reason": "asked", "question": "je veux savoir pour le crédit"}]
    assert phone.state.node == "menu" and "_agent_question" not in str(phone.state.answers)


@pytest.mark.parametrize("text", ["agent: je veux savoir pour le crédit",
                                  "AGENT je veux savoir pour le crédit",
                                  "Agent - je veux savoir pour le crédit"])
def test_agent_with_text_stores_it_directly(text):
    phone = Phone(language="fr")
    phone.say("Bonjour")
    assert "vous répondra ici" in phone.say(text)
    assert [e.value for e in phone.effects] == [
        {"reason": "asked", "question": "je veux savoir pour le crédit"}]


def test_agent_de_sante_is_still_a_trade():
    phone = Phone()
    phone.run("Bonjour", "1", "1", "oui", "1", "Awa Traoré", "1", "1985", "Samé", "2")
    phone.say("agent de santé")
    assert phone.state.answers["registration"]["trade"] == "agent de santé"


@pytest.mark.parametrize("text", ["ok", "👍", "d'accord", "OK!", "ayiwa"])
def test_ok_at_the_menu_is_a_friendly_word_and_the_menu(text):
    phone = Phone()
    phone.run("Bonjour", "1")
    out = phone.say(text)
    assert out.startswith("Très bien!\nMenu:") and "pas compris" not in out
    assert "_misses" not in phone.state.answers


def test_menu_option_one_follows_the_registration():
    phone = Phone()
    assert "1 S'inscrire au registre ESS" in phone.run("Bonjour", "1")
    phone.run("1", "oui", "1")
    assert "1 Reprendre l'inscription" in phone.say("MENU")
    assert phone.say("1").startswith("Reprenons votre inscription.")
    phone = Phone()
    done = phone.run(*INDIVIDUAL, "oui")
    assert "Inscription enregistrée" in done and "inscrit" not in done
    menu = phone.say("MENU")
    assert "1 Mon profil" in menu
    assert phone.say("1").startswith("Votre profil")


@pytest.mark.parametrize("text", ["fila", "deux", "2", "le 2"])
def test_the_trade_is_not_a_bare_number(text):
    phone = Phone()
    phone.run(*INDIVIDUAL[:10])
    assert "pas compris" in phone.say(text)
    assert "trade" not in phone.state.answers["registration"]


@pytest.mark.parametrize("language", ["fr", "bm"])
@pytest.mark.parametrize("article", ["amo", "inps_volontaire"])
def test_details_that_fit_two_parts_need_no_second_page(article, language):
    from bot import sms

    phone = InfoPhone(language=language)
    phone.say("MENU")
    phone.say("2")
    phone.say("1")  # health and social protection
    titles = InfoPhone.library.in_category("protection_sociale")
    number = [a.id for a in titles].index(article) + 1
    phone.say(str(number))
    out = phone.say("1")
    body = InfoPhone.library.by_id()[article].text("details", language)
    assert sms.analyze(sms.render(body, "sms", language)).segments <= 2
    assert InfoPhone.library.by_id()[article].verified in out and "0 " in out
    assert sms.analyze(sms.render(out, "sms", language)).segments <= 2, out


# A third newcomer's test.

@pytest.mark.parametrize("answer", ["kelen", "un"])
def test_consent_accepts_number_words(answer):
    phone = Phone()
    phone.run("Bonjour", "1", "1")
    assert phone.state.node == "consent"
    phone.say(answer)
    assert phone.state.node == "kind"  # consent given, next question


@pytest.mark.parametrize("sentence", ["j'ai 2 enfants et je veux l'AMO",
                                      "j'ai 1 question sur l'AMO"])
def test_a_number_inside_a_sentence_does_not_choose_the_language(sentence):
    phone = InfoPhone()
    phone.say("bonjour")
    phone.say(sentence)
    assert phone.language is None and phone.state.node == "language"
    out = phone.say("1")  # French: the kept question is answered now
    assert phone.language == "fr" and "AMO" in out, out


@pytest.mark.parametrize("doubt", ["je sais pas", "je ne sais pas", "n t'a don", "aucune idée"])
def test_i_dont_know_is_not_stored_as_a_trade(doubt):
    phone = Phone()
    phone.run(*BEFORE_PROTECTION[:-1])
    out = phone.say(doubt)
    assert phone.state.node == "trade", out
    assert "trade" not in phone.state.answers["registration"]
    phone.say("vente de légumes")
    assert phone.state.answers["registration"]["trade"] == "vente de légumes"
