"""Staff interface: the partner API's tokens and webhook subscriptions (admins only, issue 21).

``/admin/api`` lists the tokens (name, first characters, scope, personal-data right, dates —
never the token), creates one (shown once, on the answer to the form: only its digest is
kept, bot.api_tokens) and revokes one; it also lists the webhook subscriptions with their
deliveries. Every creation and revocation is audited. The same functions serve
``essbot api-token …`` and ``essbot webhook …``.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from bot.admin import _, audit, bp, require_role
from bot.api_tokens import TokenError, create_token, list_tokens, revoke_token
from bot.i18n import N_
from bot.partner_hooks import list_subscriptions

SCOPE_LABELS = {"read": N_("Lecture (registre, statistiques, annonces)"),
                "write": N_("Écriture (aussi créer et envoyer des annonces)")}


class NewTokenForm(FlaskForm):
    """Who the token is for, its scope and its personal-data right."""

    name = StringField(N_("Partenaire"), validators=[DataRequired(), Length(max=120)])
    scope = SelectField(N_("Portée"), choices=list(SCOPE_LABELS.items()))
    personal_data = BooleanField(N_("Accès aux données personnelles (noms, téléphones "
                                    "masqués) : seulement pour un partenaire qui en a le "
                                    "droit"))


class RevokeForm(FlaskForm):
    """The CSRF token of a revocation button."""


def _page(form: NewTokenForm, token: str | None = None, status: int = 200):
    return render_template("admin/api_tokens.html", form=form, tokens=list_tokens(current_app),
                           subscriptions=list_subscriptions(current_app), new_token=token,
                           revoke=RevokeForm(), labels=SCOPE_LABELS), status


@bp.route("/api", methods=["GET", "POST"])
@require_role("admin")
def api_tokens():
    """List the tokens and subscriptions; create a token (shown once on this answer)."""
    form = NewTokenForm()
    if form.validate_on_submit():
        try:
            token_id, token = create_token(current_app, form.name.data, form.scope.data,
                                           bool(form.personal_data.data), current_user.email)
        except TokenError as exc:
            flash(str(exc), "error")
        else:
            audit("api_token_create", f"api_token:{token_id}", scope=form.scope.data,
                  personal_data=bool(form.personal_data.data))
            return _page(NewTokenForm(formdata=None), token)
    return _page(form)


@bp.route("/api/<int:token_id>/revoke", methods=["POST"])
@require_role("admin")
def api_token_revoke(token_id: int):
    """Revoke a token: every later call with it is refused."""
    if revoke_token(current_app, token_id):
        audit("api_token_revoke", f"api_token:{token_id}")
        flash(_("Jeton révoqué."), "info")
    else:
        flash(_("Ce jeton n'existe pas ou est déjà révoqué."), "error")
    return redirect(url_for("admin.api_tokens"))
