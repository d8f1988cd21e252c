"""Catalogs: complete in Bambara, in step with the code and the dialog files, and every
message cheap on SMS. Whole dialog turns (prompt + options, re-prompts, summaries) are
measured in tests/test_dialogs.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot import sms
from bot.i18n import LOCALES_DIR, translate

ROOT = Path(__file__).resolve().parent.parent


def code_msgids() -> set[str]:
    """Every msgid of the code (N_) and of the dialog files (the essbot_dialogs extractor)."""
    found = extract_from_dir(str(ROOT / "bot"), method_map=[("admin/**", "ignore"),
                                                             ("**.py", "python")],
                             keywords={"N_": None})
    dialogs = extract_from_dir(str(ROOT / "dialogs"), method_map=[("*.yaml", "essbot_dialogs")])
    return {msgid for _file, _line, msgid, _comments, _context in [*found, *dialogs]}


def test_dialog_texts_are_extracted_with_where_they_appear():
    found = list(extract_from_dir(str(ROOT / "dialogs"),
                                  method_map=[("*.yaml", "essbot_dialogs")]))
    comments = {msgid: c for _f, _l, msgid, c, _ctx in found}
    assert comments["Votre nom et prénom?"] == ["dialog:registration node:name"]
    assert comments["Je n'ai pas compris."] == ["dialog:main message:not_understood"]
    assert "Bamanankan" not in comments  # a language name is not translated


def catalog_entries(lang: str):
    with open(LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return [m for m in read_po(fh, locale=lang) if m.id]


@pytest.mark.parametrize("lang", ["fr", "bm"])
def test_catalog_has_every_message_of_the_code_and_no_empty_translation(lang):
    entries = catalog_entries(lang)
    assert {m.id for m in entries} == code_msgids(), "run the pybabel commands in the README"
    assert [m.id for m in entries if not m.string] == []


def test_translations_keep_placeholders():
    for m in catalog_entries("bm"):
        for token in ("%(", "%s"):
            assert m.id.count(token) == m.string.count(token), m.id


@pytest.mark.parametrize("lang", ["fr", "bm"])
def test_every_message_fits_two_gsm7_parts_on_sms(lang):
    for msgid in code_msgids():
        rendered = sms.render(translate(msgid, lang), "sms", lang)
        info = sms.analyze(rendered)
        assert info.encoding == "GSM-7", (msgid, info.ucs2_characters)
        assert info.segments <= 2, (msgid, info.segments)


def test_unknown_language_falls_back_to_french():
    assert translate("9 = suite", "xx") == "9 = suite"
    assert translate("9 = suite", "bm") != "9 = suite"


def admin_msgids() -> set[str]:
    """Every msgid of the staff interface's catalog, read from the sources that
    ``essbot translate extract`` reads (babel_admin.cfg: bot/admin, its templates, DIFFUSER's
    answers, the broadcast error sentences, the dashboard's labels), so the test and the
    extraction cannot list different files."""
    with open(ROOT / "babel_admin.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found = extract_from_dir(str(ROOT), method_map=method_map, options_map=options_map,
                             keywords={"_": None, "N_": None, "S_": None, "gettext": None})
    return {msgid for _file, _line, msgid, _comments, _context in found
            if isinstance(msgid, str)}


def test_staff_interface_catalog_is_complete():
    """The staff interface is French only; its catalog (domain "admin") still lists every
    string so that wording can be changed without touching code."""
    with open(LOCALES_DIR / "fr" / "LC_MESSAGES" / "admin.po", "rb") as fh:
        entries = {m.id: m.string for m in read_po(fh, locale="fr") if m.id}
    assert set(entries) >= admin_msgids(), (
        "run: essbot translate extract && essbot translate update")
    assert [msgid for msgid, text in entries.items() if not text] == []
