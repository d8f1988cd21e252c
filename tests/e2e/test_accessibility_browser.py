"""Accessibility points of issue 20 at 1366×768 and 390×844: a conversation in the simulator
(its part labels on the bubbles) passes axe-core, the skip link is the first stop of the
keyboard and leads to the page's content, scrolling regions take the keyboard focus, and the
composer names the characters that make an announcement UCS-2."""

from __future__ import annotations

import pytest

from tests.e2e.test_simulator_browser import _send

expect = pytest.importorskip("playwright.sync_api").expect


def test_a_simulator_conversation_passes_axe(sized_page, login_as, axe):
    tab = sized_page
    login_as(tab, "agent")
    tab.goto(f"{tab.base}/admin/simulator")
    _send(tab, "Bonjour", "Langue / Kan")
    _send(tab, "1", "S'inscrire au registre ESS")
    assert tab.locator(".bubble .meta .parts").count() >= 1
    assert axe(tab) == []
    assert tab.locator("#sim-screen").get_attribute("tabindex") == "0"


def test_the_skip_link_comes_first_and_leads_to_the_content(sized_page, login_as):
    tab = sized_page
    login_as(tab, "viewer")
    tab.goto(f"{tab.base}/admin/registry")
    tab.keyboard.press("Tab")
    focused = tab.evaluate("[document.activeElement.className, document.activeElement.innerText]")
    assert focused == ["skip", "Aller au contenu"]
    assert tab.locator("a.skip").is_visible()  # shown while focused
    tab.keyboard.press("Enter")
    assert tab.evaluate("document.activeElement.id") == "main"


def test_the_composer_names_the_ucs2_characters(sized_page, login_as):
    tab = sized_page
    login_as(tab, "agent")
    tab.goto(f"{tab.base}/admin/broadcasts/new")
    tab.fill("#title", "Réunion")
    tab.fill("#text_fr", "Réunion lundi ✅ à la mairie")
    expect(tab.locator("#warn-fr")).to_contain_text("« ✅ »")
