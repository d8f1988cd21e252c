"""The pure engine: plain data in, plain data out, a fake clock; no database, no Flask."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import engine, sms
from bot.engine import Facts, Inbound, State, render, step

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


class Phone:
    """A person talking to the engine; applies the effects the way conversations.py does."""

    def __init__(self, language=None, channel="sms", settings=None):
        self.state, self.language, self.channel = State(), language, channel
        self.settings = settings or {}
        self.actor, self.opted_out, self.now = None, False, T0
        self.effects: list[engine.Effect] = []

    def facts(self) -> Facts:
        return Facts(self.language, self.opted_out, "fr", self.channel, self.actor, self.settings)

    def say(self, text: str, kind: str = "text") -> str:
        self.now += timedelta(minutes=1)
        turn = step(self.state, Inbound(text, kind), self.facts(), self.now)
        self.effects = list(turn.effects)
        for effect in turn.effects:
            if effect.kind == "set_language":
                self.language = effect.value
            elif effect.kind == "opt_out":
                self.opted_out = True
            elif effect.kind == "opt_in":
                self.opted_out = False
            elif effect.kind == "save_actor":
                value = dict(effect.value)
                registered = value.pop("registered", False)
                self.actor = {**(self.actor or {"id": 123}), **value}
                if registered:
                    self.actor["registration_code"] = value["registration_code"]
            elif effect.kind == "delete_data":
                self.actor = None
        self.state = turn.state
        return render(turn.replies, self.language or "fr")

    def run(self, *texts: str) -> str:
        out = ""
        for text in texts:
            out = self.say(text)
        return out


INDIVIDUAL = ("Bonjour", "1", "1", "oui", "1", "Awa Traoré", "1", "1985", "Samé", "4",
              "vente de légumes", "1", "2")


def test_engine_imports_no_web_database_or_provider_code():
    """The engine and every bot module it imports (bot/__init__.py, the app factory, aside)."""
    root = Path(engine.__file__).resolve().parents[1]
    todo, seen, found = ["bot.engine", "bot.engine.schema"], set(), set()
    while todo:
        name = todo.pop()
        if name in seen or name == "bot":
            continue
        seen.add(name)
        path = root.parent / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = root.parent / name.replace(".", "/") / "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for module in names:
                if module.startswith("bot."):
                    todo.append(module)
                found.add(module.split(".")[0])
    assert seen >= {"bot.engine", "bot.engine.schema", "bot.understanding", "bot.i18n"}
    assert not found & {"flask", "sqlalchemy", "twilio", "werkzeug"}


def test_full_registration_then_code_from_the_actor_id():
    phone = Phone()
    summary = phone.run(*INDIVIDUAL)
    assert summary.startswith("Vérifiez:") and "Awa Traoré" in summary and "Samé" in summary
    done = phone.say("oui")
    assert "ESS3-000123" in done
    [save] = [e for e in phone.effects if e.kind == "save_actor"]
    assert save.value["registration_code"] == "ESS3-000123" and save.value["registered"]
    assert save.value["completeness"] == 100
    assert save.value["consent_version"] == "2026-11-1"
    assert save.value["needs"] == ["financement"] and save.value["protection"] == ["amo"]
    assert "registration" not in phone.state.answers  # the registry is the truth now


def test_no_consent_nothing_stored():
    phone = Phone()
    out = phone.run("Bonjour", "1", "1", "non")
    assert "rien enregistré" in out
    assert phone.actor is None and phone.effects == []
    assert "registration" not in phone.state.answers
    assert (phone.state.dialog, phone.state.node) == ("main", "menu")


def test_every_answer_after_consent_is_saved_in_the_same_turn():
    phone = Phone()
    phone.run("Bonjour", "1", "1")
    phone.say("1")
    [save] = phone.effects
    assert save.kind == "save_actor" and save.value["consent_at"] == phone.now.isoformat()
    phone.say("1")
    assert phone.effects[0].value["kind"] == "individu"


def test_protection_question_can_be_switched_off():
    phone = Phone(settings={"ask_protection": False})
    summary = phone.run(*INDIVIDUAL[:-2], "vente de légumes", "2")
    assert "facultative" not in summary and "Protection" not in summary
    assert summary.startswith("Vérifiez:")
    phone.say("oui")
    assert phone.actor["protection"] is None and phone.actor["completeness"] == 100


def test_old_registration_asks_continue_or_restart_after_the_setting():
    phone = Phone(settings={"resume_after_days": 2})
    phone.run("Bonjour", "1", "1", "oui", "1", "Awa Traoré")
    phone.now += timedelta(days=1)
    assert phone.say("1").startswith("Votre année")  # still fresh: the answer counts
    phone.now += timedelta(days=3)
    assert "1 Continuer\n2 Recommencer" in phone.say("1985")  # this answer is not taken
    assert phone.say("1") == ("Reprenons votre inscription.\n"
                              "Votre année de naissance? Ex: 1985. Ou votre âge, ex: 35 ans.")
    assert phone.say("1985").startswith("Dans quel quartier?")


def test_stop_keeps_the_registration_and_opted_out_gets_one_answer():
    phone = Phone()
    phone.run("Bonjour", "1", "1", "oui", "1")
    assert "START" in phone.say("STOP")
    assert phone.opted_out
    assert "arrêté" in phone.say("Awa")
    phone.say("START")
    assert phone.say("INSCRIPTION").endswith("Votre nom et prénom?")


def test_supprimer_asks_then_deletes_and_forgets_the_state():
    phone = Phone()
    phone.run(*INDIVIDUAL, "oui")
    assert "Effacer" in phone.say("SUPPRIMER")
    assert "effacées" in phone.say("1")
    assert [e.kind for e in phone.effects] == ["delete_data"]
    assert phone.state.answers == {}


def test_bambara_greeting_sets_the_language_and_an_intent_goes_straight_on():
    phone = Phone()
    out = phone.say("I ni ce, n b'a fe ka n togo seben")
    assert phone.language == "bm" and "I sɔnna wa?" in out
    phone2 = Phone()
    phone2.say("Bonjour, je veux m'inscrire")
    assert phone2.language is None
    assert "Acceptez-vous?" in phone2.say("1")  # French chosen, then the registration asked for


def test_agent_hands_over_to_staff():
    phone = Phone(language="fr")
    out = phone.say("AGENT")
    assert "agent" in out and [e.kind for e in phone.effects] == ["handover"]
    assert out.startswith("Quelle est votre question?")


def test_three_misses_give_help_and_staff_then_count_again():
    phone = Phone()
    phone.run("Bonjour", "1")
    assert phone.say("zzz").startswith("Je n'ai pas compris.\nMenu:")
    phone.say("zzz")
    third = phone.say("zzz")
    assert "AGENT" in third and "Menu" not in third
    assert phone.say("zzz").startswith("Je n'ai pas compris.")


def test_a_state_from_an_older_dialog_version_falls_back_to_the_menu():
    phone = Phone(language="fr")
    phone.state = State("registration", "a_node_that_was_removed", {})
    assert phone.say("1").startswith("Menu:")


def test_unsure_answers_are_confirmed():
    phone = Phone()
    phone.run("Bonjour", "1", "1", "oui", "1", "Awa Traoré", "1")
    assert phone.say("85").startswith("Né(e) en 1985, c'est bien ça?")
    assert phone.say("non").startswith("Écrivez l'année")
    assert phone.say("1985").startswith("Dans quel quartier?")
    assert phone.say("Kodabogou").startswith("Vous voulez dire Kodabougou?")
    assert phone.say("oui").startswith("Secteur")


def test_outside_the_commune_keeps_the_free_text():
    phone = Phone()
    phone.run("Bonjour", "1", "1", "oui", "1", "Awa Traoré", "1", "1985")
    assert phone.say("autre").startswith("Écrivez votre quartier et votre commune")
    phone.say("Kalaban Coura, commune 5")
    assert phone.actor["quartier"] == "Hors de la Commune III"
    assert phone.actor["quartier_text"] == "Kalaban Coura, commune 5"


ORGANISATION = ("1", "1", "1", "2", "Coopérative Benkadi de Koulouba", "Fatoumata Coulibaly",
                "1", "1985", "Sirakoro-Dounfing", "3", "transformation du karité", "1", "250",
                "1", "1 3")


@pytest.mark.parametrize("language", ["fr", "bm"])
def test_a_realistic_summary_and_profile_fit_two_sms_parts(language):
    phone = Phone(language=language)
    summary = phone.run(*ORGANISATION, "1 2 4")
    assert phone.state.node == "summary"
    phone.say("oui")
    for body in (summary, phone.say("x"), phone.say("PROFIL")):
        rendered = sms.render(body, "sms", language)
        info = sms.analyze(rendered)
        assert info.encoding == "GSM-7" and info.segments <= 2, (rendered, info)


@pytest.mark.parametrize("language", ["fr", "bm"])
def test_the_longest_summary_is_paged_within_two_parts(language):
    """Answers that fill every field to the brim: conversations.py pages the reply."""
    phone = Phone(language=language)
    long = ("Wwwwwwwwww " * 7).strip()
    summary = phone.run("1", "1", "1", "2", long, long, "1", "1985", "Sirakoro-Dounfing", "3",
                        long, "5", "100000", "1", "1 2 3 4", "1 2 3 4 5 6")
    assert phone.state.node == "summary" and "Wwwwwwwwww Wwwwwwwwww..." in summary
    rendered = sms.render(summary, "sms", language)
    pages = sms.split_pages(rendered, max_segments=2, continuation="\n9 = suite")
    assert 1 <= len(pages) <= 2
    assert all(sms.analyze(p + "\n9 = suite").segments <= 2 for p in pages)


def test_helpers():
    assert engine.registration_code("ESS3-", 123) == "ESS3-000123"
    assert engine.year_band(1985) == "1980-1989" and engine.year_band(None) is None
    assert render([engine.Reply("%(a)s-%(b)s", {"a": engine.Join(("x", 1)), "b": 2}, raw=True)],
                  "fr") == "x, 1-2"


# ------------------------------------------------------------------------------------------
# Newcomer's test (dialog fixes) and the information menu, with plain data
# ------------------------------------------------------------------------------------------

def _library():
    from bot.content import Library, load_catalog

    catalog = load_catalog()
    return Library.of(catalog.categories, catalog.articles)


class InfoPhone(Phone):
    """A Phone whose engine is given the repository's articles."""

    library = None

    def facts(self) -> Facts:
        if InfoPhone.library is None:
            InfoPhone.library = _library()
        return Facts(self.language, self.opted_out, "fr", self.channel, self.actor,
                     self.settings, content=lambda: InfoPhone.library)


def test_before_the_language_every_message_is_bilingual_or_in_the_guessed_language():
    phone = Phone()
    phone.say("Bonjour")
    both = phone.say("anglais")
    assert "Je n'ai pas compris." in both and "N ma a faamu." in both
    assert "START" in Phone().say("STOP") and "A DAMINƐ" in Phone().say("STOP")
    assert Phone().say("a dabila").startswith("I tɛna")  # guessed Bambara only
    assert "Mots utiles" in phone.say("AIDE") and "Kumaden nafamaw" in phone.say("AIDE")


@pytest.mark.parametrize("word, language", [("fr", "fr"), ("franse", "fr"), ("fransé", "fr"),
                                             ("faransi", "fr"), ("bm", "bm"), ("bamakan", "bm")])
def test_language_words(word, language):
    phone = Phone()
    phone.say("Bonjour")
    phone.say(word)
    assert phone.language == language


@pytest.mark.parametrize("greeting", ["bonjour", "merci", "au revoir", "i ni ce", "i ni sogoma",
                                      "k'an ben"])
def test_greetings_are_answered_and_are_not_misses(greeting):
    phone = Phone()
    phone.run("Bonjour", "1", "1", "1")  # at "Vous inscrivez:"
    for _ in range(3):
        out = phone.say(greeting)
        assert "Vous inscrivez" in out and "pas compris" not in out
    assert "_misses" not in phone.state.answers


def test_start_without_opt_out_just_shows_the_menu():
    phone = Phone()
    phone.run("Bonjour", "1")
    out = phone.say("START")
    assert out.startswith("Menu:") and "retour" not in out.lower()


def test_an_opted_out_person_is_reminded_at_most_once_a_day():
    phone = Phone()
    phone.run("Bonjour", "1", "STOP")
    assert "START" in phone.say("bonjour")
    assert phone.say("menu") == "" and phone.say("1") == ""
    phone.now += timedelta(hours=24)
    assert "START" in phone.say("allo")
    assert "Menu" in phone.say("ka damine")


def test_bambara_names_the_keywords_that_work():
    phone = Phone()
    phone.run("I ni ce")
    # The welcome and the menu leave the footer out on SMS (one part); MENU alone shows it.
    menu = phone.say("MENU")
    assert "A DABILA" in menu and "STOP: ka dabila" not in menu
    assert "KAN" in phone.say("deme") and "DƐMƐ" in phone.say("deme")
    assert "A DAMINƐ" in phone.say("ka dabila") and phone.opted_out
    assert "Menu" in phone.say("ka damine") and not phone.opted_out


def test_the_third_miss_opens_a_ticket_within_two_parts():
    phone = Phone(settings={"office_hours": "mon-fri 08:00-16:00"})
    phone.run("Bonjour", "1", "1", "1")
    phone.say("zz")
    phone.say("zz")
    third = phone.say("zz")
    assert sms.analyze(sms.render(third, "sms", "fr")).segments <= 2
    assert [e.value["reason"] for e in phone.effects if e.kind == "handover"] == ["misses"]


def test_information_menu_numbers_back_and_free_questions():
    phone = InfoPhone()
    phone.run("Bonjour", "1")
    categories = phone.say("2")
    assert "1 Santé et protection sociale" in categories and "\n9 " not in categories
    assert "RAMU" in phone.say("1")
    short = phone.say("1")
    # On SMS the short options line keeps the answer in one part.
    assert short.startswith("RAMU:") and "1 Plus 2 Qui 3 Comment 4 Où 0 Retour" in short
    assert "Mise à jour: 2026-02-16." in phone.say("plus")
    assert "1 RAMU" in phone.say("0")  # back to the topics
    assert "1 Santé et protection sociale" in phone.say("0")
    assert phone.say("0").startswith("Menu:")
    assert phone.say("c'est quoi l'APEJ").startswith("APEJ")
    assert "Votre question concerne" in phone.say("assurance")
    assert "transmettre" in phone.say("je veux un passeport").lower()
    phone.say("1")
    assert [e.value for e in phone.effects if e.kind == "handover"] == [
        {"reason": "no_match", "question": "je veux un passeport"}]


def test_voice_note_opens_a_ticket():
    phone = InfoPhone(language="fr")
    phone.say("Bonjour")
    out = phone.say("", kind="audio")
    assert "nous avons bien reçu votre message" in out
    assert [e.value["reason"] for e in phone.effects if e.kind == "handover"] == ["media"]


def test_nine_before_a_language_is_chosen_is_answered_in_both_languages():
    # Newcomer's test: "9" as a first answer got "Il n'y a pas de suite." in French only.
    phone = Phone()
    phone.say("Bonjour")
    turn = step(phone.state, Inbound("9"), phone.facts(), phone.now)
    said = {reply.language for reply in turn.replies if reply.msgid == "Il n'y a pas de suite."}
    assert said == {"fr", "bm"}
