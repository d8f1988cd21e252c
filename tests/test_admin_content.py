"""Staff interface, Contenus (issue 6 item 6): the article list, the bilingual edit page with
part counts, the content rules as French form errors, the staff-edit bookkeeping that
re-seeding respects, roles, CSRF, and — what matters most — the bot answering with the
edited text on its very next message."""

from __future__ import annotations

import html as html_module
import itertools
import re
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from bot import sms
from bot.channels.base import InboundMessage
from bot.content_store import seed_app
from bot.conversations import handle_inbound
from bot.db import session_scope
from bot.models.content import ARTICLE_TEXT_FIELDS, Article
from bot.models.staff import AuditEvent
from tests.admin_helpers import EMAILS, csrf_token, login, make_staff

_sids = itertools.count(1)
PHONE = "+22370222333"
NEW_SHORT = "APEJ: le service ESS de la mairie vous aide a preparer votre dossier APEJ."


def say(app, text, phone=PHONE):
    msg = InboundMessage(channel="sms", address=phone, text=text,
                         provider_sid=f"CT{next(_sids):032d}",
                         received_at=datetime.now(timezone.utc))
    return "\n".join(r.body for r in handle_inbound(app, msg).replies)


@pytest.fixture
def staff(app):
    app.config["ESSBOT_LOGIN_RATE"] = ""
    seed_app(app)
    return make_staff(app)


def as_role(app, role):
    client = app.test_client()
    login(client, role)
    return client


def text_of(response) -> str:
    return html_module.unescape(response.get_data(as_text=True))


def row(app, slug="apej"):
    with session_scope(app) as s:
        article = s.scalars(sa.select(Article).where(Article.slug == slug)).one()
        s.expunge(article)
        return article


def form_data(app, client, slug="apej", **changes):
    """The edit form as the page fills it (values from the database, CSRF token and version
    read from the page), with `changes` applied."""
    page = client.get(f"/admin/content/{slug}").get_data(as_text=True)
    a = row(app, slug)
    data = {f"{name}_{lang}": getattr(a, f"{name}_{lang}")
            for name in ARTICLE_TEXT_FIELDS for lang in ("fr", "bm")}
    data.update(source=a.source, verified=a.verified, verified_note=a.verified_note or "",
                csrf_token=csrf_token(page),
                version=html_module.unescape(
                    re.search(r'name="version"[^>]*value="([^"]*)"', page).group(1)))
    for kind in ("keywords", "synonyms"):
        for lang in ("fr", "bm"):
            data[f"{kind}_{lang}"] = "\n".join(getattr(a, kind).get(lang, []))
    if a.bm_review:
        data["bm_review"] = "y"
    if a.uncertain:
        data["uncertain"] = "y"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def audits(app, action):
    with session_scope(app) as s:
        return [(e.target, dict(e.detail or {}), e.staff_email)
                for e in s.scalars(sa.select(AuditEvent).where(AuditEvent.action == action))]


def test_the_list_shows_articles_by_category_with_dates_and_flags(app):
    app.config["ESSBOT_LOGIN_RATE"] = ""
    make_staff(app)  # no seed: the page seeds an empty table itself
    html = text_of(as_role(app, "viewer").get("/admin/content"))
    assert "Emploi" in html or "emploi" in html
    assert "APEJ: emploi des jeunes" in html and "KAMALENW KA BAARA".lower() in html.lower()
    assert "À relire en bambara" in html and "Version d'origine (fichier)" in html
    assert re.search(r"<td>2026</td>", html)  # the APEJ facts were verified in 2026
    assert html.count('href="/admin/content/') == 18


def test_a_viewer_reads_an_article_but_cannot_edit_it(app, staff):
    viewer = as_role(app, "viewer")
    response = viewer.get("/admin/content/apej")
    html = text_of(response)
    assert response.status_code == 200 and "<fieldset disabled>" in html
    assert "Enregistrer</button>" not in html and "Lecture seule" in html
    assert "parts.js" not in html
    data = form_data(app, viewer, short_fr=NEW_SHORT)
    assert viewer.post("/admin/content/apej", data=data).status_code == 403
    assert row(app).short_fr != NEW_SHORT
    assert viewer.get("/admin/content/nope").status_code == 404


def test_an_edit_without_the_csrf_token_is_refused(app, staff):
    agent = as_role(app, "agent")
    data = form_data(app, agent, short_fr=NEW_SHORT)
    del data["csrf_token"]
    assert agent.post("/admin/content/apej", data=data).status_code == 400
    assert row(app).short_fr != NEW_SHORT


def test_the_page_shows_the_part_count_of_every_text(app, staff):
    html = text_of(as_role(app, "agent").get("/admin/content/apej"))
    a = row(app)
    for key in ("short_fr", "short_bm", "details_fr", "where_bm"):
        lang = key[-2:]
        report = sms.report(getattr(a, key), "sms", lang)
        found = re.search(rf'id="{key}-parts"[^>]*><span class="parts-summary">([^<]*)<', html)
        assert found and found.group(1).startswith(
            f"{report['segments']} SMS · GSM-7 · {report['characters']} caractères"), key
    assert 'data-parts-channel="sms"' in html and 'data-parts-language="bm"' in html
    assert 'data-parts-limit="1"' in html  # the short answer's budget
    assert re.search(r"parts\.[0-9a-f]{12}\.js", html)  # fingerprinted name (issue 20)


def test_an_edit_is_saved_audited_kept_by_reseeding_and_answered_by_the_bot(app, staff):
    say(app, "Bonjour")
    say(app, "1")
    before = say(app, "apej")
    assert "APEJ: agence pour l'emploi des jeunes" in before  # the seeded short answer
    agent = as_role(app, "agent")
    response = agent.post("/admin/content/apej",
                          data=form_data(app, agent, short_fr=NEW_SHORT, bm_review=None))
    assert response.status_code == 302
    html = text_of(agent.get(response.headers["Location"]))
    assert "Article enregistré" in html
    a = row(app)
    assert a.short_fr == NEW_SHORT and a.bm_review is False
    assert a.edited_by_staff and a.edited_by == EMAILS["agent"] and a.edited_at is not None
    assert audits(app, "content_edit") == [
        ("article:apej", {"fields": ["short_fr", "bm_review"]}, EMAILS["agent"])]
    # The bot answers with the new text on the next message (its article cache is rebuilt).
    assert NEW_SHORT in say(app, "apej")
    # A re-seed from the content files keeps the staff edit.
    seed_app(app)
    assert row(app).short_fr == NEW_SHORT
    # The list marks the article as edited by staff.
    listing = text_of(agent.get("/admin/content"))
    assert "Modifié par le service" in listing and EMAILS["agent"] in listing
    # Saving the same values again changes nothing and records nothing.
    again = agent.post("/admin/content/apej", data=form_data(app, agent))
    assert "Aucune modification." in text_of(agent.get(again.headers["Location"]))
    assert len(audits(app, "content_edit")) == 1


@pytest.mark.parametrize("changes,field,message", [
    ({"verified": "2099"}, "verified", "dans le futur"),
    ({"verified": "2026-13"}, "verified", "Cette date n'existe pas."),
    ({"verified": "hier"}, "verified", "AAAA, AAAA-MM ou AAAA-MM-JJ"),
    ({"verified": ""}, "verified", ""),
    ({"source": "  "}, "source", ""),
    ({"short_fr": "Très long. " * 20}, "short_fr", "au plus 1 pour ce texte"),
    ({"details_bm": "Kunnafoni 😀 bɛ yen."}, "details_bm", "hors de l'alphabet SMS"),
    ({"title_bm": ""}, "title_bm", "Texte obligatoire"),
    ({"title_fr": "APEJ: " + "emploi des jeunes " * 4}, "title_fr", "Titre trop long"),
    ({"keywords_fr": "\n  \n"}, "keywords_fr", "Au moins un mot-clé"),
    ({"uncertain": "y"}, "short_fr", "doit dire où confirmer"),
])
def test_broken_rules_are_refused_in_french_and_nothing_is_lost(app, staff, changes, field,
                                                                message):
    agent = as_role(app, "agent")
    original = row(app)
    response = agent.post("/admin/content/apej", data=form_data(app, agent, **changes))
    html = text_of(response)
    assert response.status_code == 400
    assert "Article non enregistré" in html
    assert message in html
    assert re.search(rf'class="field invalid">\s*<label for="{field}"', html) or \
        re.search(rf'<div class="field invalid">\s*<label[^>]*for="{field}"', html), field
    for key, value in changes.items():  # what was typed is still in the form
        if key not in ("uncertain",) and value.strip():
            assert value.strip() in html
    after = row(app)
    assert (after.short_fr, after.verified, after.edited_by_staff) == (
        original.short_fr, original.verified, False)


def test_a_text_longer_than_the_page_size_is_saved_with_a_warning(app, staff):
    app.config["ESSBOT_SMS_MAX_SEGMENTS"] = 1
    agent = as_role(app, "agent")
    details = ("L'APEJ aide les jeunes de 15 a 40 ans: stages, apprentissage, creation "
               "d'entreprise et acces au credit. Demandez au service ESS de la mairie.")
    assert sms.analyze(details).segments == 1
    longer = details + " " + details
    assert sms.analyze(longer).segments == 2
    response = agent.post("/admin/content/apej", data=form_data(app, agent, details_fr=longer))
    assert response.status_code == 302
    html = text_of(agent.get(response.headers["Location"]))
    assert "Article enregistré" in html and "plusieurs pages" in html
    assert row(app).details_fr == longer


def test_a_concurrent_edit_is_not_overwritten_silently(app, staff):
    first, second = as_role(app, "agent"), as_role(app, "admin")
    stale = form_data(app, second, short_fr="APEJ: version de l'administrateur.")
    assert first.post("/admin/content/apej",
                      data=form_data(app, first, short_fr=NEW_SHORT)).status_code == 302
    response = second.post("/admin/content/apej", data=stale)
    html = text_of(response)
    assert response.status_code == 409 and "a été modifié par agent@mairie.test" in html
    assert "APEJ: version de l'administrateur." in html  # kept in the form
    assert row(app).short_fr == NEW_SHORT
    # Submitting again (the form now carries the new version) replaces it on purpose.
    version = re.search(r'name="version"[^>]*value="([^"]*)"', response.get_data(as_text=True))
    stale["version"] = html_module.unescape(version.group(1))
    assert second.post("/admin/content/apej", data=stale).status_code == 302
    assert row(app).short_fr == "APEJ: version de l'administrateur."


def test_the_verified_date_check_matches_the_content_rules():
    from bot.admin.content import check_verified

    today = date(2026, 11, 29)
    assert check_verified("2026", today) is None and check_verified("2026-11-29", today) is None
    assert check_verified("2026-11-30", today) and check_verified("2026-12", today)
    assert check_verified("2026-02-30", today) and check_verified("26", today)


def test_browser_line_ends_are_stored_as_the_bot_sends_them(app, staff):
    agent = as_role(app, "agent")
    typed = "L'APEJ aide les jeunes de 15 a 40 ans.\r\nDemandez au service ESS de la mairie."
    assert agent.post("/admin/content/apej",
                      data=form_data(app, agent, details_fr=typed)).status_code == 302
    assert row(app).details_fr == typed.replace("\r\n", "\n")
    # The same text sent back by a browser (CRLF again) is not a change.
    again = agent.post("/admin/content/apej", data=form_data(app, agent, details_fr=typed))
    assert "Aucune modification." in text_of(agent.get(again.headers["Location"]))
    assert [d["fields"] for _t, d, _w in audits(app, "content_edit")] == [["details_fr"]]
