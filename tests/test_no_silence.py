"""No message is answered with silence (issue 15 goal 3).

Every processed inbound message gets at least one reply unless the person has opted out
(STOP): checked over every golden transcript (tests/transcripts/, which test_transcripts.py
proves are what the real message path sends) and over conversations drawn at random
(hypothesis, a bounded number of examples, derandomised so a run is deterministic) from what
people type: numbers, keywords, greetings, names, questions, doubts, emoji.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.understanding import detect_command
from tests.test_engine import InfoPhone

TRANSCRIPTS = sorted((Path(__file__).resolve().parent / "transcripts").glob("*.yaml"))


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_every_message_of_a_transcript_gets_a_reply(path):
    opted_out = False
    for number, turn in enumerate(yaml.safe_load(path.read_text("utf-8"))["turns"], start=1):
        if "user" not in turn:
            continue  # a wait or a staff answer
        command = detect_command(str(turn["user"]))
        if command == "start":
            opted_out = False
        if not opted_out:
            assert str(turn.get("bot") or "").strip(), f"turn {number} {turn['user']!r}: silence"
        if command == "stop":
            opted_out = True


#: What people type, as the fuzz draws it: every keyword, menu numbers in digits and words,
#: yes/no in both languages, greetings, a name, a year, quartiers, questions, doubt, noise.
WORDS = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "1 3", "deux", "fila", "kelen",
    "oui", "non", "awo", "ayi", "ok", "👍", "merci", "i ni ce", "Bonjour", "salam",
    "MENU", "AIDE", "?", "STOP", "START", "LANGUE", "INSCRIPTION", "PROFIL", "SUPPRIMER",
    "AGENT", "ANNONCES", "a dabila", "a damine", "Awa Traoré", "1985", "35 ans", "2035",
    "Sogonafing", "kouloniko", "badialan", "AUTRE", "couturière", "je sais pas",
    "n ma a faamu", "c'est quoi l'APEJ", "je veux un passeport", "xq", "", "...",
    "AGENT: j'ai une question sur le crédit",
]


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.sampled_from(WORDS), min_size=1, max_size=25),
       channel=st.sampled_from(["sms", "whatsapp"]),
       kinds=st.lists(st.sampled_from(["text"] * 9 + ["audio"]), min_size=25, max_size=25))
def test_random_conversations_never_meet_silence(texts, channel, kinds):
    phone = InfoPhone(channel=channel)
    for text, kind in zip(texts, kinds):
        kind = kind if not text else "text"
        was_out = phone.opted_out
        out = phone.say(text if kind == "text" else "", kind=kind)
        if not was_out or detect_command(text) == "start":
            assert out.strip(), f"silence after {text!r} ({kind}) in {texts}"


@pytest.mark.parametrize("stop, start", [("STOP", "START"), ("a dabila", "a damine")])
def test_stop_then_start_during_a_pending_question_leaves_it(stop, start):
    """Issue 15: "Vous voulez dire Koulouninko?", STOP, START: the next menu choice is a menu
    choice (it was read as the answer to the forgotten question)."""
    phone = InfoPhone()
    phone.run("Bonjour", "1", "1", "oui", "1", "Awa Diarra", "1", "1990")
    assert "Koulouninko" in phone.say("kouloniko") and "_pending" in phone.state.answers
    phone.run(stop, start)
    assert "_pending" not in phone.state.answers
    assert "1 Santé et protection sociale" in phone.say("2")
    assert phone.state.node == "info"
