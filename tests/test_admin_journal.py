"""The journal (/admin/audit) in the staff's words: French labels for the actions, objects
as links, details in words, and filters by account and by day."""

from __future__ import annotations

from datetime import timedelta

from bot.audit import record_audit
from bot.db import session_scope
from bot.models import utcnow
from bot.models.staff import AuditEvent
from tests.admin_helpers import EMAILS, login, make_staff
from tests.test_admin_inbox import page_text


def events(app):
    now = utcnow()
    record_audit(app, "ticket_view", "ticket:7", staff_id=None, staff_email=EMAILS["agent"])
    record_audit(app, "export", "registry", staff_id=None, staff_email=EMAILS["admin"],
                 detail={"format": "csv", "rows": 12, "filters": {"gender": ["femme"]}})
    record_audit(app, "view", "actor:2007", staff_id=None, staff_email=EMAILS["agent"])
    with session_scope(app) as s:
        old = s.query(AuditEvent).filter_by(action="view").one()
        old.at = now - timedelta(days=10)


def test_the_journal_speaks_french_and_links_its_objects(app, client):
    make_staff(app)
    events(app)
    login(client, "admin")
    html = page_text(client.get("/admin/audit"))
    assert "Ticket consulté" in html and "ticket_view</a>" not in html
    assert '<a href="/admin/inbox/7">Ticket n° 7</a>' in html
    assert '<a href="/admin/registry/2007">Fiche n° 2007</a>' in html
    assert "format : csv ; lignes : 12 ; filtres : gender = femme" in html
    assert "{&#34;" not in html and '{"' not in html  # no raw JSON


def test_the_journal_filters_by_account_and_day(app, client):
    make_staff(app)
    events(app)
    login(client, "admin")
    mine = page_text(client.get(f"/admin/audit?qui={EMAILS['agent']}"))
    assert "Ticket n° 7" in mine and "lignes : 12" not in mine
    today = utcnow().strftime("%d/%m/%Y")
    recent = page_text(client.get(f"/admin/audit?qui={EMAILS['agent']}&du={today}"))
    assert "Ticket n° 7" in recent and "Fiche n° 2007" not in recent
    old_day = (utcnow() - timedelta(days=10)).strftime("%Y-%m-%d")
    old = page_text(client.get(f"/admin/audit?du={old_day}&au={old_day}"))
    assert "Fiche n° 2007" in old and "Ticket n° 7" not in old
    bad = page_text(client.get("/admin/audit?du=hier"))
    assert "Date non comprise" in bad
