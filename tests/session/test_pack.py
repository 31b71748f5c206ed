"""Peer-review packs: comparables from elsewhere, outcomes side by side, prompts from the tags."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from kb.content import Entry, load_library
from kb.embed import HashingEmbedder
from kb.errors import SearchError
from kb.index import update_index
from kb.search import Filters, Searcher
from kb.session import PackRequest, make_pack
from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Searcher, list[Entry]]:
    entries = load_library(ROOT / "content")
    cache = tmp_path_factory.mktemp("cache")
    embedder = HashingEmbedder()
    update_index(entries, cache, embedder=embedder)
    return Searcher.open(cache, entries, embedder=embedder), entries


def test_pack_leaves_participants_out_and_lists_them_apart(library) -> None:
    searcher, entries = library
    request = PackRequest(
        "falls prevention for older people",
        ("norfolk-and-waveney",),
        limit=3,
        today=date(2026, 11, 23),
    )
    text = make_pack(searcher, entries, request)
    comparables, _, own = text.partition("## From the participating systems")
    assert "norfolk-falls-prevention" not in comparables
    assert "`norfolk-falls-prevention`" in own
    assert text.startswith("# Peer-review pack: falls prevention for older people")
    assert "Prepared 2026-11-23 for: Norfolk and Waveney." in text
    assert comparables.count("\n### ") == 3


def test_pack_marks_estimates_and_targets(library) -> None:
    searcher, entries = library
    text = make_pack(searcher, entries, PackRequest("blood pressure strokes heart attacks"))
    dorset = [line for line in text.splitlines() if line.startswith("| Dorset")]
    strokes = next(line for line in dorset if "| strokes" in line)
    assert "| Estimate |" in strokes and "141" in strokes
    assert any("| Target |" in line and "80%" in line for line in dorset)
    assert "they are not results" in text
    assert "estimates or targets, not results" in text  # the prompt for estimated figures


def test_prompts_follow_the_tags_of_the_chosen_case_studies(library) -> None:
    searcher, entries = library
    text = make_pack(searcher, entries, PackRequest("falls", limit=2))
    prompts = text.split("## Discussion prompts")[1].split("\n## ")[0]
    chosen_ids = [line.split("`")[1] for line in text.splitlines() if "Case study id:" in line]
    by_id = {e.case.id: e.case for e in entries}
    themes = {c for i in chosen_ids for c in by_id[i].three_cs}
    if "capacity" in themes:
        assert "money, skills, data and staff time" in prompts
    if "capacity" not in themes:
        assert "money, skills, data and staff time" not in prompts
    assert "first, small step" in prompts  # a general prompt always closes the list


def test_filters_apply(library) -> None:
    searcher, entries = library
    # no case study can be in London and in the Black Country (a Midlands ICS)
    impossible = Filters.parse({"region": ["London"], "ics": ["Black Country"]})
    request = PackRequest("prevention", limit=10, filters=impossible)
    with pytest.raises(SearchError, match="no case study"):
        make_pack(searcher, entries, request)
    request = PackRequest(
        "prevention", limit=10, filters=Filters.parse({"region": ["East of England"]})
    )
    text = make_pack(searcher, entries, request)
    ids = [line.split("`")[1] for line in text.splitlines() if "Case study id:" in line]
    regions = {r for i in ids for e in entries if e.case.id == i for r in e.case.region}
    assert ids and regions == {"east-of-england"}


def test_empty_theme_is_an_error(library) -> None:
    searcher, entries = library
    with pytest.raises(SearchError, match="theme is empty"):
        make_pack(searcher, entries, PackRequest("  "))


def test_cli_refuses_to_overwrite_a_file(tmp_path: Path) -> None:
    target = tmp_path / "pack.md"
    target.write_text("my notes")
    result = run_cli(["pack", "falls", "-o", str(target)], expect=2)
    assert "exists" in result.stderr
    assert target.read_text() == "my notes"


def test_cli_rejects_an_unknown_participant() -> None:
    result = run_cli(["pack", "falls", "--participant", "Norfok and Waveney"], expect=1)
    assert "did you mean 'Norfolk and Waveney'?" in result.stderr
