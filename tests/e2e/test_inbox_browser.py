"""In the browser: an agent answers a hand-over ticket by SMS (fake Twilio), watching the live
part count, and sees it closed; a viewer sees no reply box."""

from __future__ import annotations

import pytest

from tests.fake_twilio import FakeTwilio, settings_for
from tests.test_admin_inbox import PHONE, ask_agent

expect = pytest.importorskip("playwright.sync_api").expect


def test_an_agent_answers_a_ticket_and_sees_it_closed(app, page, login_as, screenshot):
    ticket_id = ask_agent(app, question="comment avoir la carte d'artisan ?")
    with FakeTwilio() as fake:
        app.config.update(settings_for(fake))
        login_as(page, "agent")
        page.goto(f"{page.base}/admin/inbox")
        row = page.locator("table.tickets tbody tr").first
        assert "carte d'artisan" in row.inner_text() and "A demandé un agent" in row.inner_text()
        row.locator("a").first.click()
        page.wait_for_url(f"**/admin/inbox/{ticket_id}")
        assert "partira par SMS" in page.locator("#reply-channel").inner_text()
        counter = page.locator("#reply-parts")
        page.fill("#reply-text", "Bonjour, passez au service ESS de la mairie")
        page.locator("#reply-text").press_sequentially(" avec votre pièce d'identité.")
        expect(page.locator("#reply-parts")).to_contain_text("1 SMS")
        assert "GSM-7" in counter.inner_text()
        screenshot(page, "inbox-ticket")
        page.check("#reply-close")  # issue 20: a reply closes the ticket only when chosen
        page.click("#reply-send")
        page.wait_for_selector(".flash")
        assert "Réponse envoyée par SMS" in page.locator(".flash").inner_text()
        assert page.locator("#ticket-status").inner_text() == "Fermé"
        [request] = fake.requests
        assert request["form"]["To"] == PHONE
        assert request["form"]["Body"].endswith("avec votre pièce d'identité.")
    # The reply is in the conversation and the ticket is under "Fermés".
    assert "avec votre pièce d'identité." in page.locator(".bubble.out").last.inner_text()
    page.click("text=← Boîte de réception")
    page.click(".tabs a:has-text('Fermés')")
    assert "carte d'artisan" in page.locator("table.tickets").inner_text()
    assert page.js_errors == []


def test_a_viewer_sees_the_conversation_without_the_reply_box(app, page, login_as):
    ticket_id = ask_agent(app)
    login_as(page, "viewer")
    page.goto(f"{page.base}/admin/inbox/{ticket_id}")
    assert page.locator(".bubble.in").count() >= 3
    assert page.locator("#reply-text").count() == 0
    assert page.locator("button:has-text('M\\'attribuer')").count() == 0
    assert page.js_errors == []
