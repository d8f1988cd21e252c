"""Long replies on SMS are paged within the part budget; "9" gives the next page."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bot import engine, sms
from tests.conftest import MESSAGES_URL, inbound_params

LONG = " ".join(
    f"Phrase {i}: l'assurance volontaire de l'INPS protège les artisans et leur famille."
    for i in range(1, 9)
)


@pytest.fixture
def long_reply(monkeypatch):
    """An engine whose every answer is LONG (the paging layer does not care who wrote it)."""

    def step(state, inbound, facts, now):
        return engine.Turn(engine.State("test", "long", {}), (engine.Reply(LONG, language="fr"),))

    monkeypatch.setattr("bot.conversations.engine.step", step)


def bodies(resp) -> list[str]:
    return [m.text for m in ET.fromstring(resp.data).findall("Message")]


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_sms_reply_is_paged_and_9_walks_the_pages(app, signed_post, long_reply, budget):
    app.config["ESSBOT_SMS_MAX_SEGMENTS"] = budget
    pages = bodies(signed_post(MESSAGES_URL, inbound_params("question")))
    while pages[-1].endswith("9 = suite"):
        [next_page] = bodies(signed_post(MESSAGES_URL, inbound_params("9")))
        pages.append(next_page)
    assert len(pages) > 1
    for page in pages:
        info = sms.analyze(page)
        assert info.encoding == "GSM-7" and info.segments <= budget, (page, info)
    text = " ".join(p.removesuffix("\n9 = suite") for p in pages)
    assert text.split() == sms.render(LONG, "sms", "fr").split()  # nothing lost, nothing cut


def test_whatsapp_gets_the_long_reply_in_one_message(app, signed_post, long_reply):
    [body] = bodies(signed_post(MESSAGES_URL, inbound_params("question", channel="whatsapp")))
    assert body == LONG  # accents kept, no paging below 1,600 characters


def test_a_new_question_drops_the_remaining_pages(app, signed_post, long_reply, monkeypatch):
    app.config["ESSBOT_SMS_MAX_SEGMENTS"] = 1
    signed_post(MESSAGES_URL, inbound_params("question"))
    monkeypatch.setattr("bot.conversations.engine.step", lambda *a: engine.Turn(
        engine.State("test", "short", {}), (engine.Reply("Court.", language="fr"),)))
    assert bodies(signed_post(MESSAGES_URL, inbound_params("autre chose"))) == ["Court."]
    # "9" now goes to the dialog, not to stale pages.
    assert bodies(signed_post(MESSAGES_URL, inbound_params("9"))) == ["Court."]
