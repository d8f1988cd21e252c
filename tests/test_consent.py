"""Issue 12: who receives announcements — one rule from the import to the last SMS.

The scenario (tests/consent_scenario.py, also printed by bench/consent.py): 300 imported
(200 annonces = oui, 100 non), 10 of the oui send STOP, 20 others register by SMS, 10 only ask
a question, 5 decline the consent; a broadcast to everyone through the fake Twilio.
"""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from bot.broadcasts import reach
from bot.db import session_scope
from bot.models import Contact
from tests import consent_scenario
from tests.admin_helpers import login, make_staff
from tests.fake_twilio import FakeTwilio
from tests.test_broadcast_send import configure


def test_everyone_means_everyone_with_consent_and_every_number_agrees(app, client, runner):
    make_staff(app)
    login(client, "agent")
    with FakeTwilio() as fake:
        queue = configure(app, fake)
        figures = consent_scenario.run(app, client, runner, fake, queue)
    groups = figures["groups"]
    expected = set(groups["imported_oui"][10:]) | set(groups["registered"])
    assert len(expected) == 210
    sent = Counter(figures["sent_to"])
    assert set(sent) == expected  # exactly the 190 + 20 with consent, nobody else
    assert max(sent.values()) == 1  # nobody twice
    cli = figures["cli_preview"]
    counter = figures["counter"]
    # The counter, the web preview, the CLI preview and the number sent: one number.
    assert counter["reachable"] == figures["web_preview"] == cli["recipients"] == len(sent) == 210
    # Every left-out person under their reason, the same on the counter and the preview.
    left_out = {"opted_out": 10, "no_consent": 100 + 10 + 5}
    for source in (counter["skipped"], cli["skipped"], figures["status"]["skipped"]):
        assert {k: v for k, v in source.items() if v} == left_out
    assert counter["contacts"] == 335
    assert figures["status"]["by_state"]["sent"] == 210
    # The CLI's warnings are the web page's: price unset here (ESSBOT_PRICE_PER_PART = 0).
    assert [w["code"] for w in cli["warnings"]] == ["price_unset"]
    with session_scope(app) as s:
        sources = Counter(s.execute(sa.select(Contact.announcements_source)
                                    .where(Contact.announcements.is_(True))).scalars())
    assert sources == {"import": 200, "registration": 20}


def test_the_reach_rule_orders_its_reasons_and_stop_always_wins():
    base = dict(consent=True, opted_out=False, demo=False, test_phone=False, mobile=True,
                has_sms=False, has_wa=False, wa_open=False, sms_invalid=False,
                wa_invalid=False, last_channel=None)

    def decide(**changes):
        return reach.decide(reach.Facts(**{**base, **changes}))

    # A consenting mobile number that never wrote gets an SMS (it can always be originated).
    assert decide().route == "sms"
    assert decide(mobile=False).reason == "no_channel"
    assert decide(opted_out=True).reason == "opted_out"  # STOP wins over consent
    assert decide(consent=False).reason == "no_consent"
    assert decide(consent=False, opted_out=True).reason == "opted_out"
    assert decide(demo=True).reason == "demo_contact"
    assert decide(test_phone=True, opted_out=True).reason == "test_phone"
    assert decide(sms_invalid=True).reason == "invalid_number"
    assert decide(mobile=False, has_wa=True, last_channel="whatsapp").reason == \
        "whatsapp_window_closed"
    assert reach.decide(reach.Facts(**{**base, "mobile": False, "has_wa": True}), "auto",
                        True).route == "whatsapp_template"


def test_preview_warns_the_same_on_the_web_and_in_the_cli(app, client, runner):
    import json

    from bot.broadcasts import planner
    from bot.broadcasts.cli import broadcast_group

    make_staff(app)
    login(client, "agent")
    long_text = "Réunion des coopératives et des artisans à la mairie de la Commune III. " * 5
    bid = planner.create(app, title="Réunion", text_fr=long_text)
    cli = json.loads(runner.invoke(broadcast_group, ["preview", str(bid)]).output)
    codes = [w["code"] for w in cli["warnings"]]
    assert "no_recipients" in codes and "many_parts" in codes
    html = client.get(f"/admin/broadcasts/{bid}").get_data(as_text=True)
    for warning in cli["warnings"]:
        assert warning["message"].replace("'", "&#39;") in html


def test_keyword_records_consent_stop_wins_and_supprimer_resets_it(app):
    from bot.broadcasts import planner

    number = consent_scenario.phone(5, 1)

    def state():
        with session_scope(app) as s:
            c = s.scalar(sa.select(Contact).where(Contact.phone == number))
            return c.announcements, c.announcements_source, c.opted_out

    consent_scenario.say(app, number, "Bonjour")
    consent_scenario.say(app, number, "1")  # French
    assert state() == (None, None, False)
    consent_scenario.say(app, number, "ABONNER")
    assert state() == (True, "keyword", False)
    assert planner.count(app, {})["recipients"] == 1
    consent_scenario.say(app, number, "STOP")
    consent_scenario.say(app, number, "KIBARU SON")  # STOP wins: still out
    assert state() == (True, "keyword", True)
    assert planner.count(app, {})["skipped"]["opted_out"] == 1
    consent_scenario.say(app, number, "START")
    consent_scenario.say(app, number, "SUPPRIMER")
    consent_scenario.say(app, number, "OUI")
    with session_scope(app) as s:
        erased = s.scalar(sa.select(Contact).where(Contact.phone.like("deleted:%")))
        assert (erased.announcements, erased.announcements_source) == (None, None)
    consent_scenario.say(app, number, "Bonjour")  # the number afresh: not a recipient
    assert planner.count(app, {})["recipients"] == 0
