"""Tests of bot/understanding.py: the table in tests/data/understanding_cases.yaml, one test per
case, plus properties checked with hypothesis (folding is idempotent, parsers never raise)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import understanding as u
from bot import content

ROOT = Path(__file__).resolve().parents[1]
CASES_FILE = ROOT / "tests" / "data" / "understanding_cases.yaml"
PLACES_FILE = ROOT / "dialogs" / "places" / "commune3.yaml"

TABLE = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
DEFAULTS = TABLE.get("defaults", {})
OPTION_SETS = {
    name: [u.Option(**entry) for entry in entries]
    for name, entries in TABLE["option_sets"].items()
}
PLACES = u.load_places(PLACES_FILE)


def _case_id(index: int, case: dict) -> str:
    slug = re.sub(r"[^0-9a-z]+", "-", u.fold(str(case["input"]))).strip("-")[:32] or "blank"
    return f"{index:03d}-{case['kind']}-{slug}"


CASES = [pytest.param(case, id=_case_id(i, case)) for i, case in enumerate(TABLE["cases"])]


def _run(case: dict):
    kind, text = case["kind"], case["input"]
    context = {**DEFAULTS, **(case.get("context") or {})}
    language = case.get("language", "fr")
    if kind == "fold":
        return u.fold(text)
    if kind == "choice":
        return u.parse_choice(text, OPTION_SETS[case["options"]], language=language,
                              strict=case.get("strict", False))
    if kind == "multi":
        return u.parse_multi_choice(text, OPTION_SETS[case["options"]], language=language)
    if kind == "yes_no":
        return u.parse_yes_no(text, numbered=context.get("numbered", False))
    if kind == "place":
        return u.match_quartier(text, PLACES)
    if kind == "year":
        return u.parse_year(text, now_year=context["now_year"])
    if kind == "number":
        return u.parse_number(text)
    if kind == "name":
        return u.parse_name(text, keep_case=case.get("keep_case", False))
    if kind == "keyword":
        return u.detect_keyword(text)
    if kind == "command":
        return u.detect_command(text)
    if kind == "courtesy":
        return u.detect_courtesy(text)
    if kind == "language":
        return u.guess_language(text)
    if kind == "trade":
        return u.trade_words(text, ["Artisanat de production", "Commerce", "Jago"])
    if kind == "mairie":
        return u.mairie_question(text)
    if kind == "person":
        return u.asks_for_person(text)
    if kind == "question":
        # The article answered, or None when the question goes to staff (issue 15).
        result = content.search(text, _library().index, language=language)
        if result.decision == "none" or not content.is_confident(result) or not result.ids:
            return None
        return result.ids[0] if result.decision == "one" or len(result.ids) == 1 else None
    raise AssertionError(f"unknown kind {kind!r}")


@functools.lru_cache(maxsize=1)
def _library():
    """The repository's information articles (dialogs/content/), loaded once."""
    catalog = content.load_catalog()
    return content.Library.of(catalog.categories, catalog.articles)


def _normalise(value):
    return list(value) if isinstance(value, tuple) else value


def test_table_is_big_enough_and_covers_every_function():
    kinds = {case["kind"] for case in TABLE["cases"]}
    assert len(TABLE["cases"]) >= 170
    assert kinds == {"fold", "choice", "multi", "yes_no", "place", "year", "number", "name",
                     "keyword", "command", "courtesy", "language", "trade", "mairie", "person",
                     "question"}


@pytest.mark.parametrize("case", CASES)
def test_case(case):
    result = _run(case)
    expected = case["expected"]
    if isinstance(expected, dict):
        got = {field: _normalise(getattr(result, field)) for field in expected}
        assert got == expected, f"{case['input']!r} → {result}"
    else:
        assert result == expected, f"{case['input']!r} → {result!r}"


# ------------------------------------------------------------------ places file

def test_places_file_lists_the_twenty_quartiers_of_facts_md():
    assert PLACES.version == 1
    assert PLACES.area == "Commune III"
    assert "docs/domain.md" in PLACES.source
    assert len(PLACES.quartiers) == 20
    assert "Badialan II" in PLACES.names()


def test_every_quartier_name_and_variant_matches_itself_surely():
    for place in PLACES.quartiers:
        for spelling in (place.name,) + place.variants:
            match = u.match_quartier(spelling, PLACES)
            assert (match.kind, match.name, match.sure) == ("quartier", place.name, True), spelling


@pytest.mark.parametrize("typed,other", [
    ("Badialan 2", "Badialan III"), ("Badialan II", "Badialan III"), ("badialan 2", "Badialan I"),
    ("Badialan 1", "Badialan II"), ("Badialan I", "Badialan III"), ("Badialan 3", "Badialan II"),
])
def test_numerals_are_never_confused(typed, other):
    match = u.match_quartier(typed, PLACES)
    assert match.name != other and other not in match.candidates


def test_places_validation_rejects_bad_files():
    base = {"version": 1, "source": "x", "quartiers": [{"name": "A", "variants": ["B"]}]}
    assert u.places_from_dict(base).names() == ["A"]
    with pytest.raises(ValueError):
        u.places_from_dict({**base, "version": 2})
    with pytest.raises(ValueError):
        u.places_from_dict({**base, "source": ""})
    with pytest.raises(ValueError):
        u.places_from_dict({**base, "quartiers": []})
    with pytest.raises(ValueError):
        u.places_from_dict({**base, "quartiers": [{"name": "A"}, {"name": "C", "variants": ["a"]}]})


def test_another_commune_deploys_by_editing_data(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1, "source": "test", "area": {"name": "Commune V", "commune_number": 5},
        "quartiers": [{"name": "Kalaban-Coura", "variants": ["Kalaban Koura"]}],
        "outside": {"phrases": ["ailleurs"]},
    }), encoding="utf-8")
    places = u.load_places(path)
    assert u.match_quartier("kalaban coura", places).name == "Kalaban-Coura"
    assert u.match_quartier("commune 3", places).kind == "outside"
    assert u.match_quartier("commune 5", places).kind == "none"


def test_option_duplicate_numbers_are_a_dialog_bug():
    with pytest.raises(ValueError):
        u.parse_choice("1", [u.Option("a", number=1), u.Option("b", number=1)])


def test_results_are_frozen():
    result = u.parse_choice("1", OPTION_SETS["language"])
    with pytest.raises(AttributeError):
        result.key = "bm"  # type: ignore[misc]


# ------------------------------------------------------------------ properties

# Arbitrary text including emoji, control characters, Bambara letters and combining marks.
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from(list("ɛɔɲŋƐƆƝŊ̀́̂’'°#0123456789 ,.-?!😀👍🏽ﷺ℃İ\u200b\u202f\x00\x07\n\t")),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_fold_is_idempotent(text):
    once = u.fold(text)
    assert u.fold(once) == once
    assert once == once.strip() and "  " not in once


@pytest.mark.parametrize("text", ["ﷺ" * 300, "x " * 2000, "9" * 5000, "1 " * 3000, "ɛ̀" * 999])
def test_long_text_is_bounded_and_harmless(text):
    once = u.fold(text)
    assert u.fold(once) == once and len(once) <= 2 * u.MAX_INPUT_CHARS
    _check_parsers(text)


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_parsers_never_raise(text):
    _check_parsers(text)


def _check_parsers(text: str) -> None:
    """Every parser returns its documented kind of result, whatever the text."""
    options = OPTION_SETS["actor"]
    assert isinstance(u.parse_choice(text, options, language="bm"), u.ChoiceResult)
    assert isinstance(u.parse_multi_choice(text, options), u.MultiChoiceResult)
    assert u.parse_yes_no(text) in (True, False, None)
    assert isinstance(u.parse_number(text), u.NumberResult)
    year = u.parse_year(text, now_year=2026)
    assert year.error is not None or 10 <= year.age <= 110
    name = u.parse_name(text)
    assert (name.name is None) != (name.error is None)
    assert name.name is None or len(name.name) <= u.NAME_MAX_CHARS
    assert u.detect_keyword(text) in (None, "menu", "help", "language", "stop", "start",
                                      "delete", "agent", "mydata", "news")
    assert isinstance(u.parse_choice(text, options, strict=True), u.ChoiceResult)
    assert u.detect_doubt(text) in (True, False)
    assert isinstance(u.parse_name(text, keep_case=True), u.NameResult)
    assert u.agent_request(text) is None or isinstance(u.agent_request(text), str)
    assert u.is_acknowledgement(text) in (True, False)
    assert u.is_number_only(text) in (True, False)
    place = u.match_quartier(text, PLACES)
    assert place.kind in ("quartier", "outside", "ambiguous", "none")
    assert place.kind != "quartier" or place.name in PLACES.names()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([p.name for p in PLACES.quartiers]), st.sampled_from(
    [str.upper, str.lower, lambda s: s.replace("-", " "), lambda s: f"j'habite à {s} svp"]))
def test_quartier_names_survive_case_and_extra_words(name, transform):
    match = u.match_quartier(transform(name), PLACES)
    assert match.name == name and match.sure


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1917, max_value=2016))
def test_four_digit_plausible_years_are_read_surely(year):
    result = u.parse_year(f"né en {year}", now_year=2026)
    assert (result.year, result.sure, result.error) == (year, True, None)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**12))
def test_numbers_with_thousands_separators(value):
    spaced = f"{value:,}".replace(",", " ")
    dotted = f"{value:,}".replace(",", ".")
    assert u.parse_number(spaced).value == value
    assert u.parse_number(dotted).value == value
