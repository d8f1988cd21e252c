"""The staff page of the partner API's tokens (/admin/api, admins only, issue 21)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from bot.db import get_engine
from bot.models.api import ApiToken
from bot.models.staff import AuditEvent
from tests.admin_helpers import csrf_token, login, make_staff, post_form


def test_admin_creates_a_token_shown_once_then_revokes_it(app, client):
    make_staff(app)
    login(client, "admin")
    assert 'href="/admin/api"' in client.get("/admin/").get_data(as_text=True)
    page = post_form(client, "/admin/api", {"name": "ONG Jigiya", "scope": "write"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    token = re.search(r'<code id="new-token">([^<]+)</code>', html).group(1)
    assert client.get("/api/v1/stats", headers={"Authorization": f"Token {token}"}) \
        .status_code == 200
    again = client.get("/admin/api").get_data(as_text=True)
    assert token not in again and "ONG Jigiya" in again and token[:12] in again
    with get_engine(app).connect() as conn:
        row = conn.execute(sa.select(ApiToken)).one()
    assert row.created_by == "admin@mairie.test" and row.scope == "write"
    response = client.post(f"/admin/api/{row.id}/revoke",
                           data={"csrf_token": csrf_token(again)})
    assert response.status_code == 302
    assert "Jeton révoqué." in client.get("/admin/api").get_data(as_text=True)
    assert client.get("/api/v1/stats", headers={"Authorization": f"Token {token}"}) \
        .status_code == 401
    with get_engine(app).connect() as conn:
        actions = set(conn.execute(sa.select(AuditEvent.action)).scalars())
    assert {"api_token_create", "api_token_revoke"} <= actions


def test_only_admins_see_the_api_page(app, client):
    make_staff(app)
    login(client, "agent")
    assert client.get("/admin/api").status_code == 403
    assert 'href="/admin/api"' not in client.get("/admin/").get_data(as_text=True)
