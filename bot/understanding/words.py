"""The word lists the readers use, loaded from data: one YAML file per language.

``dialogs/words/<language>.yaml`` (``fr``, ``bm``, and ``any`` for words read whatever the
person's language: English opt-out words, SMS spellings, Arabic greetings) map a list's name to
its words. A list is a YAML sequence (a set of phrases, or an ordered list where the reader
says so) or a mapping (a phrase to a value: ``number_words``, ``keyword_prefixes``; or a kind to
phrases: ``keywords``, ``courtesy``). The lists of every file are merged: a reader sees the
union, so that a French speaker who types a Bambara "awo" is understood, as people do in Bamako.
Adding a language is adding a file (docs/words.md says what each list does).

Phrases are written folded (:func:`bot.understanding.text.fold`: lower case, no accents,
apostrophes as spaces; Bambara typed the French way, docs/domain.md section 5), because every
comparison happens on folded text.

Pure Python (yaml only): the engine's purity contract holds for this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

#: The shipped word lists, beside the dialogs (docs/architecture.md layout).
WORDS_DIR = Path(__file__).resolve().parents[2] / "dialogs" / "words"

#: The word-file format this code reads; a file with another ``format`` is refused.
FORMAT_VERSION = 1


class WordsError(ValueError):
    """A word file that cannot be used: unreadable YAML, wrong format, a list of the wrong
    shape, or two files giving one phrase two different values. The message names the file and
    the list."""


class Words:
    """The merged word lists of a folder of ``<language>.yaml`` files.

    Takes ``files``: language code → that file's lists (name → sequence or mapping), as
    :meth:`load` reads them. Raises :class:`WordsError` for a list of the wrong shape.
    """

    def __init__(self, files: Mapping[str, Mapping[str, Any]]):
        self.languages: tuple[str, ...] = tuple(sorted(files))
        self._files = {lang: dict(lists) for lang, lists in files.items()}
        for lang, lists in self._files.items():
            for name, value in lists.items():
                if not isinstance(value, (list, dict)):
                    raise WordsError(f"{lang}.yaml: la liste {name!r} doit être une suite ou "
                                     f"une table, pas {type(value).__name__}")

    @classmethod
    def load(cls, folder: str | Path = WORDS_DIR) -> Words:
        """Read every ``*.yaml`` of `folder` (the file name without ``.yaml`` is the language
        code). Raises :class:`WordsError` for an unreadable file or a wrong ``format``."""
        files: dict[str, dict[str, Any]] = {}
        for path in sorted(Path(folder).glob("*.yaml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise WordsError(f"{path.name}: {exc}") from exc
            if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
                raise WordsError(f"{path.name}: format {FORMAT_VERSION} attendu")
            odd = [k for k in data if not isinstance(k, str)]
            if odd:
                # YAML 1.1 reads a bare yes/no/on/off as a boolean: the list "yes" must be quoted.
                raise WordsError(f"{path.name}: nom de liste {odd[0]!r} : écrivez-le entre "
                                 f'guillemets ("yes", "no")')
            files[path.stem] = {k: v for k, v in data.items() if k not in ("format", "language")}
        return cls(files)

    def _values(self, name: str, language: str | None) -> list[tuple[str, Any]]:
        langs = self.languages if language is None else (language,)
        return [(lang, self._files[lang][name]) for lang in langs
                if lang in self._files and name in self._files[lang]]

    def list(self, name: str, language: str | None = None) -> tuple[str, ...]:
        """The phrases of list `name`, each file's in its own order, files in language-code
        order, without repeats; only `language`'s file when given. Unknown list → ``()``."""
        out: dict[str, None] = {}
        for lang, value in self._values(name, language):
            if not isinstance(value, list):
                raise WordsError(f"{lang}.yaml: la liste {name!r} doit être une suite")
            out.update((str(w), None) for w in value)
        return tuple(out)

    def set(self, name: str, language: str | None = None) -> frozenset[str]:
        """The phrases of list `name` as a set (see :meth:`list`)."""
        return frozenset(self.list(name, language))

    def map(self, name: str) -> dict[str, Any]:
        """The merged mapping `name` (phrase → value). Raises :class:`WordsError` when two
        files give one phrase different values."""
        out: dict[str, Any] = {}
        for lang, value in self._values(name, None):
            if not isinstance(value, dict):
                raise WordsError(f"{lang}.yaml: la liste {name!r} doit être une table")
            for phrase, meaning in value.items():
                if phrase in out and out[phrase] != meaning:
                    raise WordsError(f"{lang}.yaml: {name}: {phrase!r} vaut {meaning!r} ici et "
                                     f"{out[phrase]!r} ailleurs")
                out[str(phrase)] = meaning
        return out

    def map_of_sets(self, name: str) -> dict[str, set[str]]:
        """The merged mapping `name` of a kind to its phrases (``keywords``: ``stop`` → the
        phrases meaning STOP): each kind's phrases are the union over the files."""
        out: dict[str, set[str]] = {}
        for lang, value in self._values(name, None):
            if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
                raise WordsError(f"{lang}.yaml: {name!r} doit associer à chaque sorte une suite")
            for kind, phrases in value.items():
                out.setdefault(str(kind), set()).update(str(p) for p in phrases)
        return out

    def names(self, language: str) -> frozenset[str]:
        """The list names `language`'s file defines (for checks of a new language's file)."""
        return frozenset(self._files.get(language, {}))


#: The shipped lists, loaded once at import (the readers build their lookups from them).
WORDS = Words.load()
