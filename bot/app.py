"""The app factory: `create_app` is the table of contents (settings, database, blueprints,
the staff interface, the inbound hooks).

It is the composition root: the only module that knows every layer (see docs/architecture.md).
``gunicorn 'bot.app:create_app()'`` and ``from bot import create_app`` both reach it.
"""

from __future__ import annotations

import logging
import os

from dotenv import load_dotenv
from flask import Flask, request
from sqlalchemy.exc import DataError, DBAPIError
from werkzeug.exceptions import BadRequest, HTTPException, NotFound

from bot import admin, api, db, health, partner_hooks, webhooks, webhooks_smsgate
from bot.admin import setup as admin_setup
from bot.api import setup as api_setup
from bot.broadcasts import diffuser
from bot.config import load_settings
from bot.conversations import register_inbound_hook


def create_app(config: dict | None = None) -> Flask:
    """Build the Flask app.

    `config` overrides settings from the environment and `.env` (tests pass one; keys
    as in bot/config.py, e.g. ``{"DATABASE_URL": "sqlite:///…"}``). The instance
    folder is ``ESSBOT_INSTANCE_PATH`` or Flask's default ``instance/``. Raises
    ValueError on an unreadable setting.
    """
    load_dotenv(override=False)
    instance_path = os.environ.get("ESSBOT_INSTANCE_PATH") or None
    app = Flask(__name__, instance_path=instance_path and os.path.abspath(instance_path),
                instance_relative_config=True)

    app.config.update(load_settings(app.instance_path, config))
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # a Twilio form or a gateway event: a few KB

    db.init_app(app)

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(webhooks_smsgate.bp)

    admin_setup.init_app(app)
    api_setup.init_app(app)
    # Partners' webhooks run on the broadcast queue (its tasks and its tick).
    partner_hooks.init_app(app)
    # A staff phone's DIFFUSER command is answered before the engine sees the message.
    register_inbound_hook(app, diffuser)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/api/"):
            return api.http_error(exc)  # partners' programs read JSON, never a page
        if request.path.startswith("/admin"):
            return admin.error_page(exc)  # staff get a French page with the reason
        # Plain text with the reason; 403 says nothing more (docs/architecture.md contract).
        body = exc.name if exc.code == 403 else f"{exc.name}: {exc.description}"
        return body + "\n", exc.code, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(OverflowError)
    def _number_too_large(exc: OverflowError):
        # An id in a URL or form beyond what the database stores (newcomer's test:
        # /admin/staff/99999999999999999999999 was a 500): no such record.
        return _http_error(NotFound())

    @app.errorhandler(DataError)
    def _value_out_of_range(exc: DataError):
        # PostgreSQL refuses a value the column cannot hold (an id beyond BIGINT in a URL):
        # bad input, not a database outage.
        if request.path.startswith("/admin"):
            return _http_error(NotFound())
        return _http_error(BadRequest("a value is out of range"))

    @app.errorhandler(DBAPIError)
    def _database_down(exc: DBAPIError):
        # Twilio retries a non-2xx answer (with connection overrides), so the message is not
        # lost; one log line, no traceback flood while the database is away.
        logging.getLogger("bot").error("database unavailable: %s", type(exc.orig).__name__)
        if request.path.startswith("/api/"):
            response = api.error_response(503, "database unavailable, retry later")
            response.headers["Retry-After"] = "5"
            return response
        return ("Service Unavailable: database unavailable, retry later\n", 503,
                {"Content-Type": "text/plain; charset=utf-8", "Retry-After": "5"})

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return app
