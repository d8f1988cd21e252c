"""Staff interface: the Registre (issue 6, item 4).

- ``/admin/registry`` (viewer): search and filters as a plain GET form (the URL of a filtered
  list can be shared), 50 actors a page, newest first, with the total count.
- ``/admin/registry/<id>`` (viewer, audited ``view``): every registry field with its French
  label, and the person's conversation.
- ``/admin/registry/<id>/edit`` and ``/delete`` (agent, audited): edit the fields; delete on
  request (the same effect as the person's SUPPRIMER).
- ``/admin/registry/export`` (agent, audited with the filters and the row count): the filtered
  list as CSV or Excel for people (French headers and labels, local dates), through the
  function of ``essbot actors export --labels``.
- ``/admin/registry/import`` (agent, audited): upload a list, preview, confirm.

**Phones** (Loi 2013-015, docs/domain.md §3: collect and show only what the purpose needs): the list
shows every phone masked (``+223******10``) whatever the role: a list of fifty numbers on an
office screen serves no task, and searching by digits still finds a person. The full number is
shown on one person's page (an audited view), to agents only, who may call or correct it; a
viewer sees it masked there too. Exports, for agents, carry the full numbers (audited).

The queries and the import live in bot/registry/ (plain functions shared with the CLI).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask import session as browser_session
from flask import stream_with_context
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from bot.config import setting
from bot.admin import _, audit, bp, number, require_role
from bot.i18n import admin_ngettext as ngettext
from bot.db import get_engine, session_scope
from bot.i18n import N_
from bot.models import Actor, Contact, Message, utcnow
from bot.models.registry import IMPORT_TTL_HOURS, RegistryImport
from bot.phones import InvalidPhone, mask, to_e164
from bot.registry import fields as F
from bot.registry.changes import (RegistryChangeError, delete_actor, set_announcements,
                                  update_actor)
from bot.registry.export import FORMATS, count_rows, csv_chunks, export_actors
from bot.registry.jobs import JobNotFound, create_job, job_file, read_job
from bot.registry.importer import (
    COLUMNS,
    ImportFileError,
    ImportReport,
    accepted_values,
    analyse_file,
    apply_import,
    template_csv,
    template_xlsx,
)
from bot.registry.query import (
    AGE_BANDS,
    DEFAULT_SORT,
    FILTER_FIELDS,
    PER_PAGE,
    STATUSES,
    Page,
    RegistryFilter,
    fetch_page,
    page_numbers,
    sort_order,
)

#: Session key of the registry list last shown (its query string): "← Registre" from an
#: actor's page goes back to that list, filters, order and page kept.
LIST_SESSION_KEY = "essbot.registry_list"
#: Longest query string remembered (the session is a cookie).
LIST_QUERY_MAX = 600


def registry_list_url() -> str:
    """The URL of the registry list as this browser session last saw it (filters, sort,
    page), or the plain list; used by every "← Registre" link."""
    query = browser_session.get(LIST_SESSION_KEY) or ""
    base = url_for("admin.registry")
    return f"{base}?{query}" if query else base


@bp.app_context_processor
def _registry_globals() -> dict[str, Any]:
    return {"registry_list_url": registry_list_url}

#: Messages of a conversation shown on a person's page (the latest ones).
CONVERSATION_SHOWN = 200

#: Rows to create listed on the import preview (all are counted and imported).
PREVIEW_ROWS = 200


def _now_year() -> int:
    from zoneinfo import ZoneInfo

    return utcnow().astimezone(ZoneInfo(current_app.config["ESSBOT_TIMEZONE"])).year


def _filter_choices() -> dict[str, list[tuple[str, str]]]:
    """(value, French label) choices of each select of the filter form."""
    opts = F.options()
    return {
        "quartier": [(n, n) for n in F.quartier_names()] + [(F.outside_label(),
                                                              F.outside_label())],
        "sector": opts.get("sector", []),
        "kind": opts.get("kind", []),
        "gender": opts.get("gender", []),
        "needs": opts.get("needs", []),
        "language": list(F.LANGUAGE_LABELS.items()),
        "channel": list(F.CHANNEL_LABELS.items()),
    }


@bp.get("/registry", endpoint="registry")
@require_role("viewer")
def index():
    """The registry list: filters (GET), the total, one page of actors."""
    filt, errors = RegistryFilter.from_args(request.args)
    for message in errors:
        flash(message, "error")
    try:
        page_number = int(request.args.get("page", "1"))
    except ValueError:
        page_number = 1
    sort, _order = sort_order(request.args.get("sort", DEFAULT_SORT))
    if errors:
        # A filter that cannot be read must not widen the list to everyone (newcomer's test:
        # an unread quartier listed and exported the whole registry): nothing is shown.
        page = Page([], 0, 1, 1, PER_PAGE)
    else:
        with get_engine().connect() as conn:
            page = fetch_page(conn, filt, page_number, now=utcnow(), sort=sort,
                              timezone=current_app.config["ESSBOT_TIMEZONE"])
    list_args = {**filt.query_args(), **({"sort": sort} if sort != DEFAULT_SORT else {}),
                 **({"page": page.page} if page.page > 1 else {})}
    query = urlencode(list_args, doseq=True)
    if len(query) <= LIST_QUERY_MAX and browser_session.get(LIST_SESSION_KEY) != query:
        browser_session[LIST_SESSION_KEY] = query
    age_bands = dict(AGE_BANDS)
    for band in filt.values.get("age", []):
        age_bands.setdefault(band, band)
    return render_template("admin/registry.html", filt=filt, page=page,
                           choices=_filter_choices(), age_bands=age_bands, statuses=STATUSES,
                           args=filt.query_args(), mask=mask, label=F.label, sort=sort,
                           page_numbers=page_numbers(page.page, page.pages),
                           now_year=_now_year(), formats=FORMATS, filter_errors=errors)


@bp.get("/registry/<int:actor_id>", endpoint="registry_actor")
@require_role("viewer")
def actor_page(actor_id: int):
    """One actor: the registry fields with their French labels, and the conversation."""
    with session_scope() as session:
        actor = session.get(Actor, actor_id)
        if actor is None:
            abort(404, _("Cette fiche n'existe pas."))
        messages: list[Any] = []
        total_messages = 0
        if actor.contact_id is not None:
            m = Message
            total_messages = session.scalar(sa.select(sa.func.count()).select_from(m).where(
                m.contact_id == actor.contact_id)) or 0
            messages = list(reversed(session.scalars(
                sa.select(m).where(m.contact_id == actor.contact_id)
                .order_by(m.created_at.desc(), m.id.desc()).limit(CONVERSATION_SHOWN)).all()))
        contact = session.get(Contact, actor.contact_id) if actor.contact_id else None
        consent = consent_view(contact)
        audit("view", f"actor:{actor_id}", session=session)
        session.flush()  # the audit row is written before the objects are detached
        session.expunge_all()
    full_phone = current_user.can("agent")
    rows = []
    for name, text in F.FIELD_LABELS.items():
        if name == "announcements":
            continue  # the contact's, shown in its own card with its source (below)
        value = getattr(actor, name)
        is_time = name in ("consent_at", "registered_at", "created_at", "updated_at",
                           "deleted_at")
        if name == "phone":
            shown = (value if full_phone else mask(value)) if value else ""
        elif is_time:
            shown = value
        else:
            shown = F.label(name, value)
        rows.append((name, text, shown, is_time))
    return render_template("admin/registry_actor.html", actor=actor, rows=rows,
                           consent=consent, consent_form=AnnouncementsForm(),
                           messages=messages, total_messages=total_messages,
                           channel_label=lambda c: F.label("channel", c),
                           status_label=lambda st: F.STATUS_LABELS.get(st, st))


#: Where a person's announcement consent came from (bot.models.ANNOUNCEMENT_SOURCES).
CONSENT_SOURCES = {"registration": N_("à son inscription"), "import": N_("liste importée"),
                   "keyword": N_("a écrit ABONNER"), "agent": N_("noté par un agent")}


def consent_view(contact: Any) -> dict[str, Any]:
    """What the actor page says of the announcement consent of `contact` (a Contact or None):
    ``{"state": "yes" | "no" | "none", "label", "source", "at", "opted_out"}`` in French."""
    value = contact.announcements if contact is not None else None
    state = {True: "yes", False: "no"}.get(value, "none")
    label = {"yes": _("Oui : reçoit les annonces"), "no": _("Non : a refusé les annonces"),
             "none": _("Jamais demandé : ne reçoit pas les annonces")}[state]
    source = contact.announcements_source if contact is not None else None
    return {"state": state, "label": label,
            "source": _(CONSENT_SOURCES[source]) if source in CONSENT_SOURCES else "",
            "at": contact.announcements_at if contact is not None else None,
            "opted_out": bool(contact is not None and contact.opted_out)}


class AnnouncementsForm(FlaskForm):
    """An agent records the person's answer about announcements, with the reason."""

    value = SelectField(choices=[("oui", N_("Accepte les annonces")),
                                 ("non", N_("Refuse les annonces"))])
    reason = StringField(validators=[Length(max=200)])


@bp.post("/registry/<int:actor_id>/announcements", endpoint="registry_announcements")
@require_role("agent")
def announcements(actor_id: int):
    """Record the person's announcement consent (agent), audited with the reason given."""
    form = AnnouncementsForm()
    if not form.validate_on_submit():
        flash(_("Rien n'a été changé : le formulaire a expiré, réessayez."), "error")
        return redirect(url_for("admin.registry_actor", actor_id=actor_id))
    value = form.value.data == "oui"
    try:
        changed = set_announcements(current_app._get_current_object(), actor_id, value,
                                    form.reason.data or "",
                                    audit=lambda session, **detail: audit(
                                        "announcements", f"actor:{actor_id}", session=session,
                                        **detail))
    except RegistryChangeError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Accord pour les annonces enregistré.") if changed
              else _("Aucun changement (déjà noté ainsi) ; la raison est gardée au journal."))
    return redirect(url_for("admin.registry_actor", actor_id=actor_id))


# ------------------------------------------------------------------------------------------
# Edit
# ------------------------------------------------------------------------------------------

class _WTFormsFrench:
    """WTForms' built-in messages that this form can show, in French."""

    MESSAGES = {
        "Not a valid choice.": "Choix invalide : choisissez dans la liste.",
        "Not a valid integer value.": "Écrivez un nombre entier.",
        "Number must be between %(min)s and %(max)s.": "Nombre entre %(min)s et %(max)s.",
        "Field cannot be longer than %(max)d characters.":
            "%(max)d caractères au plus.",
        "Field must be between %(min)d and %(max)d characters long.":
            "Entre %(min)d et %(max)d caractères.",
        "This field is required.": "Champ obligatoire.",
        "The CSRF token is missing.": "Formulaire expiré : rechargez la page.",
        "The CSRF token is invalid.": "Formulaire expiré : rechargez la page.",
        "The CSRF token has expired.": "Formulaire expiré : rechargez la page.",
    }

    def gettext(self, text: str) -> str:
        """The French of one WTForms message (the English one if not listed)."""
        return self.MESSAGES.get(text, text)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The French of one WTForms message with a count."""
        return self.MESSAGES.get(singular if n == 1 else plural, singular if n == 1 else plural)


_WTFORMS_FRENCH = _WTFormsFrench()


class ActorForm(FlaskForm):
    """The registry fields staff may edit; choices from the registration dialog and the
    commune's quartiers (set in __init__). Validation: a name for a person, an organisation
    name for an organisation, a plausible birth year (ages 10-110 as the bot accepts), a
    quartier from the commune's list (or outside, with its text), exclusive protection
    answers alone, a phone (entries without a contact only) readable as E.164."""

    kind = SelectField(N_("Type"))
    # No Optional() on the two names: it would stop their validate_* methods.
    name = StringField(N_("Nom et prénom"), validators=[Length(max=120)])
    org_name = StringField(N_("Nom de l'organisation"), validators=[Length(max=120)])
    contact_name = StringField(N_("Personne à contacter"), validators=[Optional(), Length(max=120)])
    phone = StringField(N_("Téléphone"), validators=[Optional(), Length(max=32)])
    gender = SelectField(N_("Genre"), default="")
    birth_year = IntegerField(N_("Année de naissance"), validators=[Optional()])
    quartier = SelectField(N_("Quartier"), default="")
    quartier_text = StringField(N_("Quartier et commune (hors commune)"),
                                validators=[Optional(), Length(max=200)])
    sector = SelectField(N_("Secteur d'activité"), default="")
    trade = StringField(N_("Métier ou activité"), validators=[Optional(), Length(max=200)])
    legal_form = SelectField(N_("Forme de l'organisation"), default="")
    members_count = IntegerField(N_("Nombre de membres"),
                                 validators=[Optional(), NumberRange(1, F.MAX_MEMBERS)])
    formalised = SelectField(N_("Organisation déclarée"), default="",
                             choices=[("", "—"), ("oui", "Oui"), ("non", "Non")])
    protection = SelectMultipleField(N_("Protection sociale"),
                                     widget=ListWidget(prefix_label=False),
                                     option_widget=CheckboxInput())
    needs = SelectMultipleField(N_("Besoins"), widget=ListWidget(prefix_label=False),
                                option_widget=CheckboxInput())
    language = SelectField(N_("Langue"), default="",
                           choices=[("", "—"), *F.LANGUAGE_LABELS.items()])

    class Meta:
        def get_translations(self, form):
            """WTForms' own messages in French (the staff interface's language)."""
            return _WTFORMS_FRENCH

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        opts = F.options()
        blank = [("", "—")]
        self.kind.choices = opts.get("kind", [])
        self.gender.choices = blank + opts.get("gender", [])
        self.quartier.choices = blank + [(n, n) for n in F.quartier_names()] + [
            (F.outside_label(), F.outside_label())]
        self.sector.choices = blank + opts.get("sector", [])
        self.legal_form.choices = blank + opts.get("legal_form", [])
        self.protection.choices = opts.get("protection", [])
        self.needs.choices = opts.get("needs", [])

    def validate_birth_year(self, field: IntegerField) -> None:
        """Ages MIN_AGE to MAX_AGE this year (bot.understanding.parse_year's range)."""
        if field.data is None:
            return
        oldest, youngest = F.plausible_years(_now_year())
        if not oldest <= field.data <= youngest:
            raise ValidationError(_("Année invraisemblable : entre %(a)s et %(b)s.",
                                    a=oldest, b=youngest))

    def validate_name(self, field: StringField) -> None:
        """A person needs a name."""
        if self.kind.data == "individu" and not (field.data or "").strip():
            raise ValidationError(_("Le nom est obligatoire pour une personne."))

    def validate_org_name(self, field: StringField) -> None:
        """An organisation needs its name."""
        if self.kind.data == "organisation" and not (field.data or "").strip():
            raise ValidationError(_("Le nom de l'organisation est obligatoire."))

    def validate_protection(self, field: SelectMultipleField) -> None:
        """"Aucune" and "Je préfère ne pas répondre" stand alone (the dialog's exclusive)."""
        chosen = set(field.data or [])
        for alone in ("aucune", "skip"):
            if alone in chosen and len(chosen) > 1:
                raise ValidationError(_("« %(label)s » ne se combine pas avec une autre "
                                        "réponse.", label=F.label("protection", alone)))

    def validate_phone(self, field: StringField) -> None:
        """A phone readable as E.164 (bot.phones.to_e164), when given."""
        if field.data and field.data.strip():
            try:
                to_e164(field.data, current_app.config["ESSBOT_COUNTRY"])
            except InvalidPhone:
                raise ValidationError(_("Numéro de téléphone invalide.")) from None

    def values(self, actor: Actor) -> dict[str, Any]:
        """The edited values as stored (None for empty; fields that do not apply to the kind
        cleared; protection only when the question is asked)."""
        def text(value: str | None) -> str | None:
            value = " ".join((value or "").split())
            return value or None

        org = self.kind.data == "organisation"
        values: dict[str, Any] = {
            "kind": self.kind.data,
            "name": None if org else text(self.name.data),
            "org_name": text(self.org_name.data) if org else None,
            "contact_name": text(self.contact_name.data) if org else None,
            "gender": self.gender.data or None,
            "birth_year": self.birth_year.data,
            "quartier": self.quartier.data or None,
            "quartier_text": text(self.quartier_text.data)
            if self.quartier.data == F.outside_label() else None,
            "sector": self.sector.data or None,
            "trade": text(self.trade.data),
            "legal_form": (self.legal_form.data or None) if org else None,
            "members_count": self.members_count.data if org else None,
            "formalised": {"oui": True, "non": False}.get(self.formalised.data) if org else None,
            "needs": [k for k, _ in self.needs.choices if k in (self.needs.data or [])],
            "language": self.language.data or None,
        }
        if setting(current_app.config, "ESSBOT_ASK_PROTECTION") or actor.protection:
            chosen = [k for k, _ in self.protection.choices if k in (self.protection.data or [])]
            values["protection"] = chosen or None
        if actor.contact_id is None:
            values["phone"] = to_e164(self.phone.data, current_app.config["ESSBOT_COUNTRY"]) \
                if self.phone.data and self.phone.data.strip() else None
        return values


def _load_live(actor_id: int) -> Actor:
    with session_scope() as session:
        actor = session.get(Actor, actor_id)
        if actor is None:
            abort(404, _("Cette fiche n'existe pas."))
        session.expunge(actor)
    if actor.deleted_at is not None:
        abort(410, _("Cette fiche a été supprimée : il n'en reste que des comptes anonymes."))
    return actor


@bp.route("/registry/<int:actor_id>/edit", methods=["GET", "POST"], endpoint="registry_edit")
@require_role("agent")
def edit(actor_id: int):
    """Edit one actor's registry fields (agent); audited with the names of changed fields."""
    actor = _load_live(actor_id)
    form = ActorForm(obj=None if request.method == "POST" else actor)
    if request.method == "GET":
        form.formalised.data = {True: "oui", False: "non"}.get(actor.formalised, "")
        form.protection.data = list(actor.protection or [])
        form.needs.data = list(actor.needs or [])
        form.language.data = actor.language or ""
        form.gender.data = actor.gender or ""
        form.quartier.data = actor.quartier or ""
        form.sector.data = actor.sector or ""
        form.legal_form.data = actor.legal_form or ""
    if form.validate_on_submit():
        try:
            changed = update_actor(current_app._get_current_object(), actor_id,
                                   form.values(actor),
                                   audit=lambda session, fields: audit(
                                       "edit", f"actor:{actor_id}", session=session,
                                       fields=fields))
        except RegistryChangeError as exc:
            flash(str(exc), "error")
        else:
            if changed:
                from bot.i18n import admin_ngettext as ngettext

                flash(ngettext("Fiche enregistrée (%(n)s champ modifié).",
                               "Fiche enregistrée (%(n)s champs modifiés).",
                               len(changed)) % {"n": len(changed)})
            else:
                flash(_("Aucun changement."))
            return redirect(url_for("admin.registry_actor", actor_id=actor_id))
    elif request.method == "POST":
        flash(_("La fiche n'a pas été enregistrée : corrigez les champs signalés."), "error")
    return render_template("admin/registry_edit.html", form=form, actor=actor,
                           outside=F.outside_label(),
                           ask_protection=setting(current_app.config, "ESSBOT_ASK_PROTECTION")
                           or bool(actor.protection))


@bp.route("/registry/<int:actor_id>/delete", methods=["GET", "POST"],
          endpoint="registry_delete")
@require_role("agent")
def delete(actor_id: int):
    """Delete one actor's personal data on their request (agent), after a confirmation page;
    the same effect as their SUPPRIMER. Audited."""
    actor = _load_live(actor_id)
    if request.method == "POST":
        try:
            done = delete_actor(current_app._get_current_object(), actor_id)
        except RegistryChangeError as exc:
            abort(404, str(exc))
        if done:
            audit("delete", f"actor:{actor_id}", reason="request")
            flash(_("Données personnelles supprimées ; seuls des comptes anonymes restent."))
        return redirect(registry_list_url())
    return render_template("admin/registry_delete.html", actor=actor, label=F.label)


# ------------------------------------------------------------------------------------------
# Export
# ------------------------------------------------------------------------------------------

@bp.post("/registry/export", endpoint="registry_export")
@require_role("agent")
def export():
    """The filtered registry as CSV or XLSX (agent); audited with the filters and the count.
    The filters come as form fields, as the list's GET parameters."""
    fmt = request.form.get("format", "csv")
    if fmt not in FORMATS:
        abort(400, _("Format inconnu : choisissez CSV ou Excel."))
    filt, errors = RegistryFilter.from_args(request.form)
    if errors:
        abort(400, " ".join(errors))
    app = current_app._get_current_object()
    name = f"registre-ess-{utcnow():%Y%m%d-%H%M}.{fmt}"
    count = count_rows(app, filt)
    if fmt == "csv":
        # Streamed as it is read (memory stays flat), gzip-compressed for a browser that
        # accepts it (every current one): 50,000 actors are about 11 MB of CSV, 1.4 MB sent.
        gzip = "gzip" in request.headers.get("Accept-Encoding", "").lower()
        audit("export", "registry", format=fmt, filters=filt.as_dict(), rows=count)
        response = current_app.response_class(
            stream_with_context(csv_chunks(app, filt, labels=True, gzip=gzip)),
            mimetype=FORMATS[fmt])
        if gzip:
            response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    if count > setting(app.config, "ESSBOT_EXPORT_INLINE_ROWS"):
        # Tens of seconds of work: the queue's worker writes it while a page shows progress.
        filters = {k: v for k, v in request.form.lists() if k in FILTER_FIELDS or k == "q"}
        token = create_job(app, fmt, filters, staff_id=current_user.id, total=count,
                           download_name=name)
        audit("export", "registry", format=fmt, filters=filt.as_dict(), rows=count,
              background=True)
        from bot.broadcasts.tasks import get_queue

        try:
            get_queue(app).export(token)
        except Exception as exc:  # noqa: BLE001 — say so rather than show a 500
            current_app.logger.error("export job not queued: %s", type(exc).__name__)
            flash(_("La file de travail ne répond pas : l'export n'a pas pu être lancé."),
                  "error")
            return redirect(registry_list_url())
        return redirect(url_for("admin.registry_export_job", token=token))
    handle, path = tempfile.mkstemp(suffix=f".{fmt}", prefix="essbot-export-")
    os.close(handle)
    try:
        count = export_actors(app, fmt, path, labels=True, filt=filt)  # for people: labels
        audit("export", "registry", format=fmt, filters=filt.as_dict(), rows=count)
        stream = open(path, "rb")
    finally:
        os.unlink(path)  # the open file stays readable until sent (POSIX)
    return send_file(stream, mimetype=FORMATS[fmt], as_attachment=True, download_name=name)


def _own_job(token: str) -> dict[str, Any]:
    """The state of export job `token` if the logged-in account may read it (the one who
    asked, or an admin); 404 otherwise (a stranger learns nothing of it)."""
    try:
        state = read_job(current_app, token)
    except JobNotFound:
        abort(404, _("Cet export n'existe pas ou a expiré (une heure)."))
    if state.get("staff_id") != current_user.id and not current_user.can("admin"):
        abort(404, _("Cet export n'existe pas ou a expiré (une heure)."))
    return state


@bp.get("/registry/export/<token>", endpoint="registry_export_job")
@require_role("agent")
def export_job(token: str):
    """The page of a background export: a progress bar (updated by registry.js from the
    status URL), then the download link."""
    state = _own_job(token)
    return render_template("admin/registry_export.html", job=state, token=token,
                           title=_("Export du registre"))


@bp.get("/registry/export/<token>/status", endpoint="registry_export_status")
@require_role("agent")
def export_job_status(token: str):
    """JSON ``{"state", "done", "total", "percent", "error"?}`` of a background export."""
    state = _own_job(token)
    total = int(state.get("total") or 0)
    done = int(state.get("done") or 0)
    percent = 100 if state.get("state") == "done" else (min(99, done * 100 // total)
                                                       if total else 0)
    return {"state": state.get("state"), "done": done, "total": total, "percent": percent,
            **({"error": state["error"]} if state.get("error") else {})}


@bp.get("/registry/export/<token>/file", endpoint="registry_export_file")
@require_role("agent")
def export_job_file(token: str):
    """The finished file of a background export (404 until it is done)."""
    state = _own_job(token)
    try:
        path = job_file(current_app, token)
    except JobNotFound:
        abort(404, _("Le fichier n'est pas encore prêt."))
    audit("export_download", "registry", format=state["format"], rows=state.get("rows"))
    return send_file(path, mimetype=FORMATS[state["format"]], as_attachment=True,
                     download_name=state.get("download_name") or path.name)


# ------------------------------------------------------------------------------------------
# Import
# ------------------------------------------------------------------------------------------

@bp.route("/registry/import", methods=["GET", "POST"], endpoint="registry_import")
@require_role("agent")
def import_upload():
    """Upload a list (CSV/XLSX, agent): it is read and checked, kept server-side under a
    random token (see bot.models.registry.RegistryImport for why), and the preview shown."""
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choisissez un fichier CSV ou Excel (.xlsx)."), "error")
            return redirect(url_for("admin.registry_import"))
        from bot.registry.importer import MAX_BYTES

        data = upload.stream.read(MAX_BYTES + 1)
        app = current_app._get_current_object()
        try:
            report = analyse_file(app, data, upload.filename)
        except ImportFileError as exc:
            flash(str(exc), "error")
            return redirect(url_for("admin.registry_import"))
        token = secrets.token_urlsafe(24)
        now = utcnow()
        with session_scope() as session:
            # Previews never confirmed hold personal data: drop the expired ones.
            session.execute(sa.delete(RegistryImport).where(
                RegistryImport.status == "pending",
                RegistryImport.created_at < now - timedelta(hours=IMPORT_TTL_HOURS)))
            session.add(RegistryImport(token=token, staff_id=current_user.id,
                                       filename=report.filename, report=report.as_dict(),
                                       status="pending", created_at=now))
            audit("import_preview", "registry", session=session, file=report.filename[:100],
                  rows=report.rows, create=len(report.create),
                  duplicates=len(report.duplicates), errors=report.error_rows)
        return redirect(url_for("admin.registry_import_preview", token=token))
    columns = [(spec[0], spec[1], spec[2], accepted_values(name), ", ".join(spec[3]))
               for name, spec in COLUMNS.items()]
    return render_template("admin/registry_import.html", columns=columns)


def _pending(token: str) -> RegistryImport:
    with session_scope() as session:
        pending = session.scalar(sa.select(RegistryImport).where(RegistryImport.token == token))
        if pending is None or pending.staff_id != current_user.id:
            abort(404, _("Import introuvable : déposez le fichier à nouveau."))
        session.expunge(pending)
    return pending


@bp.route("/registry/import/<token>", methods=["GET", "POST"],
          endpoint="registry_import_preview")
@require_role("agent")
def import_preview(token: str):
    """The preview of an uploaded list (rows to create, duplicates, errors) and its
    confirmation (POST): only the valid rows are imported, once."""
    pending = _pending(token)
    expired = pending.status == "pending" and \
        utcnow() - pending.created_at > timedelta(hours=IMPORT_TTL_HOURS)
    report = ImportReport.from_dict(pending.report or {})
    if request.method == "POST":
        if pending.status != "pending":
            flash(_("Cette liste a déjà été importée."), "warning")
            return redirect(url_for("admin.registry", channel="import"))
        if expired:
            flash(_("Cet aperçu a expiré : déposez le fichier à nouveau."), "error")
            return redirect(url_for("admin.registry_import"))
        app = current_app._get_current_object()
        with session_scope() as session:
            # Claim the import first (status pending → importing), so a double click imports
            # once; on PostgreSQL the row lock orders two concurrent clicks.
            claimed = session.execute(sa.update(RegistryImport).where(
                RegistryImport.id == pending.id, RegistryImport.status == "pending")
                .values(status="importing")).rowcount
        if not claimed:
            flash(_("Cette liste a déjà été importée."), "warning")
            return redirect(url_for("admin.registry", channel="import"))
        try:
            result = apply_import(app, report)
        except Exception:
            with session_scope() as session:
                session.execute(sa.update(RegistryImport).where(
                    RegistryImport.id == pending.id).values(status="pending"))
            raise
        with session_scope() as session:
            # Done: the parsed rows (personal data) are not kept, only the counts.
            session.execute(sa.update(RegistryImport).where(RegistryImport.id == pending.id)
                            .values(status="imported", imported=result["created"],
                                    imported_at=utcnow(),
                                    report={"filename": report.filename, "rows": report.rows}))
            audit("import", "registry", session=session, file=report.filename[:100], **result)
        flash(ngettext("%(num)s acteur importé.", "%(num)s acteurs importés.",
                       result["created"]) % {"num": number(result["created"])}
              + (" " + ngettext("%(num)s ignoré : déjà au registre.",
                                "%(num)s ignorés : déjà au registre.", result["skipped"])
                 % {"num": number(result["skipped"])} if result["skipped"] else "")
              + (" " + ngettext("Accord pour les annonces noté pour %(num)s personne déjà "
                                "au registre.",
                                "Accord pour les annonces noté pour %(num)s personnes déjà "
                                "au registre.", result["consent"])
                 % {"num": number(result["consent"])} if result.get("consent") else ""))
        return redirect(url_for("admin.registry", channel="import"))
    return render_template("admin/registry_import_preview.html", pending=pending,
                           report=report, expired=expired, shown=PREVIEW_ROWS, label=F.label,
                           mask=mask)


@bp.get("/registry/import/modele.<fmt>", endpoint="registry_template")
@require_role("agent")
def import_template(fmt: str):
    """The empty import template, as .xlsx (with a help sheet) or .csv."""
    import io

    if fmt == "xlsx":
        data, mime = template_xlsx(), FORMATS["xlsx"]
    elif fmt == "csv":
        data, mime = template_csv(), FORMATS["csv"]
    else:
        abort(404)
    return send_file(io.BytesIO(data), mimetype=mime, as_attachment=True,
                     download_name=f"modele-registre-ess.{fmt}")
