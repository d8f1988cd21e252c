"""Staff web interface at ``/admin`` (issue 6): server-rendered Jinja pages in French.

One blueprint, ``admin``, with a module per area (auth, staff accounts, dashboard, registry,
inbox, content, simulator, broadcasts). Shared rules live here:

- **Accounts**: Flask-Login sessions over :class:`bot.models.staff.StaffUser`; every view is
  behind :func:`require_role` (``viewer`` < ``agent`` < ``admin``), checked in a
  ``before_request`` hook so no route can forget it (only the login page and static files are
  public).
- **CSRF**: Flask-WTF's CSRFProtect, checked on every non-GET request of the blueprint (the
  Twilio webhooks, signed by Twilio, are outside it).
- **Throttling**: failed logins are counted in the database (bot/admin/auth.py), per address
  and e-mail (``ESSBOT_LOGIN_RATE``) and per address (``ESSBOT_LOGIN_RATE_ADDRESS``), so every
  process sees the same counts, with or without Redis.
- **Headers**: a strict Content-Security-Policy (everything from the app itself: no CDN, no
  inline script), no framing, no MIME sniffing, no referrer, no caching of personal pages;
  session cookie HttpOnly, SameSite=Lax, Secure when ``ESSBOT_PUBLIC_URL`` is https.
- **Audit**: :func:`audit` records who viewed, exported, edited or sent what
  (:class:`bot.models.staff.AuditEvent`).
- **Language**: strings go through Babel's gettext (``_``), French being the source; the
  ``admin`` catalog (``locales/fr/LC_MESSAGES/admin.po``) is extracted with
  ``essbot translate extract``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from typing import Any, Callable

from flask import Blueprint, abort, current_app, g, redirect, request, url_for
from flask_compress import Compress
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from bot.audit import audit_event, record_audit  # noqa: F401  (record_audit: for the views)
from bot.db import session_scope
from bot.i18n import N_
from bot.i18n import admin_text as _
from bot.models.staff import ROLES, StaffUser

log = logging.getLogger(__name__)

#: Seconds a browser keeps a fingerprinted static file (a year: its name changes with it).
ASSET_MAX_AGE = 365 * 24 * 3600
_FINGERPRINTED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{12})(?P<ext>\.[A-Za-z0-9]+)$")
_digests: dict[str, tuple[float, str]] = {}


def fingerprint(folder: str, filename: str) -> str:
    """`filename` of the static `folder` with the first 12 hex digits of its content's SHA-256
    before the extension (``admin.css`` → ``admin.0123456789ab.css``), cached while the file's
    modification time is unchanged; a missing file keeps its name (the request will 404)."""
    path = os.path.join(folder, filename)
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return filename
    known = _digests.get(path)
    if known is None or known[0] != mtime:
        with open(path, "rb") as fh:
            known = (mtime, hashlib.sha256(fh.read()).hexdigest()[:12])
        _digests[path] = known
    stem, dot, ext = filename.rpartition(".")
    return f"{stem}.{known[1]}.{ext}" if dot else filename


class _AssetBlueprint(Blueprint):
    """The staff blueprint, whose static files are linked by fingerprinted names (see
    :func:`fingerprint`; every ``url_for('admin.static', …)`` gets one) and served with a
    year-long, immutable cache lifetime: a page costs no request for its CSS and JS once they
    are cached, even on a slow line, and a changed file has a new name. A name whose digest is
    not the file's current one (a page cached before an upgrade) gets the current file, not
    cached."""

    def send_static_file(self, filename: str):
        """Serve `filename` (fingerprinted or plain) from the static folder."""
        from flask import send_from_directory

        found = _FINGERPRINTED.match(filename)
        if found is None:
            return super().send_static_file(filename)
        plain = found["stem"] + found["ext"]
        folder = str(self.static_folder)
        current = fingerprint(folder, plain) == filename
        response = send_from_directory(folder, plain, max_age=ASSET_MAX_AGE if current else 0)
        if current:
            response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}, immutable"
        return response


bp = _AssetBlueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
                     static_folder="static", static_url_path="/static")


@bp.url_defaults
def _fingerprinted_static(endpoint: str, values: dict[str, Any]) -> None:
    """Every link to a static file of the staff pages names its fingerprinted file."""
    if endpoint == "admin.static" and "filename" in values and bp.static_folder:
        values["filename"] = fingerprint(bp.static_folder, values["filename"])

login_manager = LoginManager()
compress = Compress()
csrf = CSRFProtect()

#: Endpoints reachable without logging in.
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.static"})

#: Minimum role of each endpoint that is not read-only for a viewer. Views register here
#: with :func:`require_role`; anything not listed needs "viewer" (any logged-in account).
_ENDPOINT_ROLES: dict[str, str] = {}

#: Content-Security-Policy of every admin page: only the app's own files, no inline script.
#: ``style-src 'unsafe-inline'`` is for pygal's SVG, which carries its own <style>.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; media-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")


def require_role(role: str) -> Callable:
    """Decorator: the view needs at least `role` ("viewer", "agent" or "admin").

    The check itself runs in the blueprint's ``before_request`` (:func:`_guard`), so an
    anonymous request is redirected to the login page and a logged-in account without the
    role gets 403. Raises ValueError for an unknown role at import time.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    def decorate(view: Callable) -> Callable:
        view._essbot_role = role  # read by endpoint_role() for every request
        return view

    return decorate


def endpoint_role(endpoint: str | None) -> str:
    """The minimum role needed for `endpoint` (an ``admin.*`` endpoint name)."""
    if endpoint is None:
        return "admin"
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "_essbot_role", "viewer")


@bp.before_request
def _guard():
    """Log in first; then the role; then CSRF on every state-changing request."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.can(endpoint_role(request.endpoint)):
        abort(403, _("Votre rôle ne permet pas cette action."))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    return None


@bp.after_request
def _headers(response):
    """Security headers on every admin response (OWASP secure headers project)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "admin.static":
        # Pages show personal data: never keep them in a shared browser's cache.
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure or str(current_app.config.get("ESSBOT_PUBLIC_URL") or "").startswith(
            "https://"):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    # Compressed for the office's slow line (the dashboard: 100 KB of HTML, 14 KB gzipped);
    # only here, not on the Twilio webhooks, whose small answers would pay for nothing.
    return compress.after_request(response)


def number(value: Any) -> str:
    """A number written the French way, the one way of every staff page: thousands grouped
    by a narrow no-break space (CLDR ``fr`` through Babel: ``25 970``), decimal comma
    (``2,5``); None gives an empty string."""
    if value is None:
        return ""
    from babel.numbers import format_decimal

    return format_decimal(value, locale="fr")


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"can": lambda role: current_user.is_authenticated and current_user.can(role),
            "nav": NAV, "number": number}


@bp.app_template_filter("bamako")
def bamako_time(value: Any, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """Format an aware UTC datetime in ESSBOT_TIMEZONE (Africa/Bamako, UTC+0 all year) as
    ``29/11/2026 10:15``; None gives an empty string."""
    if value is None:
        return ""
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(current_app.config["ESSBOT_TIMEZONE"])).strftime(fmt)


_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


@bp.app_template_filter("jjmmaaaa")
def french_date(value: Any) -> str:
    """An ISO date text as staff read dates: ``2026-11-20`` → ``20/11/2026``, ``2026-11`` →
    ``11/2026``; a year or any other text is kept, None gives ""."""
    if value is None:
        return ""
    found = _ISO_DAY.match(str(value).strip())
    if not found:
        return str(value)
    year, month, day = found.groups()
    return f"{day}/{month}/{year}" if day else f"{month}/{year}"


#: The menu: (endpoint, label, minimum role). Labels are translated in the template.
NAV = (
    ("admin.dashboard", N_("Tableau de bord"), "viewer"),
    ("admin.registry", N_("Registre"), "viewer"),
    ("admin.inbox", N_("Boîte de réception"), "viewer"),
    ("admin.content", N_("Contenus"), "viewer"),
    ("admin.broadcasts", N_("Annonces"), "viewer"),
    ("admin.simulator", N_("Simulateur"), "agent"),
    ("admin.staff", N_("Comptes"), "admin"),
    ("admin.audit", N_("Journal"), "admin"),
    ("admin.api_tokens", N_("API"), "admin"),
)


def audit(action: str, target: str | None = None, *, session: Any = None, **detail: Any) -> None:
    """Record that the logged-in staff member did `action` on `target` (e.g. ``"actor:12"``),
    with `detail` (JSON-serialisable; never phones or message bodies).

    Pass the ORM `session` of the change being audited to record both in one transaction
    (required inside a ``session_scope``: on SQLite a second transaction would wait for the
    write lock the first one holds). Without it the event is committed at once on its own.
    """
    staff = current_user if current_user and current_user.is_authenticated else None
    event = audit_event(action, target, staff_id=staff.id if staff else None,
                        staff_email=staff.email if staff else None,
                        ip=request.remote_addr if request else None, detail=detail)
    if session is not None:
        session.add(event)
        return
    with session_scope() as own:
        own.add(event)


#: French reasons of the error pages, by HTTP status (used when the error carries
#: werkzeug's default English description).
ERROR_REASONS = {
    400: N_("La demande n'est pas valide."),
    401: N_("Connectez-vous d'abord."),
    403: N_("Votre rôle ne permet pas cette action."),
    404: N_("Cette page ou cette fiche n'existe pas."),
    405: N_("Cette action n'est pas possible à cette adresse."),
    413: N_("Le fichier est trop volumineux (1 Mo au plus)."),
    429: N_("Trop de tentatives. Réessayez dans quelques minutes."),
    500: N_("Une erreur interne est survenue ; elle est notée dans le journal du serveur."),
}


def error_page(exc: Any):
    """The French error page of the staff interface for `exc` (a werkzeug HTTPException):
    status kept, reason in French (the view's own description when it gave one, else
    :data:`ERROR_REASONS`; a missing or expired CSRF token is explained)."""
    from flask import render_template
    from flask_wtf.csrf import CSRFError

    code = exc.code or 500
    default = getattr(type(exc), "description", None)
    if isinstance(exc, CSRFError):
        reason = _("Le formulaire a expiré ou a été envoyé sans son jeton de sécurité (CSRF). "
                   "Rechargez la page et recommencez.")
    elif exc.description and exc.description != default and code != 500:
        reason = exc.description
    else:
        reason = _(ERROR_REASONS.get(code, ERROR_REASONS[400 if code < 500 else 500]))
    response = current_app.make_response((render_template(
        "admin/error.html", code=code, reason=reason), code))
    if code == 429 and getattr(exc, "retry_after", None):
        response.headers["Retry-After"] = str(exc.retry_after)
    return _headers(response)


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    """The account of a session id ``"<id>.<session_version>"`` (StaffUser.get_id), or None
    when it is unknown, deactivated, or its sessions were ended since (logout, password or
    role change): the request is then treated as anonymous."""
    key, _sep, version = str(user_id).partition(".")
    if not (key.isdigit() and version.isdigit() and len(key) < 12):
        return None
    with session_scope() as session:
        user = session.get(StaffUser, int(key))
        if user is None or not user.active or user.session_version != int(version):
            return None
        session.expunge(user)
    g.staff = user
    return user


def _unauthorized():
    if request.method == "GET":
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    abort(401, _("Connectez-vous d'abord."))
