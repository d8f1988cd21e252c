"""Import of the mairie's existing lists of ESS actors (paper lists typed into Excel, or CSV) into
the registry: read, check and report first, then create the valid rows on confirmation.

**Columns** (first row of the sheet; French headers, case, accents, spaces and underscores do
not matter, common variants accepted — see COLUMNS): ``telephone`` (required), ``nom`` and/or
``prenom`` (a person) or ``organisation`` (an organisation: at least one of them), ``type``,
``personne_contact``, ``genre``, ``annee_naissance`` (or ``age``), ``quartier``, ``secteur``,
``metier``, ``forme_juridique``, ``membres``, ``declaree``, ``besoins`` (several separated by
``;`` or ``,``), ``langue``, ``annonces``, ``code`` (a registration code to keep: refused when
another person already has it), ``quartier_precision`` (outside the commune). Values are those
of the registration dialog (dialogs/registration.yaml: keys, labels or the words the bot
accepts) and the quartiers of dialogs/places/ (matched like a person's answer,
bot.understanding.match_quartier). Other columns are ignored and listed in the report.
:func:`template_xlsx` writes a template with a help sheet. A file of the registry export
(bot/registry/export.py) is read too, with its French headers and labels ("Nom et prénom",
"Secteur d'activité": "Textile et teinture") or its field names and codes.

**Duplicates**: one entry per phone number (E.164, bot.phones.to_e164). A row whose phone is on
an earlier row of the file, or already in the registry (an entry not deleted), creates nothing
and is listed as a duplicate.

**Consent** (Loi 2013-015, docs/domain.md §3): the people on these lists gave their data on
paper to the mairie for its ESS registry; the import records that as their consent for the
registry (``consent_at`` = the import time, ``consent_version`` = ``import:<date>``, so these
entries are always told apart from consents given to the bot) and gives them a registration
code (``registered_at`` = the import time, ``channel`` = ``import``). Receiving announcements
is a separate purpose they did not agree to by giving their data for a list: the file's
``annonces`` column says it for each person (issue 12). Every imported person gets a contact
holding that consent (`Contact.announcements`: True for ``oui``, False for ``non``, None when
empty; source ``import``, at the import time), so previews count them — as recipients, or as
left out for ``no_consent`` (bot.broadcasts.reach). When they first write to the bot, their
contact takes their entry (bot.conversations: ``claim_actor``): PROFIL shows it, SUPPRIMER
deletes it. A person already known to the bot (a contact with that phone) is linked to the new
entry and keeps their own STOP/START choice. The social-protection question is never imported:
it may be health data (docs/domain.md §3) and paper lists do not carry the person's answer to
the bot's explained, optional question.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from bot.config import setting
from bot.db import session_scope
from bot.models import Actor, Contact, utcnow
from bot.phones import InvalidPhone, mask, to_e164
from bot.registry import fields as F
from bot.understanding import fold, match_quartier
from bot.db import get_engine
from bot.engine import REGISTRATION, registration_code
from bot.engine.schema import load_dialogs

#: Largest file accepted, in bytes, and most data rows.
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000

#: Columns of an import file: field → (template header, required?, French description,
#: other headers accepted, compared folded: case, accents and punctuation ignored).
COLUMNS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "phone": ("telephone", "oui", "Numéro de téléphone (8 chiffres au Mali, ou +223…)",
              ("tel", "telephone portable", "portable", "numero", "numero de telephone",
               "num tel", "n tel", "no tel", "phone", "mobile", "cellulaire", "gsm",
               "contact telephonique")),
    "last_name": ("nom", "oui*", "Nom de famille, ou nom complet (une personne)",
                  ("nom de famille", "nom complet", "nom et prenom", "nom prenom",
                   "nom et prenoms", "prenom et nom", "prenom nom", "name")),
    "first_name": ("prenom", "non", "Prénom(s), joint(s) au nom", ("prenoms", "first name")),
    "org_name": ("organisation", "oui*", "Nom de l'organisation (coopérative, association, "
                 "GIE…)", ("nom organisation", "nom de l organisation", "structure",
                           "nom de la structure", "raison sociale", "groupement",
                           "cooperative", "association")),
    "contact_name": ("personne_contact", "non", "Personne à contacter (organisation)",
                     ("contact", "personne a contacter", "responsable", "nom du contact",
                      "nom du responsable", "representant")),
    "kind": ("type", "non", "individu ou organisation (déduit de la colonne organisation si "
             "absent)", ("type acteur", "type d acteur", "categorie", "individu organisation")),
    "gender": ("genre", "non", "femme ou homme (F/H/M acceptés)", ("sexe", "gender")),
    "birth_year": ("annee_naissance", "non", "Année de naissance, ex. 1985",
                   ("annee de naissance", "naissance", "date de naissance", "date naissance",
                    "ne en", "ne e en", "birth year")),
    "age": ("age", "non", "Âge en années (si l'année de naissance manque)", ("ans",)),
    "quartier": ("quartier", "non", "Quartier de la commune (ou « hors commune … »)",
                 ("quartier de residence", "residence", "localite", "adresse", "secteur "
                  "quartier")),
    "quartier_text": ("quartier_precision", "non", "Hors de la commune : le quartier et la "
                      "commune, en clair", ("quartier et commune hors commune",
                                            "quartier et commune", "precision quartier")),
    "sector": ("secteur", "non", "Secteur d'activité", ("secteur d activite", "secteur activite",
                                                        "filiere", "domaine")),
    "trade": ("metier", "non", "Métier ou activité, en quelques mots",
              ("activite", "profession", "activite principale", "metier activite",
               "metier ou activite")),
    "legal_form": ("forme_juridique", "non", "Forme de l'organisation",
                   ("forme", "statut", "statut juridique", "forme de l organisation")),
    "members_count": ("membres", "non", "Nombre de membres (organisation)",
                      ("nombre de membres", "nb membres", "nbre membres", "effectif")),
    "formalised": ("declaree", "non", "Organisation déclarée : oui ou non",
                   ("formalisee", "formalise", "declare", "recepisse", "reconnue",
                    "organisation declaree")),
    "needs": ("besoins", "non", "Besoins, séparés par ; ou ,", ("besoin",)),
    "language": ("langue", "non", "fr (français) ou bm (bambara)", ("language",)),
    "broadcasts": ("annonces", "non", "oui : la personne a accepté de recevoir les annonces "
                   "par SMS/WhatsApp ; vide ou non : pas d'annonces",
                   ("accepte annonces", "recevoir annonces", "diffusion", "consentement annonces",
                    "accord annonces", "accepte les annonces", "announcements")),
    "registration_code": ("code", "non", "Code d'inscription déjà attribué (ex. ESS3-000123) : "
                          "gardé tel quel ; vide : un code est donné",
                          ("code d inscription", "code inscription", "registration code",
                           "numero d inscription")),
}

_YES = {"oui", "o", "yes", "y", "1", "x", "vrai", "true", "awo"}
_NO = {"non", "n", "no", "0", "faux", "false", "ayi"}
_EXTRA_WORDS = {
    "kind": {"i": "individu", "o": "organisation", "personne physique": "individu",
             "individuelle": "individu", "org": "organisation"},
    "gender": {"m": "homme", "masculin": "homme", "feminin": "femme", "h": "homme",
               "f": "femme"},
    "language": {"fr": "fr", "francais": "fr", "french": "fr", "bm": "bm", "bambara": "bm",
                 "bamanankan": "bm", "bamanan": "bm"},
}
_LIST_SPLIT = re.compile(r"\s*(?:[;,/+\n]|\bet\b)\s*")
_FIELD_NAMES = {
    "phone": "téléphone", "last_name": "nom", "first_name": "prénom", "org_name": "organisation",
    "contact_name": "personne à contacter", "kind": "type", "gender": "genre",
    "birth_year": "année de naissance", "age": "âge", "quartier": "quartier",
    "sector": "secteur", "trade": "métier", "legal_form": "forme juridique",
    "members_count": "membres", "formalised": "déclarée", "needs": "besoins",
    "language": "langue", "broadcasts": "annonces", "registration_code": "code",
    "quartier_text": "quartier (précision)"}


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (unreadable, not CSV/XLSX, no phone column, too
    large); the message is French, for the staff member."""


@dataclass
class ImportReport:
    """What an import file holds, checked against the registry.

    `create`: rows to create, ``{"row": n, "values": {field: value}}`` with values as stored
    (phone E.164, option keys, canonical quartier) plus ``broadcasts`` (bool); `duplicates`:
    ``{"row", "label", "phone" (masked), "reason"}``; `errors`: ``{"row", "column", "message"}``
    (several per row possible; such rows are not imported); `ignored_columns`: headers not
    understood; `consent`: rows already in the registry whose ``annonces`` cell says yes or no,
    ``{"row", "phone" (E.164), "broadcasts" (bool)}`` — re-importing the list records their
    announcement consent (issue 12). Row numbers are the spreadsheet's (the header is row 1).
    """

    filename: str = ""
    rows: int = 0
    create: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    consent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error_rows(self) -> int:
        """Number of distinct rows with at least one error."""
        return len({e["row"] for e in self.errors})

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (stored with the pending import)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImportReport":
        """Inverse of :meth:`as_dict`."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def header_key(text: Any) -> str:
    """A header as compared: folded (case, accents, punctuation off), spaces single."""
    return fold(str(text or "").replace("_", " ").replace("°", " "))


def _aliases() -> dict[str, str]:
    found: dict[str, str] = {}
    for name, (header, _req, _desc, others) in COLUMNS.items():
        for alias in (header, name, *others):
            found.setdefault(header_key(alias), name)
    return found


# ------------------------------------------------------------------------------------------
# Reading the file
# ------------------------------------------------------------------------------------------

def read_table(data: bytes, filename: str) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """Read the first sheet of an XLSX file, or a CSV file (UTF-8, or Windows-1252 as Excel
    saves it in French; separator ``;``, ``,`` or tab, guessed), into (headers, rows) where
    each row is (spreadsheet row number, cell values). Empty rows are skipped; the first
    non-empty row is the header. Raises ImportFileError (French) when unreadable, empty or
    too large."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(f"Fichier trop volumineux (plus de {MAX_BYTES // 1024 // 1024} "
                              "Mo) : découpez-le.")
    name = (filename or "").lower()
    if data[:2] == b"PK" or name.endswith((".xlsx", ".xlsm")):
        rows = _xlsx_rows(data)
    elif name.endswith(".xls"):
        raise ImportFileError("Format Excel 97-2003 (.xls) non lu : enregistrez le fichier en "
                              ".xlsx ou en CSV.")
    else:
        rows = _csv_rows(data)
    table: list[tuple[int, list[Any]]] = []
    for number, cells in rows:
        if any(c is not None and str(c).strip() for c in cells):
            table.append((number, list(cells)))
            if len(table) > MAX_ROWS + 1:
                raise ImportFileError(f"Plus de {MAX_ROWS} lignes : découpez le fichier.")
    if not table:
        raise ImportFileError("Le fichier est vide.")
    (_, header), body = table[0], table[1:]
    headers = [str(h).strip() if h is not None else "" for h in header]
    return headers, body


def _xlsx_rows(data: bytes):
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds on a damaged or foreign file
        raise ImportFileError("Fichier Excel illisible : enregistrez-le en .xlsx ou en CSV.") \
            from None
    sheet = book.worksheets[0]
    return [(i, list(r)) for i, r in enumerate(sheet.iter_rows(values_only=True), start=1)]


def _csv_rows(data: bytes):
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes almost anything
        raise ImportFileError("Fichier illisible : enregistrez-le en CSV UTF-8 ou en .xlsx.")
    if "\x00" in text:
        raise ImportFileError("Ce fichier n'est ni un CSV ni un fichier Excel .xlsx.")
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        return [(i, row) for i, row in enumerate(reader, start=1)]
    except csv.Error:
        # A bare carriage return inside an unquoted cell ("new-line character seen in
        # unquoted field"), a stray NUL…: the csv module cannot split the file into rows.
        raise ImportFileError(
            f"Fichier CSV mal formé vers la ligne {reader.line_num} (un retour à la ligne "
            "seul dans une cellule, un guillemet non fermé ?) : ouvrez-le dans Excel ou "
            "LibreOffice et enregistrez-le de nouveau en CSV, ou en .xlsx.") from None


# ------------------------------------------------------------------------------------------
# Checking the rows
# ------------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    """A cell as text: numbers without ".0", whitespace collapsed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


class _RowErrors(list):
    def add(self, column: str, message: str) -> None:
        self.append((column, message))


def _choice(field_name: str, raw: str, errors: _RowErrors, column: str) -> str | None:
    if not raw:
        return None
    words = dict(F.option_words().get(field_name, {}))
    words.update(_EXTRA_WORDS.get(field_name, {}))
    key = words.get(fold(raw))
    if key is None:
        accepted = ", ".join(k for k, _ in F.options().get(field_name, ())) or \
            ", ".join(sorted(set(_EXTRA_WORDS.get(field_name, {}).values())))
        errors.add(column, f"valeur inconnue « {raw} » (valeurs : {accepted})")
    return key


def _yes_no(raw: str, errors: _RowErrors, column: str,
            words: dict[str, str] | None = None) -> bool | None:
    folded = fold(raw)
    if not folded:
        return None
    if folded in _YES or (words and words.get(folded) == "yes"):
        return True
    if folded in _NO or (words and words.get(folded) == "no"):
        return False
    errors.add(column, f"« {raw} » : écrivez oui ou non")
    return None


def _year(raw: Any, text: str, now_year: int, errors: _RowErrors, column: str) -> int | None:
    if raw is None or text == "":
        return None
    oldest, youngest = F.plausible_years(now_year)
    year = None
    if isinstance(raw, (datetime, date)):
        year = raw.year
    else:
        found = re.findall(r"(?<!\d)(\d{4})(?!\d)", text)
        age = re.fullmatch(r"(\d{1,3})\s*ans?", text)
        if len(found) == 1:
            year = int(found[0])
        elif age:  # "35 ans" typed in the year column
            year = now_year - int(age.group(1))
    if year is None or not oldest <= year <= youngest:
        errors.add(column, f"année de naissance invalide « {text} » (une année entre {oldest} "
                           f"et {youngest})")
        return None
    return year


def _quartier(raw: str, errors: _RowErrors, column: str) -> tuple[str | None, str | None]:
    """(quartier, quartier_text) of a cell; an error with a suggestion when not understood."""
    from rapidfuzz import fuzz, process

    if not raw:
        return None, None
    names = F.quartier_names()
    exact = {fold(n): n for n in names}
    if fold(raw) in exact:
        return exact[fold(raw)], None
    outside = F.outside_label()
    folded = fold(raw)
    if folded == fold(outside):
        return outside, None  # the export's own label (its precision has its own column)
    if folded.startswith("hors "):
        # "hors commune, Kalaban", "Hors de la commune 3": outside the commune, never the fuzzy
        # neighbour of a quartier's name ("Badialan III" for "Hors de la Commune III", issue 12).
        return outside, raw[:200]
    match = match_quartier(raw, F.places())
    if match.kind == "quartier" and match.sure and match.name:
        return match.name, None
    if match.kind == "outside":
        return F.outside_label(), raw[:200]
    candidates = list(match.candidates) or ([match.name] if match.name else [])
    if not candidates:
        best = process.extractOne(fold(raw), list(exact), scorer=fuzz.WRatio, score_cutoff=60)
        if best:
            candidates = [exact[best[0]]]
    if len(candidates) == 1:
        errors.add(column, f"quartier inconnu « {raw} » : voulez-vous dire « {candidates[0]} » ?")
    elif candidates:
        errors.add(column, f"quartier ambigu « {raw} » : "
                           f"{', '.join(candidates[:-1])} ou {candidates[-1]} ?")
    else:
        errors.add(column, f"quartier inconnu « {raw} » (voir la liste des quartiers dans le "
                           "modèle ; hors de la commune : écrivez « hors commune, <quartier> »)")
    return None, None


def check_row(cells: dict[str, Any], headers: dict[str, str], country: str,
              now_year: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Check one row. `cells`: ``{field: raw cell value}``; `headers`: ``{field: header as in
    the file}`` (for error messages). Returns (values as stored, errors as (column header,
    French reason))."""
    errors = _RowErrors()
    text = {k: _text(v) for k, v in cells.items()}
    col = headers.get
    values: dict[str, Any] = {}

    raw_phone = text.get("phone", "")
    if not raw_phone:
        errors.add(col("phone", "telephone"), "numéro de téléphone manquant")
        values["phone"] = None
    else:
        try:
            values["phone"] = to_e164(raw_phone, country)
        except InvalidPhone:
            errors.add(col("phone", "telephone"), f"numéro invalide « {raw_phone} »")
            values["phone"] = None

    first, last, org = text.get("first_name", ""), text.get("last_name", ""), \
        text.get("org_name", "")
    person = " ".join(p for p in (first, last) if p)
    kind = _choice("kind", text.get("kind", ""), errors, col("kind", "type"))
    kind = kind or ("organisation" if org else "individu")
    contact = text.get("contact_name", "") or None
    if kind == "organisation":
        org_name = org or person
        if org and person and not contact:
            contact = person
        values.update(kind=kind, name=None, org_name=org_name or None, contact_name=contact)
        if not org_name:
            errors.add(col("org_name", "organisation"), "nom de l'organisation manquant")
    else:
        values.update(kind=kind, name=person or None, org_name=None, contact_name=None)
        if not person:
            errors.add(col("last_name", "nom"), "nom manquant")
    for name in ("name", "org_name", "contact_name"):
        if values.get(name) and len(values[name]) > 120:
            errors.add(col(name, name), "trop long (120 caractères au plus)")

    values["gender"] = _choice("gender", text.get("gender", ""), errors, col("gender", "genre"))
    year = _year(cells.get("birth_year"), text.get("birth_year", ""), now_year, errors,
                 col("birth_year", "annee_naissance"))
    if not text.get("birth_year") and text.get("age"):
        age_text = text["age"]
        digits = re.fullmatch(r"(\d{1,3})(?:\s*ans?)?", age_text)
        if digits and F.MIN_AGE <= int(digits.group(1)) <= F.MAX_AGE:
            year = now_year - int(digits.group(1))
        else:
            errors.add(col("age", "age"), f"âge invalide « {age_text} » (entre {F.MIN_AGE} et "
                                          f"{F.MAX_AGE} ans)")
    values["birth_year"] = year
    values["quartier"], values["quartier_text"] = _quartier(
        text.get("quartier", ""), errors, col("quartier", "quartier"))
    precision = text.get("quartier_text", "")
    if precision and values["quartier"] == F.outside_label():
        values["quartier_text"] = precision[:200]  # the export's own column wins
    code = text.get("registration_code", "")
    if code and (len(code) > 24 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", code)):
        errors.add(col("registration_code", "code"), f"code d'inscription illisible « {code} »")
        code = ""
    values["registration_code"] = code or None
    values["sector"] = _choice("sector", text.get("sector", ""), errors, col("sector", "secteur"))
    trade = text.get("trade", "")
    if len(trade) > 200:
        errors.add(col("trade", "metier"), "trop long (200 caractères au plus)")
    values["trade"] = trade[:200] or None
    org_only = kind == "organisation"
    values["legal_form"] = _choice("legal_form", text.get("legal_form", ""), errors,
                                   col("legal_form", "forme_juridique")) if org_only else None
    members = text.get("members_count", "")
    values["members_count"] = None
    if members and org_only:
        if members.isdigit() and 1 <= int(members) <= F.MAX_MEMBERS:
            values["members_count"] = int(members)
        else:
            errors.add(col("members_count", "membres"),
                       f"nombre de membres invalide « {members} » (entre 1 et {F.MAX_MEMBERS})")
    values["formalised"] = _yes_no(text.get("formalised", ""), errors,
                                   col("formalised", "declaree"),
                                   F.option_words().get("formalised")) if org_only else None
    needs: list[str] = []
    for item in _LIST_SPLIT.split(text.get("needs", "")):
        if item:
            key = _choice("needs", item, errors, col("needs", "besoins"))
            if key and key not in needs:
                needs.append(key)
    values["needs"] = needs
    values["language"] = _choice("language", text.get("language", ""), errors,
                                 col("language", "langue"))
    said = _yes_no(text.get("broadcasts", ""), errors, col("broadcasts", "annonces"))
    values["broadcasts"] = None if said is None else bool(said)
    return values, list(errors)


def analyse_file(app: Flask, data: bytes, filename: str,
                 now: datetime | None = None) -> ImportReport:
    """Read and check an import file (bytes of a CSV or XLSX named `filename`) against the
    registry of `app`; return the :class:`ImportReport` (nothing is written).

    Raises ImportFileError (French) when the file cannot be read, has no phone column, or
    has neither a name nor an organisation column.
    """
    from zoneinfo import ZoneInfo

    now = now or utcnow()
    now_year = now.astimezone(ZoneInfo(setting(app.config, "ESSBOT_TIMEZONE"))).year
    headers, body = read_table(data, filename)
    aliases = _aliases()
    columns: dict[str, int] = {}
    shown: dict[str, str] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        name = aliases.get(header_key(header))
        if name and name not in columns:
            columns[name] = index
            shown[name] = header
        elif header:
            ignored.append(header)
    if "phone" not in columns:
        raise ImportFileError("Colonne « telephone » introuvable. Colonnes lues : "
                              f"{', '.join(h for h in headers if h) or 'aucune'}. Utilisez le "
                              "modèle.")
    if not {"last_name", "first_name", "org_name"} & set(columns):
        raise ImportFileError("Il faut une colonne « nom » (personnes) ou « organisation ».")
    report = ImportReport(filename=filename[:200], rows=len(body), ignored_columns=ignored)
    country = setting(app.config, "ESSBOT_COUNTRY")
    checked = []
    for number, cells in body:
        raw = {name: (cells[i] if i < len(cells) else None) for name, i in columns.items()}
        values, errors = check_row(raw, shown, country, now_year)
        for column, message in errors:
            report.errors.append({"row": number, "column": column, "message": message})
        if not errors:
            checked.append((number, values))
    known = _registered_phones(app, [v["phone"] for _, v in checked])
    taken_codes = _taken_codes(app, [v["registration_code"] for _, v in checked
                                     if v.get("registration_code")])
    code_row: dict[str, int] = {}
    first_row: dict[str, int] = {}
    for number, values in checked:
        phone = values["phone"]
        label = values.get("name") or values.get("org_name") or ""
        if phone in first_row:
            report.duplicates.append({"row": number, "label": label, "phone": mask(phone),
                                      "reason": f"même numéro que la ligne {first_row[phone]}"})
            continue
        first_row[phone] = number
        if phone in known:
            reason = "déjà au registre" + (f" ({known[phone]})" if known[phone] else "")
            if values.get("broadcasts") is not None:
                report.consent.append({"row": number, "phone": phone,
                                       "broadcasts": values["broadcasts"]})
                reason += " ; accord pour les annonces noté : " + (
                    "oui" if values["broadcasts"] else "non")
            report.duplicates.append({"row": number, "label": label, "phone": mask(phone),
                                      "reason": reason})
            continue
        code = values.get("registration_code")
        if code and (code in taken_codes or code in code_row):
            # A code names one person: never give it to a second (issue 12).
            where = ("déjà celui d'une autre personne du registre" if code in taken_codes
                     else f"déjà donné à la ligne {code_row[code]}")
            report.errors.append({"row": number, "column": shown.get("registration_code",
                                                                      "code"),
                                  "message": f"code d'inscription « {code} » {where} : "
                                             "corrigez-le ou videz la case"})
            continue
        if code:
            code_row[code] = number
        report.create.append({"row": number, "values": values})
    return report


def _taken_codes(app: Flask, codes: list[str]) -> set[str]:
    """The `codes` already held by a registry entry (500 at a time)."""
    a = Actor.__table__
    found: set[str] = set()
    with get_engine(app).connect() as conn:
        for start in range(0, len(codes), 500):
            found.update(conn.execute(sa.select(a.c.registration_code).where(
                a.c.registration_code.in_(codes[start:start + 500]))).scalars())
    return found


def code_number(code: str, prefix: str, digits: int) -> int | None:
    """The number N of a code this deployment would give to entry N (``ESS3-000123`` → 123
    with prefix "ESS3-" and 6 digits), else None."""
    rest = code[len(prefix):] if code.startswith(prefix) else ""
    if not rest.isdigit() or registration_code(prefix, int(rest), digits) != code:
        return None
    return int(rest)


def _registered_phones(app: Flask, phones: list[str]) -> dict[str, str]:
    """``{phone: registration code or ""}`` of the `phones` that have a registry entry not
    deleted (looked up by the phone index, 500 at a time)."""
    a = Actor.__table__
    found: dict[str, str] = {}
    with get_engine(app).connect() as conn:
        for start in range(0, len(phones), 500):
            chunk = phones[start:start + 500]
            for phone, code in conn.execute(sa.select(a.c.phone, a.c.registration_code).where(
                    a.c.phone.in_(chunk), a.c.deleted_at.is_(None))):
                found[phone] = code or ""
    return found


# ------------------------------------------------------------------------------------------
# Importing
# ------------------------------------------------------------------------------------------

#: Actor fields an import row sets (the registration code apart: kept or given).
_ACTOR_VALUES = ("phone", "kind", "name", "org_name", "contact_name", "gender", "birth_year",
                 "quartier", "quartier_text", "sector", "trade", "legal_form", "members_count",
                 "formalised", "needs", "language")


def apply_import(app: Flask, report: ImportReport, now: datetime | None = None) -> dict[str, int]:
    """Create the registry entries of `report.create` in one transaction; return ``{"created",
    "skipped" (phone registered since the preview), "opted_in" (contacts created for
    announcements), "linked" (existing contacts given their entry), "consent" (people already
    in the registry whose announcement consent the list recorded)}``.

    Each entry: consent and registration at `now` with ``consent_version`` ``import:<date>``,
    channel ``import``, a registration code, completeness and birth decade computed as the
    bot does. See the module docstring for consent and announcements (Loi 2013-015).
    """
    now = now or utcnow()
    spec = load_dialogs().get(REGISTRATION).registry
    ask_protection = bool(setting(app.config, "ESSBOT_ASK_PROTECTION"))
    version = f"import:{now.date().isoformat()}"
    result = {"created": 0, "skipped": 0, "opted_in": 0, "linked": 0, "consent": 0}
    rows = report.create
    kept = [r["values"]["registration_code"] for r in rows if r["values"].get("registration_code")]
    codes_taken = _taken_codes(app, kept)
    with session_scope(app) as session:
        phones = [r["values"]["phone"] for r in rows]
        taken: set[str] = set()
        contacts: dict[str, tuple[int, bool]] = {}
        for start in range(0, len(phones), 500):
            chunk = phones[start:start + 500]
            taken.update(session.scalars(sa.select(Actor.phone).where(
                Actor.phone.in_(chunk), Actor.deleted_at.is_(None))))
            for cid, phone in session.execute(sa.select(Contact.id, Contact.phone).where(
                    Contact.phone.in_(chunk))):
                contacts[phone] = (cid, False)
        linked_contacts = set(session.scalars(sa.select(Actor.contact_id).where(
            Actor.contact_id.in_([c for c, _ in contacts.values()])))) if contacts else set()
        for row in rows:
            values = dict(row["values"])
            broadcasts = values.pop("broadcasts", None)
            phone = values["phone"]
            code = values.pop("registration_code", None)
            if phone in taken or (code and code in codes_taken):
                result["skipped"] += 1
                continue
            taken.add(phone)
            if code:
                codes_taken.add(code)
            contact_id = None
            if phone in contacts and contacts[phone][0] not in linked_contacts:
                contact_id = contacts[phone][0]
                result["linked"] += 1
                if broadcasts is not None:
                    # The person's own choice (keyword, registration, agent) wins over a list.
                    session.execute(sa.update(Contact).where(
                        Contact.id == contact_id, Contact.announcements.is_(None)).values(
                        announcements=broadcasts, announcements_source="import",
                        announcements_at=now))
            elif phone not in contacts:
                contact = Contact(phone=phone, language=values.get("language"),
                                  opted_out=False, opted_in_at=now if broadcasts else None,
                                  announcements=broadcasts,
                                  announcements_source=None if broadcasts is None else "import",
                                  announcements_at=None if broadcasts is None else now,
                                  created_at=now, updated_at=now)
                session.add(contact)
                session.flush()
                contact_id = contact.id
                if broadcasts:
                    result["opted_in"] += 1
            # A kept code of this deployment's form takes the entry number it names when that
            # number is free, so no code the bot gives later can ever equal it.
            number = code_number(code, spec.code_prefix, spec.code_digits) \
                if code and spec is not None else None
            if number is not None and session.get(Actor, number) is not None:
                number = None
            actor = Actor(**{k: values.get(k) for k in _ACTOR_VALUES}, contact_id=contact_id,
                          channel="import", birth_band=F.year_band(values.get("birth_year")),
                          completeness=F.completeness(values, ask_protection),
                          consent_at=now, consent_version=version, registered_at=now,
                          created_at=now, updated_at=now)
            if number is not None:
                actor.id = number
            session.add(actor)
            session.flush()
            if code:
                actor.registration_code = code
            elif spec is not None:
                actor.registration_code = registration_code(spec.code_prefix, actor.id,
                                                            spec.code_digits)
            result["created"] += 1
        result["consent"] = _record_consent(session, report.consent, now)
        if session.get_bind().dialect.name == "postgresql":
            # Entries created with the number of their kept code: the sequence moves past them.
            session.execute(sa.text("SELECT setval(pg_get_serial_sequence('actor', 'id'), "
                                    "GREATEST((SELECT MAX(id) FROM actor), 1))"))
    return result


def _record_consent(session: Any, rows: list[dict[str, Any]], now: datetime) -> int:
    """Announcement consent of people already in the registry, from a re-imported list: set on
    their contact (created for an entry that has none) unless the person's own choice —
    registration, ABONNER, an agent — is recorded (a list never overrides the person).
    Returns how many contacts changed."""
    changed = 0
    for item in rows:
        actor = session.scalar(sa.select(Actor).where(Actor.phone == item["phone"],
                                                      Actor.deleted_at.is_(None)))
        if actor is None:
            continue
        contact = session.get(Contact, actor.contact_id) if actor.contact_id else \
            session.scalar(sa.select(Contact).where(Contact.phone == item["phone"]))
        if contact is None:
            contact = Contact(phone=item["phone"], language=actor.language, created_at=now,
                              updated_at=now)
            session.add(contact)
            session.flush()
        if actor.contact_id is None:
            actor.contact_id = contact.id
        if contact.announcements_source not in (None, "import") or \
                contact.announcements is item["broadcasts"]:
            continue
        contact.announcements = item["broadcasts"]
        contact.announcements_source, contact.announcements_at = "import", now
        changed += 1
    return changed


def format_report(report: ImportReport) -> str:
    """The report as text (French, as on the preview page), for ``essbot actors import``."""
    lines = [f"{report.filename} : {report.rows} lignes lues ; {len(report.create)} à créer, "
             f"{len(report.duplicates)} doublons, {report.error_rows} avec erreurs."]
    if report.ignored_columns:
        lines.append(f"colonnes ignorées : {', '.join(report.ignored_columns)}")
    for d in report.duplicates:
        lines.append(f"ligne {d['row']} : doublon, {d['reason']} ({d['phone']})")
    for e in report.errors:
        lines.append(f"ligne {e['row']}, colonne « {e['column']} » : {e['message']}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Templates
# ------------------------------------------------------------------------------------------

def template_headers() -> list[str]:
    """Headers of the import template, in order."""
    return [spec[0] for spec in COLUMNS.values()]


def accepted_values(field_name: str) -> str:
    """The accepted values of a column, for the template's help sheet and the page."""
    if field_name == "quartier":
        return ", ".join(F.quartier_names()) + " ; ou « hors commune, <quartier et commune> »"
    if field_name in ("kind", "gender", "sector", "legal_form", "needs"):
        return ", ".join(f"{k} ({lbl})" if k != lbl else k
                         for k, lbl in F.options().get(field_name, ()))
    if field_name in ("formalised", "broadcasts"):
        return "oui, non"
    if field_name == "language":
        return "fr, bm"
    return ""


def template_xlsx() -> bytes:
    """An empty import template (.xlsx): the sheet "registre" with the headers, and a sheet
    "aide" describing each column and its accepted values."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "registre"
    sheet.append(template_headers())
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    help_sheet = book.create_sheet("aide")
    help_sheet.append(["colonne", "obligatoire", "contenu", "valeurs acceptées",
                       "autres en-têtes acceptés"])
    for name, (header, required, description, others) in COLUMNS.items():
        help_sheet.append([header, required, description, accepted_values(name),
                           ", ".join(others)])
    help_sheet.append([])
    help_sheet.append(["*", "", "une colonne nom (personnes) ou organisation est obligatoire"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def template_csv() -> bytes:
    """An empty import template (.csv, UTF-8 with BOM, ";" as Excel uses in French)."""
    return ("\ufeff" + ";".join(template_headers()) + "\r\n").encode("utf-8")
