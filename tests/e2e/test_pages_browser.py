"""Every staff page at 1366×768 and at 390×844 (a phone): axe-core finds no serious or
critical violation, and on a phone the page's own content starts within the first 200 px
(the menu folds behind a button) and nothing scrolls sideways."""

from __future__ import annotations

import re

import pytest

from tests.admin_helpers import login, make_staff  # noqa: F401  (make_staff: site's accounts)
from tests.e2e.test_registry_browser import seed
from tests.test_admin_broadcasts import compose, new_id, people
from tests.test_admin_inbox import ask_agent


@pytest.fixture
def furnished(app, site):
    """A site with actors, a ticket, an announcement and the demo content: the URL of one of
    each kind of page, by name."""
    seed(app)
    people(app)
    ticket_id = ask_agent(app, question="comment avoir la carte d'artisan ?")
    client = app.test_client()
    login(client, "admin")
    broadcast_id = new_id(compose(client))
    html = client.get("/admin/content").get_data(as_text=True)
    article = re.search(r'href="(/admin/content/[^"]+)"', html).group(1)
    staff = client.get("/admin/staff").get_data(as_text=True)
    account = re.search(r'href="(/admin/staff/\d+)"', staff).group(1)
    registry = client.get("/admin/registry").get_data(as_text=True)
    actor = re.search(r'href="(/admin/registry/\d+)(?:\?[^"]*)?"', registry).group(1)
    return {
        "dashboard": "/admin/", "registry": "/admin/registry", "actor": actor,
        "actor-edit": f"{actor}/edit", "import": "/admin/registry/import",
        "inbox": "/admin/inbox", "ticket": f"/admin/inbox/{ticket_id}",
        "saved-replies": "/admin/inbox/replies",
        "content": "/admin/content", "article": article,
        "broadcasts": "/admin/broadcasts", "compose": "/admin/broadcasts/new",
        "broadcast": f"/admin/broadcasts/{broadcast_id}", "simulator": "/admin/simulator",
        "staff": "/admin/staff", "account": account, "audit": "/admin/audit",
    }


def content_top(tab) -> float:
    """Where the page's own content (the first heading of <main>) starts, in CSS pixels."""
    return tab.evaluate("document.querySelector('main h1').getBoundingClientRect().top")


def test_every_page_passes_axe_and_fits_the_screen(sized_page, furnished, login_as, axe):
    tab = sized_page
    tab.goto(f"{tab.base}/admin/login")
    assert axe(tab) == [], "login"
    login_as(tab, "admin")
    problems = {}
    for name, path in furnished.items():
        response = tab.goto(f"{tab.base}{path}")
        assert response.status == 200, (name, response.status)
        found = axe(tab)
        if found:
            problems[name] = found
        if tab.size == "phone":
            if content_top(tab) >= 200:
                problems.setdefault(name, []).append(f"content starts at {content_top(tab)} px")
            width = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if width[0] > width[1]:
                problems.setdefault(name, []).append(f"page {width[0]} px wide")
    assert problems == {}
    assert tab.js_errors == []


def test_the_phone_menu_opens_from_its_button(sized_page, furnished, login_as):
    tab = sized_page
    login_as(tab, "agent")
    tab.goto(f"{tab.base}/admin/registry")
    menu = tab.locator("header nav a:has-text('Boîte de réception')")
    if tab.size == "desktop":
        assert menu.is_visible()
        assert not tab.locator("header .menu > summary").is_visible()
        return
    assert not menu.is_visible()  # folded: the registry starts at the top of the screen
    tab.click("header .menu > summary")
    assert menu.is_visible()
    menu.click()
    tab.wait_for_url("**/admin/inbox")
    assert tab.locator("main h1").inner_text() == "Boîte de réception"
