"""Registration of the partner API on the app (called by bot.app.create_app)."""

from __future__ import annotations

from flask import Flask
from limits import parse_many

# The route modules add their hooks and routes to `bp` when imported.
from bot.api import auth, views  # noqa: F401
from bot.api import bp


def init_app(app: Flask) -> None:
    """Register the API blueprint on `app`. Raises ValueError when ESSBOT_API_RATE does not
    read like ``"120 per minute;5000 per hour"`` (said at start-up, not at the first call)."""
    try:
        parse_many(app.config.get("ESSBOT_API_RATE") or "1 per second")
    except ValueError:
        raise ValueError("ESSBOT_API_RATE must read like '120 per minute;5000 per hour'") \
            from None
    app.register_blueprint(bp)
