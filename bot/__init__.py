"""essbot: the SMS and WhatsApp assistant of a commune's ESS service.

The package itself loads nothing: ``import bot.engine`` (the pure dialog engine) must not
pull in Flask or SQLAlchemy. The app factory lives in :mod:`bot.app`;
``from bot import create_app`` still works and imports it on first use (PEP 562).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """Give ``bot.create_app`` (bot.app.create_app) on first access; AttributeError otherwise."""
    if name == "create_app":
        from bot.app import create_app

        return create_app
    raise AttributeError(f"module 'bot' has no attribute {name!r}")
