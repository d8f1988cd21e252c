"""Shared fixtures: `app` (fresh database per test), `client`, `runner`, `signed_post`.

The suite runs on SQLite by default. With DATABASE_URL pointing at PostgreSQL
(``postgresql+psycopg://…``), every test runs there instead: the schema is built
once by the Alembic migrations and tables are emptied between tests.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.db import get_engine, make_engine
from bot.models import Base

# Recorded Twilio requests, copied from the project's shared/samples/twilio so the suite runs
# from a bare clone; tests/test_samples.py checks the copy against the original when present.
SAMPLES_DIR = Path(os.environ.get("ESSBOT_SAMPLES_DIR")
                   or Path(__file__).resolve().parent / "data" / "twilio")
SHARED_SAMPLES_DIR = Path(__file__).resolve().parents[2] / "shared" / "samples" / "twilio"
PUBLIC_URL = "https://essbot.example.org"
AUTH_TOKEN = "12345678901234567890123456789012"
MESSAGES_URL = f"{PUBLIC_URL}/webhooks/twilio/messages"
STATUS_URL = f"{PUBLIC_URL}/webhooks/twilio/status"

_DB_URL = os.environ.get("DATABASE_URL", "")
USE_POSTGRES = _DB_URL.startswith("postgres")


def load_sample(name: str) -> dict:
    """Return one recorded Twilio request from shared/samples/twilio (without .json)."""
    return json.loads((SAMPLES_DIR / f"{name}.json").read_text())


def all_samples() -> list[str]:
    """Names of every recorded Twilio request."""
    return sorted(p.stem for p in SAMPLES_DIR.glob("*.json"))


def sign(url: str, params: dict, token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for `url` and `params`, as Twilio computes it."""
    return RequestValidator(token).compute_signature(url, params)


_sids = itertools.count(1)
_sid_lock = threading.Lock()


def new_sid(prefix: str = "SM") -> str:
    """A fresh 34-character MessageSid."""
    with _sid_lock:
        n = next(_sids)
    return f"{prefix}{os.getpid():08x}{n:024x}"


def inbound_params(body: str, phone: str = "+22370000099", channel: str = "sms",
                   sid: str | None = None, **extra: str) -> dict:
    """Form parameters of an inbound message as Twilio posts them."""
    sender = f"whatsapp:{phone}" if channel == "whatsapp" else phone
    to = "whatsapp:+14155238886" if channel == "whatsapp" else "+15005550006"
    sid = sid or new_sid()
    params = {
        "ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
        "SmsStatus": "received", "Body": body, "To": to, "NumSegments": "1",
        "MessageSid": sid, "AccountSid": "AC00000000000000000000000000000001", "From": sender,
        "ApiVersion": "2010-04-01", "FromCountry": "ML",
    }
    params.update(extra)
    return params


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """An SQLite file migrated once to the latest schema; each test gets a copy."""
    from bot.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_schema():
    """Build the PostgreSQL schema once with the migrations (None on SQLite)."""
    if not USE_POSTGRES:
        yield None
        return
    from bot.migrate import upgrade

    engine = make_engine(_DB_URL, pool_size=1)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    upgrade(_DB_URL)
    yield _DB_URL


@pytest.fixture
def app(tmp_path, monkeypatch, pg_schema, sqlite_template):
    """A fresh app and database for one test, with the samples' auth token and URL."""
    monkeypatch.setenv("ESSBOT_INSTANCE_PATH", str(tmp_path / "instance"))
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_API_BASE_URL", "ESSBOT_PUBLIC_URL",
                 "TWILIO_AUTH_TOKEN", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    if pg_schema:
        url = pg_schema
    else:
        shutil.copy(sqlite_template, tmp_path / "test.db")
        url = f"sqlite:///{tmp_path / 'test.db'}"
    app = create_app({
        "DATABASE_URL": url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "ESSBOT_PUBLIC_URL": PUBLIC_URL,
        "ESSBOT_DB_POOL_SIZE": 30, "TESTING": True,
    })
    engine = get_engine(app)
    if USE_POSTGRES:
        names = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield app
    engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def signed_post(client):
    """Post form `params` to `url` (a full public URL) signed as Twilio would.

    ``signed_post(url, params, token=…, signature=…)`` returns the test response.
    """

    def post(url: str, params: dict, token: str = AUTH_TOKEN, signature: str | None = None):
        path = url[len(PUBLIC_URL):]
        sig = signature if signature is not None else sign(url, params, token)
        return client.post(path, data=params, headers={"X-Twilio-Signature": sig})

    return post


@pytest.fixture
def live_server(app):
    """Serve `app` on a loopback port with threads (werkzeug); yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def pytest_addoption(parser):
    """``--regen-transcripts``: rewrite tests/transcripts/*.yaml with what the bot says now
    (review the diff before committing it)."""
    parser.addoption("--regen-transcripts", action="store_true", default=False,
                     help="rewrite the golden transcripts in tests/transcripts/ from the bot's "
                          "current replies")
