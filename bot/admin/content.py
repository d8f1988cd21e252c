"""Staff interface: Contenus — the scheme articles the bot answers with (issue 6, item 6).

- ``GET /admin/content`` (``admin.content``): the articles by menu category, with the date
  their facts were verified, the "à relire en bambara" flag (``bm_review``), the
  "incertain" flag and who edited them last; an article the bot cannot show (a content rule
  broken by an edit made outside this page) is flagged.
- ``GET /admin/content/<slug>`` (``admin.content_article``): every text field in French and
  Bambara side by side, each with its SMS part count (live with ``parts.js``, and on the
  page itself without JavaScript), the source, verified date, note, keywords, synonyms and
  flags. Read-only for viewers.
- ``POST /admin/content/<slug>`` (``admin.content_save``, agent): checks the edit
  (:func:`check_article`), saves it with ``edited_by_staff`` / ``edited_at`` / ``edited_by``
  (so ``essbot content seed`` keeps it: bot/content_store.py :func:`seed`), and audits the
  names of the changed fields.

The rules are those of bot/content.py (the same ones ``essbot content seed`` and the bot
apply): a text that breaks one would make the bot leave the article out of its menus
(bot.content_store.library), so such an edit is refused with the reason in French. A text
longer than ESSBOT_SMS_MAX_SEGMENTS parts but within its field's budget is saved with a
warning: the bot sends it in pages ("9 = suite"). The bot sees a saved edit on its next
message: bot.content_store.library rebuilds its cache when the table's latest
``updated_at`` changes, which every save sets.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any, Mapping

import sqlalchemy as sa
from flask import Flask, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from pydantic import ValidationError
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from bot.config import setting
from bot.admin import _, audit, bp, parts, require_role
from bot.content import (
    DETAILS_MAX_PARTS,
    FIELD_MAX_PARTS,
    LANGUAGES,
    SHORT_MAX_PARTS,
    TITLE_MAX_CHARS,
    UNCERTAIN_MARKERS,
    load_catalog,
)
from bot.content_store import record_of, seed_app
from bot.db import session_scope
from bot.i18n import N_
from bot.models import utcnow
from bot.models.content import ARTICLE_TEXT_FIELDS, Article
from bot.understanding import fold

#: Text fields in the staff's words, in the order the bot shows them.
FIELD_LABELS = {"title": N_("Titre (dans les menus)"), "short": N_("Réponse courte"),
                "details": N_("Plus de détails"), "eligibility": N_("Conditions"),
                "how_to_apply": N_("Démarches"), "where": N_("Où s'adresser")}
#: SMS parts each text may take (bot/content.py, issue 4); titles are limited in characters.
FIELD_PARTS = {"title": None, "short": SHORT_MAX_PARTS, "details": DETAILS_MAX_PARTS,
               "eligibility": FIELD_MAX_PARTS, "how_to_apply": FIELD_MAX_PARTS,
               "where": FIELD_MAX_PARTS}
LANGUAGE_LABELS = {"fr": N_("Français"), "bm": N_("Bambara")}
#: Columns a staff edit may change (besides the bookkeeping ones).
EDITABLE = tuple(f"{name}_{lang}" for name in ARTICLE_TEXT_FIELDS for lang in LANGUAGES) + (
    "source", "verified", "verified_note", "bm_review", "uncertain", "keywords", "synonyms")


@lru_cache(maxsize=1)
def category_titles() -> dict[str, str]:
    """French titles of the menu categories by id, in menu order (from the content files,
    which only change with a deployment; parsed once per process)."""
    return {c.id: c.title.fr for c in load_catalog().categories}


class ArticleConflict(Exception):
    """The article changed since the page was shown (another staff member saved it)."""

    def __init__(self, who: str | None, when: dt.datetime | None):
        super().__init__("changed meanwhile")
        self.who, self.when = who, when


# ------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------

def check_verified(value: str, today: dt.date | None = None) -> str | None:
    """None when `value` is a verification date as bot/content.py accepts it ("YYYY",
    "YYYY-MM" or "YYYY-MM-DD", a real date, not in the future); else the French reason."""
    import re

    today = today or dt.date.today()
    match = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", (value or "").strip())
    if not match:
        return _("Date attendue sous la forme AAAA, AAAA-MM ou AAAA-MM-JJ (ex. 2026-03).")
    year, month, day = match.groups()
    try:
        earliest = dt.date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return _("Cette date n'existe pas.")
    if earliest > today:
        return _("La date de vérification ne peut pas être dans le futur.")
    return None


def terms_of(text: str | None) -> list[str]:
    """Search terms typed one per line (blank lines dropped, spaces trimmed)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def check_article(values: Mapping[str, Any], settings: Mapping[str, Any]
                  ) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, dict]]:
    """Check an article's new `values` (the :data:`EDITABLE` columns plus ``slug`` and
    ``category``) against the content rules of bot/content.py.

    Returns ``(errors, warnings, reports)``, each keyed by column name (``short_fr``…;
    ``"_article"`` for a rule about the whole record): errors block the save (the bot would
    leave the article out), warnings do not (more than ESSBOT_SMS_MAX_SEGMENTS parts: sent in
    pages); reports are :func:`bot.admin.parts.parts_report` of each text field on SMS.
    """
    errors: dict[str, list[str]] = {}
    warnings: dict[str, list[str]] = {}
    reports: dict[str, dict] = {}
    max_parts = int(setting(settings, "ESSBOT_SMS_MAX_SEGMENTS"))
    for name in ARTICLE_TEXT_FIELDS:
        limit = FIELD_PARTS[name]
        for language in LANGUAGES:
            key = f"{name}_{language}"
            text = (values.get(key) or "").strip()
            # Content rules always measure the folded text (bot/content.py _parts).
            report = parts.parts_report(text, "sms", language, {**settings,
                                                                "ESSBOT_SMS_FOLDING": True},
                                        limit)
            reports[key] = report
            found = errors.setdefault(key, [])
            if not text:
                found.append(_("Texte obligatoire (en français et en bambara)."))
                continue
            if not report["gsm7"]:
                found.append(_("Caractères hors de l'alphabet SMS : %(chars)s. Remplacez-les : "
                               "le bot refuse un texte qui coûterait environ 2,3 fois plus.",
                               chars=" ".join(report["ucs2_characters"])))
            if limit is None and len(report["rendered"]) > TITLE_MAX_CHARS:
                found.append(_("Titre trop long : %(n)s caractères, au plus %(max)s (les titres "
                               "sont listés dans les menus).", n=len(report["rendered"]),
                               max=TITLE_MAX_CHARS))
            elif limit is not None and report["parts"] > limit:
                found.append(_("%(n)s SMS : au plus %(max)s pour ce texte.", n=report["parts"],
                               max=limit))
            elif limit is not None and report["parts"] > max_parts:
                warnings.setdefault(key, []).append(
                    _("%(n)s SMS : plus de %(max)s, le bot l'enverra en plusieurs pages "
                      "(« 9 = suite »).", n=report["parts"], max=max_parts))
    if not (values.get("source") or "").strip():
        errors.setdefault("source", []).append(_("Indiquez d'où viennent ces informations."))
    problem = check_verified(values.get("verified") or "")
    if problem:
        errors.setdefault("verified", []).append(problem)
    for language in LANGUAGES:
        terms = (values.get("keywords") or {}).get(language) or []
        if not terms:
            errors.setdefault(f"keywords_{language}", []).append(
                _("Au moins un mot-clé, pour que le bot trouve l'article."))
        for kind in ("keywords", "synonyms"):
            if any(not fold(t) for t in (values.get(kind) or {}).get(language) or []):
                errors.setdefault(f"{kind}_{language}", []).append(
                    _("Une ligne ne contient ni lettre ni chiffre."))
    if values.get("uncertain"):
        for language, marker in UNCERTAIN_MARKERS.items():
            if marker not in fold(values.get(f"short_{language}") or ""):
                errors.setdefault(f"short_{language}", []).append(
                    _("Information incertaine : la réponse courte doit dire où confirmer "
                      "(« %(marker)s »).", marker=marker))
    errors = {k: v for k, v in errors.items() if v}
    if not errors:
        try:  # the same validation as the bot and `essbot content seed`, as a last check
            record_of(dict(values))
        except ValidationError as exc:
            found = [".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()]
            errors["_article"] = [_("Règle du contenu non respectée : %(what)s", what=what)
                                  for what in found]
    return errors, warnings, reports


# ------------------------------------------------------------------------------------------
# Queries
# ------------------------------------------------------------------------------------------

def articles_by_category(app: Flask) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """The articles as ``[(category id, French title, [row dicts…]), …]`` in menu order.

    Each row dict has the Article columns plus ``shown`` (False when the bot leaves it out
    because it breaks a content rule). Seeds the table first when it is empty (as the bot
    does on its first message), so staff can edit before anyone has written.
    """
    with session_scope(app) as session:
        empty = session.scalar(sa.select(sa.func.count()).select_from(Article)) == 0
    if empty:
        seed_app(app)
    with session_scope(app) as session:
        rows = session.scalars(sa.select(Article).order_by(Article.position, Article.id)).all()
        items = []
        for row in rows:
            item = {c.name: getattr(row, c.name) for c in Article.__table__.columns}
            try:
                record_of(row)
                item["shown"] = True
            except ValidationError:
                item["shown"] = False
            items.append(item)
    titles = category_titles()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        grouped.setdefault(item["category"], []).append(item)
    order = list(titles) + sorted(set(grouped) - set(titles))
    return [(cat, titles.get(cat, cat), grouped[cat]) for cat in order if cat in grouped]


def article_values(row: Any) -> dict[str, Any]:
    """The :data:`EDITABLE` columns of an Article row (plus slug, category) as a dict."""
    values = {name: getattr(row, name) for name in EDITABLE}
    values.update(slug=row.slug, category=row.category)
    return values


def save_article(app: Flask, slug: str, values: Mapping[str, Any], staff_email: str,
                 version: str | None = None, now: dt.datetime | None = None) -> list[str]:
    """Write the :data:`EDITABLE` `values` of article `slug` and mark it edited by
    `staff_email` (``edited_by_staff``, ``edited_at``, ``edited_by``; ``updated_at`` moves,
    which tells every bot process to reload its articles). Audits ``content_edit`` with the
    changed column names (in the same transaction).

    `version` is the ``updated_at`` (ISO) the form was built from: if the row changed since,
    raises ArticleConflict instead of overwriting someone else's edit. Returns the changed
    column names (empty: nothing written). Raises LookupError for an unknown slug.
    """
    now = now or utcnow()
    with session_scope(app) as session:
        row = session.scalars(sa.select(Article).where(Article.slug == slug)).one_or_none()
        if row is None:
            raise LookupError(slug)
        if version and row.updated_at is not None and row.updated_at.isoformat() != version:
            raise ArticleConflict(row.edited_by, row.edited_at or row.updated_at)
        changed = [name for name in EDITABLE if getattr(row, name) != values.get(name)]
        if not changed:
            return []
        for name in changed:
            setattr(row, name, values.get(name))
        row.edited_by_staff, row.edited_at, row.edited_by = True, now, staff_email
        row.updated_at = now
        audit("content_edit", f"article:{slug}", session=session, fields=changed)
    return changed


# ------------------------------------------------------------------------------------------
# Form and views
# ------------------------------------------------------------------------------------------

class ArticleForm(FlaskForm):
    """The edit form; text fields ``<field>_<language>`` are added below the class."""

    source = TextAreaField(N_("Source des informations"), validators=[DataRequired(),
                                                                  Length(max=1000)])
    verified = StringField(N_("Vérifié le (AAAA, AAAA-MM ou AAAA-MM-JJ)"),
                           validators=[DataRequired(), Length(max=10)])
    verified_note = TextAreaField(N_("Note sur la date"), validators=[Optional(), Length(max=500)])
    keywords_fr = TextAreaField(N_("Mots-clés en français (un par ligne)"))
    keywords_bm = TextAreaField(N_("Mots-clés en bambara (un par ligne)"))
    synonyms_fr = TextAreaField(N_("Autres façons de l'écrire, français (une par ligne)"))
    synonyms_bm = TextAreaField(N_("Autres façons de l'écrire, bambara (une par ligne)"))
    bm_review = BooleanField(N_("À relire en bambara (par une personne de langue maternelle)"))
    uncertain = BooleanField(N_("Information incertaine (la réponse courte dit où confirmer)"))
    version = HiddenField()


for _name in ARTICLE_TEXT_FIELDS:
    for _language in LANGUAGES:
        _field = StringField if _name == "title" else TextAreaField
        setattr(ArticleForm, f"{_name}_{_language}",
                _field(f"{FIELD_LABELS[_name]} ({LANGUAGE_LABELS[_language]})",
                       validators=[Length(max=2000)]))


def _form_values(form: ArticleForm, row: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"slug": row.slug, "category": row.category}
    for name in ARTICLE_TEXT_FIELDS:
        for language in LANGUAGES:
            # Browsers send textarea line ends as CRLF; the stored texts use LF.
            text = (form[f"{name}_{language}"].data or "").replace("\r\n", "\n")
            values[f"{name}_{language}"] = text.replace("\r", "\n").strip()
    values["source"] = " ".join((form.source.data or "").split())
    values["verified"] = (form.verified.data or "").strip()
    values["verified_note"] = (form.verified_note.data or "").replace("\r\n", "\n").strip() \
        or None
    values["bm_review"] = bool(form.bm_review.data)
    values["uncertain"] = bool(form.uncertain.data)
    values["keywords"] = {lang: terms_of(form[f"keywords_{lang}"].data) for lang in LANGUAGES}
    values["synonyms"] = {lang: terms_of(form[f"synonyms_{lang}"].data) for lang in LANGUAGES}
    return values


def _fill(form: ArticleForm, row: Any) -> None:
    for name in ARTICLE_TEXT_FIELDS:
        for language in LANGUAGES:
            form[f"{name}_{language}"].data = getattr(row, f"{name}_{language}")
    form.source.data, form.verified.data = row.source, row.verified
    form.verified_note.data = row.verified_note or ""
    form.bm_review.data, form.uncertain.data = bool(row.bm_review), bool(row.uncertain)
    for kind in ("keywords", "synonyms"):
        for language in LANGUAGES:
            form[f"{kind}_{language}"].data = "\n".join((getattr(row, kind) or {}).get(language)
                                                        or [])
    form.version.data = row.updated_at.isoformat() if row.updated_at else ""


def _load(slug: str) -> Any:
    with session_scope() as session:
        row = session.scalars(sa.select(Article).where(Article.slug == slug)).one_or_none()
        if row is None:
            abort(404, _("Cet article n'existe pas."))
        session.expunge(row)
    return row


def _render(row: Any, form: ArticleForm, errors: Mapping[str, list[str]] | None = None,
            warnings: Mapping[str, list[str]] | None = None,
            reports: Mapping[str, dict] | None = None, status: int = 200):
    if reports is None:  # a page as loaded: show what the stored texts cost and break
        errors, warnings, reports = check_article(_form_values(form, row), current_app.config)
    category = category_titles().get(row.category, row.category)
    return render_template("admin/content_edit.html", row=row, form=form, errors=errors or {},
                           warnings=warnings or {}, reports=reports, fields=ARTICLE_TEXT_FIELDS,
                           labels=FIELD_LABELS, languages=LANGUAGES,
                           language_labels=LANGUAGE_LABELS, field_parts=FIELD_PARTS,
                           category=category, title_max=TITLE_MAX_CHARS,
                           max_parts=int(current_app.config["ESSBOT_SMS_MAX_SEGMENTS"])), status


@bp.get("/content", endpoint="content")
@require_role("viewer")
def index():
    """The articles by category."""
    groups = articles_by_category(current_app._get_current_object())
    return render_template("admin/content.html", groups=groups)


@bp.get("/content/<slug>", endpoint="content_article")
@require_role("viewer")
def article(slug: str):
    """One article, as a form (read-only for viewers)."""
    row = _load(slug)
    form = ArticleForm(formdata=None)
    _fill(form, row)
    return _render(row, form)


@bp.post("/content/<slug>", endpoint="content_save")
@require_role("agent")
def save(slug: str):
    """Check and save an edit; on a problem, show the form again with what was typed."""
    app = current_app._get_current_object()
    row = _load(slug)
    form = ArticleForm()
    form.validate()  # lengths and required fields; CSRF is checked by the blueprint
    values = _form_values(form, row)
    errors, warnings, reports = check_article(values, app.config)
    for name, field_errors in form.errors.items():
        if name != "csrf_token":
            errors.setdefault(name, []).extend(str(e) for e in field_errors)
    if errors:
        flash(_("Article non enregistré : corrigez les champs signalés."), "error")
        return _render(row, form, errors, warnings, reports, 400)
    try:
        changed = save_article(app, slug, values, current_user.email, form.version.data)
    except ArticleConflict as exc:
        from bot.admin import bamako_time

        form.version.data = _load(slug).updated_at.isoformat()
        flash(_("Cet article a été modifié par %(who)s le %(when)s pendant que vous l'éditiez. "
                "Vos changements sont ci-dessous, non enregistrés : relisez la version "
                "enregistrée (ouvrez l'article dans un autre onglet), puis enregistrez à "
                "nouveau pour la remplacer.", who=exc.who or _("quelqu'un"),
                when=bamako_time(exc.when)), "error")
        return _render(row, form, {}, warnings, reports, 409)
    except LookupError:
        abort(404, _("Cet article n'existe pas."))
    if not changed:
        flash(_("Aucune modification."), "info")
    else:
        flash(_("Article enregistré : le bot utilise le nouveau texte dès maintenant."), "info")
        for key, items in warnings.items():
            for item in items:
                flash(f"{_(FIELD_LABELS.get(key.rsplit('_', 1)[0], key))} "
                      f"({key.rsplit('_', 1)[-1]}) : {item}", "warning")
    return redirect(url_for("admin.content_article", slug=slug))
