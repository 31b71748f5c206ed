"""Shapes that real published case studies take: each is entered as structured data and read back
right, and each mistake in it gets a located message with a hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kb.check.problems import Report
from kb.format.figures import figure_sentence, format_outcome
from kb.format.model import Outcome
from kb.format.vocab import load_vocabularies
from tests.validate.cases import base, check


def outcome(**fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "metric": "evictions",
        "status": "achieved",
        "kind": "wider-determinants",
        "timeframe": "2023",
        "comparator": "not stated",
        "source": 1,
    }
    item.update(fields)
    return item


def only_outcome(report: Report) -> Outcome:
    assert report.errors == [], [p.message for p in report.errors]
    (entry,) = report.entries
    (result,) = entry.case.outcomes
    return result


def phrase(result: Outcome) -> str:
    return format_outcome(result, load_vocabularies())


def codes(report: Report) -> set[tuple[str, str]]:
    return {(p.code, p.field) for p in report.problems}


def test_a_qualitative_outcome_needs_no_number(tmp_path: Path) -> None:
    result = only_outcome(
        check(tmp_path, base(outcomes=[outcome(metric="fewer evictions", direction="decrease")]))
    )
    assert result.value is None and not result.numeric
    assert phrase(result) == "went down (no figure given)"


def test_a_qualitative_outcome_still_needs_a_direction(tmp_path: Path) -> None:
    report = check(tmp_path, base(outcomes=[outcome(metric="fewer evictions")]))
    assert ("missing_direction", "outcomes[0].direction") in codes(report)


def test_a_unit_without_a_value_is_an_error(tmp_path: Path) -> None:
    report = check(tmp_path, base(outcomes=[outcome(unit="percent", direction="decrease")]))
    assert ("missing_value", "outcomes[0].value") in codes(report)


def test_a_level_needs_no_direction(tmp_path: Path) -> None:
    level = outcome(metric="people with a long-term condition", value=76, unit="percent")
    level["measure"] = "level"
    result = only_outcome(check(tmp_path, base(outcomes=[level])))
    assert (result.measure, result.direction) == ("level", None)
    assert phrase(result) == "76%"


def test_a_change_needs_a_direction_and_the_hint_offers_a_level(tmp_path: Path) -> None:
    report = check(tmp_path, base(outcomes=[outcome(value=12, unit="count")]))
    problem = next(p for p in report.errors if p.code == "missing_direction")
    assert problem.field == "outcomes[0].direction"
    assert "measure: level" in problem.hint


def test_a_new_level_reads_apart_from_the_size_of_a_change(tmp_path: Path) -> None:
    new_level = outcome(value=8.8, unit="percent", measure="level", direction="decrease")
    new_level["baseline"] = 12
    size = outcome(value=12, unit="count", measure="change", direction="decrease")
    report = check(tmp_path, base(outcomes=[new_level, size]))
    assert report.errors == []
    level_result, change_result = report.entries[0].case.outcomes
    assert phrase(level_result) == "fell from 12% to 8.8%"
    assert phrase(change_result) == "down 12"


def test_a_change_beside_a_level_says_how_far_it_moved(tmp_path: Path) -> None:
    """'fell from 3,814 to 2,155, a 43% fall': the 43% is the change, not the same level."""
    fell = outcome(value=2155, baseline=3814, unit="visits", measure="level", direction="decrease")
    fell["also"] = [{"value": 43, "unit": "percent", "measure": "change"}]
    same = outcome(value=292, baseline=232, unit="people", measure="level", direction="increase")
    same["also"] = [{"value": 58, "unit": "percent"}]
    report = check(tmp_path, base(outcomes=[fell, same]))
    assert report.errors == []
    first, second = report.entries[0].case.outcomes
    assert phrase(first) == "fell from 3,814 to 2,155 visits (down 43%)"
    assert figure_sentence(first, load_vocabularies()).startswith(
        "Evictions fell from 3,814 to 2,155 (down 43%)"
    )
    assert phrase(second) == "rose from 232 to 292 people (58%)"


def test_a_change_in_also_needs_the_level_it_moved_from(tmp_path: Path) -> None:
    level = outcome(value=2155, unit="visits", measure="level")
    level["also"] = [{"value": 43, "unit": "percent", "measure": "change"}]
    report = check(tmp_path, base(outcomes=[level]))
    (problem,) = [p for p in report.errors if p.code == "also"]
    assert problem.field == "outcomes[0].also" and "baseline" in problem.hint


def test_a_level_beside_the_comparison_groups_level(tmp_path: Path) -> None:
    """'5.1% of births were preterm, against 11.2% with usual care': a trial's two arms. The
    direction says which way it compares, so the figure does not read as having fallen."""
    preterm = outcome(metric="births that were preterm", value=5.1, comparison=11.2,
                      unit="percent", measure="level", direction="decrease")
    result = only_outcome(check(tmp_path, base(outcomes=[preterm])))
    assert phrase(result) == "5.1% (comparison group: 11.2%)"
    assert figure_sentence(result, load_vocabularies(), timeframe=False) == (
        "5.1% of births were preterm (comparison group: 11.2%)"
    )
    change = outcome(value=5, comparison=2, unit="percent", direction="decrease")
    (problem,) = check(tmp_path, base(outcomes=[change])).errors
    assert problem.field == "outcomes[0].comparison" and "measure: level" in problem.message


def test_a_bare_year_is_a_timeframe(tmp_path: Path) -> None:
    """'timeframe: 2021' is read by YAML as a number; it is the year the figure covers."""
    dated = outcome(timeframe=2021, direction="decrease")
    result = only_outcome(check(tmp_path, base(outcomes=[dated])))
    assert result.timeframe == "2021"
    report = check(tmp_path, base(outcomes=[outcome(timeframe=12, direction="decrease")]))
    assert any(p.field == "outcomes[0].timeframe" for p in report.errors)


def test_a_baseline_belongs_to_a_level(tmp_path: Path) -> None:
    wrong = outcome(value=12, unit="count", measure="change", direction="decrease", baseline=20)
    assert ("baseline", "outcomes[0].baseline") in codes(check(tmp_path, base(outcomes=[wrong])))


def test_a_figure_with_two_numbers(tmp_path: Path) -> None:
    two = outcome(
        metric="GP visits a month",
        value=598,
        unit="visits",
        direction="decrease",
        also=[{"value": 25, "unit": "percent"}],
    )
    result = only_outcome(check(tmp_path, base(outcomes=[two])))
    assert phrase(result) == "down 598 visits (25%)"


def test_a_scale_score_is_not_percentage_points(tmp_path: Path) -> None:
    score = outcome(
        metric="mental wellbeing",
        value=3.8,
        unit="points",
        direction="increase",
        kind="health",
    )
    report = check(tmp_path, base(outcomes=[score]))
    problem = next(p for p in report.errors if p.field == "outcomes[0].unit")
    assert "not a known unit" in problem.message
    score.update(unit="scale-points", scale="WEMWBS")
    result = only_outcome(check(tmp_path, base(outcomes=[score])))
    assert phrase(result) == "up 3.8 points on WEMWBS"
    del score["scale"]
    warned = check(tmp_path, base(outcomes=[score]))
    assert ("scale", "outcomes[0].unit") in codes(warned) and warned.errors == []


def test_a_rate_names_its_population(tmp_path: Path) -> None:
    rate = outcome(
        metric="quit rate",
        value=2500,
        unit="rate-per-100000",
        denominator="smokers",
        measure="level",
    )
    assert phrase(only_outcome(check(tmp_path, base(outcomes=[rate])))) == (
        "2,500 per 100,000 smokers"
    )
    rate["unit"] = "percentage-points"  # a change in a share: no population of its own
    assert ("denominator", "outcomes[0].denominator") in codes(
        check(tmp_path, base(outcomes=[rate]))
    )


@pytest.mark.parametrize(
    ("unit", "expected"),
    [("mmHg", "down 5 mmHg"), ("kg", "down 5 kg"), ("mmol-mol", "down 5 mmol/mol"),
     ("seconds", "down 5 seconds"), ("rank", "down 5 rank"), ("kg-per-m2", "down 5 kg/m²"),
     ("mmol-per-l", "down 5 mmol/L")],
)
def test_clinical_and_other_units(tmp_path: Path, unit: str, expected: str) -> None:
    figure = outcome(value=5, unit=unit, direction="decrease", kind="health")
    assert phrase(only_outcome(check(tmp_path, base(outcomes=[figure])))) == expected


def test_nearly(tmp_path: Path) -> None:
    figure = outcome(value=600, unit="people", qualifier="nearly", measure="level")
    assert phrase(only_outcome(check(tmp_path, base(outcomes=[figure])))) == "nearly 600 people"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("over", "more than 600 people"),
        ("Up to", "up to 600 people"),
        ("almost", "nearly 600 people"),
        ("approximately", "about 600 people"),
        ("at_least", "at least 600 people"),
    ],
)
def test_a_qualifier_in_the_sources_words(tmp_path: Path, words: str, expected: str) -> None:
    figure = outcome(value=600, unit="people", qualifier=words, measure="level")
    assert phrase(only_outcome(check(tmp_path, base(outcomes=[figure])))) == expected


def test_an_unknown_qualifier_names_the_ids_and_the_words(tmp_path: Path) -> None:
    figure = outcome(value=600, unit="people", qualifier="loads of", measure="level")
    report = check(tmp_path, base(outcomes=[figure]))
    (problem,) = report.errors
    assert problem.field == "outcomes[0].qualifier" and "more-than" in problem.message
    assert "'over' is read as more-than" in problem.hint


def test_an_undated_source_with_the_day_it_was_read(tmp_path: Path) -> None:
    source = {
        "title": "Our programme",
        "publisher": "Example ICB",
        "url": "https://example.org/programme",
        "accessed": "2026-11-23",
        "note": "undated web page",
    }
    report = check(tmp_path, base(sources=[source]))
    assert report.errors == []
    assert report.entries[0].case.sources[0].year is None
    del source["accessed"]
    warned = check(tmp_path, base(sources=[source]))
    assert ("source-date", "sources[0]") in codes(warned)


def test_evidence_gathered_in_more_than_one_way(tmp_path: Path) -> None:
    """A comparison group and interviews: both methods are named, and the page says both."""
    from kb.publish.case_page import _facts_rows

    both = {"level": 2, "method": ["comparison-group", "qualitative"]}
    report = check(tmp_path, base(evidence=both))
    assert report.errors == []
    (entry,) = report.entries
    assert entry.case.evidence.method == ["comparison-group", "qualitative"]
    rows = dict(_facts_rows(entry, load_vocabularies(), "cases/example-case/"))
    assert "(Comparison group and qualitative)" in rows["Evidence"]
    one = check(tmp_path, base(evidence={"level": 2, "method": "comparison-group"}))
    assert one.entries[0].case.evidence.method == ["comparison-group"]
    mixed = check(tmp_path, base(evidence={"level": 2, "method": ["not-stated", "qualitative"]}))
    (problem,) = mixed.errors
    assert problem.field == "evidence.method" and "not-stated" in problem.message


def test_an_unassessed_evidence_level(tmp_path: Path) -> None:
    report = check(tmp_path, base(evidence={"level": "not assessed", "method": "not-stated"}))
    assert report.errors == []
    evidence = report.entries[0].case.evidence
    assert (evidence.level, evidence.rank) == ("not-assessed", 0)
    wrong = check(tmp_path, base(evidence={"level": 7, "method": "not-stated"}))
    assert any(p.field == "evidence.level" for p in wrong.errors)


def test_work_that_began_before_icss_existed(tmp_path: Path) -> None:
    report = check(tmp_path, base(started="2013", place="Wigan"))
    assert report.errors == [] and ("place", "place") not in codes(report)
    case = base(started="2013")
    del case["place"]
    assert ("place", "place") in codes(check(tmp_path, case))
    case["level"] = ["system"]  # across the whole ICS area: no narrower place to name
    assert ("place", "place") not in codes(check(tmp_path, case))


def test_a_long_summary_says_how_long_it_is(tmp_path: Path) -> None:
    report = check(tmp_path, base(summary="x" * 650))
    problem = next(p for p in report.errors if p.field == "summary")
    assert "650 characters" in problem.message and "600" in problem.message
    assert check(tmp_path, base(summary="x" * 580)).errors == []


def test_meps_accepts_its_labels_with_determinants() -> None:
    meps = load_vocabularies().meps
    assert meps.resolve("Social determinants") == "social"
    assert meps.resolve("environmental determinants") == "environmental"


def test_an_outcomes_note_replaces_the_no_figures_warning(tmp_path: Path) -> None:
    assert ("outcomes", "outcomes") in codes(check(tmp_path, base()))
    note = "The sources report activity, not measured outcomes."
    assert ("outcomes", "outcomes") not in codes(check(tmp_path, base(outcomes_note=note)))


def test_hints_that_do_not_mislead(tmp_path: Path) -> None:
    figure = outcome(value=5, unit="secnds", direction="decrease")
    unit_problem = next(
        p for p in check(tmp_path, base(outcomes=[figure])).errors if p.field.endswith("unit")
    )
    assert "£" not in unit_problem.hint and "seconds" in unit_problem.hint
    two = check(tmp_path, base(ics=["Greater Manchester and Cheshire and Merseyside"]))
    ics_problem = next(p for p in two.errors if p.field.startswith("ics"))
    assert "list" in ics_problem.hint
    assert "greater-manchester, cheshire-and-merseyside" in ics_problem.hint
    empty = outcome(value=5, unit=None, direction="decrease")
    unit_empty = next(
        p for p in check(tmp_path, base(outcomes=[empty])).errors if p.field.endswith("unit")
    )
    assert "quote" not in unit_empty.hint


def whole(**fields: Any) -> dict[str, Any]:
    """'148 of 211 residents said they felt more connected', as an outcome."""
    shape: dict[str, Any] = {
        "metric": "residents who said they felt more connected",
        "value": 148,
        "unit": "people",
        "out_of": 211,
        "measure": "level",
        "kind": "experience",
    }
    return outcome(**{**shape, **fields})


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "148 of 211 people"),
        ({"also": [{"value": 70, "unit": "percent"}]}, "148 of 211 people (70%)"),
        ({"qualifier": "more-than"}, "more than 148 of 211 people"),
        ({"value": 211}, "211 of 211 people"),
        ({"out_of": 211.0}, "148 of 211 people"),
        ({"unit": "practices", "value": 9, "out_of": 10}, "9 of 10 practices"),
        ({"unit": "count", "value": {"low": 20, "high": 25}, "out_of": 30}, "20 to 25 of 30"),
        ({"direction": "increase", "status": "estimated"}, "rose to 148 of 211 people (estimate)"),
        ({"status": "target"}, "148 of 211 people (target)"),
    ],
)
def test_a_part_of_a_whole(tmp_path: Path, changes: dict[str, Any], expected: str) -> None:
    result = only_outcome(check(tmp_path, base(outcomes=[{**whole(), **changes}])))
    assert isinstance(result.out_of, int)
    assert phrase(result) == expected


def test_a_context_figure_can_be_part_of_a_whole(tmp_path: Path) -> None:
    schools = {"metric": "schools the project worked with", "value": 62, "unit": "count",
               "out_of": 82, "source": 1}  # fmt: skip
    report = check(tmp_path, base(context_figures=[schools]))
    assert report.errors == []
    assert report.entries[0].case.context_figures[0].out_of == 82


@pytest.mark.parametrize(
    ("changes", "field", "message", "hint"),
    [
        ({"unit": "percent", "value": 70}, "out_of",
         "'out_of' goes with a count, not 'percent'", "a percentage is already a share"),
        ({"unit": "GBP"}, "out_of", "not 'GBP'", "it goes with unit: admissions, count"),
        ({"unit": "rate-per-1000"}, "out_of", "not 'rate-per-1000'", "'denominator'"),
        ({"unit": "score", "scale": "feedback"}, "out_of", "not 'score'", "'scale'"),
        ({"unit": "percentage-points"}, "out_of", "not 'percentage-points'", "change in a share"),
        ({"measure": "change", "direction": "increase"}, "out_of",
         "'out_of' goes with measure: level", "write measure: level"),
        ({"out_of": 100}, "out_of",
         "the value (148) is more than its whole, 'out_of' (100)", "value: 148"),
        ({"value": {"low": 100, "high": 300}}, "out_of",
         "the value (100 to 300) is more than its whole", "a range's high too"),
        ({"value": 50.8}, "value", "so 50.8 must be a whole number", "unit: percent"),
        ({"value": -3}, "value", "so -3 cannot be below zero", "value: 148"),
        ({"out_of": 211.5}, "out_of", "'out_of' must be a whole number (got 211.5)", "out_of: 211"),
        ({"out_of": 0}, "out_of", "'out_of' must be more than zero (got 0)", "out_of: 211"),
        ({"out_of": {"low": 200, "high": 220}}, "out_of",
         "'out_of' is one number, not a range", "'note'"),
        ({"out_of": "211 residents"}, "out_of", "is not a number", "digits only"),
        ({"baseline": 100}, "baseline",
         "'baseline' and 'out_of' do not go together", "'comparator'"),
    ],
)  # fmt: skip
def test_a_part_of_a_whole_that_does_not_fit(
    tmp_path: Path, changes: dict[str, Any], field: str, message: str, hint: str
) -> None:
    report = check(tmp_path, base(outcomes=[{**whole(), **changes}]))
    (problem,) = report.errors
    assert problem.field == f"outcomes[0].{field}"
    assert message in problem.message
    assert hint in problem.hint
    assert problem.path.endswith("example-case.md") and problem.line > 1


def test_a_whole_without_a_value_is_an_error(tmp_path: Path) -> None:
    figure = outcome(metric="residents who felt more connected", direction="increase", out_of=211)
    report = check(tmp_path, base(outcomes=[figure]))
    assert ("missing_value", "outcomes[0].out_of") in codes(report)


def test_a_whole_in_a_context_figure_is_checked_too(tmp_path: Path) -> None:
    share = {"metric": "schools the project worked with", "value": 75, "unit": "percent",
             "out_of": 82, "source": 1}  # fmt: skip
    report = check(tmp_path, base(context_figures=[share]))
    (problem,) = report.errors
    assert problem.field == "context_figures[0].out_of"
    # a context figure has no 'also': the hint does not offer one
    assert "already a share" in problem.hint and "'also'" not in problem.hint


def test_the_problem_points_at_the_out_of_line(tmp_path: Path) -> None:
    report = check(tmp_path, base(outcomes=[whole(out_of=100)]))
    (problem,) = report.errors
    lines = Path(problem.path).read_text(encoding="utf-8").splitlines()
    assert lines[problem.line - 1].strip() == "out_of: 100"


def test_one_in_n_with_whom_it_counts(tmp_path: Path) -> None:
    """'1 in 240 people tested': a level whose value is the N, alone or beside a count."""
    alone = outcome(metric="new HIV diagnoses", value=1916, unit="one-in", measure="level",
                    denominator="people tested", kind="health")
    read = only_outcome(check(tmp_path, base(outcomes=[alone])))
    assert phrase(read) == "1 in 1,916 people tested"
    assert figure_sentence(read, load_vocabularies(), timeframe=False) == (
        "New HIV diagnoses: 1 in 1,916 people tested"
    )
    beside = outcome(metric="new hepatitis B diagnoses", value=3667, unit="people",
                     measure="level", kind="health",
                     also=[{"value": 240, "unit": "1 in", "denominator": "people tested"}])
    read = only_outcome(check(tmp_path, base(outcomes=[beside])))
    assert figure_sentence(read, load_vocabularies(), timeframe=False) == (
        "3,667 new hepatitis B diagnoses (1 in 240 people tested)"
    )


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"value": 0.5, "measure": "level"}, "value", "1 or more"),
        ({"value": 240, "measure": "change", "direction": "decrease"}, "measure", "is a level"),
        ({"value": 240, "measure": "level", "baseline": 300}, "measure", "is a level"),
    ],
)
def test_one_in_n_mistakes_say_what_to_write(
    tmp_path: Path, fields: dict[str, Any], field: str, words: str
) -> None:
    figure = outcome(unit="one-in", kind="health", **fields)
    (problem,) = check(tmp_path, base(outcomes=[figure])).errors
    assert problem.field == f"outcomes[0].{field}" and words in problem.message
    assert "one-in" in problem.hint or "measure: level" in problem.hint


def test_a_denominator_goes_with_a_rate_or_one_in(tmp_path: Path) -> None:
    figure = outcome(value=12, unit="people", measure="level", denominator="people tested")
    (problem,) = check(tmp_path, base(outcomes=[figure])).errors
    assert problem.field == "outcomes[0].denominator" and "one-in" in problem.hint


def test_a_percentage_says_what_it_is_a_share_of(tmp_path: Path) -> None:
    """In a testing cascade each percentage has its own base: 'denominator' names it."""
    share = outcome(metric="people with active hepatitis C", value=17.4, unit="percent",
                    measure="level", denominator="people tested")
    count = outcome(metric="people with active hepatitis C", value=162, unit="people",
                    measure="level")
    count["also"] = [{"value": 17.4, "unit": "percent", "denominator": "people tested"}]
    report = check(tmp_path, base(outcomes=[share, count]))
    assert report.errors == []
    first, second = report.entries[0].case.outcomes
    vocab = load_vocabularies()
    assert figure_sentence(first, vocab).startswith(
        "People with active hepatitis C: 17.4% of people tested"
    )
    assert figure_sentence(second, vocab).startswith(
        "162 people with active hepatitis C (17.4% of people tested)"
    )


@pytest.mark.parametrize(
    ("words", "direction", "status"),
    [("fell", "decrease", "estimated"), ("Up", "increase", "estimated"),
     ("unchanged", "no-change", "estimated")],
)
def test_direction_and_status_in_a_contributors_words(
    tmp_path: Path, words: str, direction: str, status: str
) -> None:
    figure = outcome(value=12, unit="admissions", measure="change", direction=words,
                     status="projected")
    read = only_outcome(check(tmp_path, base(outcomes=[figure])))
    assert (read.direction, read.status) == (direction, status)


def test_an_unknown_direction_still_lists_the_ids(tmp_path: Path) -> None:
    figure = outcome(value=12, unit="admissions", measure="change", direction="sideways")
    (problem,) = check(tmp_path, base(outcomes=[figure])).errors
    assert problem.field == "outcomes[0].direction" and "'decrease'" in problem.message
