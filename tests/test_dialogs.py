"""Dialog files: the schema, `essbot dialogs check`, and the SMS cost of every question."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot import sms
from bot.cli import main
from bot.engine import Reply, render
from bot.engine import _option_lines  # noqa: PLC2701 - the engine's own rendering of options
from bot.engine.schema import DIALOGS_DIR, DialogError, check, load_dialogs, load_file
from bot.i18n import translate, translated_msgids

DIALOGS = load_dialogs()
SAMPLE = {"value": "Sirakoro-Dounfing", "code": "ESS3-000123", "n": 5,
          "duration": "5 ans", "t": "", "when": "mercredi à partir de 08:00"}


def test_repository_dialogs_pass_the_check_and_every_file_has_a_version():
    assert check(None, {"bm": translated_msgids("bm")}) == []
    for path in DIALOGS_DIR.glob("*.yaml"):
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["version"] == 1


def test_dialogs_check_command(tmp_path):
    result = CliRunner().invoke(main, ["dialogs", "check"])
    assert result.exit_code == 0, result.output
    assert "dialogues corrects" in result.output


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "dialogs"
    shutil.copytree(DIALOGS_DIR, target)
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("breakage,expected", [
    (lambda d: d["nodes"]["kind"].update(next="nowhere"), "unknown node 'nowhere'"),
    (lambda d: d["nodes"].update(orphan={"prompt": "Perdu?", "input": "text"}),
     "node 'orphan' is unreachable"),
    (lambda d: d["nodes"]["sector"].update(options=[]), "a choice without options"),
    (lambda d: d["nodes"]["sector"].update(prompt="Un texte jamais traduit:"),
     "no bm translation"),
    (lambda d: d.pop("version"), "version"),
    (lambda d: d["nodes"]["kind"].update(promt="typo"), "promt"),
    (lambda d: d["nodes"]["kind"].update(next=[{"goto": "org_name", "when": {"sexe": "f"}}]),
     "tests 'sexe'"),
    (lambda d: d["nodes"]["done"].update(next="main:nowhere"), "unknown node 'main:nowhere'"),
])
def test_check_finds_each_kind_of_mistake(tmp_path, breakage, expected):
    folder = _copy(tmp_path)
    _edit(folder / "registration.yaml", breakage)
    problems = check(folder, {"bm": translated_msgids("bm")})
    assert any(expected in p for p in problems), problems
    result = CliRunner().invoke(main, ["dialogs", "check", "--directory", str(folder)])
    assert result.exit_code == 1 and expected in result.output


def test_a_bad_file_fails_at_load_with_its_name(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("version: 1\nid: x\nstart: a\nnodes:\n  a: {input: choice}\n")
    with pytest.raises(DialogError, match=r"(?s)x.yaml.*without options"):
        load_file(path)


def _turn_texts():
    """Every text a node can say on its own, as the engine renders it (prompt and options,
    re-prompt after "not understood", confirmation), plus every named message."""
    not_understood = DIALOGS.message("not_understood")
    for spec in DIALOGS.specs.values():
        for name, text in spec.messages.items():
            yield f"{spec.id}:{name}", [Reply(text, SAMPLE)]
        for node_id, node in spec.nodes.items():
            if node.input == "summary":
                continue  # measured with real answers in tests/test_engine.py
            prompts = [node.prompt] if isinstance(node.prompt, str) else [
                v.text for v in node.prompt or []]
            options = _option_lines(node) if node.input in ("choice", "multi_choice") and \
                node.list_options else []
            for prompt in prompts:
                body = [Reply(prompt, SAMPLE), *options]
                yield f"{spec.id}:{node_id}", body
                yield f"{spec.id}:{node_id} again", [Reply(not_understood),
                                                     Reply(node.reprompt or prompt, SAMPLE),
                                                     *options]
            for extra in (node.help, node.confirm):
                if extra:
                    yield f"{spec.id}:{node_id} extra", [Reply(extra, SAMPLE)]


@pytest.mark.parametrize("language", ["fr", "bm"])
def test_every_question_fits_two_gsm7_parts_on_sms(language):
    checked = 0
    for where, replies in _turn_texts():
        rendered = sms.render(render(replies, language), "sms", language)
        info = sms.analyze(rendered)
        assert info.encoding == "GSM-7", (where, info.ucs2_characters)
        assert info.segments <= 2, (where, info.segments, rendered)
        checked += 1
    assert checked > 60


def test_bambara_keeps_official_letters_on_whatsapp_and_folds_them_on_sms():
    text = translate("Vous inscrivez:", "bm")
    assert "ɔ" in text and "ɛ" in text
    assert sms.render(text, "whatsapp", "bm") == text
    folded = sms.render(text, "sms", "bm")
    assert "ɔ" not in folded and "ò" in folded and "è" in folded
