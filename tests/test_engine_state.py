"""A saved state is migrated, not thrown away (bot/engine/state.py): a person halfway through
the registration when a deployment renames a question, or whose state was saved by an older
version, goes on where they were, their answers kept."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.db import session_scope
from bot.engine import Inbound, State, render, step
from bot.engine.schema import DIALOGS_DIR, load_dialogs
from bot.engine.state import STATE_FORMAT, migrate
from bot.models import Conversation
from tests.conftest import MESSAGES_URL, inbound_params
from tests.test_engine import INDIVIDUAL, Phone

#: Up to the year-of-birth question ("Awa Traoré", woman).
TO_BIRTH_YEAR = INDIVIDUAL[:INDIVIDUAL.index("1985")]


def _dialogs_with_birth_year_renamed(tmp_path: Path, *, moved: bool):
    """A copy of the shipped dialogs where the node ``birth_year`` is now ``year_of_birth``."""
    folder = tmp_path / "dialogs"
    shutil.copytree(DIALOGS_DIR, folder)
    path = folder / "registration.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in (("  birth_year:\n", "  year_of_birth:\n"),
                     ("next: birth_year\n", "next: year_of_birth\n"),
                     ("nodes: [gender, birth_year]", "nodes: [gender, year_of_birth]")):
        assert old in text
        text = text.replace(old, new)
    if moved:
        text = text.replace("\nnodes:\n", "\nmoved:\n  birth_year: year_of_birth\n\nnodes:\n", 1)
    path.write_text(text, encoding="utf-8")
    return load_dialogs(folder)


def _at_birth_year() -> Phone:
    phone = Phone()
    phone.run(*TO_BIRTH_YEAR)
    assert (phone.state.dialog, phone.state.node) == ("registration", "birth_year")
    return phone


def _answer(phone: Phone, state: State, text: str, dialogs=None):
    turn = step(state, Inbound(text), phone.facts(), phone.now, dialogs)
    return turn, render(turn.replies, phone.language or "fr")


def test_a_renamed_question_goes_on_where_the_person_was(tmp_path):
    phone = _at_birth_year()
    expected_turn, expected = _answer(phone, phone.state, "1985")
    renamed = _dialogs_with_birth_year_renamed(tmp_path, moved=True)
    # Saved before formats were recorded (format 0), on the old node id.
    old = replace(phone.state, format=0)
    turn, said = _answer(phone, old, "1985", renamed)
    assert said == expected
    assert turn.state.answers["registration"]["birth_year"] == 1985
    assert turn.state.answers["registration"]["name"] == "Awa Traoré"
    assert turn.state.node == expected_turn.state.node and turn.state.format == STATE_FORMAT


def test_a_question_gone_without_a_forwarding_asks_to_continue_with_answers_kept(tmp_path):
    phone = _at_birth_year()
    renamed = _dialogs_with_birth_year_renamed(tmp_path, moved=False)
    turn, said = _answer(phone, phone.state, "1985", renamed)
    assert turn.state.node == "resume"
    assert "Vous avez commencé votre inscription" in said
    assert turn.state.answers["registration"]["name"] == "Awa Traoré"
    # "Continuer" goes on with the registration, the name not asked again.
    turn2, said2 = _answer(phone, turn.state, "1", renamed)
    assert turn2.state.dialog == "registration"
    assert "Votre nom" not in said2
    assert turn2.state.answers["registration"]["name"] == "Awa Traoré"


def test_a_state_from_a_newer_format_keeps_the_registration_answers():
    phone = _at_birth_year()
    newer = replace(phone.state, answers={**phone.state.answers, "_misses": 2},
                    format=STATE_FORMAT + 1)
    state = migrate(newer, load_dialogs())
    assert (state.dialog, state.node, state.format) == (None, None, STATE_FORMAT)
    assert state.answers == {"registration": phone.state.answers["registration"]}


def test_the_current_format_passes_unchanged():
    phone = _at_birth_year()
    assert migrate(phone.state, load_dialogs()) is phone.state


def test_moved_must_point_at_a_node(tmp_path):
    folder = tmp_path / "dialogs"
    shutil.copytree(DIALOGS_DIR, folder)
    path = folder / "registration.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "\nnodes:\n", "\nmoved:\n  old_question: nowhere\n\nnodes:\n", 1), encoding="utf-8")
    with pytest.raises(Exception, match="nowhere"):
        load_dialogs(folder)


def test_the_saved_conversation_records_its_format_and_an_old_one_goes_on(app, signed_post):
    """The seam: bot/conversations.py saves the format beside the answers, and reads a row
    saved without one (format 0) as that format."""
    phone = "+22370000321"
    for text in TO_BIRTH_YEAR:
        assert signed_post(MESSAGES_URL, inbound_params(text, phone)).status_code == 200
    with session_scope(app) as s:
        conv = s.execute(sa.select(Conversation)).scalar_one()
        assert conv.node == "birth_year" and conv.answers["_format"] == STATE_FORMAT
        answers = dict(conv.answers)
        del answers["_format"]
        conv.answers = answers
    response = signed_post(MESSAGES_URL, inbound_params("1985", phone))
    assert response.status_code == 200
    with session_scope(app) as s:
        conv = s.execute(sa.select(Conversation)).scalar_one()
        assert conv.node != "birth_year" and conv.answers["_format"] == STATE_FORMAT
        assert conv.answers["registration"]["birth_year"] == 1985
