"""Query words the library does not have, read as the library word they are a slip for."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.index.build import update_index
from kb.index.embed import HashingEmbedder
from kb.search.output import format_rows
from kb.search.searcher import Searcher
from kb.search.spelling import Speller, edit_distance

from .conftest import CASES, make_entry


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("hypertent", "hypertens", 1),  # one letter changed
        ("alchohol", "alcohol", 1),  # one letter too many
        ("vacin", "vaccin", 1),  # one letter missing
        ("recieve", "receive", 1),  # two neighbours swapped count as one edit
        ("sucid", "suicid", 1),
        ("obeseti", "obes", 3),  # more than the limit: limit + 1
        ("abc", "abc", 0),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b, 2) == min(distance, 3)
    assert edit_distance(b, a, 2) == min(distance, 3)


IDF = {"hypertens": 3.0, "hypotens": 5.0, "alcohol": 2.0, "regist": 2.5, "suicid": 4.0,
       "pressur": 2.0, "prevent": 1.0, "practic": 2.0, "practis": 2.0}  # fmt: skip


def _speller(idf: dict[str, float], known: set[str] | None = None) -> Speller:
    vocab = {term: row for row, term in enumerate(idf)}
    return Speller(vocab, list(idf.values()), lambda word: word in (known or set()))


def speller(known: set[str] | None = None) -> Speller:
    return _speller(IDF, known)


def test_a_slip_is_read_as_the_nearest_library_word() -> None:
    s = speller()
    assert s.correct("hypertention", "hypertent") == "hypertens"
    assert s.correct("alchohol", "alchohol") == "alcohol"
    assert s.correct("sucide", "sucid") == "suicid"
    assert s.correct("hypertension", "hypertens") is None  # the library has it


def test_a_real_word_the_library_lacks_is_left_as_it_is() -> None:
    """'resistance' is an English word: it is not read as 'registers' one edit away."""
    assert speller().correct("resistance", "resist") == "regist"
    assert speller({"resistance"}).correct("resistance", "resist") is None


def test_short_words_and_numbers_are_left_as_they_are() -> None:
    s = speller()
    assert s.correct("prevnt", "prevnt") == "prevent"
    assert s.correct("prevt", "prevt") is None  # two edits: too many for five letters
    assert s.correct("alcoh", "alcoh") is None
    assert s.correct("hypertens2", "hypertens2") is None  # a digit: a code, not a slip


def test_the_nearest_then_the_commonest_then_the_first_in_order_wins() -> None:
    s = speller()
    # 'practiz' is one edit from both 'practic' and 'practis', of equal idf: alphabetical order
    assert s.correct("practize", "practiz") == "practic"
    ranked = _speller({"pressur": 2.0, "pressus": 1.0})
    assert ranked.correct("pressux", "pressux") == "pressus"  # the commoner of two at one edit


class KnowingEmbedder(HashingEmbedder):
    """The test embedder, with a vocabulary of whole words as the query model has."""

    def known_word(self, word: str) -> bool:
        return word in {"resistance", "blood"}


@pytest.fixture
def searcher(tmp_path: Path) -> Searcher:
    entries = [make_entry(spec) for spec in CASES]
    update_index(entries, tmp_path / "cache", embedder=HashingEmbedder())
    return Searcher.open(tmp_path / "cache", entries, embedder=KnowingEmbedder())


def test_a_misspelt_query_finds_what_it_meant_and_says_how_it_was_read(searcher: Searcher) -> None:
    assert searcher.corrections("blood presure checks") == {"presure": "pressure"}
    hits = searcher.search("blood presure checks", limit=3)
    assert hits[0].case_id == "birmingham-blood-pressure"
    assert "pressur" in searcher.reader.query_tokens("blood presure checks")
    assert searcher.corrections("blood pressure checks") == {}


def test_a_model_that_cannot_tell_slips_from_words_corrects_nothing(tmp_path: Path) -> None:
    entries = [make_entry(spec) for spec in CASES]
    update_index(entries, tmp_path / "cache", embedder=HashingEmbedder())
    plain = Searcher.open(tmp_path / "cache", entries, embedder=HashingEmbedder())
    assert plain.corrections("blood presure checks") == {}


def test_the_text_output_names_the_reading_first() -> None:
    text = format_rows([], "hypertention", corrected={"hypertention": "hypertension"})
    assert text == (
        "Read 'hypertention' as 'hypertension': no case study has 'hypertention'.\n\n"
        "No case studies match. Try other words or fewer filters."
    )


def test_a_corrected_query_is_embedded_and_ranked_as_its_right_spelling(searcher: Searcher) -> None:
    """The model reads the corrected words too, so a slip ranks as the right spelling does."""
    assert searcher.reader.corrected("Blood Presure checks") == "Blood pressure checks"
    assert searcher.reader.corrected("blood pressure checks") == "blood pressure checks"
    embedded: list[str] = []
    real = searcher.embedder.embed_query

    def spy(text: str):  # type: ignore[no-untyped-def]
        embedded.append(text)
        return real(text)

    searcher.embedder.embed_query = spy  # type: ignore[method-assign]
    typo = [(h.case_id, h.score) for h in searcher.search("blood presure checks", limit=5)]
    right = [(h.case_id, h.score) for h in searcher.search("blood pressure checks", limit=5)]
    assert embedded == ["blood pressure checks", "blood pressure checks"]
    assert typo == right
