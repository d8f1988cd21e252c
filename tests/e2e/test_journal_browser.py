"""The journal in the browser at both sizes: French labels, filter by account then by day,
and numbers and dates written one way (the registry's total grouped, dates JJ/MM/AAAA)."""

from __future__ import annotations

import re

from bot.models import utcnow
from tests.e2e.test_registry_list_browser import many
from tests.test_admin_journal import events


def test_an_admin_filters_the_journal(app, sized_page, login_as, axe):
    events(app)
    tab = sized_page
    login_as(tab, "admin")
    tab.goto(f"{tab.base}/admin/audit")
    assert "Ticket consulté" in tab.locator("table.journal").inner_text()
    tab.select_option("#j-qui", "agent@mairie.test")
    tab.fill("#j-du", utcnow().strftime("%Y-%m-%d"))
    tab.click("form.filters button[type=submit]")
    tab.wait_for_url("**qui=agent**")
    text = tab.locator("table.journal").inner_text()
    assert "Ticket n° 7" in text and "Fiche n° 2007" not in text and "Export" not in text
    assert all(re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", d) for d in
               tab.locator("table.journal tbody td:first-child").all_inner_texts())
    assert axe(tab) == []


def test_numbers_are_grouped_the_french_way(app, sized_page, login_as):
    many(app, 1200)
    tab = sized_page
    login_as(tab, "viewer")
    tab.goto(f"{tab.base}/admin/registry")
    assert tab.locator("#total strong").inner_text() == "1\u202f200"
    assert tab.locator("#total").inner_text().endswith("acteurs")
    tab.goto(f"{tab.base}/admin/")
    registered = tab.locator("#numbers [data-key=registered] strong").inner_text()
    assert registered == "1\u202f200"
