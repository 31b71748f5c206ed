"""Peer-review packs: relevant cases only, varied, explained; agenda, roles, prompts, notes."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from kb.check.library import load_library
from kb.errors import SearchError
from kb.format.content import Entry, Section
from kb.index.build import update_index
from kb.index.embed import HashingEmbedder
from kb.search.filters import Filters
from kb.search.searcher import Searcher, SearchHit
from kb.tools.pack import PackRequest, build_pack, plan_agenda, relevance
from kb.tools.pack_text import make_pack, render_pack
from tests.conftest import ROOT, run_cli

NORFOLK = ("norfolk-and-waveney",)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Searcher, list[Entry]]:
    entries = load_library(ROOT / "content")
    cache = tmp_path_factory.mktemp("cache")
    embedder = HashingEmbedder()
    update_index(entries, cache, embedder=embedder)
    return Searcher.open(cache, entries, embedder=embedder), entries


def _falls(library: tuple[Searcher, list[Entry]], **kwargs: object):  # type: ignore[no-untyped-def]
    searcher, entries = library
    request = PackRequest(
        "falls and frailty", NORFOLK, limit=4, minutes=90, today=date(2026, 11, 23), **kwargs
    )
    return build_pack(searcher, entries, request)


def test_falls_pack_is_relevant_varied_and_leaves_norfolk_out(library) -> None:
    pack = _falls(library)
    ids = [c.entry.case.id for c in pack.cases]
    own = ["kings-lynn-frailty-same-day-emergency-care", "norfolk-falls-prevention"]
    assert len(ids) == 4 and not set(own) & set(ids)
    for case in pack.cases:
        assert {"falls", "frailty"} & set(case.entry.case.topics), case.entry.case.id
        assert case.reasons and not any("not stated" in r.lower() for r in case.reasons)
    regions = {r for c in pack.cases for r in (c.entry.case.region or ["national"])}
    assert len(regions) >= 2
    assert sum(item.minutes for item in pack.agenda) == 90
    # the participant's own work is the starting point, not a comparable
    assert sorted(e.case.id for e in pack.own["Norfolk and Waveney"]) == own


def test_placeholder_text_never_makes_a_case_relevant(library) -> None:
    _, entries = library
    trauma = next(e for e in entries if e.case.id == "west-yorkshire-trauma-informed-system")
    assert relevance(trauma, "falls and frailty")[0] is False
    # a theme that names no topic is matched on the case study's own words, never on a line
    # saying the sources are silent
    base = entries[0]
    silent = Section("Outcomes", "Hoverboards: not stated in the sources.", 1)
    spoken = Section("Outcomes", "Hoverboards were lent to every school.", 1)
    assert relevance(replace(base, sections=(silent,)), "hoverboards")[0] is False
    assert relevance(replace(base, sections=(spoken,)), "hoverboards")[0] is True


def test_markdown_pack_has_every_part(library) -> None:
    text = render_pack(_falls(library), "md")
    assert text.startswith("# Peer-review pack: falls and frailty")
    assert "Prepared 2026-11-23 for Norfolk and Waveney. Session: 90 minutes." in text
    for heading in (
        "## How the case studies were chosen",
        "## Agenda",
        "## Roles",
        "## Where we start: the participating systems",
        "## Outcomes side by side",
        "## Case study 1: ",
        "## Discussion prompts",
        "## Notes",
    ):
        assert heading in text, heading
    for role in ("**Chair**", "**Note-taker**", "**Presenter, case study 1**"):
        assert role in text
    minutes = [int(m) for m in re.findall(r"^\| \d+:\d\d \| (\d+) \|", text, re.MULTILINE)]
    assert sum(minutes) == 90
    for n in range(1, 5):
        page = text.split(f"## Case study {n}: ")[1].split("\n## ")[0]
        for part in ("### Summary", "### Outcomes", "### What made it work", "### Challenges"):
            assert part in page
        assert "### Lessons for peers" in page
    # outcomes are grouped by case: a title heads its table once, not once a row
    comparison = text.split("## Outcomes side by side")[1].split("\n## ")[0]
    assert comparison.count("### 1. ") == 1 and "| Outcome | Figure |" in comparison


def test_prompts_name_the_cases_that_raise_them(library) -> None:
    pack = _falls(library)
    tied = [p for p in pack.prompts if p.cases]
    assert tied and all(p.basis for p in tied)
    titles = {c.entry.case.title for c in pack.cases}
    assert all(set(p.cases) <= titles for p in tied)
    capacity = [p for p in tied if p.basis == "3Cs: capacity"]
    with_capacity = {c.entry.case.title for c in pack.cases if "capacity" in c.entry.case.three_cs}
    assert not with_capacity or set(capacity[0].cases) == with_capacity


def test_fewer_relevant_cases_than_asked_is_said_plainly(library) -> None:
    searcher, entries = library
    request = PackRequest("falls and frailty", NORFOLK, limit=20, today=date(2026, 11, 23))
    pack = build_pack(searcher, entries, request)
    assert len(pack.cases) < 20
    assert any("only" in line and "relevant" in line for line in pack.selection)


def test_no_participant_and_a_participant_without_cases(library) -> None:
    searcher, entries = library
    text = make_pack(searcher, entries, PackRequest("falls", today=date(2026, 11, 23)))
    assert "not named" not in text and "open session" in text
    request = PackRequest("falls", ("lincolnshire",), today=date(2026, 11, 23))
    text = make_pack(searcher, entries, request)
    assert "Lincolnshire has no case study in the library yet" in text


@pytest.mark.parametrize("minutes", [30, 45, 60, 90, 120, 180])
@pytest.mark.parametrize("cases", [1, 3, 4])
def test_agenda_adds_up(minutes: int, cases: int) -> None:
    agenda = plan_agenda(minutes, cases, 2)
    assert sum(i.minutes for i in agenda) == minutes
    assert all(i.minutes > 0 for i in agenda)
    assert [i.start for i in agenda] == sorted(i.start for i in agenda)


def test_too_short_a_session_is_refused() -> None:
    with pytest.raises(SearchError, match="too short"):
        plan_agenda(20, 4, 1)
    with pytest.raises(SearchError, match="do not fit"):
        plan_agenda(30, 12, 1)


def test_filters_apply(library) -> None:
    searcher, entries = library
    impossible = Filters.parse({"region": ["London"], "ics": ["Black Country"]})
    with pytest.raises(SearchError, match="no case study"):
        make_pack(searcher, entries, PackRequest("falls", limit=10, filters=impossible))


def test_html_escapes_contributed_text(library) -> None:
    html = render_pack(_falls(library), "html")
    assert html.startswith("<!DOCTYPE html>") and "@page { size: A4" in html
    assert "<script" not in html.lower()
    assert html.count('class="page case"') == 4


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


@pytest.mark.parametrize(
    ("given", "suggested"),
    [("Norfok and Waveney", "'Norfolk and Waveney'"), ("Norfolk", "'Norfolk and Waveney'")],
)
def test_cli_suggests_the_nearest_participant(given: str, suggested: str) -> None:
    result = run_cli(["pack", "falls", "--participant", given], expect=1)
    assert "did you mean" in result.stderr and suggested in result.stderr


def test_outcome_tables_give_a_part_with_its_whole(library) -> None:
    searcher, entries = library
    request = PackRequest(
        "lung cancer screening", NORFOLK, limit=4, minutes=90, today=date(2026, 11, 23)
    )
    pack = build_pack(searcher, entries, request)
    assert "leeds-lung-health-check" in [c.entry.case.id for c in pack.cases]
    text = render_pack(pack, "md")
    assert (
        "| people invited who responded and had a telephone risk assessment "
        "| 22,815 of 44,943 people (50.8%) | Achieved |"
    ) in text


def test_one_case_and_an_acronym_read_right(library) -> None:
    """'1 relevant case study', not '1 ... case studies'; a topic's acronym keeps its capitals."""
    searcher, entries = library
    # the north west keeps one of the two case studies on HIV and viral hepatitis
    request = PackRequest("HIV testing", ("birmingham-and-solihull",), limit=3,
                          filters=Filters(region=("north-west",)), today=date(2026, 11, 23))
    pack = build_pack(searcher, entries, request)
    assert [c.entry.id for c in pack.cases] == [
        "england-emergency-department-opt-out-bloodborne-virus-testing"
    ]
    text = " ".join(pack.selection)
    assert "tagged with HIV and viral hepatitis" in text
    assert "1 case study from" in text and "only 1 relevant case study from" in text
    assert "case studies from 1 region" not in text


def test_labels_in_a_sentence() -> None:
    from kb.format.vocab import in_sentence

    assert in_sentence("HIV and viral hepatitis") == "HIV and viral hepatitis"
    assert in_sentence("Voluntary and community sector") == "voluntary and community sector"
    assert in_sentence("GP practices") == "GP practices"


def test_a_falls_pack_picks_by_relevance_then_figures_then_regions(library) -> None:
    """Relevance first: no case left out is clearly closer than one taken, and none with outcome
    figures is as close as one taken without; each presenter line names the case study's own
    system, not the participant's."""
    from kb.tools.pack import EQUALLY_RELEVANT

    searcher, entries = library
    theme = "falls prevention"
    request = PackRequest(theme, NORFOLK, limit=4, today=date(2026, 11, 23))
    pack = build_pack(searcher, entries, request)
    by_id = {e.case.id: e for e in entries}
    relevant = {
        h.case_id: h for h in searcher.search(theme, limit=len(entries))
        if relevance(by_id[h.case_id], theme)[0]
        and "norfolk-and-waveney" not in by_id[h.case_id].case.ics
    }
    chosen = [relevant[c.entry.case.id] for c in pack.cases]
    left = [h for i, h in relevant.items() if i not in {c.case_id for c in chosen}]
    assert len(chosen) == 4 and left

    def figures(hit: SearchHit) -> bool:
        return any(o.numeric for o in by_id[hit.case_id].case.outcomes)

    for out in left:
        for taken in chosen:
            if out.weak != taken.weak:
                continue
            assert out.score <= taken.score + EQUALLY_RELEVANT, (out.case_id, taken.case_id)
            if figures(out) and not figures(taken):
                assert out.score < taken.score, (out.case_id, taken.case_id)
    roles = dict(pack.roles)
    for n, case in enumerate(pack.cases, 1):
        line = roles[f"Presenter, case study {n}"]
        assert line.startswith("someone from Norfolk and Waveney reads"), line
        labels = [_ics_label(i) for i in case.entry.case.ics]
        named = all(label in line for label in labels)
        assert named if labels else "work done nationally" in line
        assert "Norfolk and Waveney's work" not in line


def test_at_equal_relevance_figures_then_a_new_region_win(library) -> None:
    from kb.tools.pack import _diverse

    _, entries = library
    with_figures = [e for e in entries if any(o.numeric for o in e.case.outcomes)]
    without = next(e for e in entries if not any(o.numeric for o in e.case.outcomes))
    first = with_figures[0]
    same_region = next(e for e in with_figures[1:] if e.case.region == first.case.region)
    other_region = next(
        e for e in with_figures[1:] if not set(e.case.region) & set(first.case.region)
        and not set(e.case.ics) & set(first.case.ics)
    )

    def hit(entry: Entry, score: float) -> SearchHit:
        return SearchHit(entry.case.id, entry.case.title, score, "", "", {})

    chosen = _diverse([(hit(without, 0.90), without, []), (hit(first, 0.88), first, [])], 1)
    assert [c.entry.case.id for c in chosen] == [first.case.id]  # figures win at equal relevance
    chosen = _diverse([(hit(without, 0.99), without, []), (hit(first, 0.80), first, [])], 1)
    assert [c.entry.case.id for c in chosen] == [without.case.id]  # relevance comes first
    pool = [
        (hit(first, 0.95), first, []),
        (hit(same_region, 0.94), same_region, []),
        (hit(other_region, 0.92), other_region, []),
    ]
    assert [c.entry.case.id for c in _diverse(pool, 2)] == [first.case.id, other_region.case.id]


def _ics_label(ics_id: str) -> str:
    from kb.format.vocab import load_vocabularies

    return load_vocabularies().ics.label(ics_id)
