"""Log in and out of the staff interface.

Passwords are checked against werkzeug scrypt hashes; a failed attempt says nothing about
whether the e-mail exists (OWASP authentication cheat sheet) and is audited; attempts are
throttled in the database (:class:`bot.models.staff.LoginFailure`, so every process counts
the same attempts): per pair of address and e-mail (``ESSBOT_LOGIN_RATE``) and per address
(``ESSBOT_LOGIN_RATE_ADDRESS``, high enough for the mairie's one shared public address).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from limits import parse_many
from werkzeug.exceptions import TooManyRequests
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from bot.admin import _, audit, bp, record_audit
from bot.db import get_engine, session_scope, transaction
from bot.i18n import N_
from bot.models import utcnow
from bot.models.staff import LoginFailure, StaffUser


class LoginForm(FlaskForm):
    """E-mail and password, both required."""

    email = EmailField(N_("Adresse e-mail"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(N_("Mot de passe"), validators=[DataRequired(), Length(max=200)])


#: The throttle's scopes and the setting holding each one's limits (Flask-Limiter's syntax,
#: read with the ``limits`` library: "5 per minute;20 per hour"; empty: no limit).
THROTTLE_SCOPES = (("pair", "ESSBOT_LOGIN_RATE"), ("address", "ESSBOT_LOGIN_RATE_ADDRESS"))


def _throttle_keys(address: str | None, email: str) -> dict[str, str]:
    # Per address *and* e-mail: colleagues behind the mairie's one public address do not
    # lock each other out, and one account cannot be guessed from many addresses at speed;
    # per address too, so guessing across many accounts from one place is slowed.
    address = (address or "-")[:64]
    return {"pair": f"{address}|{email.strip().lower()[:200]}", "address": address}


def _windows(app: Flask, setting: str) -> list[tuple[int, int]]:
    """(attempts, seconds) of each limit of `setting`; [] when it is empty."""
    text = app.config.get(setting) or ""
    return [(item.amount, item.get_expiry()) for item in parse_many(text)] if text else []


def login_retry_after(app: Flask, address: str | None, email: str,
                      now: datetime | None = None) -> int | None:
    """Seconds before a login from `address` for `email` may be tried again, or None when
    it may be tried now: some window of ESSBOT_LOGIN_RATE (this pair) or
    ESSBOT_LOGIN_RATE_ADDRESS (this address, any e-mail) already holds its number of failed
    attempts. Sliding windows over the stored failures (all processes see the same ones)."""
    now = now or utcnow()
    f = LoginFailure.__table__
    keys = _throttle_keys(address, email)
    wait = 0
    with get_engine(app).connect() as conn:
        for scope, setting in THROTTLE_SCOPES:
            for amount, seconds in _windows(app, setting):
                since = now - timedelta(seconds=seconds)
                times = conn.execute(sa.select(f.c.at).where(
                    f.c.scope == scope, f.c.key == keys[scope], f.c.at > since)
                    .order_by(f.c.at.desc()).limit(amount)).scalars().all()
                if len(times) >= amount:
                    # Free again when the oldest of the last `amount` failures leaves it.
                    wait = max(wait, math.ceil((times[-1] - since).total_seconds()))
    return max(wait, 1) if wait else None


def record_login_failure(app: Flask, address: str | None, email: str,
                         now: datetime | None = None) -> None:
    """Count one failed login of `email` from `address` (both scopes), and delete the
    failures older than the longest window of the throttle."""
    now = now or utcnow()
    f = LoginFailure.__table__
    longest = max([s for _scope, setting in THROTTLE_SCOPES
                   for _n, s in _windows(app, setting)] or [0])
    with transaction(app) as conn:
        conn.execute(sa.insert(f), [{"scope": scope, "key": key, "at": now}
                                    for scope, key in _throttle_keys(address, email).items()])
        conn.execute(sa.delete(f).where(f.c.at < now - timedelta(seconds=longest)))


def _safe_next(target: str | None) -> str:
    """`target` if it is a path inside /admin (no open redirect), else the dashboard."""
    # A control character (CR/LF: a header injection attempt) is refused before urlsplit:
    # werkzeug would refuse it in the Location header, a 500 (issue 14).
    if target and not any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/admin") \
                and not target.startswith("//"):
            return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form (GET) and its check (POST); redirects to `next` on success. A POST
    while the throttle holds (login_retry_after) is refused with 429 and Retry-After; only
    failed attempts count, so staff logging in and out during the day are never locked out."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "POST":
        typed = request.form.get("email") or ""
        wait = login_retry_after(current_app, request.remote_addr, typed)
        if wait is not None:
            raise TooManyRequests(_("Trop de tentatives de connexion. Réessayez dans quelques "
                                    "minutes."), retry_after=wait)
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        with session_scope() as session:
            user = session.scalars(sa.select(StaffUser).where(StaffUser.email == email)).first()
            ok = user is not None and user.active and user.check_password(form.password.data)
            if ok:
                user.last_login_at = utcnow()
                session.flush()
                session.expunge(user)
        if ok:
            login_user(user)
            audit("login")
            return redirect(_safe_next(request.args.get("next")))
        record_audit(current_app, "login_failed", None, staff_id=None, staff_email=email,
                     ip=request.remote_addr)
        flash(_("Adresse e-mail ou mot de passe incorrect."), "error")
    if request.method == "POST":
        record_login_failure(current_app, request.remote_addr, request.form.get("email") or "")
    return render_template("admin/login.html", form=form)


@bp.post("/logout")
def logout():
    """End the session (POST only, with the CSRF token, so a link cannot log staff out)."""
    audit("logout")
    # End the session on the server too: Flask keeps it in a signed cookie, which a copy
    # would otherwise keep valid (a shared office PC, a stolen cookie).
    with session_scope() as session:
        user = session.get(StaffUser, current_user.id)
        if user is not None:
            user.end_sessions()
    logout_user()
    flash(_("Vous êtes déconnecté."), "info")
    return redirect(url_for("admin.login"))
