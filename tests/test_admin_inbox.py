"""Staff interface, Boîte de réception (issue 6 item 5): the ticket list and its tabs, the
ticket page (conversation, registry, media through the authenticated proxy), the reply on
the right channel against a fake Twilio, status moves, roles, CSRF and the audit log; and
the shared SMS part count endpoint."""

from __future__ import annotations

import base64
import html as html_module
import itertools
import re
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bot import sms
from bot.channels.base import InboundMessage
from bot.conversations import handle_inbound
from bot.db import session_scope
from bot.models import Contact, Message
from bot.models.content import Ticket
from bot.models.staff import AuditEvent
from tests.admin_helpers import EMAILS, csrf_token, login, make_staff
from tests.fake_twilio import ACCOUNT, FakeTwilio, settings_for

PHONE = "+22370111222"
OTHER = "+22376543210"
_sids = itertools.count(1)


def say(app, text, channel="sms", phone=PHONE, kind="text", media=None, at=None):
    """One inbound message through the bot's real path."""
    msg = InboundMessage(channel=channel, address=phone, text=text, kind=kind,
                         media=media or [], provider_sid=f"IB{next(_sids):032d}",
                         received_at=at or datetime.now(timezone.utc))
    return [r.body for r in handle_inbound(app, msg).replies]


def ask_agent(app, channel="sms", phone=PHONE, question="je veux savoir pour le crédit"):
    """A French speaker asks for an agent with a question; returns the ticket id."""
    say(app, "Bonjour", channel, phone)
    say(app, "1", channel, phone)
    say(app, f"agent: {question}", channel, phone)
    with session_scope(app) as s:
        return s.scalars(sa.select(Ticket.id).order_by(Ticket.id.desc())).first()


def ticket(app, ticket_id):
    with session_scope(app) as s:
        t = s.get(Ticket, ticket_id)
        s.expunge(t)
        return t


def set_contact(app, phone=PHONE, **values):
    with session_scope(app) as s:
        contact = s.scalars(sa.select(Contact).where(Contact.phone == phone)).one()
        for key, value in values.items():
            setattr(contact, key, value)


def audits(app, action=None):
    with session_scope(app) as s:
        query = sa.select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        return [(e.action, e.target, dict(e.detail or {}), e.staff_email)
                for e in s.scalars(query)]


@pytest.fixture
def staff(app):
    app.config["ESSBOT_LOGIN_RATE"] = ""
    return make_staff(app)


def as_role(app, role):
    client = app.test_client()
    login(client, role)
    return client


def page_text(response) -> str:
    """The page with HTML entities decoded (French apostrophes come out either way)."""
    return html_module.unescape(response.get_data(as_text=True))


def post(client, url, data, page):
    token = csrf_token(client.get(page).data)
    return client.post(url, data={**data, "csrf_token": token})


# ------------------------------------------------------------------------------------------
# List
# ------------------------------------------------------------------------------------------

def test_the_list_shows_tickets_newest_first_with_french_reasons_and_masked_phones(app, staff):
    first = ask_agent(app)
    say(app, "", channel="whatsapp", phone=OTHER, kind="audio",
        media=[{"url": "https://api.twilio.com/x", "content_type": "audio/ogg"}])
    client = as_role(app, "viewer")
    html = page_text(client.get("/admin/inbox"))
    assert "A demandé un agent" in html and "Message vocal ou image" in html
    assert "je veux savoir pour le crédit" in html
    assert PHONE not in html and OTHER not in html  # phones are masked
    assert html.index("Message vocal ou image") < html.index("A demandé un agent")  # newest first
    assert "WhatsApp" in html and "SMS" in html and "français" in html
    assert f'/admin/inbox/{first}"' in html
    # Tabs: two unassigned, none assigned.
    assert re.search(r"Non attribués <span class=\"count\">2</span>", html)
    assert re.search(r"Attribués <span class=\"count\">0</span>", html)
    assert ("inbox_view", None, {"tab": "open", "page": 1}, EMAILS["viewer"]) in audits(app)


def test_tabs_filter_assigned_mine_and_closed(app, staff):
    mine = ask_agent(app)
    theirs = ask_agent(app, phone=OTHER, question="mon dossier APEJ est bloqué")
    agent, admin = as_role(app, "agent"), as_role(app, "admin")
    page = f"/admin/inbox/{mine}"
    assign = post(agent, f"/admin/inbox/{mine}/status", {"action": "assign"}, page)
    assert assign.status_code == 302
    page = f"/admin/inbox/{theirs}"
    close = post(admin, f"/admin/inbox/{theirs}/status", {"action": "close"}, page)
    assert close.status_code == 302
    html = page_text(agent.get("/admin/inbox?tab=mine"))
    assert "pour le crédit" in html and "APEJ" not in html
    assert "pour le crédit" not in page_text(admin.get("/admin/inbox?tab=mine"))
    assert "pour le crédit" in page_text(admin.get("/admin/inbox?tab=assigned"))
    closed = page_text(admin.get("/admin/inbox?tab=closed"))
    assert "APEJ" in closed and "pour le crédit" not in closed
    assert "Aucun ticket ici." in page_text(admin.get("/admin/inbox?tab=open"))
    # An unknown tab is the default one, not an error.
    assert agent.get("/admin/inbox?tab=zzz&page=abc").status_code == 200


# ------------------------------------------------------------------------------------------
# Roles, CSRF, status moves
# ------------------------------------------------------------------------------------------

def test_a_viewer_reads_the_ticket_but_cannot_reply_or_move_it(app, staff):
    ticket_id = ask_agent(app)
    viewer = as_role(app, "viewer")
    response = viewer.get(f"/admin/inbox/{ticket_id}")
    html = page_text(response)
    assert response.status_code == 200
    assert "pour le crédit" in html and "bubble in" in html
    assert "Envoyer" not in html and "M'attribuer" not in html and 'name="text"' not in html
    token = csrf_token(html)  # the logout form's token is valid for the session
    refused = viewer.post(f"/admin/inbox/{ticket_id}/reply",
                          data={"text": "Bonjour", "action": "send", "csrf_token": token})
    assert refused.status_code == 403
    refused = viewer.post(f"/admin/inbox/{ticket_id}/status",
                          data={"action": "assign", "csrf_token": token})
    assert refused.status_code == 403
    assert ticket(app, ticket_id).status == "open"
    assert ("ticket_view", f"ticket:{ticket_id}", {}, EMAILS["viewer"]) in audits(app)


def test_posts_without_the_csrf_token_are_refused(app, staff):
    ticket_id = ask_agent(app)
    agent = as_role(app, "agent")
    assert agent.post(f"/admin/inbox/{ticket_id}/status",
                      data={"action": "close"}).status_code == 400
    assert agent.post(f"/admin/inbox/{ticket_id}/reply",
                      data={"text": "Bonjour", "action": "send"}).status_code == 400
    assert agent.post("/admin/sms/parts", data={"text": "Bonjour"}).status_code == 400
    assert ticket(app, ticket_id).status == "open"


def test_status_moves_follow_the_ticket_lifecycle(app, staff):
    ticket_id = ask_agent(app)
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    url = f"/admin/inbox/{ticket_id}/status"

    def move(action):
        response = post(agent, url, {"action": action}, page)
        assert response.status_code == 302
        return page_text(agent.get(page))

    html = move("assign")
    assert "Le ticket vous est attribué." in html  # issue 20: was "Ticket attribué à vous."
    t = ticket(app, ticket_id)
    assert (t.status, t.assigned_to) == ("assigned", EMAILS["agent"])
    assert 'value="unassign"' in html and 'value="assign"' not in html
    assert "Impossible" in move("assign")  # assigned → assigned is not a move
    move("unassign")
    assert (ticket(app, ticket_id).status, ticket(app, ticket_id).assigned_to) == ("open", None)
    move("close")
    t = ticket(app, ticket_id)
    assert t.status == "closed" and t.closed_at is not None
    assert "Impossible" in move("unassign")  # closed → only reopen
    html = move("reopen")
    assert ticket(app, ticket_id).status == "open" and ticket(app, ticket_id).closed_at is None
    assert "Action inconnue." in move("fly")
    actions = [(a, d) for a, _t, d, _e in audits(app) if a.startswith("ticket_") and a not in (
        "ticket_view",)]
    assert actions == [("ticket_assign", {"old": "open", "new": "assigned"}),
                       ("ticket_unassign", {"old": "assigned", "new": "open"}),
                       ("ticket_close", {"old": "open", "new": "closed"}),
                       ("ticket_reopen", {"old": "closed", "new": "open"})]
    assert agent.get("/admin/inbox/999").status_code == 404


# ------------------------------------------------------------------------------------------
# Replies
# ------------------------------------------------------------------------------------------

def test_reply_on_whatsapp_inside_the_window(app, staff):
    ticket_id = ask_agent(app, channel="whatsapp")
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    html = page_text(agent.get(page))
    assert "partira par WhatsApp" in html and "ouverte jusqu'au" in html
    assert 'data-parts-channel="whatsapp"' in html
    text = "I ni ce ! Le service ESS vous rappelle demain à 10 h."
    with FakeTwilio() as fake:
        app.config.update(settings_for(fake))
        checked = post(agent, f"/admin/inbox/{ticket_id}/reply",
                       {"text": text, "action": "check"}, page)
        assert checked.status_code == 200 and fake.requests == []  # "Vérifier" sends nothing
        assert "WhatsApp : 53 caractères" in page_text(checked)
        assert text in page_text(checked)  # the text stays in the box
        sent = post(agent, f"/admin/inbox/{ticket_id}/reply", {"text": text, "action": "send",
                                                           "close": "1"},
                    page)
        assert sent.status_code == 302
        [request] = fake.requests
    assert request["form"]["To"] == f"whatsapp:{PHONE}" and request["form"]["Body"] == text
    html = page_text(agent.get(page))
    assert "Réponse envoyée par WhatsApp" in html
    assert text in html and "réponse du service" in html  # the reply is in the conversation
    t = ticket(app, ticket_id)
    assert (t.status, t.reply_channel) == ("closed", "whatsapp")
    [(_a, _t, detail, who)] = audits(app, "ticket_reply")
    assert detail["channel"] == "whatsapp" and detail["status"] == "sent" and who == EMAILS["agent"]
    assert text not in str(detail) and "I ni ce" not in str(audits(app))  # no body audited


def test_reply_goes_by_sms_outside_the_window_with_its_part_count(app, staff):
    ticket_id = ask_agent(app, channel="whatsapp")
    say(app, "MENU", channel="sms")  # the person also writes by SMS
    two_days_ago = datetime.now(timezone.utc) - timedelta(days=2)
    set_contact(app, last_inbound_whatsapp_at=two_days_ago)
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    html = page_text(agent.get(page))
    assert "fenêtre WhatsApp est fermée depuis le" in html and "partira par SMS" in html
    text = ("Bonjour, votre dossier RAMU est à déposer au service ESS de la mairie. Munissez-vous "
            "d'une pièce d'identité et de votre carte d'artisan ; l'agent vous aidera à remplir "
            "le formulaire sur place. Ɛ bɛ")
    expected = sms.report(text, "sms", "fr")
    assert expected["segments"] == 2 and expected["encoding"] == "GSM-7"
    with FakeTwilio() as fake:
        app.config.update(settings_for(fake))
        checked = page_text(post(agent, f"/admin/inbox/{ticket_id}/reply",
                                 {"text": text, "action": "check"}, page))
        assert "2 SMS · GSM-7" in checked and "Texte réellement envoyé" in checked  # Ɛ is folded
        post(agent, f"/admin/inbox/{ticket_id}/reply", {"text": text, "action": "send"}, page)
        [request] = fake.requests
    assert request["form"]["To"] == PHONE and request["form"]["Body"] == expected["rendered"]
    assert "Réponse envoyée par SMS" in page_text(agent.get(page))
    assert ticket(app, ticket_id).reply_channel == "sms"
    [(_a, _t, detail, _w)] = audits(app, "ticket_reply")
    assert detail["parts"] == 2 and detail["channel"] == "sms"


def test_a_refused_reply_says_why_keeps_the_text_and_the_ticket_open(app, staff):
    ticket_id = ask_agent(app)
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    with FakeTwilio(stopped=[PHONE]) as fake:
        app.config.update(settings_for(fake))
        response = post(agent, f"/admin/inbox/{ticket_id}/reply",
                        {"text": "Nous avons bien noté.", "action": "send"}, page)
    html = page_text(response)
    assert "Échec de l'envoi par SMS" in html and "21610" in html and "STOP" in html
    assert "Nous avons bien noté.</textarea>" in html
    assert ticket(app, ticket_id).status == "open"
    [(_a, _t, detail, _w)] = audits(app, "ticket_reply")
    assert (detail["status"], detail["error"]) == ("failed", 21610)


def test_no_channel_open_is_said_before_sending_and_nothing_is_sent(app, staff):
    ticket_id = ask_agent(app, channel="whatsapp")
    set_contact(app, last_inbound_whatsapp_at=datetime.now(timezone.utc) - timedelta(days=3))
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    html = page_text(agent.get(page))
    assert "Aucun envoi possible." in html and "jamais écrit par SMS" in html
    assert 'value="send"' not in html
    with FakeTwilio() as fake:
        app.config.update(settings_for(fake))
        response = post(agent, f"/admin/inbox/{ticket_id}/reply",
                        {"text": "Bonjour", "action": "send"}, page)
        assert fake.requests == []
    assert response.status_code == 400 and "Réponse non envoyée" in page_text(response)
    assert "Bonjour</textarea>" in page_text(response)
    assert ticket(app, ticket_id).status == "open"


def test_a_second_send_of_an_answered_ticket_is_refused(app, staff):
    ticket_id = ask_agent(app)
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    token = csrf_token(agent.get(page).data)
    with FakeTwilio() as fake:
        app.config.update(settings_for(fake))
        data = {"text": "Réponse", "action": "send", "csrf_token": token, "close": "1"}
        assert agent.post(f"/admin/inbox/{ticket_id}/reply", data=data).status_code == 302
        second = agent.post(f"/admin/inbox/{ticket_id}/reply", data=data)  # a double click
        assert len(fake.requests) == 1
    assert second.status_code == 400 and "Rouvrez-le" in page_text(second)
    empty = agent.post(f"/admin/inbox/{ticket_id}/reply",
                       data={"text": "  ", "action": "send", "csrf_token": token})
    assert empty.status_code == 400


def test_an_opted_out_person_cannot_be_answered(app, staff):
    ticket_id = ask_agent(app)
    say(app, "STOP")
    html = page_text(as_role(app, "agent").get(f"/admin/inbox/{ticket_id}"))
    assert "ne plus recevoir de messages (STOP)" in html and 'value="send"' not in html


# ------------------------------------------------------------------------------------------
# Registry summary
# ------------------------------------------------------------------------------------------

def test_the_registry_summary_links_to_the_registry_entry(app, staff):
    from bot.models import Actor

    ticket_id = ask_agent(app)
    with session_scope(app) as s:
        contact = s.scalars(sa.select(Contact).where(Contact.phone == PHONE)).one()
        actor = Actor(contact_id=contact.id, registration_code="ESS3-000042", name="Awa Traoré",
                      kind="individu", quartier="Badialan I", sector="textile",
                      consent_at=datetime.now(timezone.utc),
                      registered_at=datetime.now(timezone.utc), completeness=100)
        s.add(actor)
        s.flush()
        actor_id = actor.id
    html = page_text(as_role(app, "viewer").get(f"/admin/inbox/{ticket_id}"))
    assert "ESS3-000042" in html and "Awa Traoré" in html and "Badialan I" in html
    assert f'href="/admin/registry/{actor_id}"' in html
    assert "Personne" in html and "Vous-même" not in html


# ------------------------------------------------------------------------------------------
# Media proxy
# ------------------------------------------------------------------------------------------

AUDIO = b"OggS" + bytes(range(256)) * 40


class FakeMedia:
    """A loopback 'Twilio' serving media behind HTTP Basic auth and redirecting to a 'CDN'
    on another port, as Twilio does; records the Authorization each side received."""

    def __init__(self, sid=ACCOUNT, token="tok"):
        self.expected = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()
        self.api_auth: list[str | None] = []
        self.cdn_auth: list[str | None] = []
        self.cdn = make_server("127.0.0.1", 0, self._cdn, threaded=True)
        self.api = make_server("127.0.0.1", 0, self._api, threaded=True)
        self.url = f"http://127.0.0.1:{self.api.server_port}"
        self.cdn_url = f"http://127.0.0.1:{self.cdn.server_port}"

    def media_url(self, name="ME1"):
        return f"{self.url}/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/{name}"

    @Request.application
    def _api(self, request):
        self.api_auth.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != self.expected:
            return Response("unauthorized", status=401)
        name = request.path.rsplit("/", 1)[-1]
        if name == "gone":
            return Response("not found", status=404)
        return Response(status=307, headers={"Location": f"{self.cdn_url}/cdn/{name}"})

    @Request.application
    def _cdn(self, request):
        self.cdn_auth.append(request.headers.get("Authorization"))
        name = request.path.rsplit("/", 1)[-1]
        if name == "page":
            return Response("<script>alert(1)</script>", mimetype="text/html")
        if name == "image":
            return Response(b"\x89PNG\r\n\x1a\n" + b"0" * 64, mimetype="image/png")
        return Response(AUDIO, mimetype="audio/ogg")

    def __enter__(self):
        for server in (self.api, self.cdn):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        for server in (self.api, self.cdn):
            server.shutdown()
            server.server_close()


def _media_message(app, urls):
    say(app, "", channel="whatsapp", kind="audio",
        media=[{"url": url, "content_type": ctype} for url, ctype in urls])
    with session_scope(app) as s:
        return s.scalars(sa.select(Message.id).where(Message.direction == "in")
                         .order_by(Message.id.desc())).first()


def test_voice_notes_and_images_play_through_the_authenticated_proxy(app, staff):
    with FakeMedia() as fake:
        app.config.update(TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN="tok",
                          TWILIO_API_BASE_URL=fake.url)
        message_id = _media_message(app, [(fake.media_url("ME1"), "audio/ogg"),
                                          (fake.media_url("image"), "image/png")])
        viewer = as_role(app, "viewer")
        with session_scope(app) as s:
            ticket_id = s.scalars(sa.select(Ticket.id)).one()
        html = page_text(viewer.get(f"/admin/inbox/{ticket_id}"))
        assert f'<audio controls preload="none" src="/admin/media/{message_id}/0">' in html
        assert f'<img src="/admin/media/{message_id}/1"' in html
        response = viewer.get(f"/admin/media/{message_id}/0")
        assert response.status_code == 200 and response.data == AUDIO
        assert response.headers["Content-Type"] == "audio/ogg"
        assert response.headers["Cache-Control"] == "no-store"
        image = viewer.get(f"/admin/media/{message_id}/1")
        assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
        # Twilio got the account credentials; its CDN (after the redirect) did not.
        assert fake.api_auth == [fake.expected, fake.expected]
        assert fake.cdn_auth == [None, None]
    assert audits(app, "media_view")[0][:3] == ("media_view", f"message:{message_id}",
                                               {"index": 0, "kind": "audio"})


def test_the_media_proxy_answers_in_french_when_it_cannot(app, staff):
    viewer = as_role(app, "viewer")
    with FakeMedia() as fake:
        message_id = _media_message(app, [(fake.media_url("gone"), "audio/ogg"),
                                          (fake.media_url("page"), "text/html"),
                                          ("http://169.254.169.254/latest/meta-data", "image/png")])
        # No credentials configured.
        missing = viewer.get(f"/admin/media/{message_id}/0")
        assert missing.status_code == 503 and "TWILIO_AUTH_TOKEN" in page_text(missing)
        app.config.update(TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN="tok",
                          TWILIO_API_BASE_URL=fake.url)
        gone = viewer.get(f"/admin/media/{message_id}/0")
        assert gone.status_code == 404 and "n'a plus ce média" in page_text(gone)
        # A stored URL outside Twilio is never fetched with the credentials (no SSRF).
        foreign = viewer.get(f"/admin/media/{message_id}/2")
        assert foreign.status_code == 502 and "pas une adresse de Twilio" in page_text(foreign)
        # Something that is not audio/image/video is a download, never a page of the site.
        page = viewer.get(f"/admin/media/{message_id}/1")
        assert page.headers["Content-Type"] == "application/octet-stream"
        assert page.headers["Content-Disposition"].startswith("attachment")
        page.close()
        assert viewer.get(f"/admin/media/{message_id}/7").status_code == 404
        assert viewer.get("/admin/media/99999/0").status_code == 404
        app.config["TWILIO_AUTH_TOKEN"] = "wrong"
        refused = viewer.get(f"/admin/media/{message_id}/0")
        assert refused.status_code == 502 and "refuse l'accès" in page_text(refused)
    # Twilio unreachable (the server is gone).
    app.config["TWILIO_HTTP_TIMEOUT"] = 2.0
    down = viewer.get(f"/admin/media/{message_id}/0")
    assert down.status_code == 502 and "ne répond pas" in page_text(down)
    # Anonymous visitors never reach the proxy.
    assert app.test_client().get(f"/admin/media/{message_id}/0").status_code == 302


# ------------------------------------------------------------------------------------------
# Part counts
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,channel,language", [
    ("Bonjour, votre dossier est prêt.", "sms", "fr"),
    ("I ni ce, i ka sɛbɛn bɛ ɲɔgɔn fɛ « ka ɲɛ »", "sms", "bm"),
    ("Emoji 😀 " * 12, "sms", "fr"),
    ("Texte WhatsApp sans coût par partie ɛ", "whatsapp", "bm"),
])
def test_the_part_count_endpoint_says_what_the_bot_says(app, staff, text, channel, language):
    agent = as_role(app, "viewer")
    token = csrf_token(agent.get("/admin/inbox").data)
    response = agent.post("/admin/sms/parts", data={"text": text, "channel": channel,
                                                    "language": language},
                          headers={"X-CSRFToken": token})
    assert response.status_code == 200
    data = response.get_json()
    expected = sms.report(text, channel, language)
    assert {k: data[k] for k in expected} == expected
    assert data["parts"] == expected["segments"]
    assert data["summary"]


def test_the_part_count_endpoint_flags_limits_and_refuses_bad_input(app, staff):
    agent = as_role(app, "agent")
    token = csrf_token(agent.get("/admin/inbox").data)
    headers = {"X-CSRFToken": token}
    long_text = "a" * 400  # 3 GSM-7 parts
    data = agent.post("/admin/sms/parts", data={"text": long_text, "limit": "1"},
                      headers=headers).get_json()
    assert data["parts"] == 3 and data["too_long"] and data["paged"]
    assert "au plus 1 SMS" in data["summary"]
    assert agent.post("/admin/sms/parts", data={"text": "x", "channel": "fax"},
                      headers=headers).status_code == 400
    assert agent.post("/admin/sms/parts", data={"text": "x" * 6000},
                      headers=headers).status_code == 400
    assert app.test_client().post("/admin/sms/parts", data={"text": "x"}).status_code in (400, 401)


@pytest.mark.parametrize("result,category,words", [
    ({"status": "sent", "channel": "whatsapp"}, "info", "envoyée par WhatsApp"),
    ({"status": "queued", "channel": "sms"}, "warning", "réessaiera automatiquement"),
    ({"status": "not_sendable", "channel": "none"}, "error", "aucun canal ouvert"),
    ({"status": "failed", "channel": "whatsapp", "error": 63016}, "error",
     "63016 : hors de la fenêtre WhatsApp de 24 heures"),
    ({"status": "failed", "channel": "sms", "error": 30999}, "error", "erreur Twilio 30999."),
    ({"status": "failed", "channel": "sms", "error": "TWILIO_SMS_FROM is not set"}, "error",
     "réglages manquants : TWILIO_SMS_FROM"),
])
def test_every_reply_outcome_is_said_in_french(result, category, words):
    from bot.admin.inbox import outcome_message

    found_category, text = outcome_message(result)
    assert found_category == category and words in text


def test_a_reply_without_a_configured_sender_says_so_and_leaves_the_ticket_unanswered(
        app, staff):
    """Newcomer's test: with no Twilio account the page showed an English reason, and the
    ticket kept "Répondu le…" and its assignee while listed as unassigned."""
    ticket_id = ask_agent(app)
    agent = as_role(app, "agent")
    page = f"/admin/inbox/{ticket_id}"
    post(agent, f"/admin/inbox/{ticket_id}/status", {"action": "assign"}, page)
    assert ticket(app, ticket_id).status == "assigned"
    before = page_text(agent.get(page))
    assert 'id="sender-missing"' in before and "TWILIO_ACCOUNT_SID" in before
    response = post(agent, f"/admin/inbox/{ticket_id}/reply",
                    {"text": "Nous avons bien noté.", "action": "send"}, page)
    html = page_text(response)
    assert "n'est pas configuré" in html and "TWILIO_ACCOUNT_SID" in html
    assert "are required" not in html
    row = ticket(app, ticket_id)
    assert row.status == "assigned" and row.answered_at is None and row.reply_channel is None
