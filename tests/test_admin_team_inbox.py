"""The inbox of a team (issue 20): assign a ticket to a colleague, a reply that leaves the
ticket open unless the agent closes it, saved replies per language, internal notes (deleted
with the person's data), and an admin revealing the full number of a person outside the
registry, audited."""

from __future__ import annotations

import sqlalchemy as sa

from bot.db import session_scope
from bot.models.content import TicketNote
from bot.registry.forget import forget_contact
from tests.admin_helpers import EMAILS
from tests.fake_twilio import FakeTwilio, settings_for
import pytest

from tests.admin_helpers import make_staff
from tests.test_admin_inbox import PHONE, as_role, ask_agent, audits, page_text, post, ticket


@pytest.fixture
def staff(app):
    """One account per role (tests/admin_helpers.py), no login throttle."""
    app.config["ESSBOT_LOGIN_RATE"] = ""
    return make_staff(app)


def test_an_agent_gives_a_ticket_to_a_colleague(app, staff):
    ticket_id = ask_agent(app)
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    html = page_text(agent.get(page))
    assert f'<option value="{EMAILS["admin"]}"' in html  # colleagues are offered
    assert f'<option value="{EMAILS["viewer"]}"' not in html  # a viewer cannot answer
    post(agent, f"{page}/status", {"action": "assign_to", "assignee": EMAILS["admin"]}, page)
    assert ticket(app, ticket_id).assigned_to == EMAILS["admin"]
    assert "Ticket attribué à Admin." in page_text(agent.get(page))
    # Handed on again, to oneself.
    post(agent, f"{page}/status", {"action": "assign_to", "assignee": EMAILS["agent"]}, page)
    assert ticket(app, ticket_id).assigned_to == EMAILS["agent"]
    bad = post(agent, f"{page}/status", {"action": "assign_to",
                                         "assignee": EMAILS["viewer"]}, page)
    assert bad.status_code == 302 and ticket(app, ticket_id).assigned_to == EMAILS["agent"]
    moves = [d for a, _t, d, _e in audits(app) if a == "ticket_assign_to"]
    assert [m["to"] for m in moves] == [EMAILS["admin"], EMAILS["agent"]]


def test_a_reply_leaves_the_ticket_open_unless_closed(app, staff):
    ticket_id = ask_agent(app)
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    with FakeTwilio() as fake:
        app.config.update(settings_for(fake))
        sent = post(agent, f"{page}/reply", {"text": "Bonjour, une question ?",
                                             "action": "send"}, page)
        assert sent.status_code == 302
        assert ticket(app, ticket_id).status == "open"
        assert "Le ticket reste ouvert." in page_text(agent.get(page))
        again = post(agent, f"{page}/reply", {"text": "Bonjour, une question ?",
                                              "action": "send"}, page)
        assert again.status_code == 400 and len(fake.requests) == 1  # a double click
        post(agent, f"{page}/reply", {"text": "Merci, à bientôt.", "action": "send",
                                      "close": "1"}, page)
        assert len(fake.requests) == 2
    t = ticket(app, ticket_id)
    assert t.status == "closed" and t.answered_at is not None
    assert "Le ticket est fermé." in page_text(agent.get(page))


def test_saved_replies_are_offered_in_the_persons_language(app, staff):
    ticket_id = ask_agent(app)  # a French speaker
    agent = as_role(app, "agent")
    replies = "/admin/inbox/replies"
    post(agent, replies, {"language": "fr", "title": "Carte d'artisan",
                          "text": "Passez au service ESS avec votre pièce d'identité."}, replies)
    post(agent, replies, {"language": "bm", "title": "Karti",
                          "text": "Na ESS baarakɛyɔrɔ la."}, replies)
    post(agent, replies, {"language": "fr", "title": "", "text": "x"}, replies)
    assert "Donnez un titre" in page_text(agent.get(replies))
    page = f"/admin/inbox/{ticket_id}"
    html = page_text(agent.get(page))
    assert "Carte d'artisan" in html and "Karti" not in html
    # Without JavaScript, "Utiliser" puts the text in the box; nothing is sent.
    import re

    saved_id = re.search(r'<option value="(\d+)" data-text', html).group(1)
    used = post(agent, f"{page}/reply", {"action": "use_saved", "saved": saved_id, "text": ""},
                page)
    assert "votre pièce d'identité.</textarea>" in page_text(used)
    assert ticket(app, ticket_id).answered_at is None


def test_internal_notes_stay_inside_and_go_with_the_person(app, staff):
    ticket_id = ask_agent(app)
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    with FakeTwilio() as fake:
        app.config.update(settings_for(fake))
        post(agent, f"{page}/note", {"body": "Rappeler lundi, elle travaille le matin."}, page)
        assert fake.requests == []  # never sent to the person
    assert "Rappeler lundi" in page_text(as_role(app, "viewer").get(page))
    [event] = [d for a, _t, d, _e in audits(app) if a == "ticket_note"]
    assert "Rappeler" not in str(event)
    post(agent, f"{page}/note", {"body": " "}, page)
    assert "Écrivez la note" in page_text(agent.get(page))
    with session_scope(app) as s:
        contact_id = s.execute(sa.text("SELECT contact_id FROM ticket WHERE id = :i"),
                               {"i": ticket_id}).scalar()
    forget_contact(app, contact_id)
    with session_scope(app) as s:
        assert s.scalars(sa.select(TicketNote)).all() == []


def test_an_admin_reveals_the_number_of_a_person_outside_the_registry(app, staff):
    ticket_id = ask_agent(app)
    page = f"/admin/inbox/{ticket_id}"
    agent = as_role(app, "agent")
    assert "reveal-phone" not in page_text(agent.get(page))
    assert post(agent, f"{page}/reveal", {}, page).status_code == 403
    admin = as_role(app, "admin")
    html = page_text(admin.get(page))
    assert PHONE not in html and "reveal-phone" in html
    shown = page_text(post(admin, f"{page}/reveal", {}, page))
    assert f'href="tel:{PHONE}"' in shown
    [(action, target, detail, who)] = [e for e in audits(app) if e[0] == "phone_reveal"]
    assert (target, who) == (f"ticket:{ticket_id}", EMAILS["admin"])
    assert PHONE not in str(detail)
