"""The library shipped in content/ is valid, complete and honest about what it does not know."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from kb.check.library import load_library
from kb.check.validate import validate_paths
from kb.format.content import REQUIRED_SECTIONS, Entry, find_case_files

CONTENT_DIR = Path(__file__).resolve().parents[2] / "content"
FILES = find_case_files([CONTENT_DIR])

# Warnings a case study may carry when its sources give nothing more: no numeric outcome to
# record, or no basis for a MEPS or 3Cs tag. Anything else is a defect to fix.
ACCEPTED_WARNINGS = {"outcomes", "tags"}

# The initiatives in the two source documents, each of which must have its case study.
EXPECTED_IDS = {
    "north-of-tyne-child-poverty-prevention",
    "new-forest-mental-health-in-housing",
    "west-yorkshire-trauma-informed-system",
    "east-surrey-growing-health-together",
    "dorset-blood-pressure",
    "norfolk-falls-prevention",
    "mid-and-south-essex-frailty-interventions",
    "birmingham-and-solihull-integrated-neighbourhood-teams",
    "cornwall-people-in-mind",
    "nottingham-health-inequality-innovation-fund",
    "hertfordshire-west-essex-research-innovation-hub",
    "fire-service-prevention",
    "shropshire-birmingham-practices-wider-determinants",
}


def test_there_are_at_least_13_case_studies() -> None:
    assert len(FILES) >= 13, [f.name for f in FILES]


def test_every_initiative_in_the_sources_has_a_case_study() -> None:
    ids = {path.stem for path in FILES}
    assert ids >= EXPECTED_IDS, sorted(EXPECTED_IDS - ids)


# The case studies of the two source documents cite the published guide by its page, without the
# day it was read: the warning is true, and stays until the page is read again and dated.
SEED_WARNINGS = {"source-accessed"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_validates(path: Path) -> None:
    report = validate_paths([path])
    assert not report.errors, "\n".join(p.location() + ": " + p.message for p in report.errors)
    accepted = ACCEPTED_WARNINGS | (SEED_WARNINGS if path.stem in EXPECTED_IDS else set())
    unexpected = [p for p in report.warnings if p.code not in accepted]
    assert not unexpected, "\n".join(p.location() + ": " + p.message for p in unexpected)
    assert len(report.entries) == 1


def test_the_whole_library_loads_and_ids_are_unique() -> None:
    entries = load_library(CONTENT_DIR)
    assert len(entries) == len(FILES)
    counts = Counter(entry.id for entry in entries)
    assert [i for i, n in counts.items() if n > 1] == []
    for entry in entries:
        assert entry.id == entry.path.stem


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return load_library(CONTENT_DIR)


def test_body_sections_are_the_required_six_in_order(entries: list[Entry]) -> None:
    for entry in entries:
        headings = tuple(section.heading for section in entry.sections)
        assert headings == REQUIRED_SECTIONS, f"{entry.path.name}: {headings}"


def test_every_tag_field_has_a_reason(entries: list[Entry]) -> None:
    fields = ("tiers", "kaiser_level", "meps", "three_cs", "enablers", "challenges", "drivers",
              "topics", "evidence")
    for entry in entries:
        rationale = entry.case.rationale
        assert rationale is not None, f"{entry.path.name}: no rationale"
        missing = [f for f in fields if not getattr(rationale, f)]
        assert not missing, f"{entry.path.name}: no rationale for {missing}"


def test_estimates_and_targets_are_never_shown_as_results(entries: list[Entry]) -> None:
    """The figures the sources present as estimates, potentials or aims keep that status."""
    by_id = {entry.id: entry.case for entry in entries}

    def status_of(case_id: str, value: float) -> set[str]:
        return {o.status for o in by_id[case_id].outcomes if o.value == value}

    assert status_of("dorset-blood-pressure", 141) == {"estimated"}
    assert status_of("dorset-blood-pressure", 94) == {"estimated"}
    assert status_of("dorset-blood-pressure", 80) == {"target"}
    assert status_of("mid-and-south-essex-frailty-interventions", 35) == {"estimated"}
    assert status_of("mid-and-south-essex-frailty-interventions", 25) == {"estimated"}
    assert status_of("birmingham-and-solihull-integrated-neighbourhood-teams", 20000) == {
        "estimated"
    }
    assert status_of("north-of-tyne-child-poverty-prevention", 750) == {"target"}


def test_norfolk_keeps_every_figure(entries: list[Entry]) -> None:
    norfolk = next(e.case for e in entries if e.id == "norfolk-falls-prevention")
    assert len(norfolk.outcomes) + len(norfolk.context_figures) >= 10
    weekly = [o for o in norfolk.outcomes if o.value == 175]
    assert len(weekly) == 1
    figure = weekly[0]
    assert (figure.unit, figure.direction, figure.status) == ("GBP", "decrease", "achieved")
    assert "outside the pilot" in figure.comparator


def test_sections_are_never_empty_and_missing_results_are_said(entries: list[Entry]) -> None:
    """Where the sources give no figure, the Outcomes section says so plainly, never filler."""
    for entry in entries:
        for section in entry.sections:
            assert section.text.strip(), f"{entry.path.name}: empty section {section.heading!r}"
        if not entry.case.outcomes and not entry.case.outcomes_note:
            outcomes = next(s.text for s in entry.sections if s.heading == "Outcomes")
            assert re.search(r"Not stated in the sources|No figures are given", outcomes), (
                f"{entry.path.name}: no outcomes recorded, and the Outcomes section does not say so"
            )


def test_only_urls_that_appear_in_the_sources(entries: list[Entry]) -> None:
    allowed = {"https://www.nhsconfed.org/publications/unlocking-prevention-integrated-care-systems"}
    for entry in entries:
        if entry.id not in EXPECTED_IDS:
            continue  # case studies from other published sources cite their own pages
        for source in entry.case.sources:
            assert source.url is None or source.url in allowed, (entry.path.name, source.url)
        links = set(re.findall(r"https?://[^\s)>\]]+", entry.body))
        assert links <= allowed, (entry.path.name, links - allowed)
