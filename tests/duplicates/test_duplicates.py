"""Near-duplicates: the same initiative written twice is flagged; near neighbours are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.content import load_library
from kb.duplicates import description, near_duplicates
from kb.embed import HashingEmbedder
from tests.conftest import ROOT, run_cli

DATA = Path(__file__).parent / "data"
CONTENT = ROOT / "content"


def test_description_leaves_out_placeholder_sentences(tmp_path: Path) -> None:
    (entry,) = [e for e in load_library(CONTENT) if e.id == "west-yorkshire-trauma-informed-system"]
    text = description(entry)
    assert entry.case.title in text
    assert "not stated in the sources" not in text.lower()


def test_an_exact_copy_under_another_id_is_flagged_even_by_word_overlap() -> None:
    library = load_library(CONTENT)
    copies = load_library(DATA)
    found = near_duplicates(copies, [*library, *copies], HashingEmbedder())
    pairs = {(d.case_id, d.other_id) for d in found}
    assert ("leeds-community-lung-screening", "leeds-lung-health-check") in pairs
    leeds = next(d for d in found if d.case_id == "leeds-community-lung-screening")
    assert leeds.shared_figures >= 5 and "figures in common" in leeds.reason


@pytest.mark.model
def test_paraphrases_are_flagged_and_distinct_shipped_cases_are_not() -> None:
    from kb.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    library = load_library(CONTENT)
    copies = load_library(DATA)
    found = near_duplicates(copies, [*library, *copies], embedder)
    assert {(d.case_id, d.other_id) for d in found} == {
        ("leeds-community-lung-screening", "leeds-lung-health-check"),
        ("dorset-hypertension-control", "dorset-blood-pressure"),
    }
    # the Dorset copy shares no figure: reading alike is enough
    assert next(d for d in found if d.case_id == "dorset-hypertension-control").shared_figures == 0
    assert near_duplicates(library, library, embedder) == []


@pytest.mark.model
def test_the_command_warns_in_github_format() -> None:
    out = run_cli(
        ["duplicates", "--format", "github", str(DATA / "dorset-hypertension-control.md")]
    ).stdout
    assert out.startswith("::warning file=")
    assert "dorset-blood-pressure" in out
