"""The database copy of the content (issue 4): seeded idempotently, never clobbering a staff
edit, every record with a source and a verified date and within the SMS budgets, and read
by the bot through a per-process cache rebuilt when the table changes."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
import yaml

from bot import sms
from bot.channels.base import InboundMessage
from bot.content import CONTENT_DIR, DETAILS_MAX_PARTS, load_catalog
from bot.content_store import library, record_of, seed_app
from bot.conversations import handle_inbound
from bot.db import get_engine, session_scope
from bot.engine.schema import DialogSpec
from bot.models.content import Article


def rows(app):
    with session_scope(app) as s:
        return {a.slug: a for a in s.execute(sa.select(Article)).scalars()}


def test_seed_is_idempotent_and_every_db_record_keeps_the_rules(app):
    first = seed_app(app)
    assert len(first.added) == len(load_catalog().articles) == 18
    second = seed_app(app)
    assert second.added == second.updated == second.kept == [] and len(second.unchanged) == 18
    for slug, row in rows(app).items():
        assert row.source.strip() and row.verified.strip(), slug
        record = record_of(row)  # validates every rule of bot.content again
        for language in ("fr", "bm"):
            short = sms.analyze(sms.render(record.short.get(language), "sms", language))
            assert short.encoding == "GSM-7" and short.segments == 1, (slug, language)
            details = sms.analyze(sms.render(record.details.get(language), "sms", language))
            assert details.segments <= DETAILS_MAX_PARTS, (slug, language)


def _changed_copy(tmp_path, **short_fr):
    """A copy of the content folder where the French short answers of some articles change."""
    folder = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, folder)
    path = folder / "schemes.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for article in doc["articles"]:
        if article["id"] in short_fr:
            article["short"]["fr"] = short_fr[article["id"]]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return str(folder)


def test_reseed_updates_untouched_rows_and_keeps_staff_edits(app, tmp_path):
    seed_app(app)
    with session_scope(app) as s:
        apej = s.execute(sa.select(Article).where(Article.slug == "apej")).scalar_one()
        apej.short_fr = "APEJ: texte revu par le service ESS."
        apej.edited_by_staff = True
        apej.edited_at = datetime.now(timezone.utc)
        anpe = s.execute(sa.select(Article).where(Article.slug == "anpe")).scalar_one()
        anpe.short_fr = "ANPE: corrigé sans le drapeau."  # an edit made outside the UI
    folder = _changed_copy(tmp_path, apej="APEJ: nouveau texte du fichier.",
                           anpe="ANPE: nouveau texte du fichier.",
                           fafpa="FAFPA: nouveau texte du fichier.")
    report = seed_app(app, folder)
    assert sorted(report.kept) == ["anpe", "apej"] and report.updated == ["fafpa"]
    now = rows(app)
    assert now["apej"].short_fr == "APEJ: texte revu par le service ESS."
    assert now["anpe"].short_fr == "ANPE: corrigé sans le drapeau."
    assert now["fafpa"].short_fr == "FAFPA: nouveau texte du fichier."


def test_the_bot_seeds_an_empty_table_and_sees_staff_edits(app):
    assert rows(app) == {}
    msg = InboundMessage(channel="sms", address="+22370999000", text="Bonjour",
                         provider_sid="CS" + "0" * 32, received_at=datetime.now(timezone.utc))
    handle_inbound(app, msg)
    for i, text in enumerate(["1", "ramu"], start=1):
        handle_inbound(app, InboundMessage(channel="sms", address="+22370999000", text=text,
                                           provider_sid=f"CS{i:032d}",
                                           received_at=datetime.now(timezone.utc)))
    assert len(rows(app)) == 18
    with get_engine(app).connect() as conn:
        before = library(app, conn)
        assert library(app, conn) is before  # cached while nothing changes
    with session_scope(app) as s:
        ramu = s.execute(sa.select(Article).where(Article.slug == "ramu")).scalar_one()
        ramu.title_fr = "RAMU: assurance maladie universelle"
        ramu.edited_by_staff = True
    with get_engine(app).connect() as conn:
        after = library(app, conn)
    assert after is not before and after.by_id()["ramu"].title.fr.endswith("universelle")


def test_nine_is_never_a_menu_number():
    catalog = load_catalog()
    # Lists are numbered 1..n: at most 8 categories and 8 topics per category.
    assert len(catalog.categories) <= 8
    for category in catalog.categories:
        assert len(catalog.in_category(category.id)) <= 8, category.id
    with pytest.raises(ValueError, match="9 is reserved"):
        DialogSpec.model_validate({
            "version": 1, "id": "x", "start": "a",
            "nodes": {"a": {"input": "choice", "options": [
                {"key": "k", "label": "L", "number": 9}]}}})


def test_content_seed_command(app, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    runner = CliRunner()
    first = runner.invoke(main, ["content", "seed"])
    assert first.exit_code == 0 and "18 ajoutés" in first.output, first.output
    again = runner.invoke(main, ["content", "seed"])
    assert "0 ajoutés, 0 mis à jour, 18 inchangés, 0 gardés" in again.output
