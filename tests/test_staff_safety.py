"""Issue 14: staff safety and data protection — the login throttle shared by every process,
no 500 on a bad `next=` or a malformed CSV, the access log without phones or names, the
retention purge scheduled by the queue, and what SUPPRIMER leaves on disk."""

from __future__ import annotations

import io

import sqlalchemy as sa

from bot import create_app
from bot.db import session_scope
from bot.models.staff import LoginFailure
from tests.admin_helpers import EMAILS, PASSWORD, csrf_token, login, make_staff


def _try(client, email: str, password: str = "faux-mot-de-passe", next_url: str = ""):
    token = csrf_token(client.get("/admin/login").data)
    return client.post("/admin/login" + (f"?next={next_url}" if next_url else ""),
                       data={"email": email, "password": password, "csrf_token": token})


# --- 2. the login throttle -------------------------------------------------------------------

def test_login_failures_are_counted_across_processes(app):
    """Two apps on one database (two gunicorn workers): 5 failures a minute in all, not 5
    each; the refusal says when to retry."""
    make_staff(app)
    other = create_app({"DATABASE_URL": app.config["DATABASE_URL"],
                        "SECRET_KEY": app.config["SECRET_KEY"]})
    workers = [app.test_client(), other.test_client()]
    codes = [_try(workers[i % 2], EMAILS["agent"]).status_code for i in range(6)]
    assert codes == [200] * 5 + [429]
    refused = _try(workers[1], EMAILS["agent"], PASSWORD)  # even the right password waits
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Trop de tentatives" in refused.get_data(as_text=True)


def test_guessing_across_many_accounts_from_one_address_is_slowed(app):
    app.config["ESSBOT_LOGIN_RATE_ADDRESS"] = "8 per minute"
    make_staff(app)
    client = app.test_client()
    codes = [_try(client, f"inconnu{i}@mairie.test").status_code for i in range(9)]
    assert codes == [200] * 8 + [429]
    # Another address (another office) is not held back.
    token = csrf_token(client.get("/admin/login").data)
    elsewhere = client.post("/admin/login", data={"email": EMAILS["admin"], "password": PASSWORD,
                                                  "csrf_token": token},
                            environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert elsewhere.status_code == 302


def test_the_default_address_limit_lets_a_shared_office_work(app):
    """Ten colleagues behind the mairie's one address each mistyping twice still log in."""
    make_staff(app)
    client = app.test_client()
    for i in range(10):
        for _attempt in range(2):
            assert _try(client, f"collegue{i}@mairie.test").status_code == 200
    login(client, "viewer")


def test_old_failures_are_deleted(app):
    from datetime import timedelta

    from bot.admin.auth import record_login_failure
    from bot.models import utcnow

    now = utcnow()
    record_login_failure(app, "10.0.0.1", "a@mairie.test", now - timedelta(days=2))
    record_login_failure(app, "10.0.0.2", "b@mairie.test", now)
    with session_scope(app) as session:
        keys = session.scalars(sa.select(LoginFailure.key)).all()
    assert sorted(keys) == ["10.0.0.2", "10.0.0.2|b@mairie.test"]


# --- 3. no 500 --------------------------------------------------------------------------------

def test_next_with_cr_lf_after_login_goes_to_the_dashboard(app, client):
    make_staff(app)
    response = _try(client, EMAILS["viewer"], PASSWORD,
                    next_url="/admin/%0D%0ASet-Cookie:%20x=1")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert "Set-Cookie: x" not in str(response.headers)
    again = client.get("/admin/login?next=/admin/%0Aregistry")  # already logged in
    assert again.status_code == 302 and again.headers["Location"] == "/admin/"


def test_csv_with_a_bare_carriage_return_in_a_cell_gets_a_french_answer(app, client):
    make_staff(app)
    login(client, "agent")
    data = "nom;telephone;quartier\nAwa\rTraoré;76000011;Samé\n".encode()
    page = client.get("/admin/registry/import").data
    response = client.post("/admin/registry/import", data={
        "csrf_token": csrf_token(page), "file": (io.BytesIO(data), "liste.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 302  # back to the form, with the reason flashed
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Fichier CSV mal formé vers la ligne" in text
