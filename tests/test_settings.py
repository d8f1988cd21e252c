"""Settings: one typed object (bot.config.Settings), read the same by every layer.

The seam tested here is the one that was broken: ESSBOT_SMS_MAX_SEGMENTS must reach the engine
(which lays replies out for the SMS budget) as well as the pager (which cuts them).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from bot import sms
from bot.config import DEFAULTS, load_settings
from tests.conftest import MESSAGES_URL, inbound_params

#: A Wednesday at 10:00 in Bamako (UTC+0): office hours, so the hand-over text is fixed.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
#: To the sector question of the registration, then three answers the bot cannot read.
TO_SECTOR = ["Bonjour", "1", "1", "1", "1", "Awa Traoré", "1", "1980", "Badialan 1"]
MISSES = ["zz", "yy", "xx"]


def bodies(resp) -> list[str]:
    return [m.text for m in ET.fromstring(resp.data).findall("Message")]


def handover_reply(app, signed_post, monkeypatch, budget: int) -> list[str]:
    """The bot's answer to the third unreadable sector over SMS with `budget` parts."""
    monkeypatch.setattr("bot.conversations.utcnow", lambda: NOW)
    app.config["ESSBOT_SMS_MAX_SEGMENTS"] = budget
    for text in TO_SECTOR + MISSES[:-1]:
        signed_post(MESSAGES_URL, inbound_params(text))
    return bodies(signed_post(MESSAGES_URL, inbound_params(MISSES[-1])))


def test_sms_max_segments_reaches_the_engine_not_only_the_pager(app, signed_post, monkeypatch):
    # With 6 parts allowed, the engine keeps the hand-over's keyword list and the whole question
    # in one message: the pager has nothing to cut.
    [roomy] = handover_reply(app, signed_post, monkeypatch, 6)
    assert "Mots utiles: MENU, AIDE, AGENT, STOP" in roomy and "Secteur d'activité:" in roomy
    assert 2 < sms.analyze(roomy).segments <= 6
    assert not roomy.endswith("9 = suite")


def test_the_default_budget_lays_the_handover_out_in_two_parts(app, signed_post, monkeypatch):
    [tight] = handover_reply(app, signed_post, monkeypatch, DEFAULTS["ESSBOT_SMS_MAX_SEGMENTS"])
    assert "1 Artisanat de production" in tight and "Mots utiles" not in tight
    assert sms.analyze(tight).segments <= 2 and not tight.endswith("9 = suite")


@pytest.mark.parametrize("name, raw, message", [
    ("ESSBOT_SMS_MAX_SEGMENTS", "deux", "ESSBOT_SMS_MAX_SEGMENTS must be an integer, not 'deux'"),
    ("ESSBOT_SMS_MAX_SEGMENTS", "0", "ESSBOT_SMS_MAX_SEGMENTS must be 1 or more"),
    ("ESSBOT_ASK_PROTECTION", "peut-être", "ESSBOT_ASK_PROTECTION must be true or false, not "
                                           "'peut-être'"),
    ("ESSBOT_SEND_RETRY_BASE", "2s", "ESSBOT_SEND_RETRY_BASE must be a number, not '2s'"),
])
def test_a_bad_value_in_the_environment_is_one_line_naming_the_variable(
        tmp_path, monkeypatch, name, raw, message):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ValueError) as info:
        load_settings(tmp_path)
    assert str(info.value) == message


def test_environment_values_are_typed_and_french_yes_no_is_understood(tmp_path, monkeypatch):
    monkeypatch.setenv("ESSBOT_SMS_MAX_SEGMENTS", " 3 ")
    monkeypatch.setenv("ESSBOT_ASK_PROTECTION", "non")
    monkeypatch.setenv("TWILIO_SMS_FROM", "")
    settings = load_settings(tmp_path)
    assert settings["ESSBOT_SMS_MAX_SEGMENTS"] == 3
    assert settings["ESSBOT_ASK_PROTECTION"] is False
    assert settings["TWILIO_SMS_FROM"] is None  # empty means unset
    assert set(settings) >= set(DEFAULTS)  # every setting present: no caller restates a default
