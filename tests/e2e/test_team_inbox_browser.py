"""The team inbox in the browser at 1366×768 and 390×844: give a ticket to a colleague, pick
a saved reply (it fills the box, the part counter follows), send without closing, write an
internal note; an admin reveals the number of a person outside the registry."""

from __future__ import annotations

import pytest

from tests.fake_twilio import FakeTwilio, settings_for
from tests.test_admin_inbox import PHONE, ask_agent
from tests.test_admin_team_inbox import ticket

expect = pytest.importorskip("playwright.sync_api").expect


def test_a_team_works_a_ticket(app, sized_page, login_as, axe):
    from bot.admin.inbox import save_reply

    ticket_id = ask_agent(app, question="comment avoir la carte d'artisan ?")
    save_reply(app, "fr", "Carte d'artisan", "Passez au service ESS avec votre pièce "
               "d'identité.", "admin@mairie.test")
    tab = sized_page
    with FakeTwilio() as fake:
        app.config.update(settings_for(fake))
        login_as(tab, "agent")
        tab.goto(f"{tab.base}/admin/inbox/{ticket_id}")
        tab.select_option("#assignee", "admin@mairie.test")
        tab.click("form.assign-to button")
        expect(tab.locator(".flash")).to_contain_text("Ticket attribué à Admin.")
        tab.click("#use-saved")
        expect(tab.locator("#reply-text")).to_have_value(
            "Passez au service ESS avec votre pièce d'identité.")
        expect(tab.locator("#reply-parts")).to_contain_text("1 SMS")
        assert not tab.locator("#reply-close").is_checked()
        assert axe(tab) == []
        tab.click("#reply-send")
        expect(tab.locator(".flash")).to_contain_text("Le ticket reste ouvert.")
        assert len(fake.requests) == 1 and ticket(app, ticket_id).status == "assigned"
        tab.fill("#note-body", "Rappeler lundi matin.")
        tab.click("#notes button[type=submit]")
        expect(tab.locator("#notes .note")).to_contain_text("Rappeler lundi matin.")
        assert len(fake.requests) == 1  # a note is never sent
    assert tab.js_errors == []


def test_an_admin_reveals_a_number_to_call_back(app, sized_page, login_as):
    ticket_id = ask_agent(app)
    tab = sized_page
    login_as(tab, "admin")
    tab.goto(f"{tab.base}/admin/inbox/{ticket_id}")
    assert PHONE not in tab.locator("#ticket-phone").inner_text()
    tab.click("#reveal-phone")
    expect(tab.locator("#ticket-phone a")).to_have_attribute("href", f"tel:{PHONE}")
