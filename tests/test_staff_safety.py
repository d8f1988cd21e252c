"""Issue 14: staff safety and data protection — the login throttle shared by every process,
no 500 on a bad `next=` or a malformed CSV, the access log without phones or names, the
retention purge scheduled by the queue, and what SUPPRIMER leaves on disk."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from bot import create_app
from bot.db import session_scope
from bot.models.staff import LoginFailure
from tests.admin_helpers import EMAILS, PASSWORD, csrf_token, login, make_staff
from tests.test_broadcast_worker import _redis_up


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


# --- 4. what SUPPRIMER leaves ----------------------------------------------------------------

def _sqlite_files(app) -> bytes:
    """The bytes of the database file, its WAL and shared-memory index, lower-cased."""
    from pathlib import Path

    path = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
                    if p.exists()).lower()


def _register_on_whatsapp(signed_post, phone: str, profile: str) -> list[str]:
    from tests.conftest import MESSAGES_URL, inbound_params
    from tests.test_export import ORGANISATION, bodies

    sids = []
    for typed, expected in ORGANISATION:
        params = inbound_params(typed, phone=phone, channel="whatsapp", ProfileName=profile)
        [body] = bodies(signed_post(MESSAGES_URL, params))
        assert expected in body, (typed, body)
        sids.append(params["MessageSid"])
    return sids


def test_supprimer_leaves_none_of_the_erased_strings_in_the_sqlite_files(app, signed_post):
    from tests.conftest import MESSAGES_URL, inbound_params
    from tests.test_export import bodies

    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("reads the SQLite files")
    phone, profile = "+22376543210", "Fatoumata Zeinab Kouyate"
    sids = _register_on_whatsapp(signed_post, phone, profile)
    erased = ["76543210", "benkadi", "fatoumata", "diarra", "teinture de bazin", "kouyate",
              "née en 1979", "j'habite a sogonafin", "25 femmes", *sids]
    before = _sqlite_files(app)
    assert all(s.lower().encode() in before for s in erased[:6])  # the test can fail
    for typed in ("SUPPRIMER", "1"):
        params = inbound_params(typed, phone=phone, channel="whatsapp", ProfileName=profile)
        bodies(signed_post(MESSAGES_URL, params))
    after = _sqlite_files(app)
    left = [s for s in erased if s.lower().encode() in after]
    assert left == []


def test_what_supprimer_keeps_does_not_re_identify(app, signed_post):
    from bot.broadcasts.models import Outbox
    from bot.models import Actor, Contact, Message
    from tests.conftest import MESSAGES_URL, inbound_params
    from tests.test_export import bodies

    phone = "+22376543210"
    _register_on_whatsapp(signed_post, phone, "Awa")
    last = inbound_params("1", phone=phone, channel="whatsapp")
    bodies(signed_post(MESSAGES_URL, inbound_params("SUPPRIMER", phone=phone,
                                                    channel="whatsapp")))
    bodies(signed_post(MESSAGES_URL, last))
    with session_scope(app) as s:
        actor = s.execute(sa.select(Actor)).scalar_one()
        contact = s.execute(sa.select(Contact)).scalar_one()
        messages = s.execute(sa.select(Message).where(Message.direction == "in")
                             .order_by(Message.id)).scalars().all()
        assert s.execute(sa.select(Outbox.provider_sid).where(
            Outbox.provider_sid.is_not(None))).first() is None
    for when in (actor.created_at, actor.updated_at, actor.deleted_at, actor.registered_at,
                 contact.created_at, contact.opted_out_at):
        assert (when.day, when.hour, when.minute, when.second) == (1, 0, 0, 0), when
    # Message ids are dropped and times cut to the month, except SUPPRIMER's own
    # confirmation, whose id stays so that a provider retry is not taken for a new person.
    assert [m.provider_sid for m in messages[:-1]] == [None] * (len(messages) - 1)
    assert messages[-1].provider_sid == last["MessageSid"]
    assert {(m.created_at.day, m.created_at.hour) for m in messages[:-1]} == {(1, 0)}
    retry = bodies(signed_post(MESSAGES_URL, last))
    assert "effacées" in retry[0]
    with session_scope(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Contact)) == 1


# --- 6. the retention purge runs every day from the queue --------------------------------------

@pytest.fixture(params=["sqlite", "redis"])
def backend(request):
    """The queue backend: SqliteHuey, or RedisHuey (skipped cleanly when Redis is down)."""
    if request.param == "redis" and not _redis_up():
        pytest.skip("Redis is not reachable (or the redis package is missing)")
    return request.param


def test_the_queue_purges_expired_registrations_every_night(app, backend, signed_post,
                                                            monkeypatch):
    """The daily periodic task of the worker's queue (SqliteHuey by default, RedisHuey with
    REDIS_URL) forgets the entries past ESSBOT_RETENTION_DAYS, without any cron."""
    from datetime import UTC, datetime, timedelta

    from bot.broadcasts import tasks
    from bot.models import Actor, utcnow
    from tests.test_broadcast_worker import REDIS_URL
    from tests.test_export import ORGANISATION, register

    if backend == "redis":
        app.config.update(REDIS_URL=REDIS_URL, ESSBOT_QUEUE_NAME=f"essbot-purge-{id(app)}")
    queue = tasks.BroadcastQueue(app)
    assert queue.backend == backend
    night = datetime(2026, 12, 2, 2, 30, tzinfo=UTC)
    due = [t.name for t in queue.huey.read_periodic(night.replace(tzinfo=None))]
    assert due == ["actors_purge"]
    assert queue.huey.read_periodic((night + timedelta(hours=1)).replace(tzinfo=None)) == []
    register(signed_post, ORGANISATION)
    with session_scope(app) as s:
        s.execute(sa.update(Actor).values(updated_at=utcnow() - timedelta(days=1826)))
    [task] = queue.huey.read_periodic(night.replace(tzinfo=None))
    queue.huey.execute(task)
    with session_scope(app) as s:
        actor = s.execute(sa.select(Actor)).scalar_one()
    assert actor.deleted_at is not None and actor.org_name is None
    # The worker's consumer runs periodic tasks.
    seen = {}
    monkeypatch.setattr(queue.huey, "create_consumer",
                        lambda **kw: seen.update(kw) or type("C", (), {"run": lambda s: None})())
    queue.run_worker(1, 3600)
    assert seen["periodic"] is True
