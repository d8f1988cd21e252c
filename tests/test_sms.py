"""Tests of bot/sms.py: segment counts against Twilio's calculator, folding, paging, reports.

tests/data/segments.tsv was produced by Twilio's calculator (npm sms-segments-calculator,
smart encoding off) from tests/data/segment_texts.txt with tests/data/make_segments_table.js;
see that script to regenerate it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import sms
from bot.sms import (
    GSM7,
    GSM7_SEPTETS,
    UCS2,
    SegmentInfo,
    analyze,
    estimate_cost,
    fold_for_sms,
    render,
    report,
    split_for_channel_limit,
    split_pages,
)

DATA = Path(__file__).parent / "data"


def _load_table() -> list[tuple[str, str, int, int]]:
    lines = (DATA / "segments.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["text", "encoding", "segments", "units"]
    rows = []
    for line in lines[1:]:
        text, encoding, segments, units = line.split("\t")
        rows.append((json.loads(text), encoding, int(segments), int(units)))
    return rows


TABLE = _load_table()


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- the reference table -----------------------------------------------------------------------


def test_table_is_large_and_covers_the_required_cases():
    texts = [row[0] for row in TABLE]
    assert len(TABLE) >= 120
    assert len(set(texts)) == len(texts)
    assert "" in texts
    assert any("\r\n" in t for t in texts) and any("\n" in t and "\r" not in t for t in texts)
    assert any("ɛ" in t for t in texts) and any("è" in t and "ɛ" not in t for t in texts)
    assert any("😀" in t for t in texts) and any("€" in t for t in texts)
    assert {len(t) for t in texts} >= {160, 161, 306, 307}
    assert {row[1] for row in TABLE} == {GSM7, UCS2}
    assert max(row[2] for row in TABLE) >= 10


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    TABLE,
    ids=[f"row{i + 2}" for i in range(len(TABLE))],
)
def test_analyze_matches_twilio_calculator(text, encoding, segments, units):
    info = analyze(text)
    assert (info.encoding, info.segments, info.units) == (encoding, segments, units)
    assert info.characters == len(text)
    if encoding == GSM7:
        assert info.ucs2_characters == []
    else:
        assert info.ucs2_characters, "a UCS-2 text must name what forces UCS-2"


def test_empty_text_is_one_segment_like_the_calculator():
    assert analyze("") == SegmentInfo(GSM7, 1, 0, 0, [])


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        # 306 septets would be 2 parts by division, but the ESC pair may not straddle parts.
        ("a" * 152 + "€" + "a" * 152, 3),
        ("ç" + "a" * 69, 1),
        ("ç" + "a" * 70, 2),
        ("a" * 66 + "😀" + "a" * 67, 3),
    ],
)
def test_boundaries_by_walking(text, segments):
    assert analyze(text).segments == segments


def test_extension_characters_cost_two_septets_in_gsm7_and_one_unit_in_ucs2():
    for char in "^{}\\[]~|€\f":
        assert analyze(char).units == 2, char
        assert analyze(char + "ç").units == 2, char


def test_emoji_cost_two_units_and_are_reported_once():
    info = analyze("Merci 🙏🙏 👍🏽")
    assert info.encoding == UCS2
    assert info.units == 6 + 2 + 2 + 1 + 4
    assert info.ucs2_characters == ["🙏", "👍🏽"]


def test_ucs2_characters_in_order_of_first_appearance():
    assert analyze("Aw bɛ ɲɛ ça ɛ").ucs2_characters == ["ɛ", "ɲ", "ç"]


def test_analyze_rejects_non_str():
    with pytest.raises(TypeError):
        analyze(b"abc")  # type: ignore[arg-type]


def test_segment_info_is_frozen():
    info = analyze("abc")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.segments = 5  # type: ignore[misc]


# --- the GSM-7 table built from gsm0338 ----------------------------------------------------------


def test_gsm7_table_comes_from_the_codec():
    assert len(GSM7_SEPTETS) == 137  # 127 basic (ESC excluded) + 10 extension characters
    assert "\x1b" not in GSM7_SEPTETS
    for char, septets in GSM7_SEPTETS.items():
        assert len(char.encode("gsm03.38")) == septets
    extension = {c for c, n in GSM7_SEPTETS.items() if n == 2}
    assert extension == set("^{}\\[]~|€\f")


@pytest.mark.parametrize("char", list("éèùìòàÉÇÄÖÑÜäöñüÅåÆæØøß¡¿§£¥$@"))
def test_letters_documented_in_gsm7_are_in_the_table(char):
    assert char in GSM7_SEPTETS


@pytest.mark.parametrize("char", list("çêâîôûëïœ’‘“”«»–—…ÀÂÊÎÔÛÈËÏɛɔɲŋ\t`"))
def test_characters_documented_outside_gsm7_are_not_in_the_table(char):
    assert char not in GSM7_SEPTETS


# --- folding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        # typography
        ("C’est l‘atelier ‚ ′", "C'est l'atelier ' '"),
        ("“Bienvenue” „ici″", '"Bienvenue" "ici"'),
        ("« Bonjour »", '"Bonjour"'),
        ("«\u00a0Bonjour\u00a0»", '"Bonjour"'),
        ("«\u202fBonjour\u202f»", '"Bonjour"'),
        ("‹ oui ›", "'oui'"),
        ("Bamako – Commune III — ESS ‑ 2026", "Bamako - Commune III - ESS - 2026"),
        ("Attendez…", "Attendez..."),
        ("2\u00a0500 FCFA", "2 500 FCFA"),
        ("2\u202f500 FCFA", "2 500 FCFA"),
        ("a\u2009b\u2007c\u3000d", "a b c d"),
        ("bien\u200bve\u2060nue\ufeff", "bienvenue"),
        ("a\u200db", "ab"),
        ("Bonjour\t!", "Bonjour !"),
        ("n° 12, N° 5, nº 3", "no 12, No 5, no 3"),
        # French letters
        ("ça", "ca"),
        ("Ça", "Ça"),
        ("fête Noël", "fete Noel"),
        ("château", "chateau"),
        ("île maïs", "ile mais"),
        ("hôtel", "hotel"),
        ("flûte", "flute"),
        ("L'Haÿ", "L'Hay"),
        ("cœur", "coeur"),
        ("Œuvre", "Oeuvre"),
        ("ŒUVRE", "OEUVRE"),
        ("Œ", "Oe"),  # alone: title case, like "Ŋ" -> "Ng"
        ("ÀÂÊÎÔÛÈËÏ", "AAEIOUEEI"),
        ("À bientôt", "A bientot"),
        ("æ Æ É é è ù ì ò à", "æ Æ É é è ù ì ò à"),
        ("Ä Ö Ñ Ü ä ö ñ ü Å å Ø ø ß", "Ä Ö Ñ Ü ä ö ñ ü Å å Ø ø ß"),
        # Bambara
        ("ɛ", "è"),
        ("Ɛ", "E"),
        ("ɔ", "ò"),
        ("Ɔ", "O"),
        ("ɲ", "ny"),
        ("Ɲininkali", "Nyininkali"),
        ("ƝININKALI", "NYININKALI"),
        ("ŋ", "ng"),
        ("Ŋ", "Ng"),
        ("SAŊ", "SANG"),
        ("i ni sɔgɔma", "i ni sògòma"),
        ("K’an bɛn!", "K'an bèn!"),
        ("tɔgɔsɛbɛn", "tògòsèbèn"),
        # tone marks
        ("kɛ́nɛ̀ya", "kènèya"),
        ("bá", "ba"),
        ("ɔ́", "ò"),
        ("a\u0301", "a"),
        ("e\u0301", "é"),  # NFC first: é is GSM-7 and stays
        ("E\u0301", "É"),
        ("C\u0327a", "Ça"),
        ("\u0301début", "début"),
        # kept: no GSM-7 equivalent
        ("Merci 🙏", "Merci 🙏"),
        # a temperature (issue 15: "Température 35°" made an announcement UCS-2)
        ("25°C", "25 degrés"),
        ("Température 35°", "Température 35 degrés"),
        ("35 °C demain", "35 degrés demain"),
        ("angle °", "angle o"),
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),
        ("1\ufe0f\u20e3 Français", "1\ufe0f\u20e3 Francais"),
        ("", ""),
    ],
)
def test_fold_rules(text, folded):
    assert fold_for_sms(text) == folded


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Ça va ? Le cœur, la fête, le château, l’hôtel, la flûte, le maïs, Noël.", "fr"),
        ("« À confirmer auprès de la mairie » — INPS : 29\u202f450 FCFA…", "fr"),
        ("Nous avons besoin de votre accord avant d’enregistrer vos données.", "fr"),
        ("ÎLE, ÊTRE, CÔTE, DÛ, NAÏF, ÀGÉ, ŒUF", "fr"),
        ("Aw ni sɔgɔma. I bɛ se ka i tɔgɔ sɛbɛn. Ɲininkali: i kin ye min ye?", "bm"),
        ("kelen, fila, saba, naani, duuru, wɔɔrɔ, wolonwula, segin, kɔnɔntɔn, tan", "bm"),
        ("Ɛ Ɔ Ɲ Ŋ ɛ ɔ ɲ ŋ, kɛ́nɛya, dɛ̀mɛ, K’an bɛn!", "bm"),
        ("Jigisɛmɛjiri: 10\u00a0000–15\u00a0000 FCFA", "bm"),
    ],
)
def test_folded_french_and_bambara_are_gsm7(text, language):
    folded = fold_for_sms(text, language)
    info = analyze(folded)
    assert info.encoding == GSM7, info.ucs2_characters
    assert info.ucs2_characters == []


def test_fold_keeps_emoji_and_reports_them():
    folded = fold_for_sms("Aw ni ce 🙏 ɛ")
    assert folded == "Aw ni ce 🙏 è"
    assert analyze(folded).ucs2_characters == ["🙏"]


def test_fold_rejects_non_str():
    with pytest.raises(TypeError):
        fold_for_sms(None)  # type: ignore[arg-type]


_FR_BM_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"()-\n"
    "éèêëàâäîïôöùûüÿçœæÉÈÊËÀÂÄÎÏÔÖÙÛÜŸÇŒÆ’‘“”«»–—…\u00a0\u202f\u2009"
    "ɛɔɲŋƐƆƝŊ\u0300\u0301"
)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_FR_BM_ALPHABET, max_size=200))
def test_any_french_or_bambara_text_folds_to_gsm7(text):
    assert analyze(fold_for_sms(text)).encoding == GSM7


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(sorted(GSM7_SEPTETS)), max_size=200))
def test_gsm7_text_is_never_changed_by_folding(text):
    assert fold_for_sms(text) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))
def test_folding_is_idempotent_and_never_grows_cost(text):
    once = fold_for_sms(text)
    assert fold_for_sms(once) == once
    if analyze(unicodedata.normalize("NFC", text)).encoding == GSM7:
        assert analyze(once).encoding == GSM7


# --- render -------------------------------------------------------------------------------------


def test_render_sms_folds_and_cleans_lines():
    text = "Bonjour  \r\nC’est l’été, ça va ?\u00a0\r\rɲɛ\t\n"
    assert render(text, "sms", "fr") == "Bonjour\nC'est l'été, ca va ?\n\nnyè\n"


@pytest.mark.parametrize("channel", ["whatsapp", "console"])
def test_render_other_channels_keep_characters(channel):
    text = "C’est l’été, ça va ? ɲɛ 🙏 « oui »"
    assert render(text, channel, "bm") == text
    assert render("a  \r\nb\u00a0\rc", channel) == "a\nb\nc"


def test_render_sms_without_folding_keeps_characters():
    text = "C’est l’été, ça va ? ɲɛ 🙏 « oui »"
    assert render(text, "sms", "fr", fold=False) == text
    assert render("a \r\nb", "sms", fold=False) == "a\nb"


def test_render_rejects_unknown_channel():
    with pytest.raises(ValueError):
        render("x", "fax")


# --- split_pages ----------------------------------------------------------------------------------

CONT = "\n9 = suite"


def _assert_pages_fit(pages: list[str], max_segments: int, continuation: str) -> None:
    for page in pages[:-1]:
        assert analyze(page + continuation).segments <= max_segments, page
    assert analyze(pages[-1]).segments <= max_segments
    for page in pages:
        assert page and page == page.strip()


def test_split_pages_whole_text_fits():
    assert split_pages("Bonjour", max_segments=1, continuation=CONT) == ["Bonjour"]
    assert split_pages("  Bonjour\n", max_segments=1, continuation=CONT) == ["Bonjour"]
    assert split_pages("a" * 160, max_segments=1, continuation=CONT) == ["a" * 160]


def test_split_pages_of_blank_text_is_empty():
    assert split_pages("", max_segments=1, continuation=CONT) == []
    assert split_pages(" \n\n ", max_segments=1, continuation=CONT) == []


def test_split_pages_prefers_paragraphs():
    first = "Le RAMU couvre toute la population, y compris les artisans et les informels."
    second = (
        "L'INPS propose une assurance volontaire pour les travailleurs independants: "
        "cotisations trimestrielles en 5 classes."
    )
    text = f"{first}\n\n{second}"
    pages = split_pages(text, max_segments=1, continuation=CONT)
    assert pages == [first, second]


def test_split_pages_menu_splits_at_lines():
    lines = ["Quel est votre quartier ?"] + [
        f"{i} {name}"
        for i, name in enumerate(
            ["Badialan I", "Badialan II", "Badialan III", "Bamako-Coura", "Bolibana",
             "Centre commercial", "Darsalam", "Dravela", "Dravela-Bolibana", "Kodabougou",
             "Koulouba", "Koulouninko", "N'Tomikorobougou", "Niomirambougou", "Ouolofobougou",
             "Point G", "Same", "Sirakoro-Dounfing", "Sogonafing"],
            start=1,
        )
    ]
    text = "\n".join(lines)
    pages = split_pages(text, max_segments=1, continuation=CONT)
    assert len(pages) >= 2
    _assert_pages_fit(pages, 1, CONT)
    # every page is made of whole menu lines
    assert [line for page in pages for line in page.split("\n")] == lines


def test_split_pages_prefers_sentences_over_words():
    sentence = "Le registre ESS aide les artisans de la commune a se faire connaitre. "
    text = (sentence * 6).strip()
    pages = split_pages(text, max_segments=1, continuation=CONT)
    _assert_pages_fit(pages, 1, CONT)
    assert all(page.endswith(".") for page in pages)


def test_split_pages_never_cuts_words_and_keeps_order():
    words = [f"mot{i}é" for i in range(300)]
    text = " ".join(words)
    for max_segments in (1, 2, 3):
        pages = split_pages(text, max_segments=max_segments, continuation=CONT)
        _assert_pages_fit(pages, max_segments, CONT)
        assert " ".join(pages).split() == words


def test_split_pages_ucs2_budget():
    text = " ".join(["sɛbɛn"] * 60)  # ɛ keeps it UCS-2: 67 units per part
    pages = split_pages(text, max_segments=2, continuation="\n9 = nataw")
    _assert_pages_fit(pages, 2, "\n9 = nataw")
    assert " ".join(pages).split() == text.split()
    assert all(analyze(p).encoding == UCS2 for p in pages)


def test_split_pages_cuts_only_an_overlong_word_and_not_inside_emoji():
    word = "😀" * 100
    pages = split_pages(f"debut {word} fin", max_segments=1, continuation=CONT)
    _assert_pages_fit(pages, 1, CONT)
    assert pages[0] == "debut"
    assert "".join(pages[1:]).replace(" ", "") == word + "fin"
    for page in pages:
        page.encode("utf-16-le")  # a lone surrogate would fail here


def test_split_pages_escape_pairs_count_double():
    text = " ".join(["{1234}"] * 60)
    pages = split_pages(text, max_segments=1, continuation="")
    _assert_pages_fit(pages, 1, "")
    assert " ".join(pages).split() == text.split()
    # 17 words + 16 spaces = 118 characters but 152 septets: one more word would not fit
    assert all(analyze(p).units <= 160 and len(p) <= 118 for p in pages)


def test_split_pages_validates_arguments():
    with pytest.raises(ValueError):
        split_pages("abc", max_segments=0, continuation="")
    with pytest.raises(ValueError):
        split_pages("a b " * 100, max_segments=1, continuation="x" * 160)
    with pytest.raises(TypeError):
        split_pages(None, max_segments=1, continuation="")  # type: ignore[arg-type]


_LETTERS = list("abcdefghijklmnopqrstuvwxyzéèàùçêâôœɛɔɲŋÉÇ€{") + ["😀", "👍🏽", "🇲🇱", "🙏"]
_WORDS = st.lists(st.sampled_from(_LETTERS), min_size=1, max_size=12).map("".join)
_SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n\n", ". ", "! ", " \n "])


@st.composite
def _texts(draw):
    words = draw(st.lists(_WORDS, min_size=1, max_size=120))
    parts = [words[0]]
    for word in words[1:]:
        parts.append(draw(_SEPARATORS))
        parts.append(word)
    return "".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=_texts(),
    max_segments=st.integers(min_value=1, max_value=3),
    continuation=st.sampled_from(["", CONT, "\n9 = nataw", " (9: suite…)"]),
)
def test_split_pages_property_every_page_fits_and_no_word_is_lost(
    text, max_segments, continuation
):
    pages = split_pages(text, max_segments=max_segments, continuation=continuation)
    _assert_pages_fit(pages, max_segments, continuation)
    # words are at most 12 clusters (24 UTF-16 units): none needs cutting, so the words of the
    # pages are exactly the words of the text, in order
    assert " ".join(pages).split() == text.split()
    if analyze(text.strip()).segments <= max_segments:
        assert pages == [text.strip()]


@settings(max_examples=100, deadline=None)
@given(
    words=st.lists(
        st.lists(st.sampled_from(_LETTERS), min_size=1, max_size=200).map("".join),
        min_size=1,
        max_size=8,
    )
)
def test_split_pages_property_long_words_lose_no_character(words):
    text = " ".join(words)
    pages = split_pages(text, max_segments=1, continuation=CONT)
    _assert_pages_fit(pages, 1, CONT)
    assert "".join(page.replace(" ", "") for page in pages) == text.replace(" ", "")


# --- split_for_channel_limit --------------------------------------------------------------------


def test_channel_limit_default_is_1600():
    assert sms.TWILIO_BODY_LIMIT == 1600
    text = "a" * 1600
    assert split_for_channel_limit(text) == [text]
    chunks = split_for_channel_limit(" ".join(["mot"] * 1000))
    assert all(len(c) <= 1600 for c in chunks)
    assert " ".join(chunks).split() == ["mot"] * 1000


def test_channel_limit_counts_emoji_as_two_and_prefers_paragraphs():
    para = " ".join(["😀"] * 30)  # 30 emoji + 29 spaces = 89 UTF-16 units
    text = "\n\n".join([para] * 4)
    chunks = split_for_channel_limit(text, limit=200)
    assert chunks == ["\n\n".join([para] * 2)] * 2
    assert all(_utf16(c) <= 200 for c in chunks)


def test_channel_limit_blank_and_invalid():
    assert split_for_channel_limit("   ") == []
    with pytest.raises(ValueError):
        split_for_channel_limit("abc", limit=0)


@settings(max_examples=100, deadline=None)
@given(text=_texts(), limit=st.integers(min_value=30, max_value=400))
def test_channel_limit_property(text, limit):
    chunks = split_for_channel_limit(text, limit)
    assert all(_utf16(c) <= limit and c == c.strip() and c for c in chunks)
    assert " ".join(chunks).split() == text.split()


# --- cost and report ----------------------------------------------------------------------------


def test_estimate_cost():
    assert estimate_cost(0, 25.0) == 0
    assert estimate_cost(3, 25) == 75.0
    assert math.isclose(estimate_cost(7, 0.0079), 0.0553)
    for parts, price in ((-1, 1.0), (1, -0.5), (1, float("nan")), (1, float("inf"))):
        with pytest.raises(ValueError):
            estimate_cost(parts, price)
    with pytest.raises(TypeError):
        estimate_cost(1.5, 1.0)  # type: ignore[arg-type]


def test_report_sms_is_folded():
    result = report("« C’est l’été », ɲɛ !  \r\n")
    assert result == {
        "encoding": GSM7,
        "segments": 1,
        "characters": len("\"C'est l'été\", nyè !\n"),
        "units": len("\"C'est l'été\", nyè !\n"),
        "rendered": "\"C'est l'été\", nyè !\n",
        "ucs2_characters": [],
    }
    json.dumps(result)


def test_report_keeps_emoji_and_whatsapp_text():
    result = report("Merci 🙏 ɛ", "whatsapp", "bm")
    assert result["rendered"] == "Merci 🙏 ɛ"
    assert result["encoding"] == UCS2
    assert result["ucs2_characters"] == ["🙏", "ɛ"]
    assert report("Merci 🙏 ɛ", "sms", "bm")["ucs2_characters"] == ["🙏"]
    assert report("ɛ", "sms", fold=False)["encoding"] == UCS2


def test_report_of_a_long_bambara_message_saves_segments():
    text = "Aw ni sɔgɔma. Nin ye Komini III ka ESS baarada ye. I bɛ se ka i tɔgɔ sɛbɛn. " * 3
    assert report(text, fold=False)["segments"] > report(text)["segments"]


def test_module_documents_every_public_name():
    for name in sms.__all__:
        obj = getattr(sms, name)
        if callable(obj):
            assert obj.__doc__ and len(obj.__doc__) > 80, name
    assert re.search(r"gsm0338", sms.__doc__)


def test_folding_an_invisible_character_inside_numero_is_stable():
    # Found by hypothesis: the soft hyphen was removed after the "n°" rule had run.
    once = sms.fold_for_sms("N\u00adº 2")
    assert once == "No 2" and sms.fold_for_sms(once) == once
