"""Staff accounts (admin only) and the audit log, plus the functions the CLI shares
(``essbot staff create``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from bot.admin import _, audit, bp, require_role
from bot.db import session_scope
from bot.i18n import N_
from bot.models.staff import MIN_PASSWORD_LENGTH, ROLES, AuditEvent, StaffUser, valid_pin
from bot.phones import InvalidPhone, to_e164

ROLE_LABELS = {"viewer": N_("Lecture seule"), "agent": N_("Agent"),
               "admin": N_("Administrateur")}


class StaffError(ValueError):
    """An account that cannot be created or changed; the message is for the staff member."""


def _phone_or_none(phone: str | None, country: str) -> str | None:
    if not phone or not phone.strip():
        return None
    try:
        return to_e164(phone, country)
    except InvalidPhone:
        raise StaffError(_("Numéro de téléphone invalide : %(phone)s", phone=phone)) from None


def _checked_pin(pin: str | None) -> str | None:
    pin = (pin or "").strip()
    if pin and not valid_pin(pin):
        raise StaffError(_("Le code DIFFUSER doit avoir de 4 à 8 chiffres."))
    return pin or None


def set_diffuser_pin(app: Flask, email: str, pin: str | None) -> int:
    """Set (or with an empty `pin`, remove) the DIFFUSER PIN of the account `email`, which
    also clears its wrong-PIN count and lockout; return the account id. The one place the
    staff page and ``essbot staff pin`` set it. Raises StaffError (French) for an unknown
    account or a PIN that is not 4 to 8 digits."""
    pin = _checked_pin(pin)
    email = (email or "").strip().lower()
    with session_scope(app) as session:
        user = session.scalars(sa.select(StaffUser).where(StaffUser.email == email)).first()
        if user is None:
            raise StaffError(_("Aucun compte %(email)s.", email=email))
        user.set_diffuser_pin(pin)
        return user.id


def check_new_staff(app: Flask, email: str, role: str,
                    phone: str | None = None) -> tuple[str, str | None]:
    """Check a new account's fields other than the password, before anyone types one: returns
    (the e-mail in lower case, the phone in E.164 or None). Raises StaffError (French) for an
    invalid e-mail, an unknown role, an unreadable phone, or an e-mail or phone already used."""
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 200:
        raise StaffError(_("Adresse e-mail invalide."))
    if role not in ROLES:
        raise StaffError(_("Rôle inconnu : %(role)s", role=role))
    e164 = _phone_or_none(phone, app.config["ESSBOT_COUNTRY"])
    with session_scope(app) as session:
        if session.scalars(sa.select(StaffUser.id).where(StaffUser.email == email)).first():
            raise StaffError(_("Un compte existe déjà pour %(email)s.", email=email))
        if e164 and session.scalars(sa.select(StaffUser.id).where(StaffUser.phone == e164)).first():
            raise StaffError(_("Ce numéro est déjà celui d'un autre compte."))
    return email, e164


def create_staff(app: Flask, email: str, role: str, password: str, name: str = "",
                 phone: str | None = None) -> int:
    """Create an active staff account and return its id.

    `email` is stored in lower case and must be unique; `role` is one of ROLES; `password`
    has at least MIN_PASSWORD_LENGTH characters; `phone` (any Mali or E.164 form, optional)
    is the staff member's own phone. Raises StaffError with a French message otherwise.
    """
    email, e164 = check_new_staff(app, email, role, phone)
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise StaffError(_("Le mot de passe doit avoir au moins %(n)s caractères.",
                           n=MIN_PASSWORD_LENGTH))
    with session_scope(app) as session:
        user = StaffUser(email=email, role=role, name=(name or "").strip()[:120], phone=e164)
        user.set_password(password)
        session.add(user)
        session.flush()
        return user.id


class NewStaffForm(FlaskForm):
    """Fields of a new account."""

    email = EmailField(N_("Adresse e-mail"), validators=[DataRequired(), Length(max=200)])
    name = StringField(N_("Nom"), validators=[Optional(), Length(max=120)])
    role = SelectField(N_("Rôle"), choices=[(r, ROLE_LABELS[r]) for r in ROLES])
    phone = StringField(N_("Téléphone (pour DIFFUSER par SMS)"), validators=[Optional(),
                                                                         Length(max=32)])
    password = PasswordField(N_("Mot de passe"), validators=[DataRequired(),
                                                         Length(min=MIN_PASSWORD_LENGTH,
                                                                max=200)])


class EditStaffForm(FlaskForm):
    """Role, phone, active flag and an optional new password of an existing account."""

    role = SelectField(N_("Rôle"), choices=[(r, ROLE_LABELS[r]) for r in ROLES])
    phone = StringField(N_("Téléphone"), validators=[Optional(), Length(max=32)])
    active = BooleanField(N_("Compte actif"))
    password = PasswordField(N_("Nouveau mot de passe (laisser vide pour garder l'actuel)"),
                             validators=[Optional(), Length(min=MIN_PASSWORD_LENGTH, max=200)])
    diffuser_pin = PasswordField(
        N_("Nouveau code DIFFUSER, 4 à 8 chiffres (à taper après OUI pour confirmer une "
           "annonce par SMS ; vide : garder l'actuel)"), validators=[Optional(), Length(max=8)])
    remove_pin = BooleanField(N_("Supprimer le code DIFFUSER (plus d'annonce par téléphone)"))


@bp.route("/staff", methods=["GET", "POST"])
@require_role("admin")
def staff():
    """List the accounts and create one."""
    from flask import current_app

    form = NewStaffForm()
    if form.validate_on_submit():
        try:
            new_id = create_staff(current_app, form.email.data, form.role.data,
                                  form.password.data, form.name.data, form.phone.data)
        except StaffError as exc:
            flash(str(exc), "error")
        else:
            audit("staff_create", f"staff:{new_id}", role=form.role.data)
            flash(_("Compte créé."), "info")
            return redirect(url_for("admin.staff"))
    with session_scope() as session:
        users = session.scalars(sa.select(StaffUser).order_by(StaffUser.email)).all()
    return render_template("admin/staff.html", users=users, form=form, labels=ROLE_LABELS)


@bp.route("/staff/<int:user_id>", methods=["GET", "POST"])
@require_role("admin")
def staff_edit(user_id: int):
    """Change an account's role, phone, active flag or password."""
    from flask import abort, current_app

    with session_scope() as session:
        user = session.get(StaffUser, user_id)
        if user is None:
            abort(404, _("Ce compte n'existe pas."))
        form = EditStaffForm(obj=user) if request.method == "GET" else EditStaffForm()
        if form.validate_on_submit():
            changes: dict[str, Any] = {}
            try:
                phone = _phone_or_none(form.phone.data, current_app.config["ESSBOT_COUNTRY"])
            except StaffError as exc:
                flash(str(exc), "error")
                return render_template("admin/staff_edit.html", user=user, form=form)
            if user.id == current_user.id and (form.role.data != "admin" or not form.active.data):
                flash(_("Vous ne pouvez pas retirer vos propres droits d'administrateur."),
                      "error")
                return render_template("admin/staff_edit.html", user=user, form=form)
            for field, value in (("role", form.role.data), ("phone", phone),
                                 ("active", bool(form.active.data))):
                if getattr(user, field) != value:
                    changes[field] = True
                    setattr(user, field, value)
            if form.password.data:
                user.set_password(form.password.data)  # also ends the account's sessions
                changes["password"] = True
            if form.diffuser_pin.data or form.remove_pin.data:
                try:
                    pin = None if form.remove_pin.data else _checked_pin(form.diffuser_pin.data)
                except StaffError as exc:
                    session.rollback()
                    flash(str(exc), "error")
                    return render_template("admin/staff_edit.html", user=user, form=form)
                user.set_diffuser_pin(pin)
                changes["diffuser_pin"] = True
            if "role" in changes or "active" in changes:
                user.end_sessions()  # the new rights apply now, not at the next login
            try:
                session.flush()
            except sa.exc.IntegrityError:
                session.rollback()
                flash(_("Ce numéro est déjà celui d'un autre compte."), "error")
                return redirect(url_for("admin.staff_edit", user_id=user_id))
            audit("staff_edit", f"staff:{user_id}", session=session, fields=sorted(changes))
            flash(_("Compte mis à jour."), "info")
            return redirect(url_for("admin.staff"))
        return render_template("admin/staff_edit.html", user=user, form=form)


@bp.get("/audit", endpoint="audit")
@require_role("admin")
def audit_log():
    """The journal: the last JOURNAL_ROWS audit events, newest first, filtered by account
    (``qui``), action, and days (``du``/``au``, Bamako dates, JJ/MM/AAAA or the date field's
    AAAA-MM-JJ); each with its French label, its object as a link and its details in words."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from flask import current_app

    zone = ZoneInfo(current_app.config["ESSBOT_TIMEZONE"])
    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(JOURNAL_ROWS)
    action = request.args.get("action") or ""
    who = request.args.get("qui") or ""
    if action:
        query = query.where(AuditEvent.action == action)
    if who:
        query = query.where(AuditEvent.staff_email == who)
    days: dict[str, Any] = {}
    for key in ("du", "au"):
        text = (request.args.get(key) or "").strip()
        if not text:
            continue
        for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                days[key] = datetime.strptime(text, pattern).date()
                break
            except ValueError:
                continue
        else:
            flash(_("Date non comprise : « %(d)s » (écrivez JJ/MM/AAAA).", d=text[:20]),
                  "error")
    if "du" in days:
        query = query.where(AuditEvent.at >= datetime.combine(days["du"], time(), zone))
    if "au" in days:
        query = query.where(AuditEvent.at < datetime.combine(days["au"] + timedelta(days=1),
                                                            time(), zone))
    with session_scope() as session:
        events = session.scalars(query).all()
        accounts = sorted({e for e in session.scalars(sa.select(AuditEvent.staff_email)
                                                      .distinct()) if e})
        session.expunge_all()
    rows = [{"at": e.at, "who": e.staff_email, "action": e.action,
             "label": _(ACTION_LABELS[e.action]) if e.action in ACTION_LABELS else e.action,
             "target": target_link(e.target), "detail": detail_text(e.detail), "ip": e.ip}
            for e in events]
    return render_template("admin/audit.html", rows=rows, action=action, who=who,
                           accounts=accounts, actions=ACTION_LABELS,
                           du=days.get("du"), au=days.get("au"), limit=JOURNAL_ROWS)


#: Most events the journal shows at once (the filters narrow it).
JOURNAL_ROWS = 500

#: The journal's actions in the staff's words (bot.admin.audit's `action` codes).
ACTION_LABELS = {
    "login": N_("Connexion"), "login_failed": N_("Connexion refusée"),
    "logout": N_("Déconnexion"), "view": N_("Fiche consultée"), "edit": N_("Modification"),
    "delete": N_("Suppression à la demande"), "export": N_("Export"),
    "export_download": N_("Export téléchargé"), "import": N_("Import d'une liste"),
    "import_preview": N_("Aperçu d'un import"), "inbox_view": N_("Boîte de réception consultée"),
    "ticket_view": N_("Ticket consulté"), "ticket_reply": N_("Réponse à un ticket"),
    "ticket_assign": N_("Ticket pris en charge"), "ticket_assign_to": N_("Ticket attribué"),
    "ticket_unassign": N_("Attribution retirée"), "ticket_close": N_("Ticket fermé"),
    "ticket_reopen": N_("Ticket rouvert"), "ticket_note": N_("Note interne"),
    "phone_reveal": N_("Numéro complet affiché"), "media_view": N_("Média consulté"),
    "saved_reply_add": N_("Réponse enregistrée ajoutée"),
    "saved_reply_delete": N_("Réponse enregistrée supprimée"),
    "content_edit": N_("Contenu modifié"), "create": N_("Annonce créée"),
    "send": N_("Annonce envoyée"), "cancel": N_("Annonce annulée"),
    "simulate": N_("Simulateur"), "staff_create": N_("Compte créé"),
    "staff_edit": N_("Compte modifié"), "diffuser_locked": N_("DIFFUSER bloqué"),
}

#: Objects of the journal: prefix of `target` -> (French name, endpoint, its id argument).
TARGETS = {"actor": (N_("Fiche n° %(id)s"), "admin.registry_actor", "actor_id"),
           "ticket": (N_("Ticket n° %(id)s"), "admin.inbox_ticket", "ticket_id"),
           "broadcast": (N_("Annonce n° %(id)s"), "admin.broadcasts_view", "broadcast_id"),
           "staff": (N_("Compte n° %(id)s"), "admin.staff_edit", "user_id"),
           "article": (N_("Article « %(id)s »"), "admin.content_article", "slug"),
           "message": (N_("Message n° %(id)s"), None, None),
           "saved_reply": (N_("Réponse enregistrée n° %(id)s"), None, None)}
#: Target codes without an id.
TARGET_WORDS = {"registry": N_("Registre"), "simulator": N_("Simulateur")}
#: Keys of the details in the staff's words.
DETAIL_LABELS = {"format": N_("format"), "filters": N_("filtres"), "rows": N_("lignes"),
                 "channel": N_("canal"), "status": N_("état"), "error": N_("erreur"),
                 "parts": N_("parties SMS"), "old": N_("avant"), "new": N_("après"),
                 "to": N_("à"), "tab": N_("onglet"), "page": N_("page"),
                 "closed": N_("fermé"), "background": N_("en arrière-plan"),
                 "language": N_("langue"), "file": N_("fichier")}


def target_link(target: str | None) -> tuple[str, str | None]:
    """``(French name, URL or None)`` of a journal object such as ``"actor:2007"``."""
    if not target:
        return "", None
    kind, _sep, key = target.partition(":")
    if kind in TARGETS and key:
        label, endpoint, arg = TARGETS[kind]
        url = None
        if endpoint and (key.isdigit() or arg == "slug"):
            url = url_for(endpoint, **{arg: int(key) if key.isdigit() and arg != "slug"
                                       else key})
        return _(label, id=key), url
    return (_(TARGET_WORDS[target]) if target in TARGET_WORDS else target), None


def detail_text(detail: Any) -> str:
    """The details of a journal event in words: ``format : csv ; lignes : 12``; lists joined
    with commas, booleans as oui/non, nested filters as ``champ = valeur``."""
    if not detail:
        return ""
    if not isinstance(detail, dict):
        return str(detail)

    def word(value: Any) -> str:
        if isinstance(value, bool):
            return _("oui") if value else _("non")
        if isinstance(value, list):
            return ", ".join(word(v) for v in value)
        if isinstance(value, dict):
            return ", ".join(f"{k} = {word(v)}" for k, v in value.items()) or "—"
        return "—" if value is None else str(value)

    return " ; ".join(f"{_(DETAIL_LABELS[k]) if k in DETAIL_LABELS else k} : {word(v)}"
                      for k, v in detail.items())
