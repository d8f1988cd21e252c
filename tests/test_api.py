"""The partner API at /api/v1/ (issue 21): tokens, scopes, filters, pagination, sync,
throttling, audit, personal data, announcements, the OpenAPI description.

Runs on SQLite and, with DATABASE_URL set to PostgreSQL, there.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bot import stats
from bot.api_tokens import create_token, digest, revoke_token
from bot.cli import main
from bot.db import get_engine, session_scope
from bot.models import Actor, Contact, utcnow
from bot.models.api import ApiToken
from bot.models.broadcasts import Outbox
from bot.models.staff import AuditEvent

LONG_AGO = timedelta(minutes=5)


@pytest.fixture
def tokens(app):
    """A read token, a write token and a read token allowed personal data, by name."""
    return {"read": create_token(app, "DNPS", "read")[1],
            "write": create_token(app, "ONG Jigiya", "write")[1],
            "personal": create_token(app, "RSU", "read", personal_data=True)[1]}


def auth(token: str) -> dict:
    return {"Authorization": f"Token {token}"}


def add_actors(app, n: int, quartier: str = "Badialan I", sector: str = "commerce",
               start: int = 0, updated=None) -> list[int]:
    """`n` confirmed registry entries (with a contact each), changed LONG_AGO by default."""
    now = utcnow()
    updated = updated or (now - LONG_AGO)
    ids: list[int] = []
    with session_scope(app) as s:
        for i in range(start, start + n):
            # Confirmed registrations consented to announcements (issue 12's rule).
            contact = Contact(phone=f"+2237610{i:04d}", language="fr", last_channel="sms",
                              last_inbound_sms_at=updated, announcements=True,
                              announcements_source="registration", announcements_at=updated)
            s.add(contact)
            s.flush()
            actor = Actor(contact_id=contact.id, phone=contact.phone, kind="individu",
                          name=f"Awa Traoré {i}", gender="femme", birth_year=1990,
                          birth_band="1990-1999", quartier=quartier, sector=sector,
                          language="fr", channel="sms", needs=["formation"],
                          protection=["amo"], registration_code=f"ESS3-{i:06d}",
                          consent_at=now, registered_at=updated, created_at=updated,
                          updated_at=updated)
            s.add(actor)
            s.flush()
            ids.append(actor.id)
    with get_engine(app).begin() as conn:  # the ORM's onupdate would restamp: set it exactly
        conn.execute(sa.update(Actor.__table__).where(Actor.__table__.c.id.in_(ids))
                     .values(updated_at=updated))
    return ids


# --- tokens and scopes ------------------------------------------------------------------------

def test_no_token_is_401_json_never_html(client, tokens):
    for headers in ({}, {"Authorization": "Bearer " + tokens["read"]},
                    {"Authorization": "Token nope"}):
        response = client.get("/api/v1/actors", headers=headers)
        assert response.status_code == 401
        assert response.is_json and response.json["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Token")


def test_unknown_path_and_bad_method_answer_json(client, tokens):
    response = client.get("/api/v1/nothing-here", headers=auth(tokens["read"]))
    assert response.status_code == 404 and response.is_json
    response = client.delete("/api/v1/actors", headers=auth(tokens["read"]))
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"


def test_revoked_token_is_refused(app, client, tokens):
    assert client.get("/api/v1/stats", headers=auth(tokens["read"])).status_code == 200
    with get_engine(app).connect() as conn:
        token_id = conn.execute(sa.select(ApiToken.id).where(
            ApiToken.token_hash == digest(tokens["read"]))).scalar_one()
    assert revoke_token(app, token_id)
    response = client.get("/api/v1/stats", headers=auth(tokens["read"]))
    assert response.status_code == 401 and response.json["error"]["message"] == \
        "unknown or revoked token"


def test_read_token_cannot_write(client, tokens):
    body = {"title": "Formation", "text_fr": "Formation en gestion le 12 décembre."}
    response = client.post("/api/v1/announcements", json=body, headers=auth(tokens["read"]))
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    response = client.post("/api/v1/announcements/1/send", headers=auth(tokens["read"]))
    assert response.status_code == 403


def test_cli_creates_a_token_printed_once_and_stored_hashed(app, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    result = CliRunner().invoke(main, ["api-token", "create", "--name", "Chambre des métiers",
                                       "--scope", "write"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("essbot_") and len(token) > 40
    with get_engine(app).connect() as conn:
        row = conn.execute(sa.select(ApiToken)).one()
    assert row.token_hash == digest(token) and token not in (row.token_hash, row.prefix)
    assert row.scope == "write" and not row.personal_data
    listed = CliRunner().invoke(main, ["api-token", "list"])
    assert token not in listed.output and "Chambre des métiers" in listed.output
    revoked = CliRunner().invoke(main, ["api-token", "revoke", str(row.id)])
    assert revoked.exit_code == 0 and "révoqué" in revoked.output
    again = CliRunner().invoke(main, ["api-token", "revoke", str(row.id)])
    assert again.exit_code != 0 and "aucun jeton actif" in again.output


# --- actors: filters, pagination, personal data ----------------------------------------------

def test_actors_filters_are_the_registry_filters(app, client, tokens):
    add_actors(app, 3, quartier="Badialan I", sector="commerce")
    add_actors(app, 2, quartier="Sogonafing", sector="agriculture", start=10)
    h = auth(tokens["read"])
    assert len(client.get("/api/v1/actors", headers=h).json["data"]) == 5
    data = client.get("/api/v1/actors?quartier=sogonafin", headers=h).json["data"]
    assert {a["quartier"] for a in data} == {"Sogonafing"} and len(data) == 2
    data = client.get("/api/v1/actors?sector=commerce&quartier=Badialan%20I", headers=h).json
    assert len(data["data"]) == 3 and data["filters"] == {"quartier": ["Badialan I"],
                                                          "sector": ["commerce"]}
    bad = client.get("/api/v1/actors?quartier=Atlantis", headers=h)
    assert bad.status_code == 400 and bad.json["error"]["code"] == "invalid_filter"
    assert "Atlantis" in bad.json["error"]["details"][0]


def test_cursor_pagination_walks_every_entry_once(app, client, tokens):
    ids = add_actors(app, 7)
    h = auth(tokens["read"])
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/actors?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=h).json
        seen += [a["id"] for a in page["data"]]
        cursor, pages = page["next_cursor"], pages + 1
        if not page["has_more"]:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 7 and pages == 3
    for bad in ("cursor=zzz", "limit=0", "limit=501", "modified_after=hier",
                "modified_after=2026-12-01T08:00:00"):
        response = client.get(f"/api/v1/actors?{bad}", headers=h)
        assert response.status_code == 400 and response.is_json, bad


def test_personal_data_only_for_tokens_allowed_it_and_masked(app, client, tokens):
    [actor_id] = add_actors(app, 1)
    anonymous = client.get("/api/v1/actors", headers=auth(tokens["read"])).json["data"][0]
    assert anonymous["quartier"] == "Badialan I" and anonymous["registered"] is True
    for field in ("name", "phone", "registration_code", "birth_year", "protection"):
        assert field not in anonymous
    personal = client.get(f"/api/v1/actors/{actor_id}", headers=auth(tokens["personal"])).json
    assert personal["name"] == "Awa Traoré 0" and personal["phone"] == "+223******00"
    assert "protection" not in personal  # possible health data: never through the API
    assert client.get("/api/v1/actors?q=traore", headers=auth(tokens["read"])).status_code == 403
    found = client.get("/api/v1/actors?q=traore", headers=auth(tokens["personal"])).json["data"]
    assert [a["id"] for a in found] == [actor_id]
    assert client.get("/api/v1/actors/999", headers=auth(tokens["read"])).status_code == 404


def test_simulator_test_contacts_are_not_in_the_api(app, client, tokens):
    from bot.phones import TEST_PHONE_PREFIX

    [actor_id] = add_actors(app, 1)
    with get_engine(app).begin() as conn:
        conn.execute(sa.update(Actor.__table__).values(phone=TEST_PHONE_PREFIX + "0001"))
    assert client.get("/api/v1/actors", headers=auth(tokens["read"])).json["data"] == []
    assert client.get(f"/api/v1/actors/{actor_id}", headers=auth(tokens["read"])).status_code == 404


# --- modified_after ---------------------------------------------------------------------------

def test_modified_after_returns_only_later_changes(app, client, tokens):
    now = utcnow()
    add_actors(app, 2, updated=now - timedelta(hours=2))
    recent = add_actors(app, 2, start=10, updated=now - timedelta(minutes=30))
    since = (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    page = client.get(f"/api/v1/actors?modified_after={since}", headers=auth(tokens["read"])).json
    assert [a["id"] for a in page["data"]] == recent


def test_a_change_committed_late_is_not_skipped_thanks_to_the_lag(app, client, tokens):
    """Two registrations: A's transaction stamps updated_at, B's stamps a moment later and
    commits first; a consumer reads between the two commits, then A commits. With no lag the
    consumer's cursor is already past A's stamp: A is lost. With the lag, B was held back,
    and the consumer gets A then B once the lag has passed."""
    def sync(cursor):
        page = client.get("/api/v1/actors" + (f"?cursor={cursor}" if cursor else ""),
                          headers=auth(tokens["read"])).json
        return [a["id"] for a in page["data"]], page["next_cursor"]

    for lag in (0.0, 3.0):
        app.config["ESSBOT_API_SYNC_LAG"] = lag
        with get_engine(app).begin() as conn:
            conn.execute(sa.delete(Actor.__table__))
            conn.execute(sa.delete(Contact.__table__))
        stamp_a = utcnow() - timedelta(seconds=1)
        [old] = add_actors(app, 1, updated=stamp_a - LONG_AGO)
        seen, cursor = sync(None)
        assert seen == [old]
        [b] = add_actors(app, 1, start=30, updated=utcnow())  # B commits first
        between, cursor = sync(cursor)                        # the consumer reads
        [a] = add_actors(app, 1, start=20, updated=stamp_a)   # A commits, stamped earlier
        app.config["ESSBOT_API_SYNC_LAG"] = 0.0               # the lag has passed
        after, cursor = sync(cursor)
        if lag == 0.0:
            assert between == [b] and after == []  # A is lost: what the lag prevents
        else:
            assert between == [] and after == [a, b]


@pytest.mark.slow
def test_sync_with_modified_after_sees_every_change_once_during_registrations(
        app, live_server, tokens):
    """Real registrations over the threaded webhook (each a full dialog, its entry rewritten
    at every answer) while a consumer follows the cursors: at the end it has seen every
    entry's final state, and no (entry, change) twice."""
    import concurrent.futures as cf
    import threading
    import time

    import requests

    from tests.conftest import MESSAGES_URL, inbound_params, sign

    # A short lag, and answers further apart than it (people type at a human pace), so that
    # the consumer meets entries half-way through their registration. (An entry changing
    # faster than the lag is held back until it settles, and then comes once.)
    app.config["ESSBOT_API_SYNC_LAG"] = 0.3
    steps = ["Bonjour, je veux m'inscrire", "1", "oui", "1", "Awa Traoré", "femme", "1990",
             "Badialan 1", "4", "vente de tissus", "non", "1", "OUI"]

    def register(i: int) -> None:
        phone = f"+2237620{i:04d}"
        for text in steps:
            params = inbound_params(text, phone=phone)
            r = requests.post(live_server + "/webhooks/twilio/messages", data=params,
                              headers={"X-Twilio-Signature": sign(MESSAGES_URL, params)},
                              timeout=60)
            assert r.status_code == 200
            time.sleep(0.4)

    seen: list[tuple[int, str]] = []
    stop = threading.Event()
    state = {"cursor": None}

    def consume_once() -> None:
        while True:
            url = live_server + "/api/v1/actors?limit=7&status=all"
            if state["cursor"]:
                url += f"&cursor={state['cursor']}"
            page = requests.get(url, headers=auth(tokens["read"]), timeout=60).json()
            seen.extend((a["id"], a["updated_at"]) for a in page["data"])
            state["cursor"] = page["next_cursor"]
            if not page["has_more"]:
                return

    def consumer() -> None:
        while not stop.is_set():
            consume_once()
            time.sleep(0.05)

    thread = threading.Thread(target=consumer)
    thread.start()
    with cf.ThreadPoolExecutor(12) as pool:
        list(pool.map(register, range(12)))
    time.sleep(1.0)  # past the lag
    stop.set()
    thread.join(60)
    consume_once()
    with get_engine(app).connect() as conn:
        final = {r.id: r.updated_at.isoformat() for r in conn.execute(
            sa.select(Actor.id, Actor.updated_at))}
    assert len(final) == 12
    with get_engine(app).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Actor).where(
            Actor.registered_at.is_not(None))).scalar_one() == 12
    assert len(seen) == len(set(seen)), "a change was returned twice"
    last_seen = {}
    for actor_id, stamp in seen:
        last_seen[actor_id] = stamp
    assert last_seen == final, "the consumer missed a change"
    assert len(seen) > len(final)  # it did sync while the registrations went on


# --- throttling and audit ---------------------------------------------------------------------

def test_throttled_per_token_with_retry_after(app, client, tokens):
    app.config["ESSBOT_API_RATE"] = "3 per minute"
    h = auth(tokens["read"])
    assert [client.get("/api/v1/stats", headers=h).status_code for _ in range(3)] == [200] * 3
    refused = client.get("/api/v1/stats", headers=h)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "throttled"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another partner's token is counted on its own.
    assert client.get("/api/v1/stats", headers=auth(tokens["write"])).status_code == 200
    # Refused calls do not count: the window frees after the first three calls age out.
    later = utcnow() + timedelta(seconds=61)
    from bot.api.auth import retry_after
    with get_engine(app).connect() as conn:
        token_id = conn.execute(sa.select(ApiToken.id).where(
            ApiToken.token_hash == digest(tokens["read"]))).scalar_one()
    with app.app_context():
        assert retry_after(token_id, later) is None


def test_a_bad_rate_setting_stops_start_up(app):
    from bot import create_app

    with pytest.raises(ValueError, match="ESSBOT_API_RATE"):
        create_app({"DATABASE_URL": app.config["DATABASE_URL"], "ESSBOT_API_RATE": "beaucoup"})


def test_every_call_is_audited_without_parameter_values(app, client, tokens):
    add_actors(app, 1)
    client.get("/api/v1/actors?q=%2B22376100000", headers=auth(tokens["personal"]))
    client.get("/api/v1/actors", headers={"Authorization": "Token faux"})
    client.post("/api/v1/announcements", json={}, headers=auth(tokens["read"]))
    with get_engine(app).connect() as conn:
        events = conn.execute(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    calls = [e for e in events if e.action.startswith("api")]
    assert [(e.action, e.detail["status"]) for e in calls] == [
        ("api", 200), ("api_denied", 401), ("api", 403)]
    assert calls[0].staff_email == "api:RSU" and calls[0].target.startswith("api_token:")
    assert calls[0].detail["params"] == ["q"] and calls[0].detail["path"] == "/api/v1/actors"
    assert "22376100000" not in str([e.detail for e in events])


# --- statistics -------------------------------------------------------------------------------

def test_stats_are_the_dashboards_numbers(app, client, tokens):
    add_actors(app, 4)
    body = client.get("/api/v1/stats?period=12m", headers=auth(tokens["read"])).json
    with get_engine(app).connect() as conn:
        expected = stats.compute(conn, stats.PERIODS["12m"], utcnow())
    assert body["headline"]["registered"] == expected.headline.registered == 4
    assert body["population"] == expected.population
    quartiers = {r["key"]: r["count"] for r in body["distributions"]["quartier"]["rows"]}
    assert quartiers["Badialan I"] == 4
    assert "Awa" not in str(body)
    assert client.get("/api/v1/stats?period=hier", headers=auth(tokens["read"])).status_code == 400


# --- announcements ----------------------------------------------------------------------------

def test_create_draft_list_and_send_through_the_planner(app, client, tokens):
    ids = add_actors(app, 3)
    with get_engine(app).begin() as conn:  # one person said STOP: never a recipient
        conn.execute(sa.update(Contact.__table__).where(
            Contact.__table__.c.id == sa.select(Actor.contact_id).where(
                Actor.id == ids[0]).scalar_subquery()).values(opted_out=True))
    h = auth(tokens["write"])
    body = {"title": "Formation", "text_fr": "Formation en gestion le 12 décembre à la mairie.",
            "segment": {"quartier": ["Badialan I"]}}
    created = client.post("/api/v1/announcements", json=body, headers=h)
    assert created.status_code == 201, created.json
    draft = created.json
    assert draft["state"] == "draft" and draft["skipped"]["opted_out"] == 1
    assert created.headers["Location"] == f"/api/v1/announcements/{draft['id']}"
    bad = client.post("/api/v1/announcements", json={"title": "", "text_fr": "x"}, headers=h)
    assert bad.status_code == 400 and bad.json["error"]["code"] == "title"
    assert client.post("/api/v1/announcements", data="x", headers=h).status_code == 400
    # No sender configured: refused, nothing written.
    refused = client.post(f"/api/v1/announcements/{draft['id']}/send", headers=h)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "no_sender"
    app.config.update(TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_SMS_FROM="+15005550006")
    sent = client.post(f"/api/v1/announcements/{draft['id']}/send", headers=h)
    assert sent.status_code == 202 and sent.json["pending"] == 2
    with get_engine(app).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Outbox)).scalar_one() == 2
    again = client.post(f"/api/v1/announcements/{draft['id']}/send", headers=h)
    assert again.status_code == 409 and again.json["error"]["code"] == "state"
    listed = client.get("/api/v1/announcements", headers=auth(tokens["read"])).json["data"]
    assert listed[0]["id"] == draft["id"] and listed[0]["delivery"]["pending"] == 2
    assert listed[0]["author"] == "api:ONG Jigiya"
    one = client.get(f"/api/v1/announcements/{draft['id']}", headers=auth(tokens["read"])).json
    assert one["recipients"] == 2 and one["by_state"]["pending"] == 2
    assert one["text_fr"].startswith("Formation en gestion")
    assert client.get("/api/v1/announcements/999", headers=h).status_code == 404
    assert client.post("/api/v1/announcements/999/send", headers=h).status_code == 404


def test_announcements_pages(app, client, tokens):
    from bot.broadcasts import planner

    made = [planner.create(app, title=f"Annonce {i}", text_fr="Texte.") for i in range(5)]
    h = auth(tokens["read"])
    first = client.get("/api/v1/announcements?limit=3", headers=h).json
    assert [a["id"] for a in first["data"]] == made[::-1][:3] and first["has_more"]
    rest = client.get(f"/api/v1/announcements?limit=3&cursor={first['next_cursor']}",
                      headers=h).json
    assert [a["id"] for a in rest["data"]] == made[::-1][3:] and not rest["has_more"]


# --- description ------------------------------------------------------------------------------

def test_openapi_description_is_valid_and_public(client):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    validate(response.json)
    paths = set(response.json["paths"])
    assert {"/actors", "/actors/{actor_id}", "/stats", "/announcements",
            "/announcements/{announcement_id}", "/announcements/{announcement_id}/send"} <= paths
    for rule in client.application.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule[len("/api/v1"):].replace("<int:", "{").replace(">", "}")
            assert path in paths, f"{rule.rule} is not described"
