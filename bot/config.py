"""Settings: environment variables (and a `.env` file) over embedded defaults.

One typed settings object, :class:`Settings` (pydantic-settings): each setting's type and
default are stated once, here. The app keeps them in ``app.config`` under the same names
(``app.config["ESSBOT_SMS_MAX_SEGMENTS"]``), every name always present, so no caller restates
a default. The defaults run the whole bot on one machine with no other server: SQLite in the
instance folder, no Redis, no Twilio account (the webhook then answers 503 and the terminal
chat still works). The names are the contract in docs/architecture.md ("Settings").
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.officehours import parse_office_hours

#: Who may carry SMS (ESSBOT_SMS_PROVIDER).
SMS_PROVIDERS = ("twilio", "smsgate")

_BOOL_TRUE = {"1", "true", "yes", "on", "oui"}
_BOOL_FALSE = {"0", "false", "no", "off", "non", ""}


class Settings(BaseSettings):
    """Every setting the bot reads, typed, with its default. ``None`` means "unset".

    Read from the environment (exact names); values given to the constructor win (tests and
    `create_app(config=…)` pass some). A value that cannot be read raises ValueError naming
    the setting (:func:`load_settings`).
    """

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore",
                                      validate_default=False)

    DATABASE_URL: str | None = None  # → sqlite:///<instance>/essbot.db
    REDIS_URL: str | None = None
    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: str | None = None
    TWILIO_SMS_FROM: str | None = None
    TWILIO_MESSAGING_SERVICE_SID: str | None = None
    TWILIO_WHATSAPP_FROM: str | None = None
    TWILIO_API_BASE_URL: str | None = None
    TWILIO_HTTP_TIMEOUT: float = 10.0  # seconds, for outbound REST calls
    ESSBOT_PUBLIC_URL: str | None = None
    SECRET_KEY: str | None = None  # → generated into <instance>/secret_key
    ESSBOT_DEFAULT_LANGUAGE: str = "fr"
    ESSBOT_COUNTRY: str = "ML"
    ESSBOT_TIMEZONE: str = "Africa/Bamako"
    ESSBOT_SMS_FOLDING: bool = True  # fold text to GSM-7 on SMS (see bot/sms.py)
    ESSBOT_SMS_MAX_SEGMENTS: int = 2  # parts per SMS reply before paging (engine and paging)
    ESSBOT_PRICE_PER_PART: float = 0.0  # in ESSBOT_CURRENCY, for cost estimates
    ESSBOT_CURRENCY: str = "FCFA"
    ESSBOT_DB_POOL_SIZE: int = 10
    ESSBOT_RETENTION_DAYS: int = 1825  # days registry data is kept (Loi 2013-015: a set period)
    ESSBOT_ASK_PROTECTION: bool = True  # ask the optional social-protection question (health data)
    ESSBOT_RESUME_AFTER_DAYS: int = 7  # a registration left longer asks "continue or restart"
    # When staff answer hand-overs, local time of ESSBOT_TIMEZONE (bot/officehours.py format).
    ESSBOT_OFFICE_HOURS: str = "mon-fri 08:00-16:00"
    # Broadcasts (bot/broadcasts/): rates per sender, retries, queue, worker.
    ESSBOT_SEND_RATE_PARTS: float = 1.0  # SMS parts per second per sender (docs/twilio.md)
    ESSBOT_SEND_RATE_WHATSAPP: float = 20.0  # WhatsApp messages per second per sender
    ESSBOT_PRICE_PER_WHATSAPP: float = 0.0  # in ESSBOT_CURRENCY per WhatsApp message
    # Approved WhatsApp templates per language, JSON (bot/broadcasts/planner.py):
    # {"fr": {"content_sid": "HX…", "variables": {"1": "title", "2": "text"}}, "bm": {…}}
    ESSBOT_WHATSAPP_TEMPLATES: str | None = None
    ESSBOT_SEND_MAX_ATTEMPTS: int = 8  # requests that may have reached Twilio, per recipient
    ESSBOT_SEND_RETRY_BASE: float = 2.0  # seconds before the first retry; doubles each time
    ESSBOT_SEND_RETRY_MAX: float = 300.0  # seconds, longest wait between two retries
    ESSBOT_BROADCAST_LEASE: float = 60.0  # seconds a claimed send may stay silent
    ESSBOT_BROADCAST_TICK: float = 30.0  # seconds between two ticks of `essbot worker`
    ESSBOT_WORKER_THREADS: int = 8  # threads per `essbot worker` process
    ESSBOT_QUEUE_NAME: str = "essbot"  # huey queue name (Redis key prefix)
    ESSBOT_QUEUE_PATH: str | None = None  # SqliteHuey file → <instance>/queue.db
    # Staff interface (bot/admin/): login attempts allowed per e-mail and address
    # (Flask-Limiter syntax; empty disables the throttle).
    ESSBOT_LOGIN_RATE: str | None = "5 per minute;20 per hour"
    # Failed logins allowed per client address, any e-mail (the mairie's staff share one).
    ESSBOT_LOGIN_RATE_ADDRESS: str | None = "30 per minute;100 per hour"
    # SMS through an Android phone ("SMS Gateway for Android", bot/channels/smsgate.py).
    ESSBOT_SMS_PROVIDER: str = "twilio"  # who carries SMS sent by the bot: twilio | smsgate
    SMSGATE_URL: str | None = None  # API base, e.g. https://api.sms-gate.app/3rdparty/v1
    SMSGATE_USERNAME: str | None = None  # Basic auth user shown in the app
    SMSGATE_PASSWORD: str | None = None  # Basic auth password shown in the app
    SMSGATE_SIGNING_KEY: str | None = None  # webhook signing key; unset → webhook 503
    SMSGATE_RATE_PER_MINUTE: float = 10.0  # SMS parts per minute the phone is asked to send
    SMSGATE_SIM_NUMBER: int = 0  # SIM slot to send from (1, 2…); 0 = the phone's default
    SMSGATE_HTTP_TIMEOUT: float = 10.0  # seconds, for calls to the gateway's API
    # CA certificate (PEM file) that signed the phone's own certificate in local mode; unset →
    # the system's CAs (cloud mode, a private server with a public certificate).
    SMSGATE_CA_BUNDLE: str | None = None
    # Seconds the dashboard's statistics may lag behind registry changes (0: recomputed after
    # every change).
    ESSBOT_DASHBOARD_MAX_AGE: int = 60
    # Partner API (bot/api/): calls allowed per token (Flask-Limiter syntax, read with the
    # ``limits`` library; empty: no limit), and the seconds `modified_after` stays behind
    # now, longer than any transaction writing the registry takes to commit.
    ESSBOT_API_RATE: str | None = "120 per minute;5000 per hour"
    ESSBOT_API_SYNC_LAG: float = 10.0
    # Outbound webhooks (bot/partner_hooks.py): attempts per event, backoff (seconds, doubling
    # from the base up to the max) and the receiver's time to answer (seconds).
    ESSBOT_WEBHOOK_MAX_ATTEMPTS: int = 8
    ESSBOT_WEBHOOK_RETRY_BASE: float = 10.0
    ESSBOT_WEBHOOK_RETRY_MAX: float = 3600.0
    ESSBOT_WEBHOOK_TIMEOUT: float = 10.0
    # Excel exports of more rows than this run as a background job of the queue (a progress
    # bar, then a download link); smaller ones, and every CSV, are sent at once.
    ESSBOT_EXPORT_INLINE_ROWS: int = 5000

    @field_validator("*", mode="before")
    @classmethod
    def _read_text(cls, value: Any, info: Any) -> Any:
        """Read a text value as the setting's type: booleans also as oui/non (empty is
        false), numbers stripped; an empty text is "unset" (None) for a text setting."""
        if not isinstance(value, str):
            return value
        annotation = cls.model_fields[info.field_name].annotation
        if annotation is bool:
            low = value.strip().lower()
            if low in _BOOL_TRUE:
                return True
            if low in _BOOL_FALSE:
                return False
            return value
        if annotation in (int, float):
            return value.strip()
        return value.strip() or None


#: Every setting with its default (the one statement of each default is in Settings).
DEFAULTS: dict[str, Any] = {name: field.default for name, field in Settings.model_fields.items()}

#: The settings the engine reads (bot.engine: ``Facts.settings``), by the engine's names.
ENGINE_SETTINGS = {"ask_protection": "ESSBOT_ASK_PROTECTION",
                   "retention_days": "ESSBOT_RETENTION_DAYS",
                   "resume_after_days": "ESSBOT_RESUME_AFTER_DAYS",
                   "sms_max_segments": "ESSBOT_SMS_MAX_SEGMENTS",
                   "office_hours": "ESSBOT_OFFICE_HOURS",
                   "timezone": "ESSBOT_TIMEZONE"}


def engine_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's settings (``{"sms_max_segments": 2, …}``, keys of ENGINE_SETTINGS) from
    the app's settings (``app.config`` or DEFAULTS): the one place the two names meet."""
    return {key: settings[name] for key, name in ENGINE_SETTINGS.items()}


def setting(settings: Mapping[str, Any], name: str) -> Any:
    """Setting `name` from `settings` (``app.config``, or a partial mapping a client is built
    from), its default when the mapping lacks it or holds None: callers never restate one."""
    value = settings.get(name)
    return DEFAULTS[name] if value is None else value


_KIND = {bool: "true or false", int: "an integer", float: "a number"}


def _one_line(error: ValidationError) -> ValueError:
    """The first problem of `error` as one clear line naming the setting and its value."""
    first = error.errors()[0]
    name = str(first["loc"][0]) if first.get("loc") else "a setting"
    field = Settings.model_fields.get(name)
    kind = _KIND.get(field.annotation) if field is not None else None
    value = first.get("input")
    if kind:
        return ValueError(f"{name} must be {kind}, not {value!r}")
    return ValueError(f"{name}: {first.get('msg', 'invalid value')} ({value!r})")


def _coerce(name: str, raw: str) -> Any:
    """Read the text `raw` of setting `name` as the setting's type (as from the environment);
    an unknown name gives the stripped text or None. Raises ValueError naming the setting."""
    if name not in Settings.model_fields:
        return raw.strip() or None
    try:
        return getattr(Settings(**{name: raw}), name)
    except ValidationError as exc:
        raise _one_line(exc) from None


def load_settings(instance_path: str | os.PathLike, overrides: dict | None = None) -> dict:
    """Build the settings dict from defaults, environment and `overrides`.

    Takes the instance folder (created if missing) and an optional mapping that wins over the
    environment (tests pass one; a text value is read like an environment variable, any other
    value is kept as given, and keys that are not settings — Flask's own, say — pass through).
    Returns a dict with every setting of :class:`Settings`, `DATABASE_URL` and `SECRET_KEY`
    resolved. Raises ValueError with one line naming the setting on an unreadable value (a
    non-numeric `ESSBOT_SMS_MAX_SEGMENTS`, an unknown `ESSBOT_SMS_PROVIDER`, a
    `TWILIO_WHATSAPP_FROM` without its ``whatsapp:`` prefix, …).
    """
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    overrides = dict(overrides or {})
    texts = {name: value for name, value in overrides.items()
             if name in Settings.model_fields and isinstance(value, str)}
    try:
        settings: dict[str, Any] = Settings(**texts).model_dump()
    except ValidationError as exc:
        raise _one_line(exc) from None
    settings.update({name: value for name, value in overrides.items() if name not in texts})
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
    sender = settings.get("TWILIO_WHATSAPP_FROM")
    if sender and not str(sender).startswith("whatsapp:"):
        # Twilio reads a bare number as an SMS sender: every WhatsApp send would fail (21212).
        raise ValueError("TWILIO_WHATSAPP_FROM must start with whatsapp: (e.g. "
                         f"whatsapp:+14155238886), not {str(sender)[:40]!r}")
    if int(settings["ESSBOT_SMS_MAX_SEGMENTS"]) < 1:
        raise ValueError("ESSBOT_SMS_MAX_SEGMENTS must be 1 or more")
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
