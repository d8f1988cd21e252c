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

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"

#: Languages the bot speaks, as (code, name in that language).
LANGUAGES = {"fr": "Français", "bm": "Bamanankan"}
SOURCE_LANGUAGE = "fr"


def N_(msgid: str) -> str:
    """Mark `msgid` for extraction (pybabel keyword ``N_``) without translating it."""
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
