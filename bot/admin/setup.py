"""Registration of the staff interface on the app (called by bot.app.create_app).

Kept apart from the package file so that the view modules, which import the shared rules of
``bot.admin`` (blueprint, ``_``, roles, audit), are imported by this module and not by the
package they import: no import cycle inside the staff interface.
"""

from __future__ import annotations

from flask import Flask
from flask_wtf import FlaskForm
from limits import parse_many

# The view modules add their routes to `bp` when imported.
from bot.admin import (api_tokens, auth, broadcasts, content, dashboard,  # noqa: F401
                       inbox, registry, simulator, staff)
from bot.admin import _unauthorized, bp, compress, csrf, login_manager
from bot.i18n import admin_gettext, admin_ngettext


def init_app(app: Flask) -> None:
    """Register the staff interface on `app`: the blueprint, Flask-Login, CSRF (checked
    only inside the blueprint), cookie settings and Jinja's gettext. Raises ValueError on a
    login rate that does not parse."""
    for setting in ("ESSBOT_LOGIN_RATE", "ESSBOT_LOGIN_RATE_ADDRESS"):
        try:
            parse_many(app.config.get(setting) or "1 per second")
        except ValueError:
            # Said at start-up (and on the CLI as one line), not as a 500 at the first login.
            raise ValueError(f"{setting} must read like '5 per minute;20 per hour'") from None
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked in _guard, admin only
    # Form errors in French: WTForms' own French catalog (no Flask-Babel needed).
    app.config.setdefault("WTF_I18N_ENABLED", False)
    FlaskForm.Meta.locales = ("fr_FR", "fr")
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    secure = str(app.config.get("ESSBOT_PUBLIC_URL") or "").startswith("https://")
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=secure, REMEMBER_COOKIE_HTTPONLY=True,
                      REMEMBER_COOKIE_SECURE=secure, SESSION_COOKIE_NAME="essbot_session",
                      PERMANENT_SESSION_LIFETIME=8 * 3600)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "strong"
    login_manager.unauthorized_handler(_unauthorized)
    app.config.setdefault("COMPRESS_REGISTER", False)  # applied in _headers, admin only
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip", "deflate"])
    compress.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)

    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(admin_gettext, admin_ngettext, newstyle=True)

    # The view modules (imported above) have added their routes to `bp`.
    app.register_blueprint(bp)
