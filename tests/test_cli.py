"""The `essbot` command: chat through the real code path, db upgrade, sms segments."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bot.cli import main
from bot.db import session_scope
from bot.models import Contact, Message
from tests.conftest import USE_POSTGRES


@pytest.fixture
def cli_env(app, monkeypatch):
    """Point the command at the test app's database and instance folder."""
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    return CliRunner()


def test_chat_registers_a_language_and_stores_the_conversation(app, cli_env):
    result = cli_env.invoke(main, ["chat", "--phone", "70 00 00 42"],
                            input="Bonjour\n2\nSTOP\nbonjour\nA DAMINE\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1 Francais" in out  # SMS rendering folds ç
    assert "Kunnafoniw" in out  # the menu in Bambara after choosing 2
    assert "ɛ" not in out and "è" in out  # Bambara on SMS: è, ò instead of ɛ, ɔ
    # Bambara names the Bambara keywords (newcomer test): A DAMINE to restart, A DABILA to stop.
    assert "A DAMINE ci" in out and "A DABILA" in out
    with session_scope(app) as s:
        contact = s.execute(sa.select(Contact)).scalar_one()
        assert contact.phone == "+22370000042"
        assert contact.language == "bm" and contact.opted_out is False
        assert contact.opted_out_at is not None and contact.opted_in_at is not None
        n_in = s.execute(sa.select(sa.func.count()).where(Message.direction == "in")).scalar()
        assert n_in == 5


def test_chat_on_whatsapp_keeps_accents(app, cli_env):
    result = cli_env.invoke(main, ["chat", "--channel", "whatsapp", "--phone", "+22375000042"],
                            input="salut\n")
    assert "1 Français" in result.output


def test_chat_quit_and_exit_leave_without_opting_out(app, cli_env):
    """Issue 15: "quit" is a Twilio opt-out word; in the chat it leaves the chat. Every SMS
    reply shows its parts."""
    for word in ("quit", "EXIT"):
        result = cli_env.invoke(main, ["chat", "--phone", "+22370000043"],
                                input=f"Bonjour\n{word}\nBonjour\n")
        assert result.exit_code == 0, result.output
        assert result.output.count("Langue / Kan") == 1  # nothing after quit was sent
        assert "[1 partie SMS, GSM-7]" in result.output
    with session_scope(app) as s:
        contact = s.execute(sa.select(Contact)).scalar_one()
        assert contact.opted_out is False
        assert s.execute(sa.select(sa.func.count()).where(Message.direction == "in")).scalar() == 2


def test_chat_refuses_a_bad_phone(app, cli_env):
    result = cli_env.invoke(main, ["chat", "--phone", "abc"], input="salut\n")
    assert result.exit_code != 0 and "--phone" in result.output


def test_sms_segments_prints_json(app, cli_env):
    result = cli_env.invoke(main, ["sms", "segments", "Ça coûte l’AMO… ɛ"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["encoding"] == "GSM-7" and report["segments"] == 1
    raw = json.loads(cli_env.invoke(main, ["sms", "segments", "Ça coûte l’AMO… ɛ",
                                           "--channel", "whatsapp"]).output)
    assert raw["encoding"] == "UCS-2" and "ɛ" in raw["ucs2_characters"]


@pytest.mark.skipif(USE_POSTGRES, reason="builds its own SQLite file")
def test_db_upgrade_creates_the_schema(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ESSBOT_INSTANCE_PATH", str(tmp_path / "inst"))
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    tables = sa.inspect(sa.create_engine(url)).get_table_names()
    assert {"contact", "conversation", "message", "alembic_version"} <= set(tables)
    assert (tmp_path / "inst" / "secret_key").exists()


def test_help_lists_the_commands():
    out = CliRunner().invoke(main, ["--help"]).output
    for name in ("serve", "chat", "db", "sms", "dialogs", "actors", "translate"):
        assert name in out
