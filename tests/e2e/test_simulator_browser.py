"""In the browser: an agent chats with the bot in the simulator, with and without JavaScript."""

from __future__ import annotations

import pytest

from tests.admin_helpers import EMAILS, PASSWORD


def _send(tab, text: str, expect: str) -> None:
    """Type `text` in the simulator, press Enter, wait for a bot bubble containing `expect`."""
    before = tab.locator(".bubble.out").count()
    tab.fill("#sim-text", text)
    tab.press("#sim-text", "Enter")
    tab.wait_for_function("n => document.querySelectorAll('.bubble.out').length > n", arg=before)
    tab.locator(".bubble.out", has_text=expect).last.wait_for()


def test_agent_chats_in_french_on_sms_and_bambara_on_whatsapp(page, login_as, screenshot):
    login_as(page, "agent")
    page.click("header nav >> text=Simulateur")
    page.wait_for_url("**/admin/simulator**")
    assert page.locator(".phone.sms").count() == 1
    page.evaluate("window.__notReloaded = true")
    # French on SMS: the bot asks the language, the person chooses it, then registers.
    _send(page, "Bonjour", "Langue / Kan")
    _send(page, "1", "S'inscrire au registre ESS")
    _send(page, "1", "Inscription au registre ESS")
    assert page.evaluate("window.__notReloaded") is True  # appended without reloading
    assert page.evaluate("document.activeElement.id") == "sim-text"
    assert page.input_value("#sim-text") == ""
    meta = page.locator(".bubble.out .meta").last.inner_text()
    assert "GSM-7" in meta and "partie" in meta
    assert int(page.locator("#sim-cost .number strong").first.inner_text()) >= 3
    # Bambara on WhatsApp, typed without special letters.
    page.click(".tabs >> text=WhatsApp")
    page.wait_for_url("**channel=whatsapp**")
    assert page.locator(".phone.whatsapp .bubble").count() == 0
    _send(page, "i ni ce", "I ni ce!")
    bambara = page.locator(".bubble.out").last.inner_text()
    assert "I tɔgɔ sɛbɛn" in bambara  # Unicode letters on WhatsApp
    assert "Bambara" in page.locator("#sim-state").inner_text()
    _send(page, "1", "I sɔnna wa?")
    # Back to the SMS phone: the conversation is still there; go on with the registration.
    page.click(".tabs >> text=SMS")
    page.wait_for_url("**channel=sms**")
    assert page.locator(".bubble.in").count() == 3
    _send(page, "oui", "Vous inscrivez")
    _send(page, "moi meme", "Votre nom et prénom?")
    page.fill("#sim-text", "Awa Traoré")
    screenshot(page, "simulator")
    assert page.js_errors == []


def test_keyword_button_and_recommencer(page, login_as):
    login_as(page, "agent")
    page.goto(f"{page.base}/admin/simulator?channel=sms")
    _send(page, "Bonjour", "Langue / Kan")
    page.fill("#sim-text", "brouillon")
    page.click(".keywords >> text=AIDE")
    page.locator(".bubble.out", has_text="MENU").last.wait_for()
    assert page.input_value("#sim-text") == "brouillon"  # a keyword keeps what was typed
    page.select_option("#sim-language", "bm")
    page.click("#sim-reset")
    page.wait_for_selector(".flash")
    assert page.locator(".bubble").count() == 0
    _send(page, "Bonjour", "Menu")
    assert "Kan y" in page.locator(".bubble.out").last.inner_text()  # Bambara, folded on SMS
    assert page.js_errors == []


@pytest.fixture
def nojs_page(browser, site):
    """A tab with JavaScript disabled (the simulator must work as plain forms)."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="fr-FR",
                                  java_script_enabled=False)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.base = site
    yield tab
    context.close()


def test_simulator_works_without_javascript(nojs_page):
    tab = nojs_page
    tab.goto(f"{tab.base}/admin/login")
    tab.fill("#email", EMAILS["agent"])
    tab.fill("#password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{tab.base}/admin/")
    tab.goto(f"{tab.base}/admin/simulator?channel=whatsapp")
    tab.fill("#sim-text", "i ni ce")
    tab.click("#sim-send")
    tab.wait_for_url("**/admin/simulator?channel=whatsapp#sim-text")
    assert "I ni ce!" in tab.locator(".bubble.out").last.inner_text()
    assert tab.locator(".bubble.in").last.inner_text().startswith("i ni ce")
    tab.click(".keywords >> text=DEME")
    tab.wait_for_load_state()
    assert tab.locator(".bubble.in").count() == 2
    assert "MENU" in tab.locator(".bubble.out").last.inner_text()
    # Empty message: refused with a reason, nothing sent.
    tab.click("#sim-send")
    assert "Écrivez un message" in tab.locator(".flash.error").inner_text()
    assert tab.locator(".bubble.in").count() == 2
