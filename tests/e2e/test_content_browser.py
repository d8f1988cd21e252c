"""In the browser: an agent edits a scheme article and watches the SMS part count follow the
text as they type; the save is confirmed and the list marks the article as edited."""

from __future__ import annotations

import re

import pytest

from bot.content_store import seed_app

expect = pytest.importorskip("playwright.sync_api").expect


def test_the_part_count_follows_the_text_and_the_edit_is_saved(app, page, login_as,
                                                               screenshot):
    seed_app(app)
    login_as(page, "agent")
    page.goto(f"{page.base}/admin/content")
    page.click("text=APEJ: emploi des jeunes")
    page.wait_for_url("**/admin/content/apej")
    counter = page.locator("#short_fr-parts")
    assert counter.inner_text().startswith("1 SMS")  # shown with the page, before any typing
    page.fill("#short_fr", "APEJ: aide aux jeunes de 15 a 40 ans.")
    expect(page.locator("#short_fr-parts")).to_contain_text("37 caractères")
    # Typing on past one SMS: the count turns into an error (the short answer's budget is 1).
    page.locator("#short_fr").press_sequentially(" Stages, apprentissage et credit." * 4)
    expect(page.locator("#short_fr-parts")).to_contain_text(re.compile(r"^2 SMS"))
    assert "over" in counter.get_attribute("class")
    assert "au plus 1 SMS" in counter.inner_text()
    # A Bambara letter is folded for SMS: the counter shows what will be sent.
    page.fill("#short_fr", "APEJ: kamalenw ka baara ɲɛ.")
    expect(page.locator("#short_fr-parts")).to_contain_text("nyè")
    assert "over" not in (counter.get_attribute("class") or "")
    screenshot(page, "content-edit")
    page.fill("#short_fr", "APEJ: aide aux jeunes de 15 a 40 ans (stages, credit).")
    page.click("button:has-text('Enregistrer')")
    page.wait_for_selector(".flash")
    assert "Article enregistré" in page.locator(".flash").first.inner_text()
    assert page.input_value("#short_fr") == "APEJ: aide aux jeunes de 15 a 40 ans (stages, credit)."
    page.goto(f"{page.base}/admin/content")
    assert "Modifié par le service" in page.locator("table.articles").nth(1).inner_text() or \
        "Modifié par le service" in page.content()
    assert page.js_errors == []
