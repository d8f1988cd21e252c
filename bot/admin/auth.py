"""Log in and out of the staff interface.

Passwords are checked against werkzeug scrypt hashes; a failed attempt says nothing about
whether the e-mail exists (OWASP authentication cheat sheet) and is audited; attempts are
throttled per address and e-mail by Flask-Limiter (``ESSBOT_LOGIN_RATE``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from bot.admin import _, audit, bp, limiter, record_audit
from bot.db import session_scope
from bot.i18n import N_
from bot.models import utcnow
from bot.models.staff import StaffUser


class LoginForm(FlaskForm):
    """E-mail and password, both required."""

    email = EmailField(N_("Adresse e-mail"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(N_("Mot de passe"), validators=[DataRequired(), Length(max=200)])


def _login_key() -> str:
    # Per address *and* e-mail: colleagues behind the mairie's one public address do not
    # lock each other out, and one account cannot be guessed from many addresses at speed.
    email = (request.form.get("email") or "").strip().lower()[:200]
    return f"{request.remote_addr}|{email}"


def _login_rate() -> str:
    return current_app.config.get("ESSBOT_LOGIN_RATE") or "1000000 per second"


def _safe_next(target: str | None) -> str:
    """`target` if it is a path inside /admin (no open redirect), else the dashboard."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/admin") \
                and not target.startswith("//"):
            return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate, key_func=_login_key, methods=["POST"],
               # Only failed attempts count (a success redirects): staff logging in and out
               # during the day are never locked out (newcomer's test).
               deduct_when=lambda response: response.status_code != 302,
               error_message=N_("Trop de tentatives de connexion. Réessayez dans quelques "
                                "minutes."))
def login():
    """The login form (GET) and its check (POST); redirects to `next` on success."""
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
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
