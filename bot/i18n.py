"""User-facing text: gettext catalogs, French source (msgid) and Bambara.

Catalogs are the `.po` files under `locales/<lang>/LC_MESSAGES/messages.po`
(committed; translators edit them with standard tools). They are compiled in memory
when the app starts, so no build step is needed. Bambara entries marked ``#, fuzzy``
await a native speaker's review; they are still used, because a person who chose
Bambara is better served by a draft translation than by French.

Placeholders use Python's ``%(name)s`` format (gettext ``python-format``), so
translation tools check that a translation keeps them.
"""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT_DIR = Path(__file__).resolve().parent.parent
LOCALES_DIR = ROOT_DIR / "locales"

#: Languages the bot speaks, as (code, name in that language).
LANGUAGES = {"fr": "Français", "bm": "Bamanankan"}
SOURCE_LANGUAGE = "fr"


def N_(msgid: str) -> str:
    """Mark `msgid` for extraction (pybabel keyword ``N_``) without translating it."""
    return msgid


def S_(msgid: str) -> str:
    """Mark a staff-interface string (French source, the ``admin`` catalog) without
    translating it: the caller translates it with admin_gettext when it is shown. Not ``N_``,
    which marks messages sent to people (the ``messages`` catalog, checked for SMS cost and
    Bambara)."""
    return msgid


@lru_cache(maxsize=None)
def catalog(language: str) -> gettext.NullTranslations:
    """Return the compiled catalog of `language` ("fr" or "bm"), fuzzy entries included.

    French is the source language: it gets the identity (NullTranslations) when it
    has no catalog. Raises KeyError for a language the bot does not speak.
    """
    if language not in LANGUAGES:
        raise KeyError(language)
    po_path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as fh:
        cat = read_po(fh, locale=language)
    buf = io.BytesIO()
    write_mo(buf, cat, use_fuzzy=True)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def translate(msgid: str, language: str | None, params: dict | None = None) -> str:
    """Return `msgid` in `language` with `params` substituted (``%(name)s`` placeholders).

    An unknown language falls back to French. A translation whose placeholders do not
    match `params` falls back to the French text rather than failing in front of a user.
    """
    lang = language if language in LANGUAGES else SOURCE_LANGUAGE
    text = catalog(lang).gettext(msgid)
    if not params:
        return text
    try:
        return text % params
    except (KeyError, ValueError, TypeError):
        return msgid % params


def _po_path(language: str, domain: str = "messages") -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{domain}.po"


def translated_msgids(language: str) -> set[str]:
    """The msgids of `language`'s catalog that have a translation (fuzzy ones included)."""
    with _po_path(language).open("rb") as fh:
        return {m.id for m in read_po(fh, locale=language) if m.id and m.string}


def fill_identity(language: str = SOURCE_LANGUAGE, domain: str = "messages") -> None:
    """Give every entry of the source language's catalog of `domain` its msgid as translation
    (French is the source, so its catalog is the identity) and clear fuzzy flags there."""
    from babel.messages.pofile import write_po

    path = _po_path(language, domain)
    with path.open("rb") as fh:
        cat = read_po(fh, locale=language)
    for message in cat:
        if message.id:
            message.string = message.id
            message.flags.discard("fuzzy")
    with path.open("wb") as fh:
        write_po(fh, cat, width=100, ignore_obsolete=True)


#: Keys of a dialog file whose values are user-facing text (gettext msgids): what the Babel
#: extractor below reads, and what bot.engine.schema checks. Defined here so that the extractor
#: reads dialog files without loading the engine (the engine imports this module).
TEXT_KEYS = ("prompt", "reprompt", "help", "label", "short", "confirm", "footer", "text",
             "shown", "shown_one")


def extract_dialogs(fileobj, keywords, comment_tags, options):
    """Babel extractor for dialog files (``dialogs/*.yaml``), registered in pyproject.toml
    under ``[project.entry-points."babel.extractors"]`` as ``essbot_dialogs``.

    Yields ``(lineno, funcname, message, comments)`` as Babel expects, one per user-facing
    text (keys in TEXT_KEYS and every value of ``messages``), with a
    translator comment naming where it appears: ``dialog:registration node:birth_year`` or
    ``dialog:main message:help``. Option labels marked ``translate: false`` (language names)
    are skipped. A file that is not YAML raises yaml.YAMLError (pybabel reports the file).
    """
    import yaml

    data = fileobj.read()
    if isinstance(data, bytes):
        data = data.decode((options or {}).get("encoding") or "utf-8")
    root = yaml.compose(data)
    if not isinstance(root, yaml.MappingNode):
        return

    def mapping(node) -> dict:
        return {k.value: v for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}

    top = mapping(root)
    dialog = top["id"].value if "id" in top else "?"

    def texts(node, where: str):
        if isinstance(node, yaml.MappingNode):
            fields = mapping(node)
            skip_label = "translate" in fields and fields["translate"].value in ("false", "False")
            for key_node, value in node.value:
                key = key_node.value
                if key in TEXT_KEYS and isinstance(value, yaml.ScalarNode) and value.value:
                    if key == "label" and skip_label:
                        continue
                    yield value.start_mark.line + 1, value.value, where
                else:
                    yield from texts(value, where)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from texts(item, where)

    for name, value in mapping(top.get("messages")).items():
        if isinstance(value, yaml.ScalarNode) and value.value:
            yield value.start_mark.line + 1, None, value.value, [f"dialog:{dialog} message:{name}"]
    for name, node in mapping(top.get("nodes")).items():
        for line, text, _ in texts(node, name):
            yield line, None, text, [f"dialog:{dialog} node:{name}"]


@lru_cache(maxsize=None)
def _admin_catalog() -> gettext.NullTranslations:
    """The staff interface's catalog (domain ``admin``, French only: the staff work in
    French, so it is the identity unless a wording is changed in the .po file)."""
    po_path = LOCALES_DIR / "fr" / "LC_MESSAGES" / "admin.po"
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as fh:
        cat = read_po(fh, locale="fr")
    buf = io.BytesIO()
    write_mo(buf, cat, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def admin_gettext(msgid: str) -> str:
    """Translate one staff-interface string (domain ``admin``); French is the source."""
    return _admin_catalog().gettext(msgid)


def admin_text(text: str, **params: Any) -> str:
    """Translate a staff string (French source) with the ``admin`` catalog and substitute
    ``%(name)s`` `params`: the ``_`` of the staff pages, of DIFFUSER's answers and of the
    broadcast errors' sentences (pybabel keyword ``_`` in babel_admin.cfg's files)."""
    out = admin_gettext(text)
    return out % params if params else out


def admin_ngettext(singular: str, plural: str, n: int) -> str:
    """Plural form of a staff-interface string (domain ``admin``) for count `n`."""
    return _admin_catalog().ngettext(singular, plural, n)
