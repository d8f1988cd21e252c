"""Settings: environment variables (and a `.env` file) over embedded defaults.

The defaults run the whole bot on one machine with no other server: SQLite in the
instance folder, no Redis, no Twilio account (the webhook then answers 503 and the
terminal chat still works). The names are the contract in DESIGN.md.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from bot.officehours import parse_office_hours

#: Every setting the bot reads, with its default. ``None`` means "unset".
DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # → sqlite:///<instance>/essbot.db
    "REDIS_URL": None,
    "TWILIO_ACCOUNT_SID": None,
    "TWILIO_AUTH_TOKEN": None,
    "TWILIO_SMS_FROM": None,
    "TWILIO_MESSAGING_SERVICE_SID": None,
    "TWILIO_WHATSAPP_FROM": None,
    "TWILIO_API_BASE_URL": None,
    "TWILIO_HTTP_TIMEOUT": 10.0,  # seconds, for outbound REST calls
    "ESSBOT_PUBLIC_URL": None,
    "SECRET_KEY": None,  # → generated into <instance>/secret_key
    "ESSBOT_DEFAULT_LANGUAGE": "fr",
    "ESSBOT_COUNTRY": "ML",
    "ESSBOT_TIMEZONE": "Africa/Bamako",
    "ESSBOT_SMS_FOLDING": True,  # fold text to GSM-7 on SMS (see bot/sms.py)
    "ESSBOT_SMS_MAX_SEGMENTS": 2,  # parts per SMS reply before paging
    "ESSBOT_PRICE_PER_PART": 0.0,  # in ESSBOT_CURRENCY, for cost estimates
    "ESSBOT_CURRENCY": "FCFA",
    "ESSBOT_DB_POOL_SIZE": 10,
    "ESSBOT_RETENTION_DAYS": 1825,  # days registry data is kept (Loi 2013-015: a set period)
    "ESSBOT_ASK_PROTECTION": True,  # ask the optional social-protection question (health data)
    "ESSBOT_RESUME_AFTER_DAYS": 7,  # a registration left longer asks "continue or restart"
    # When staff answer hand-overs, local time of ESSBOT_TIMEZONE (bot/officehours.py format).
    "ESSBOT_OFFICE_HOURS": "mon-fri 08:00-16:00",
    # Broadcasts (issue 7, bot/broadcasts/): rates per sender, retries, queue, worker.
    "ESSBOT_SEND_RATE_PARTS": 1.0,  # SMS parts per second per sender (long code ≈ 1, TWILIO.md)
    "ESSBOT_SEND_RATE_WHATSAPP": 20.0,  # WhatsApp messages per second per sender
    "ESSBOT_PRICE_PER_WHATSAPP": 0.0,  # in ESSBOT_CURRENCY per WhatsApp message, for estimates
    # Approved WhatsApp templates per language, JSON (bot/broadcasts/planner.py):
    # {"fr": {"content_sid": "HX…", "variables": {"1": "title", "2": "text"}}, "bm": {…}}
    "ESSBOT_WHATSAPP_TEMPLATES": None,
    "ESSBOT_SEND_MAX_ATTEMPTS": 8,  # requests that may have reached Twilio, per recipient
    "ESSBOT_SEND_RETRY_BASE": 2.0,  # seconds before the first retry; doubles each time
    "ESSBOT_SEND_RETRY_MAX": 300.0,  # seconds, longest wait between two retries
    "ESSBOT_BROADCAST_LEASE": 60.0,  # seconds a claimed send may stay silent before reconciling
    "ESSBOT_BROADCAST_TICK": 30.0,  # seconds between two ticks of `essbot worker`
    "ESSBOT_WORKER_THREADS": 8,  # threads per `essbot worker` process
    "ESSBOT_QUEUE_NAME": "essbot",  # huey queue name (Redis key prefix)
    "ESSBOT_QUEUE_PATH": None,  # SqliteHuey file → <instance>/queue.db
    # Staff interface (issue 6, bot/admin/): login attempts allowed per e-mail and address
    # (Flask-Limiter syntax; empty disables the throttle).
    "ESSBOT_LOGIN_RATE": "5 per minute;20 per hour",
    # SMS through an Android phone ("SMS Gateway for Android", issue 8, bot/channels/smsgate.py).
    "ESSBOT_SMS_PROVIDER": "twilio",  # who carries SMS sent by the bot: twilio | smsgate
    "SMSGATE_URL": None,  # API base, e.g. https://api.sms-gate.app/3rdparty/v1 (cloud mode)
    "SMSGATE_USERNAME": None,  # Basic auth user shown in the app
    "SMSGATE_PASSWORD": None,  # Basic auth password shown in the app
    "SMSGATE_SIGNING_KEY": None,  # webhook signing key (app settings); unset → webhook 503
    "SMSGATE_RATE_PER_MINUTE": 10.0,  # SMS parts per minute the phone is asked to send
    "SMSGATE_SIM_NUMBER": 0,  # SIM slot to send from (1, 2…); 0 = the phone's default
    "SMSGATE_HTTP_TIMEOUT": 10.0,  # seconds, for calls to the gateway's API
    # CA certificate (PEM file) that signed the phone's own certificate in local mode; unset →
    # the system's CAs (cloud mode, a private server with a public certificate).
    "SMSGATE_CA_BUNDLE": None,
    # Seconds the dashboard's statistics may lag behind registry changes (bot/admin/dashboard.py;
    # 0: recomputed after every change).
    "ESSBOT_DASHBOARD_MAX_AGE": 60,
}

#: Who may carry SMS (ESSBOT_SMS_PROVIDER).
SMS_PROVIDERS = ("twilio", "smsgate")

_BOOL_TRUE = {"1", "true", "yes", "on", "oui"}
_BOOL_FALSE = {"0", "false", "no", "off", "non", ""}


def _coerce(name: str, raw: str) -> Any:
    """Convert the string `raw` of setting `name` to the type of its default.

    Raises ValueError with the setting's name when the value cannot be read.
    """
    default = DEFAULTS.get(name)
    if isinstance(default, bool):
        low = raw.strip().lower()
        if low in _BOOL_TRUE:
            return True
        if low in _BOOL_FALSE:
            return False
        raise ValueError(f"{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name} must be an integer, not {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {raw!r}") from None
    return raw.strip() or None


def load_settings(instance_path: str | os.PathLike, overrides: dict | None = None) -> dict:
    """Build the settings dict from defaults, environment and `overrides`.

    Takes the instance folder (created if missing) and an optional mapping that wins
    over the environment (tests pass one). Returns a dict with every key of DEFAULTS
    filled in, `DATABASE_URL` and `SECRET_KEY` resolved. Raises ValueError on an
    unreadable value (a non-numeric `ESSBOT_SMS_MAX_SEGMENTS`, say).
    """
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = dict(DEFAULTS)
    for name in DEFAULTS:
        raw = os.environ.get(name)
        if raw is not None:
            settings[name] = _coerce(name, raw)
    for name, value in (overrides or {}).items():
        settings[name] = _coerce(name, value) if isinstance(value, str) and name in DEFAULTS else value
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'essbot.db'}"
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = _instance_secret(instance)
    if settings["ESSBOT_PUBLIC_URL"]:
        settings["ESSBOT_PUBLIC_URL"] = settings["ESSBOT_PUBLIC_URL"].rstrip("/")
    if settings["ESSBOT_DEFAULT_LANGUAGE"] not in ("fr", "bm"):
        raise ValueError("ESSBOT_DEFAULT_LANGUAGE must be fr or bm")
    settings["ESSBOT_SMS_PROVIDER"] = str(settings["ESSBOT_SMS_PROVIDER"] or "twilio").lower()
    if settings["ESSBOT_SMS_PROVIDER"] not in SMS_PROVIDERS:
        raise ValueError("ESSBOT_SMS_PROVIDER must be twilio or smsgate")
    if settings["SMSGATE_URL"]:
        settings["SMSGATE_URL"] = settings["SMSGATE_URL"].rstrip("/")
    try:
        parse_office_hours(settings["ESSBOT_OFFICE_HOURS"] or "")
    except ValueError as exc:
        raise ValueError(f"ESSBOT_OFFICE_HOURS: {exc}") from None
    return settings


def _instance_secret(instance: Path) -> str:
    """Return the secret key kept in `instance/secret_key`, creating it on first run.

    The file is written with mode 0600 so that only the service account reads it.
    """
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
