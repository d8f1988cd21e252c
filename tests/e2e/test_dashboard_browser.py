"""In the browser: the Tableau de bord on a realistic registry (300 demo actors), charts drawn,
no script error, no resource refused by the Content-Security-Policy; its screenshot for the
README."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot.db import transaction
from bot.demo import seed_demo
from bot.models import Contact, Message, utcnow
from bot.models.content import Ticket


def realistic(app) -> None:
    """300 demo actors, plus a week of messages and two open hand-over tickets."""
    seed_demo(app, 300, seed=2026)
    now = utcnow()
    c, m, t = Contact.__table__, Message.__table__, Ticket.__table__
    with transaction(app) as conn:
        ids = conn.execute(sa.select(c.c.id).order_by(c.c.id).limit(40)).scalars().all()
        for n, contact_id in enumerate(ids):
            at = now - timedelta(hours=4 * n + 1)
            conn.execute(sa.insert(m), [
                {"contact_id": contact_id, "direction": "in", "channel": "sms", "body": "MENU",
                 "status": "received", "created_at": at},
                {"contact_id": contact_id, "direction": "out", "channel": "sms", "body": "Menu",
                 "status": "delivered", "created_at": at + timedelta(seconds=2)}])
        for contact_id in ids[:2]:
            conn.execute(sa.insert(t).values(contact_id=contact_id, status="open",
                                             reason="asked", created_at=now, updated_at=now))


def test_dashboard_shows_charts_and_tables(app, page, login_as, screenshot):
    realistic(app)
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text)
            if msg.type == "error" and "favicon" not in msg.location.get("url", "") else None)
    login_as(page, "viewer")
    page.goto(f"{page.base}/admin/")
    assert page.locator("h1").inner_text() == "Tableau de bord"
    charts = page.locator("figure.chart svg")
    assert charts.count() == 8
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 80, i
    # Bars are drawn (not an empty "Aucune donnée" chart).
    assert page.locator("#h-quartier ~ .dash-pair svg .bars rect").count() >= 15
    numbers = page.locator("#numbers .number strong").all_inner_texts()
    assert len(numbers) == 6 and numbers[0].replace("\u202f", "").isdigit()
    assert int(numbers[0].replace("\u202f", "")) > 200
    # The youth band of APEJ is named and highlighted in the age table.
    assert "15–40 ans (jeunes, APEJ)" in page.locator("#t-age tr.youth").inner_text()
    # The period filter works without JavaScript (a plain GET form).
    page.select_option("#periode", "30j")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/admin/?periode=30j")
    assert "Semaine du" in page.locator("#t-time").inner_text()
    page.goto(f"{page.base}/admin/")
    assert page.js_errors == []
    assert console_errors == []  # e.g. an inline script refused by the CSP
    screenshot(page, "dashboard")


def test_dashboard_on_a_phone(app, page, login_as):
    seed_demo(app, 120, seed=7)
    login_as(page, "viewer")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{page.base}/admin/")
    # One column: no horizontal scrolling of the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("figure.chart svg").first.is_visible()
