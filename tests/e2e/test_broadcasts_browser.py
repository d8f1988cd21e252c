"""In the browser: compose an announcement in French and Bambara, watch the SMS parts and the
recipient count update as you type and tick, preview, send (fake Twilio), read the report."""

from __future__ import annotations

import re

from bot.broadcasts import planner
from bot.broadcasts.tasks import get_queue
from tests.fake_twilio import FakeTwilio, settings_for
from tests.test_admin_broadcasts import FAST, people
from tests.test_broadcast_send import drain


def test_compose_watch_counts_preview_send_and_report(app, page, login_as, screenshot):
    from playwright.sync_api import expect  # here: the page fixture skips without playwright

    people(app)
    with FakeTwilio(invalid={"+22370000008"}) as fake:
        app.config.update({**settings_for(fake), **FAST, "ESSBOT_PRICE_PER_PART": 25.0})
        login_as(page, "agent")
        page.click("text=Annonces")
        page.click("text=Nouvelle annonce")
        count = page.locator("#segment-count")
        # Issue 12: the counter is the preview's number (the WhatsApp contact outside the
        # window is left out, and said so).
        assert re.search(r"^5 contacts abonnés correspondent", count.inner_text())
        page.fill("#title", "Formation couture")
        page.fill("#text_fr", "Formation en couture lundi à 9h à la mairie. Inscription gratuite.")
        page.fill("#text_bm", "Kalan bɛ tɛnɛn 9h la meri la. A sara tɛ.")
        expect(page.locator("#parts-bm")).to_contain_text("1 SMS")  # live, from the planner
        assert "1 SMS · GSM-7" in page.locator("#parts-fr").inner_text()
        # Tick a quartier: the count follows without a page load.
        page.check("input[name=quartier][value='Badialan I']")
        expect(count).to_have_text(re.compile(r"^4 contacts"))
        page.check("input[name=language][value='bm']")
        expect(count).to_have_text(re.compile(r"^1 contacts"))
        page.uncheck("input[name=language][value='bm']")
        expect(count).to_have_text(re.compile(r"^4 contacts"))
        screenshot(page, "broadcasts-compose")
        page.click("button[name=preview]")
        page.wait_for_url(re.compile(r".*/admin/broadcasts/\d+$"))
        bid = int(page.url.rsplit("/", 1)[1])
        assert page.locator("#pv-recipients").inner_text() == "4"
        assert page.locator("#pv-cost").inner_text() == "75 FCFA"
        assert "fenêtre WhatsApp de 24 h fermée" in page.locator("#pv-skipped").inner_text()
        screenshot(page, "broadcasts")
        page.click("text=Confirmer l'envoi à 4 personnes")
        page.wait_for_selector("text=Envoi lancé")
        drain(get_queue(app), bid)
        page.click("text=Rafraîchir")
        assert page.locator("[data-count=sent]").inner_text() == "3"
        assert page.locator("[data-count=failed]").inner_text() == "1"
        assert "numéro invalide" in page.locator("#failures").inner_text()
        assert page.locator("#state-label").inner_text() == "Envoyée"
    assert planner.get(app, bid).state == "sent"
    assert page.js_errors == []
