"""The registry list at both sizes (1366×768 and 390×844): pages with first, last and
numbered links, columns sorted by a click, "← Registre" from an actor back to the filtered
list, the "moins de 40 ans" age filter, and cards on a phone."""

from __future__ import annotations

from bot.db import session_scope
from bot.models import Actor, utcnow
from tests.e2e.test_registry_browser import YEAR, seed

def many(app, count: int = 140) -> None:
    """`count` plain registered actors (birth years 1960…) besides the seeded ten."""
    now = utcnow()
    with session_scope(app) as s:
        for i in range(count):
            s.add(Actor(phone=f"+2237700{i:04d}", kind="individu", name=f"Zz Acteur {i:03d}",
                        gender="homme", birth_year=1960 + i % 45, quartier="Dravéla",
                        sector="commerce", language="fr", channel="sms", completeness=100,
                        registered_at=now, created_at=now, updated_at=now,
                        registration_code=f"ESS3-9{i:05d}"))


def test_pages_sorting_and_back_to_the_filtered_list(app, sized_page, login_as):
    seed(app)
    many(app)
    tab = sized_page
    login_as(tab, "agent")
    tab.goto(f"{tab.base}/admin/registry")
    pager = tab.locator("nav.pager")
    assert "Page 1 sur 3" in pager.inner_text()
    # First, last and numbered pages, not only next and previous.
    tab.click("nav.pager a[aria-label^='Dernière page']")
    tab.wait_for_url("**page=3**")
    assert tab.locator("nav.pager a[aria-current=page]").inner_text() == "3"
    tab.click("nav.pager a[aria-label='Première page']")
    tab.wait_for_url("**page=1**")

    # Sort by name: a click on the column heading (on a phone the headings are hidden and the
    # sort is in the URL that the link builds; the same link is followed).
    link = tab.locator("table.registry thead a.sort:has-text('Nom')")
    tab.goto(f"{tab.base}{link.get_attribute('href')}")
    names = tab.locator("table.registry tbody td:nth-child(2)").all_inner_texts()
    assert names[:3] == ["Aminata Touré", "Awa Traoré", "Bakary Keïta"] or \
        names[0].startswith("Aminata")
    assert tab.locator("th[aria-sort=ascending]").count() == 1

    # Age filter "moins de 40 ans": nobody aged 40 (the APEJ band 15–40 includes 40).
    tab.goto(f"{tab.base}/admin/registry")
    tab.select_option("#f-age", "-39")
    tab.select_option("#f-quartier", "Badialan I")
    tab.click("form.filters button[type=submit]")
    tab.wait_for_url("**age=-39**")
    ages = [int(t) for t in tab.locator("table.registry tbody td:nth-child(5)").all_inner_texts()]
    assert ages and max(ages) < 40
    assert sorted(ages) == sorted(YEAR - y for y in (1994, 2001, 1988, 1999) if YEAR - y < 40)
    total = tab.locator("#total").inner_text()
    # "← Registre" from an actor keeps the filters.
    tab.locator("table.registry tbody td:nth-child(2) a").first.click()
    tab.wait_for_url("**/admin/registry/*")
    tab.click("text=← Registre")
    tab.wait_for_url("**/admin/registry?**")
    assert "age=-39" in tab.url and "quartier=Badialan" in tab.url
    assert tab.locator("#f-age").input_value() == "-39"
    assert tab.locator("#total").inner_text() == total


def test_on_a_phone_the_registry_reads_as_cards(app, sized_page, login_as):
    seed(app)
    tab = sized_page
    login_as(tab, "viewer")
    tab.goto(f"{tab.base}/admin/registry")
    first = tab.locator("table.registry tbody tr").first
    box = first.bounding_box()
    scroll = tab.evaluate("document.querySelector('.table-wrap').scrollWidth"
                          " - document.querySelector('.table-wrap').clientWidth")
    if tab.size == "phone":
        assert box["width"] <= 390 and scroll <= 0  # nothing scrolls sideways
        assert box["height"] > 150  # a card: one value a line, each under its label
        label = tab.evaluate("getComputedStyle(document.querySelector("
                             "'table.registry tbody td:nth-child(6)'), '::before').content")
        assert label == '"Quartier"'
        assert not tab.locator("table.registry thead").is_visible() or \
            tab.locator("table.registry thead").bounding_box()["height"] <= 1
    else:
        assert box["height"] < 80  # a table row
        assert tab.locator("table.registry thead").is_visible()
