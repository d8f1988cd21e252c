"""Helpers for tests of the staff interface: accounts of each role and a logged-in client."""

from __future__ import annotations

import re

from bot.admin.staff import create_staff

PASSWORD = "motdepasse-essai-3"
EMAILS = {"admin": "admin@mairie.test", "agent": "agent@mairie.test",
          "viewer": "lecture@mairie.test"}


def make_staff(app) -> dict[str, int]:
    """Create one account per role (password PASSWORD); return their ids by role."""
    return {role: create_staff(app, email, role, PASSWORD, name=role.capitalize())
            for role, email in EMAILS.items()}


def csrf_token(html: bytes | str) -> str:
    """The CSRF token of the first form in `html` (raises AssertionError if none)."""
    text = html.decode() if isinstance(html, bytes) else html
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', text)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client, role: str = "admin"):
    """Log `client` (a Flask test client) in as the account of `role`; returns the response."""
    token = csrf_token(client.get("/admin/login").data)
    response = client.post("/admin/login", data={"email": EMAILS[role], "password": PASSWORD,
                                                 "csrf_token": token})
    assert response.status_code == 302, response.data[:500]
    return response


def post_form(client, url: str, data: dict, page: str | None = None):
    """POST `data` to `url` with the CSRF token read from `page` (default: GET `url`)."""
    token = csrf_token(client.get(page or url).data)
    return client.post(url, data={**data, "csrf_token": token})
