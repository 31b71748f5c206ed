"""kb.format.figures.figure_sentence: every figure of the library reads as a plain sentence."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from kb.check.library import load_library
from kb.format.figures import figure_sentence, format_outcome
from kb.format.model import ContextFigure, Figure, Outcome
from kb.format.vocab import load_vocabularies

ROOT = Path(__file__).resolve().parents[2]
VOCAB = load_vocabularies()

# internal unit ids, and the database-row shapes the issue saw ('141 count', '0.33 ratio')
RAW_UNIT = re.compile(
    r"rate-per-\d+|scale-points|percentage-points|mmol-mol|mmol-per-l|kg-per-m2|micrograms-per-m3"
    r"|\bGBP\b"
    r"|\d (?:count|ratio|score|rank)\b|\((?:increase|decrease|no-change)\)"
)


def outcome(**fields: Any) -> Outcome:
    data: dict[str, Any] = {
        "metric": "A&E attendances",
        "status": "achieved",
        "kind": "service-use",
        "timeframe": "not stated",
        "comparator": "not stated",
        "source": 1,
    }
    data.update(fields)
    return Outcome.model_validate(data)


def context(**fields: Any) -> ContextFigure:
    data: dict[str, Any] = {"comparator": "not stated", "source": 1, **fields}
    return ContextFigure.model_validate(data)


def library_figures() -> list[tuple[str, Figure]]:
    entries = load_library(ROOT / "content")
    return [(f"{e.id}:{n}", f) for e in entries for n, f in enumerate(e.case.figures)]


def test_every_figure_of_the_library_reads_as_a_sentence() -> None:
    figures = library_figures()
    assert len(figures) > 200  # the whole library, outcomes and context figures
    for name, figure in figures:
        text = figure_sentence(figure, VOCAB)
        assert text[:1].isupper() or text[:1].isdigit() or text.startswith("£"), (name, text)
        assert not RAW_UNIT.search(text), (name, text)
        assert "  " not in text and not text.endswith((",", ":")), (name, text)
        assert text.count("(") == text.count(")"), (name, text)
        if isinstance(figure, Outcome) and figure.status != "achieved":
            mark = "estimate" if figure.status == "estimated" else "target"
            assert re.search(rf"\({mark}[;)]", text), (name, text)
        if isinstance(figure, Outcome) and figure.status == "achieved":
            assert "(estimate" not in text and "(target" not in text, (name, text)


def test_the_status_and_the_timeframe_can_be_left_out() -> None:
    strokes = outcome(
        metric="strokes", value=141, unit="count", direction="decrease",
        status="estimated", timeframe="over three years",
    )  # fmt: skip
    assert figure_sentence(strokes, VOCAB) == "141 fewer strokes over three years (estimate)"
    assert figure_sentence(strokes, VOCAB, status=False) == "141 fewer strokes over three years"
    assert figure_sentence(strokes, VOCAB, timeframe=False) == "141 fewer strokes (estimate)"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # a change in a count of things: 'fewer' or 'more'
        ({"metric": "strokes, if the blood pressure aim is met", "value": 141, "unit": "count",
          "direction": "decrease", "status": "estimated", "timeframe": "over three years"},
         "141 fewer strokes, if the blood pressure aim is met, over three years (estimate)"),
        ({"metric": "residents afraid of falling", "value": 15, "unit": "percent",
          "direction": "decrease"},
         "15% fewer residents afraid of falling"),
        ({"metric": "emergency admissions among people supported", "value": 34, "unit": "percent",
          "direction": "decrease", "qualifier": "about", "timeframe": "first year of operation"},
         "About 34% fewer emergency admissions among people supported in the first year of "
         "operation"),
        ({"metric": "number of women calling the helpline", "value": 23, "unit": "percent",
          "direction": "increase", "timeframe": "2016"},
         "23% more women calling the helpline in 2016"),
        # the metric already says which way: the amount leads
        ({"metric": "hospital admissions avoided", "value": 310, "unit": "admissions",
          "direction": "decrease", "status": "estimated", "timeframe": "the year to March 2020"},
         "310 hospital admissions avoided in the year to March 2020 (estimate)"),
        ({"metric": "savings to the NHS", "value": 2700000, "unit": "GBP", "qualifier": "up-to",
          "measure": "level", "status": "target"},
         "Up to £2,700,000 savings to the NHS (target)"),
        # a level: a count of people, a share of a group
        ({"metric": "people who took up a referral", "value": 150, "unit": "people",
          "measure": "level", "qualifier": "more-than"},
         "More than 150 people took up a referral"),
        ({"metric": "people who said the support was beneficial", "value": 71, "unit": "percent",
          "measure": "level"},
         "71% of people said the support was beneficial"),
        ({"metric": "share of patients checked who had a high reading", "value": 30,
          "unit": "percent", "measure": "level", "qualifier": "nearly", "timeframe": "the pilot"},
         "Nearly 30% of patients checked had a high reading in the pilot"),
        # from a baseline to a new level
        ({"metric": "women smoking at the time of giving birth", "value": 5.6, "unit": "percent",
          "measure": "level", "direction": "decrease", "baseline": 7.3},
         "Share of women smoking at the time of giving birth fell from 7.3% to 5.6%"),
        ({"metric": "major amputations", "value": 3, "unit": "rate-per-10000",
          "measure": "level", "direction": "decrease", "baseline": 13,
          "denominator": "people with diabetes"},
         "Major amputations fell from 13 to 3 per 10,000 people with diabetes"),
        ({"metric": "wellbeing", "value": 54.1, "unit": "scale-points", "scale": "WEMWBS",
          "measure": "level", "direction": "increase", "baseline": 49.6},
         "Wellbeing rose from 49.6 to 54.1 points on WEMWBS"),
        # metrics that are no sentence: 'Metric: down 15%'
        ({"metric": "fear of falling, as reported by residents", "value": 15, "unit": "percent",
          "direction": "decrease"},
         "Fear of falling, as reported by residents: down 15%"),
        ({"metric": "expected admission rate", "value": 35, "unit": "percent",
          "direction": "decrease", "status": "estimated"},
         "Expected admission rate: down 35% (estimate)"),
        ({"metric": "average feedback score", "value": 4.3, "unit": "score", "measure": "level",
          "scale": "a survey, out of 5"},
         "Average feedback score: a score of 4.3 on a survey, out of 5"),
        ({"metric": "odds of travelling to school by car", "value": 0.81, "unit": "ratio",
          "direction": "decrease", "timeframe": "after three years"},
         "Odds of travelling to school by car: 0.81 times as high after three years"),
        ({"metric": "odds of quitting smoking", "value": 1.8, "unit": "ratio",
          "direction": "increase", "qualifier": "about"},
         "Odds of quitting smoking: about 1.8 times as high"),
        ({"metric": "odds of quitting smoking", "value": 0.9, "unit": "ratio",
          "direction": "increase"},
         "Odds of quitting smoking: a ratio of 0.9 (higher)"),
        ({"metric": "the borough's place among London boroughs", "value": 2, "unit": "rank",
          "measure": "level"},
         "The borough's place among London boroughs: 2nd"),
        ({"metric": "chance of being in work", "value": 4, "unit": "percentage-points",
          "direction": "increase", "timeframe": "12 months after randomisation"},
         "Chance of being in work: up 4 percentage points 12 months after randomisation"),
        ({"metric": "time spent walking", "value": 41, "unit": "minutes", "qualifier": "up-to",
          "direction": "increase", "timeframe": "per week; period not stated"},
         "Time spent walking: up by up to 41 minutes per week"),
        # second units, and outcomes without a number
        ({"metric": "households helped", "value": 1000, "unit": "households", "measure": "level",
          "also": [{"value": 2500, "unit": "people", "qualifier": "nearly"}]},
         "1,000 households helped (nearly 2,500 people)"),
        ({"metric": "late-stage diagnoses", "direction": "decrease"},
         "Fewer late-stage diagnoses (no figure given)"),
        ({"metric": "clients' quality of life", "direction": "increase", "status": "target"},
         "Clients' quality of life to go up (target; no figure given)"),
        ({"metric": "earnings", "direction": "no-change", "timeframe": "12 months after the trial"},
         "No change in earnings 12 months after the trial (no figure given)"),
    ],
)  # fmt: skip
def test_sentences_read_as_written_by_hand(fields: dict[str, Any], expected: str) -> None:
    assert figure_sentence(outcome(**fields), VOCAB) == expected


def test_a_ratio_change_reads_as_times_as_high() -> None:
    """An odds or rate ratio of after to before is a multiple, not an amount gone up by."""
    rate = outcome(metric="referral rate", value=2.47, unit="ratio", direction="increase")
    assert format_outcome(rate, VOCAB) == "2.47 times as high"
    fewer = outcome(metric="odds", value=0.81, unit="ratio", direction="decrease")
    assert format_outcome(fewer, VOCAB) == "0.81 times as high"
    same = outcome(metric="odds", value=1.0, unit="ratio", direction="no-change")
    assert format_outcome(same, VOCAB) == "a ratio of 1, no change"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"metric": "GP practices in the pilot", "value": 41, "unit": "practices"},
         "41 GP practices in the pilot"),
        ({"metric": "population of Derby", "value": 261400, "unit": "people",
          "timeframe": "2021"},
         "Population of Derby: 261,400 people in 2021"),
        ({"metric": "people over 65 who fall every year", "value": 0.33, "unit": "ratio"},
         "People over 65 who fall every year: a ratio of 0.33"),
        ({"metric": "suicide rate", "value": 12.6, "unit": "rate-per-100000",
          "timeframe": "2012-14"},
         "Suicide rate: 12.6 per 100,000 people in 2012-14"),
    ],
)  # fmt: skip
def test_context_figures_read_as_sentences(fields: dict[str, Any], expected: str) -> None:
    assert figure_sentence(context(**fields), VOCAB) == expected


@pytest.mark.parametrize(
    ("figure", "expected"),
    [
        (outcome(metric="residents who said they felt more connected", value=148,
                 unit="people", out_of=211, measure="level"),
         "148 of 211 residents said they felt more connected"),
        (outcome(metric="people invited who responded", value=22815, unit="people",
                 out_of=44943, measure="level", also=[{"value": 50.8, "unit": "percent"}],
                 timeframe="in the first round"),
         "22,815 of 44,943 people invited responded (50.8%) in the first round"),
        (outcome(metric="people helped back into work", value=4000, qualifier="more-than",
                 unit="people", out_of=20000, measure="level"),
         "More than 4,000 of 20,000 people helped back into work"),
        (outcome(metric="practices taking part", value=9, unit="practices", out_of=10,
                 measure="level", direction="increase", status="target"),
         "Practices taking part: to rise to 9 of 10 practices (target)"),
        (outcome(metric="GPs who said the visit helped", value=0, unit="people", out_of=53,
                 measure="level"),
         "0 of 53 GPs said the visit helped"),
        (context(metric="schools the project worked with", value=62, unit="count", out_of=82),
         "62 of 82 schools the project worked with"),
        (context(metric="number of practices in the scheme", value=9, unit="practices",
                 out_of=10),
         "Number of practices in the scheme: 9 of 10 practices"),
    ],
)  # fmt: skip
def test_a_part_of_a_whole_reads_with_its_whole(figure: Figure, expected: str) -> None:
    assert figure_sentence(figure, VOCAB) == expected
