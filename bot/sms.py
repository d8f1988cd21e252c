"""SMS cost: encoding, segment counting, folding to GSM-7, and paging.

An SMS body travels either as GSM-7 (the 7-bit SMS alphabet of 3GPP TS 23.038, "GSM 03.38") or,
as soon as one character is outside that alphabet, as UCS-2 for the whole message. Operators
bill per segment ("part"), so one "ɛ" or one typographic apostrophe can multiply the cost of a
French or Bambara message by about 2.3. This module measures that cost exactly as Twilio's
segment calculator does, folds text to GSM-7 where an equivalent exists, and splits long texts
into pages that fit a segment budget.

What the PyPI package ``gsm0338`` covers, and what is written here
--------------------------------------------------------------------
``gsm0338`` registers the codec ``"gsm03.38"`` with the GSM 03.38 basic character set and its
extension table (``^ { } \\ [ ] ~ | €`` and form feed, sent as ESC + character). It is used to
build :data:`GSM7_SEPTETS` (character -> 1 or 2 septets) by decoding every code of both
tables, so membership and escape costs come from the codec, not from a hand-typed table. One
correction: the codec also maps U+001B (ESCAPE) itself, which is not a sendable character;
Twilio's calculator treats it as non-GSM, so it is left out. With that exclusion the table is
identical, character for character, to the calculator's ``UnicodeToGSM`` map (137 entries;
checked when writing this module). The codec knows nothing about SMS parts: counting parts,
UCS-2 sizes, grapheme clusters, folding and paging are written here.

How parts are counted (source: npm ``sms-segments-calculator`` 1.3.0, Twilio's calculator)
-------------------------------------------------------------------------------------------
- A segment holds 140 octets (1120 bits). A single SMS carries 160 septets (GSM-7) or 70
  UTF-16 code units (UCS-2). When the message needs more than one part, every part reserves a
  6-octet user data header, leaving 153 septets or 67 code units per part.
- Parts are counted by walking the text, never by dividing: an extension character (ESC pair,
  2 septets) is never split across parts, and in UCS-2 a grapheme cluster (an emoji with its
  surrogate pair, skin-tone modifier, ZWJ sequence, flag, or a letter with combining marks) is
  never split either. So 152 "a" + "€" + 152 "a" is 3 parts, not 2.
- In UCS-2 every GSM-7 character, extension ones included, costs one code unit; an astral
  character (emoji) costs two.
- The encoding is UCS-2 when any character is outside :data:`GSM7_SEPTETS`.
- Quirks kept on purpose so that our numbers equal the calculator's:
  * the empty text is 1 segment (the calculator always starts with one segment), 0 units;
  * "\\r\\n" counts as two GSM-7 characters (CR and LF are both in GSM-7). :func:`render`
    normalises line endings to "\\n" so that bot messages never pay for the CR;
  * tab (U+0009) is not GSM-7 and turns the message into UCS-2; :func:`fold_for_sms` turns it
    into a space;
  * grapheme clusters follow the calculator's splitter (npm ``grapheme-splitter`` 1.0.4,
    Unicode 10 rules): inside a ZWJ sequence only the Unicode 10 "glue after ZWJ" emoji join
    (so "❤️‍🔥" is two clusters there). Indic "Prepend" characters are not modelled (they never
    occur in French or Bambara), nor a few splitter oddities on nonsense sequences (see
    ``_clusters``); 18,000 random emoji/accent texts gave the calculator's counts exactly.
- Smart encoding is not emulated: our own folding (below) replaces it, and it also folds the
  French letters (ç ê â ô œ) that Twilio's smart encoding leaves alone.

Folding (:func:`fold_for_sms`) rules and sources
-----------------------------------------------
Applied after Unicode NFC (so that a decomposed "e" + U+0301 becomes the GSM-7 "é" and stays).
Characters that are already GSM-7 are never changed; GSM-7 membership is checked against the
table above (GSM 03.38), e.g. é è ù ì ò à É Ç Ä Ö Ñ Ü ä ö ñ ü Å å Æ æ Ø ø ß are kept.

- Typography (GSM 03.38 has only the ASCII forms): ’ ‘ ‚ ‛ ′ ʼ ‹ › -> ', “ ” „ ‟ ″ « » -> ",
  and the (non-breaking) spaces just inside « » / ‹ › are dropped, so "« Bonjour »" ->
  "\\"Bonjour\\""; ‐ ‑ ‒ – — ― − -> -; … -> ...; U+00A0, U+202F, U+2009 and every other
  Unicode space separator (category Zs) and TAB -> " "; U+2028/U+2029 -> "\\n"; invisible
  characters (zero-width space U+200B, ZWNJ U+200C, word joiner U+2060, BOM U+FEFF, soft
  hyphen U+00AD, bidi marks U+200E/U+200F/U+202A-U+202E/U+2066-U+2069) are removed; ZWJ U+200D
  is removed unless it sits between two kept non-GSM characters (it glues emoji sequences).
  "n°"/"N°" (also with º) -> "no"/"No", the French abbreviation of "numéro".
- French letters outside GSM-7, to the closest GSM-7 form (FACTS/docs/twilio.md list, checked
  against GSM 03.38): ç -> c (Ç is GSM-7: kept); ê ë -> e; â -> a; î ï -> i; ô -> o; û -> u;
  ÿ -> y; œ -> oe; capitals À Â -> A, È Ê Ë -> E, Î Ï Ì -> I, Ô Ò -> O, Ù Û -> U, Ÿ -> Y
  (É is GSM-7: kept).
- Bambara (docs/domain.md section 5, the older spelling still common on phones):
  ɛ -> è, ɔ -> ò, ɲ -> ny, ŋ -> ng. È and Ò are not GSM-7, so Ɛ -> E and Ɔ -> O.
  Ɲ -> Ny, Ŋ -> Ng.
- Multi-letter replacements of capitals (Œ, Ɲ, Ŋ) follow the case of the neighbours: "Oe",
  "Ny", "Ng" before a lower-case letter ("Œuvre" -> "Oeuvre"), "OE", "NY", "NG" inside an
  upper-case word ("ƝININKALI" -> "NYININKALI").
- Tone marks and other diacritics: a combining mark U+0300-U+036F whose base letter is GSM-7
  after folding is dropped ("ɛ́" -> "è", "bá" -> "ba"); any other letter outside GSM-7 whose
  canonical decomposition is a GSM-7 letter plus combining marks becomes that letter
  ("á" -> "a", "ń" -> "n"). Tone marks are rarely written in Bambara (docs/domain.md section 5).
- Everything else without a GSM-7 equivalent (emoji, other scripts, symbols such as ° or ×)
  is KEPT: the message then goes UCS-2 and :func:`analyze` lists the characters in
  ``ucs2_characters``. Meaning is never deleted silently.

The rules do not depend on the language today (no character needs a different treatment in
French and in Bambara); ``language`` is accepted so callers pass it and a later rule can use it.

This module logs nothing and keeps no state, so it cannot leak message contents.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import gsm0338  # noqa: F401  (importing registers the "gsm03.38" codec)

__all__ = [
    "CHANNELS",
    "GSM7",
    "GSM7_SEPTETS",
    "TWILIO_BODY_LIMIT",
    "UCS2",
    "SegmentInfo",
    "analyze",
    "estimate_cost",
    "fold_for_sms",
    "render",
    "report",
    "split_for_channel_limit",
    "split_pages",
]

GSM7 = "GSM-7"
UCS2 = "UCS-2"

#: Channels understood by :func:`render` and :func:`report`.
CHANNELS = ("sms", "whatsapp", "console")

#: Twilio rejects a message body longer than this many characters (SMS and WhatsApp).
TWILIO_BODY_LIMIT = 1600

# 140 octets of user data per SMS (3GPP TS 23.040); the calculator reserves a 6-octet
# concatenation header in every part of a multi-part message.
_SEGMENT_BITS = 140 * 8
_HEADER_BITS = 6 * 8
_GSM7_BITS = 7
_UCS2_BITS = 16
_ESCAPE = 0x1B


def _build_gsm7_table() -> dict[str, int]:
    """Return {character: septets} from the gsm0338 codec's basic and extension tables."""
    table: dict[str, int] = {}
    for code in range(0x80):
        if code == _ESCAPE:
            # ESC is the prefix of the extension table, not a character one can send.
            continue
        table[bytes([code]).decode("gsm03.38")] = 1
    for code in range(0x80):
        try:
            char = bytes([_ESCAPE, code]).decode("gsm03.38")
        except UnicodeDecodeError:
            continue
        table[char] = 2
    return table


#: GSM 03.38 characters and their cost in septets (1 basic, 2 extension table).
GSM7_SEPTETS: dict[str, int] = _build_gsm7_table()


@dataclass(frozen=True)
class SegmentInfo:
    """Cost of one SMS body, as Twilio's segment calculator counts it.

    Attributes:
        encoding: ``"GSM-7"`` or ``"UCS-2"`` (:data:`GSM7`, :data:`UCS2`).
        segments: number of SMS parts billed; 1 for the empty text (the calculator's answer).
        characters: length of the text in Unicode code points.
        units: message size without headers: septets for GSM-7 (extension characters count
            2), UTF-16 code units for UCS-2 (astral characters such as emoji count 2).
        ucs2_characters: distinct grapheme clusters that force UCS-2, in order of first
            appearance (an emoji with its modifiers is one entry); empty for GSM-7.
    """

    encoding: str
    segments: int
    characters: int
    units: int
    ucs2_characters: list[str]


# --- grapheme clusters (only needed to keep UCS-2 parts from splitting a cluster) -----------

_CR, _LF, _CONTROL, _EXTEND, _ZWJ, _RI, _SPACING = range(7)
_L, _V, _T, _LV, _LVT, _E_BASE, _E_MODIFIER, _GAZ, _EBG, _OTHER = range(7, 17)

# Unicode 10 emoji break properties, as in grapheme-splitter 1.0.4 (the calculator's splitter).
_E_BASE_RANGES = (
    (0x261D, 0x261D), (0x26F9, 0x26F9), (0x270A, 0x270D), (0x1F385, 0x1F385),
    (0x1F3C2, 0x1F3C4), (0x1F3C7, 0x1F3C7), (0x1F3CA, 0x1F3CC), (0x1F442, 0x1F443),
    (0x1F446, 0x1F450), (0x1F46E, 0x1F46E), (0x1F470, 0x1F478), (0x1F47C, 0x1F47C),
    (0x1F481, 0x1F483), (0x1F485, 0x1F487), (0x1F4AA, 0x1F4AA), (0x1F574, 0x1F575),
    (0x1F57A, 0x1F57A), (0x1F590, 0x1F590), (0x1F595, 0x1F596), (0x1F645, 0x1F647),
    (0x1F64B, 0x1F64F), (0x1F6A3, 0x1F6A3), (0x1F6B4, 0x1F6B6), (0x1F6C0, 0x1F6C0),
    (0x1F6CC, 0x1F6CC), (0x1F918, 0x1F91C), (0x1F91E, 0x1F91F), (0x1F926, 0x1F926),
    (0x1F930, 0x1F939), (0x1F93D, 0x1F93E), (0x1F9D1, 0x1F9DD),
)
_GLUE_AFTER_ZWJ = frozenset(
    (0x2640, 0x2642, 0x2695, 0x2696, 0x2708, 0x2764, 0x1F308, 0x1F33E, 0x1F373, 0x1F393,
     0x1F3A4, 0x1F3A8, 0x1F3EB, 0x1F3ED, 0x1F48B, 0x1F4BB, 0x1F4BC, 0x1F527, 0x1F52C,
     0x1F5E8, 0x1F680, 0x1F692)
)


def _break_class(cp: int) -> int:
    """Grapheme break class of a code point (UAX #29, approximated as the calculator does)."""
    if cp == 0x0D:
        return _CR
    if cp == 0x0A:
        return _LF
    if cp == 0x200D:
        return _ZWJ
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return _RI
    if 0x1F3FB <= cp <= 0x1F3FF:
        return _E_MODIFIER
    if 0x1F466 <= cp <= 0x1F469:
        return _EBG
    if cp in _GLUE_AFTER_ZWJ:
        return _GAZ
    for low, high in _E_BASE_RANGES:
        if low <= cp <= high:
            return _E_BASE
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return _L
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return _V
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return _T
    if 0xAC00 <= cp <= 0xD7A3:
        return _LV if (cp - 0xAC00) % 28 == 0 else _LVT
    if cp == 0x200C or 0xE0020 <= cp <= 0xE007F or 0xFF9E <= cp <= 0xFF9F:
        return _EXTEND
    category = unicodedata.category(chr(cp))
    if category in ("Mn", "Me"):
        return _EXTEND
    if category == "Mc":
        return _SPACING
    if category in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        return _CONTROL
    return _OTHER


def _joins(previous: int, current: int, after_emoji_base: bool, regional_run: int) -> bool:
    """Whether ``current`` continues the cluster ending with ``previous`` (UAX #29 rules)."""
    if previous in (_CR, _LF, _CONTROL) or current in (_CR, _LF, _CONTROL):
        return False  # GB4, GB5
    hangul = (
        (previous == _L and current in (_L, _V, _LV, _LVT))
        or (previous in (_LV, _V) and current in (_V, _T))
        or (previous in (_LVT, _T) and current == _T)
    )  # GB6-GB8
    if hangul or current in (_EXTEND, _ZWJ, _SPACING):
        return True  # GB9, GB9a
    if current == _E_MODIFIER:
        return after_emoji_base  # GB10
    if previous == _ZWJ and current in (_GAZ, _EBG):
        return True  # GB11 (Unicode 10)
    return previous == _RI and current == _RI and regional_run % 2 == 1  # GB12, GB13


def _clusters(text: str) -> list[str]:
    """Split ``text`` into grapheme clusters the way Twilio's calculator does.

    CR LF is two clusters (the calculator splits it explicitly). Known differences from the
    calculator's splitter, none of which changed a count in a fuzz comparison of 18,000 random
    texts: pathological sequences such as a flag followed by combining marks, or an emoji base
    followed by two combining marks and then a skin-tone modifier.
    """
    clusters: list[str] = []
    previous: int | None = None
    after_emoji_base = False  # last non-Extend character was an emoji base (GB10)
    regional_run = 0  # regional indicators seen in a row (flags pair them, GB12/GB13)
    for char in text:
        current = _break_class(ord(char))
        if previous is not None and _joins(previous, current, after_emoji_base, regional_run):
            clusters[-1] += char
        else:
            clusters.append(char)
        if current in (_E_BASE, _EBG):
            after_emoji_base = True
        elif current != _EXTEND:
            after_emoji_base = False
        regional_run = regional_run + 1 if current == _RI else 0
        previous = current
    return clusters


def _utf16_units(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (astral code points count 2)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _count_parts(sizes: list[int]) -> int:
    """Number of parts for atoms of the given sizes in bits, walking like the calculator.

    The first part is filled up to 140 octets; when an atom does not fit, a new part is opened
    and, the first time, the first part gets its 6-octet header and gives back the atoms that
    no longer fit. An atom is never split, and (as in the calculator) an atom moved to a fresh
    part is not re-checked.
    """
    parts: list[list[int]] = [[]]
    used = [0]
    has_header = [False]
    for size in sizes:
        if _SEGMENT_BITS - used[-1] < size:
            parts.append([])
            used.append(_HEADER_BITS)
            has_header.append(True)
            if not has_header[-2]:
                has_header[-2] = True
                used[-2] += _HEADER_BITS
                moved: list[int] = []
                while used[-2] > _SEGMENT_BITS:
                    moved_size = parts[-2].pop()
                    used[-2] -= moved_size
                    moved.insert(0, moved_size)
                parts[-1].extend(moved)
                used[-1] += sum(moved)
        parts[-1].append(size)
        used[-1] += size
    return len(parts)


def analyze(text: str) -> SegmentInfo:
    """Encoding and number of SMS parts of ``text``, as Twilio's segment calculator says.

    The text is measured as given: no folding, no line-ending normalisation (call
    :func:`render` first to measure what the bot will actually send).

    Args:
        text: the SMS body.

    Returns:
        A :class:`SegmentInfo`: encoding, segments (SMS parts), characters (code points),
        units (septets for GSM-7, UTF-16 code units for UCS-2) and the characters forcing UCS-2.

    Raises:
        TypeError: if ``text`` is not a ``str``.

    Source: 3GPP TS 23.038 / 23.040 for the alphabet and sizes; npm ``sms-segments-calculator``
    1.3.0 (smart encoding off) for the part-walking rules; see the module docstring.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    if all(char in GSM7_SEPTETS for char in text):
        septets = [GSM7_SEPTETS[char] for char in text]
        return SegmentInfo(
            encoding=GSM7,
            segments=_count_parts([n * _GSM7_BITS for n in septets]),
            characters=len(text),
            units=sum(septets),
            ucs2_characters=[],
        )
    clusters = _clusters(text)
    sizes = [_utf16_units(cluster) * _UCS2_BITS for cluster in clusters]
    forcing: dict[str, None] = {}
    for cluster in clusters:
        if any(char not in GSM7_SEPTETS for char in cluster):
            forcing.setdefault(cluster, None)
    return SegmentInfo(
        encoding=UCS2,
        segments=_count_parts(sizes),
        characters=len(text),
        units=sum(sizes) // _UCS2_BITS,
        ucs2_characters=list(forcing),
    )


# --- folding ---------------------------------------------------------------------------------

_HSPACE = "[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]"
_OPEN_DOUBLE_GUILLEMET = re.compile(f"\u00ab{_HSPACE}*")
_CLOSE_DOUBLE_GUILLEMET = re.compile(f"{_HSPACE}*\u00bb")
_OPEN_SINGLE_GUILLEMET = re.compile(f"\u2039{_HSPACE}*")
_CLOSE_SINGLE_GUILLEMET = re.compile(f"{_HSPACE}*\u203a")
# "n°" is the French abbreviation of "numéro"; "no" is its usual plain-text form.
_NUMERO = re.compile(r"\b([nN])[\u00b0\u00ba]")
# "35°" or "35 °C" (a temperature in an announcement, issue 15: it made the SMS UCS-2) is
# written "35 degrés"; Celsius is the only scale used in Mali. Any other ° becomes "o".
_DEGREE = re.compile(r"(?<=\d)[ \u00a0]?\u00b0(?:[ \u00a0]?C\b)?")

_SINGLE_CHAR_FOLDS: dict[str, str] = {
    # apostrophes and single quotes
    "\u2019": "'", "\u2018": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    # double quotes
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    # dashes, hyphens, minus
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00b0": "o",  # a degree sign not after a number (after one: _DEGREE)
    "\t": " ",
    "\u2028": "\n", "\u2029": "\n",
    # French letters outside GSM-7 (ç, é, è, à, ù, ì, ò, ä, ö, ü, Ç, É, Ä, Ö, Ü, æ, Æ are in it)
    "\u00e7": "c",  # ç
    "\u00ea": "e", "\u00eb": "e",  # ê ë
    "\u00e2": "a",  # â
    "\u00ee": "i", "\u00ef": "i",  # î ï
    "\u00f4": "o",  # ô
    "\u00fb": "u",  # û
    "\u00ff": "y",  # ÿ
    "\u00c0": "A", "\u00c2": "A",  # À Â
    "\u00c8": "E", "\u00ca": "E", "\u00cb": "E",  # È Ê Ë
    "\u00cc": "I", "\u00ce": "I", "\u00cf": "I",  # Ì Î Ï
    "\u00d2": "O", "\u00d4": "O",  # Ò Ô
    "\u00d9": "U", "\u00db": "U",  # Ù Û
    "\u0178": "Y",  # Ÿ
    # Bambara official letters -> older spelling (docs/domain.md section 5); È, Ò are not GSM-7
    "\u025b": "\u00e8", "\u0190": "E",  # ɛ -> è, Ɛ -> E
    "\u0254": "\u00f2", "\u0186": "O",  # ɔ -> ò, Ɔ -> O
}

# Capital letters replaced by two letters: (title-case form, upper-case form).
_DIGRAPH_FOLDS: dict[str, tuple[str, str]] = {
    "\u0153": ("oe", "oe"),  # œ
    "\u0152": ("Oe", "OE"),  # Œ
    "\u0272": ("ny", "ny"),  # ɲ
    "\u019d": ("Ny", "NY"),  # Ɲ
    "\u014b": ("ng", "ng"),  # ŋ
    "\u014a": ("Ng", "NG"),  # Ŋ
}

_INVISIBLE = frozenset(
    "\u200b\u200c\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069"
)
_ZWJ_CHAR = "\u200d"


def _is_combining_diacritic(char: str) -> bool:
    return "\u0300" <= char <= "\u036f"


def _fold_letter(char: str) -> str | None:
    """GSM-7 base of a precomposed letter (NFD = GSM-7 letter + combining marks), or None."""
    decomposed = unicodedata.normalize("NFD", char)
    if len(decomposed) < 2 or not all(
        unicodedata.category(mark) == "Mn" for mark in decomposed[1:]
    ):
        return None
    base = decomposed[0]
    base = _SINGLE_CHAR_FOLDS.get(base, base)
    if base.isalpha() and all(c in GSM7_SEPTETS for c in base):
        return base
    return None


def _would_stay_non_gsm(char: str) -> bool:
    """True if folding leaves ``char`` outside GSM-7 (an emoji, for instance)."""
    if char in GSM7_SEPTETS or char in _SINGLE_CHAR_FOLDS or char in _DIGRAPH_FOLDS:
        return False
    if char in _INVISIBLE or char == _ZWJ_CHAR or _is_combining_diacritic(char):
        return False
    if unicodedata.category(char) == "Zs":
        return False
    return _fold_letter(char) is None


def fold_for_sms(text: str, language: str | None = None) -> str:
    """Replace characters outside GSM-7 by their closest GSM-7 form, keep the rest.

    Folding keeps an SMS in GSM-7 (160 characters per SMS, 153 per part) instead of UCS-2
    (70, 67). Characters without a GSM-7 equivalent (emoji, other scripts) are kept, so the
    meaning is never lost; the message then goes UCS-2 (see :func:`analyze`). Line endings are
    not touched here (see :func:`render`).

    Args:
        text: message text.
        language: ``"fr"``, ``"bm"`` or None. Accepted for the callers' convenience; the rules
            are the same for every language today (see the module docstring).

    Returns:
        The folded text.

    Raises:
        TypeError: if ``text`` is not a ``str``.

    Source of every rule: module docstring (GSM 03.38 for membership; docs/domain.md
    section 5 for the Bambara older spelling è/ò/ny/ng).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    text = unicodedata.normalize("NFC", text)
    # Invisible characters go first, so that the patterns below see the visible text
    # ("N\u00adº" is "Nº"); folding twice must give the same text as folding once.
    text = "".join(char for char in text if char not in _INVISIBLE)
    text = _OPEN_DOUBLE_GUILLEMET.sub('"', text)
    text = _CLOSE_DOUBLE_GUILLEMET.sub('"', text)
    text = _OPEN_SINGLE_GUILLEMET.sub("'", text)
    text = _CLOSE_SINGLE_GUILLEMET.sub("'", text)
    text = _NUMERO.sub(r"\1o", text)
    text = _DEGREE.sub(" degrés", text)

    out: list[str] = []
    for index, char in enumerate(text):
        if char in GSM7_SEPTETS:
            out.append(char)
            continue
        if char in _SINGLE_CHAR_FOLDS:
            out.append(_SINGLE_CHAR_FOLDS[char])
            continue
        if char in _DIGRAPH_FOLDS:
            title, upper = _DIGRAPH_FOLDS[char]
            following = text[index + 1] if index + 1 < len(text) else ""
            preceding = out[-1][-1:] if out else ""
            shout = following.isupper() or (not following.isalpha() and preceding.isupper())
            out.append(upper if shout else title)
            continue
        if char == _ZWJ_CHAR:
            following = text[index + 1] if index + 1 < len(text) else ""
            preceding = out[-1][-1:] if out else ""
            # ZWJ only carries meaning inside emoji sequences; elsewhere it just costs UCS-2.
            if preceding and following and preceding not in GSM7_SEPTETS and (
                _would_stay_non_gsm(following)
            ):
                out.append(char)
            continue
        if _is_combining_diacritic(char):
            preceding = out[-1][-1:] if out else ""
            # A tone mark or accent on a letter already folded to GSM-7 (or on nothing) would
            # only force UCS-2; tone marks are rarely written in Bambara anyway.
            if not preceding or preceding in GSM7_SEPTETS:
                continue
            out.append(char)
            continue
        if unicodedata.category(char) == "Zs":
            out.append(" ")
            continue
        letter = _fold_letter(char)
        out.append(letter if letter is not None else char)
    return "".join(out)


_TRAILING_SPACE = re.compile(r"[^\S\n]+$", re.MULTILINE)


def render(text: str, channel: str, language: str | None = None, *, fold: bool = True) -> str:
    """Prepare a message body for a channel.

    Line endings are normalised to "\\n" (CR LF and lone CR), and spaces at the end of each
    line are removed, on every channel (a CR costs a GSM-7 character and trailing spaces cost
    characters for nothing). On ``"sms"`` the text is also folded to GSM-7 with
    :func:`fold_for_sms` when ``fold`` is True. ``"whatsapp"`` and ``"console"`` keep every
    character (WhatsApp is not billed per segment and shows Unicode).

    Args:
        text: message text.
        channel: one of :data:`CHANNELS` (``"sms"``, ``"whatsapp"``, ``"console"``).
        language: ``"fr"``, ``"bm"`` or None, passed to :func:`fold_for_sms`.
        fold: set False to send the SMS text unfolded (e.g. a name that must stay exact).

    Returns:
        The text to send.

    Raises:
        TypeError: if ``text`` is not a ``str``.
        ValueError: if ``channel`` is unknown.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if channel == "sms" and fold:
        text = fold_for_sms(text, language)
    return _TRAILING_SPACE.sub("", text)


# --- paging ----------------------------------------------------------------------------------

# Boundaries as (end of the page before, start of the next page), strongest first.
_PARAGRAPH = re.compile(r"[^\S\n]*\n[^\S\n]*\n\s*")
_LINE = re.compile(r"[^\S\n]*\n\s*")
_SENTENCE = re.compile(r"([.!?\u2026]+[\"'\u00bb\u201d\u2019)\]]*)\s+")
_WORD = re.compile(r"\s+")

# A stronger boundary (paragraph, line, sentence) is used only if the page it gives is at least
# this fraction of the longest page a word boundary would give: readable pages, but no nearly
# empty page that would cost a whole SMS.
_MIN_FILL = 0.5


def _boundaries(text: str, pattern: re.Pattern[str], group: int = 0) -> list[tuple[int, int]]:
    return [
        (match.end(group) if group else match.start(), match.end())
        for match in pattern.finditer(text)
        if (match.end(group) if group else match.start()) > 0 and match.end() < len(text)
    ]


def _furthest_fitting(
    candidates: list[tuple[int, int]], text: str, fits: Callable[[str], bool]
) -> tuple[int, int] | None:
    """Last candidate whose page fits; pages grow with the cut so fitting is monotone."""
    low, high, best = 0, len(candidates) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(text[: candidates[middle][0]]):
            best = candidates[middle]
            low = middle + 1
        else:
            high = middle - 1
    return best


def _hard_cut(text: str, fits: Callable[[str], bool]) -> tuple[int, int]:
    """Cut inside the first word, at a grapheme-cluster boundary, when the word is too long."""
    first_space = _WORD.search(text)
    word_end = first_space.start() if first_space else len(text)
    ends: list[int] = []
    position = 0
    for cluster in _clusters(text[:word_end]):
        position += len(cluster)
        ends.append(position)
    best = _furthest_fitting([(end, end) for end in ends], text, fits)
    if best is None:
        raise ValueError("budget too small: not even one character fits on a page")
    return best


def _split(
    text: str, fits_page: Callable[[str], bool], fits_last: Callable[[str], bool]
) -> list[str]:
    remaining = text.strip()
    if not remaining:
        return []
    pages: list[str] = []
    while not fits_last(remaining):
        words = _boundaries(remaining, _WORD)
        cut = _furthest_fitting(words, remaining, fits_page)
        if cut is None:
            cut = _hard_cut(remaining, fits_page)
        else:
            for pattern, group in ((_PARAGRAPH, 0), (_LINE, 0), (_SENTENCE, 1)):
                stronger = _furthest_fitting(
                    _boundaries(remaining, pattern, group), remaining, fits_page
                )
                if stronger is not None and stronger[0] >= _MIN_FILL * cut[0]:
                    cut = stronger
                    break
        pages.append(remaining[: cut[0]].rstrip())
        remaining = remaining[cut[1]:].lstrip()
    pages.append(remaining)
    return pages


def split_pages(text: str, *, max_segments: int, continuation: str) -> list[str]:
    """Split ``text`` into pages that each fit ``max_segments`` SMS parts.

    Every page except the last must fit once ``continuation`` is appended to it
    (``page + continuation``, e.g. ``"\\n9 = suite"``); the last page must fit alone. Sizes are
    computed with :func:`analyze`, so pass text already rendered for the channel (and a
    rendered continuation). The returned pages do NOT contain the continuation: the caller
    appends it when sending, which keeps the page text reusable.

    Pages are cut at the strongest boundary available: paragraph (blank line), then line, then
    sentence end (. ! ? … with closing quotes), then between words; a stronger boundary is
    preferred as long as its page is at least half as long as the word-boundary page would be.
    A word is never cut, except a single word longer than a whole page, which is then cut at a
    grapheme-cluster boundary (never inside a surrogate pair or an emoji sequence). Whitespace
    at page boundaries is dropped, so no page starts or ends with whitespace, and the words of
    the pages, in order, are the words of ``text``.

    Args:
        text: the text to page.
        max_segments: SMS parts allowed per page (>= 1).
        continuation: text appended to every page but the last ("" for none).

    Returns:
        The pages; ``[text.strip()]`` when the whole text fits in ``max_segments`` parts, and
        ``[]`` when the text is empty or only whitespace (nothing to send: Twilio rejects an
        empty body).

    Raises:
        TypeError: if ``text`` or ``continuation`` is not a ``str``.
        ValueError: if ``max_segments`` < 1, or the continuation leaves no room for even one
            character.
    """
    if not isinstance(text, str) or not isinstance(continuation, str):
        raise TypeError("text and continuation must be str")
    if isinstance(max_segments, bool) or not isinstance(max_segments, int) or max_segments < 1:
        raise ValueError(f"max_segments must be an int >= 1, not {max_segments!r}")

    def fits_page(page: str) -> bool:
        return analyze(page + continuation).segments <= max_segments

    def fits_last(page: str) -> bool:
        return analyze(page).segments <= max_segments

    return _split(text, fits_page, fits_last)


def split_for_channel_limit(text: str, limit: int = TWILIO_BODY_LIMIT) -> list[str]:
    """Split ``text`` into provider messages of at most ``limit`` characters each.

    Twilio rejects a body over 1600 characters, for SMS and for WhatsApp. Characters are
    counted here as UTF-16 code units (an emoji counts 2), which is never less than the code
    point count, so a chunk cannot be refused whichever way the provider counts. Boundaries
    follow the same rules as :func:`split_pages` (paragraph, line, sentence, word; a word is cut
    only if it alone exceeds ``limit``, and then at a grapheme-cluster boundary).

    Args:
        text: the body to send.
        limit: maximum characters (UTF-16 code units) per message, >= 1; default 1600.

    Returns:
        The chunks, without leading or trailing whitespace; ``[text.strip()]`` if it fits,
        ``[]`` for an empty or whitespace-only text.

    Raises:
        TypeError: if ``text`` is not a ``str``.
        ValueError: if ``limit`` < 1.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be an int >= 1, not {limit!r}")

    def fits(chunk: str) -> bool:
        return _utf16_units(chunk) <= limit

    return _split(text, fits, fits)


def estimate_cost(parts: int, price_per_part: float) -> float:
    """Cost of sending ``parts`` SMS parts at ``price_per_part`` each.

    Args:
        parts: number of SMS parts (segments), e.g. ``analyze(body).segments`` summed over
            recipients; an int >= 0.
        price_per_part: price of one part in the billing currency (FCFA for the mairie's
            budget; Twilio bills USD), a finite number >= 0.

    Returns:
        ``parts * price_per_part`` in the same currency, as a float (not rounded).

    Raises:
        TypeError: if ``parts`` is not an int.
        ValueError: if ``parts`` is negative or ``price_per_part`` is negative or not finite.
    """
    if isinstance(parts, bool) or not isinstance(parts, int):
        raise TypeError(f"parts must be an int, not {type(parts).__name__}")
    if parts < 0:
        raise ValueError(f"parts must be >= 0, not {parts}")
    price = float(price_per_part)
    if not math.isfinite(price) or price < 0:
        raise ValueError(f"price_per_part must be a finite number >= 0, not {price_per_part!r}")
    return parts * price


def report(
    text: str, channel: str = "sms", language: str | None = None, *, fold: bool = True
) -> dict:
    """Cost report of ``text`` as the bot would send it on ``channel`` (for the CLI's JSON).

    The text is first passed through :func:`render` (same arguments), then measured with
    :func:`analyze`. On WhatsApp the segment figures describe what the same text would cost as
    an SMS; WhatsApp itself is not billed per segment.

    Args:
        text: message text.
        channel: one of :data:`CHANNELS`.
        language: ``"fr"``, ``"bm"`` or None.
        fold: passed to :func:`render`.

    Returns:
        ``{"encoding": str, "segments": int (SMS parts), "characters": int (code points),
        "units": int (septets or UTF-16 code units), "rendered": str,
        "ucs2_characters": list[str]}``; all values are JSON-serialisable.

    Raises:
        TypeError: if ``text`` is not a ``str``.
        ValueError: if ``channel`` is unknown.
    """
    rendered = render(text, channel, language, fold=fold)
    info = analyze(rendered)
    return {
        "encoding": info.encoding,
        "segments": info.segments,
        "characters": info.characters,
        "units": info.units,
        "rendered": rendered,
        "ucs2_characters": list(info.ucs2_characters),
    }
