"""Staff interface safety: login, roles, CSRF, throttling, headers, audit, accounts."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.db import session_scope
from bot.models.staff import AuditEvent, StaffUser
from tests.admin_helpers import EMAILS, PASSWORD, csrf_token, login, make_staff, post_form


def admin_urls(app) -> list[tuple[str, str]]:
    """Every /admin URL of the app with sample values for its arguments, with its methods."""
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint == "admin.static":
            continue
        values = {arg: 1 if rule._converters.get(arg).__class__.__name__ == "IntegerConverter"
                  else "x" for arg in rule.arguments}
        path = rule.rule
        for arg, value in values.items():
            path = path.replace(f"<int:{arg}>", str(value)).replace(f"<{arg}>", str(value))
            path = path.replace(f"<path:{arg}>", str(value))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            urls.append((method, path))
    return urls


def test_every_admin_url_needs_login(app, client):
    urls = admin_urls(app)
    assert len(urls) >= 10
    for method, path in urls:
        if path == "/admin/login":
            continue
        response = client.open(path, method=method)
        if method == "GET":
            assert response.status_code == 302, path
            assert response.headers["Location"].startswith("/admin/login?next="), path
        else:
            assert response.status_code in (400, 401), (method, path)


def test_login_then_pages_then_logout(app, client):
    make_staff(app)
    page = client.get("/admin/login")
    assert page.status_code == 200 and "Connexion".encode() in page.data
    response = client.post("/admin/login", data={"email": "ADMIN@mairie.test ",
                                                 "password": PASSWORD,
                                                 "csrf_token": csrf_token(page.data)})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    logout = post_form(client, "/admin/logout", {}, page="/admin/")
    assert logout.status_code == 302
    assert client.get("/admin/").status_code == 302


def test_wrong_password_says_nothing_about_the_account(app, client):
    make_staff(app)
    token = csrf_token(client.get("/admin/login").data)
    known = client.post("/admin/login", data={"email": EMAILS["admin"],
                                              "password": "faux-mot-de-passe",
                                              "csrf_token": token})
    unknown = client.post("/admin/login", data={"email": "personne@mairie.test",
                                                "password": "faux-mot-de-passe",
                                                "csrf_token": token})
    assert known.status_code == unknown.status_code == 200
    assert "incorrect".encode() in known.data and "incorrect".encode() in unknown.data
    with session_scope(app) as session:
        failed = session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == "login_failed")).all()
        assert sorted(e.staff_email for e in failed) == ["admin@mairie.test",
                                                         "personne@mairie.test"]


def test_open_redirect_is_refused(app, client):
    make_staff(app)
    token = csrf_token(client.get("/admin/login").data)
    response = client.post("/admin/login?next=https://evil.example/admin",
                           data={"email": EMAILS["viewer"], "password": PASSWORD,
                                 "csrf_token": token})
    assert response.headers["Location"] == "/admin/"


def test_deactivated_account_cannot_log_in(app, client):
    ids = make_staff(app)
    with session_scope(app) as session:
        session.get(StaffUser, ids["agent"]).active = False
    token = csrf_token(client.get("/admin/login").data)
    response = client.post("/admin/login", data={"email": EMAILS["agent"], "password": PASSWORD,
                                                 "csrf_token": token})
    assert response.status_code == 200 and b"incorrect" in response.data


def test_post_without_csrf_token_is_refused(app, client):
    make_staff(app)
    login(client, "admin")
    response = client.post("/admin/staff", data={"email": "x@mairie.test", "role": "viewer",
                                                 "password": "assez-long-123"})
    assert response.status_code == 400
    assert b"CSRF" in response.data
    with session_scope(app) as session:
        assert session.scalars(sa.select(StaffUser).where(
            StaffUser.email == "x@mairie.test")).first() is None


def test_login_attempts_are_throttled(app, client):
    make_staff(app)
    token = csrf_token(client.get("/admin/login").data)
    codes = [client.post("/admin/login", data={"email": EMAILS["admin"], "password": "non",
                                               "csrf_token": token}).status_code
             for _ in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    # Another account from the same office address is not locked out.
    other = client.post("/admin/login", data={"email": EMAILS["viewer"], "password": PASSWORD,
                                              "csrf_token": token})
    assert other.status_code == 302


@pytest.mark.parametrize("role, status", [("viewer", 403), ("agent", 403), ("admin", 200)])
def test_accounts_page_is_for_admins_only(app, client, role, status):
    make_staff(app)
    login(client, role)
    assert client.get("/admin/staff").status_code == status
    assert client.get("/admin/audit").status_code == status


def test_security_headers_and_cookie(app, client):
    make_staff(app)
    response = client.get("/admin/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    login_response = login(client, "viewer")
    cookie = next(c for c in login_response.headers.getlist("Set-Cookie")
                  if c.startswith("essbot_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_admin_creates_and_edits_an_account_with_audit(app, client):
    ids = make_staff(app)
    login(client, "admin")
    response = post_form(client, "/admin/staff", {"email": "Fatou@Mairie.test", "name": "Fatou",
                                                   "role": "agent", "phone": "70 00 00 42",
                                                   "password": "un-mot-de-passe"})
    assert response.status_code == 302
    with session_scope(app) as session:
        fatou = session.scalars(sa.select(StaffUser).where(
            StaffUser.email == "fatou@mairie.test")).one()
        assert fatou.role == "agent" and fatou.phone == "+22370000042"
        fatou_id = fatou.id
    response = post_form(client, f"/admin/staff/{fatou_id}", {"role": "viewer", "phone": "",
                                                              "password": ""})
    assert response.status_code == 302
    with session_scope(app) as session:
        fatou = session.get(StaffUser, fatou_id)
        assert fatou.role == "viewer" and fatou.active is False and fatou.phone is None
        actions = [e.action for e in session.scalars(sa.select(AuditEvent))]
    assert "staff_create" in actions and "staff_edit" in actions
    # An admin cannot remove their own admin rights (nobody would be left to manage accounts).
    response = post_form(client, f"/admin/staff/{ids['admin']}", {"role": "viewer",
                                                                   "active": "y"})
    assert response.status_code == 200 and "propres droits".encode() in response.data


def test_short_password_is_refused_with_a_reason(app, client):
    make_staff(app)
    login(client, "admin")
    response = post_form(client, "/admin/staff", {"email": "a@mairie.test", "role": "agent",
                                                   "password": "court"})
    assert response.status_code == 200
    assert "10".encode() in response.data


def test_cli_staff_create(app, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_URL"])
    runner = CliRunner()
    result = runner.invoke(main, ["staff", "create", "--email", "Chef@Mairie.test", "--role",
                                  "admin", "--password", "tres-secret-99"])
    assert result.exit_code == 0, result.output
    assert "chef@mairie.test (admin)" in result.output
    again = runner.invoke(main, ["staff", "create", "--email", "chef@mairie.test",
                                "--password", "tres-secret-99"])
    assert again.exit_code != 0 and "existe déjà" in again.output
    short = runner.invoke(main, ["staff", "create", "--email", "b@mairie.test",
                                "--password", "court"])
    assert short.exit_code != 0 and "10" in short.output
    with session_scope(app) as session:
        user = session.scalars(sa.select(StaffUser)).one()
        assert user.check_password("tres-secret-99") and user.password_hash.startswith("scrypt:")


def _session_cookie(client) -> str:
    cookie = client.get_cookie("essbot_session")
    assert cookie is not None
    return cookie.value


@pytest.mark.parametrize("change", ["deactivate", "password", "role"])
def test_account_changes_end_its_open_sessions(app, change):
    """Newcomer's test: a deactivated agent kept full access with the session already open."""
    ids = make_staff(app)
    admin, agent = app.test_client(), app.test_client()
    login(admin, "admin")
    login(agent, "agent")
    assert agent.get("/admin/simulator").status_code == 200
    data = {"role": "agent", "active": "y", "password": ""}
    if change == "deactivate":
        data.pop("active")
    elif change == "password":
        data["password"] = "un-tout-nouveau-mot"
    else:
        data["role"] = "viewer"
    assert post_form(admin, f"/admin/staff/{ids['agent']}", data).status_code == 302
    response = agent.get("/admin/simulator")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_a_copied_session_cookie_is_dead_after_logout(app, client):
    make_staff(app)
    login(client, "agent")
    stolen = _session_cookie(client)
    assert post_form(client, "/admin/logout", {}, page="/admin/").status_code == 302
    other = app.test_client()
    other.set_cookie("essbot_session", stolen)
    response = other.get("/admin/simulator")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_error_pages_and_form_errors_are_in_french(app, client):
    """Newcomer's test: "This field is required.", a bare "Forbidden", an English 404."""
    make_staff(app)
    login(client, "viewer")
    forbidden = client.get("/admin/staff")
    assert forbidden.status_code == 403
    assert "Votre rôle ne permet pas cette action." in forbidden.get_data(as_text=True)
    missing = client.get("/admin/nulle-part")
    assert missing.status_code == 404 and "existe pas" in missing.get_data(as_text=True)
    # An id larger than the database stores is "no such record", not a 500.
    huge = client.get("/admin/registry/99999999999999999999999")
    assert huge.status_code == 404
    client.get("/admin/login")
    admin = app.test_client()
    login(admin, "admin")
    page = post_form(admin, "/admin/staff", {"email": "", "role": "agent", "password": "court"})
    text = page.get_data(as_text=True)
    assert "This field is required" not in text and "Field must be" not in text
    assert "obligatoire" in text.lower() or "requis" in text.lower()


def test_cli_staff_commands_on_a_fresh_sqlite_database(tmp_path, monkeypatch):
    """Newcomer's test: `essbot staff create` right after installing crashed (no tables)."""
    from click.testing import CliRunner

    from bot.cli import main

    monkeypatch.setenv("ESSBOT_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()
    created = runner.invoke(main, ["staff", "create", "--email", "chef@mairie.test",
                                   "--password", "premier-mot-de-passe"])
    assert created.exit_code == 0, created.output
    changed = runner.invoke(main, ["staff", "password", "--email", "CHEF@mairie.test",
                                   "--password", "second-mot-de-passe"])
    assert changed.exit_code == 0, changed.output
    unknown = runner.invoke(main, ["staff", "password", "--email", "x@mairie.test",
                                   "--password", "second-mot-de-passe"])
    assert unknown.exit_code != 0 and "erreur : aucun compte x@mairie.test" in unknown.output


def test_successful_logins_do_not_count_towards_the_throttle(app):
    make_staff(app)
    for _ in range(7):
        client = app.test_client()
        login(client, "agent")  # asserts a 302 each time


def test_pages_are_compressed_for_a_slow_line_but_webhooks_are_not(app, client):
    import gzip

    make_staff(app)
    login(client, "viewer")
    page = client.get("/admin/", headers={"Accept-Encoding": "gzip"})
    assert page.headers.get("Content-Encoding") == "gzip"
    assert b"Tableau de bord" in gzip.decompress(page.data)
    health = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in health.headers
