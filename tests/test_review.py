"""Reviews that stay fresh: a case study not reviewed for 24 months, or whose sources were all
read more than 24 months ago, is due for review; the validator warns, the page and the catalogue
say so, `kb stats` lists it."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from kb.check.library import load_library
from kb.check.validate import validate_paths
from kb.format.review import REVIEW_MONTHS, review_due
from kb.format.vocab import load_vocabularies
from kb.publish.browse import catalogue_page
from kb.publish.case_page import case_page
from kb.tools.stats import coverage, render_text
from tests.conftest import ROOT, run_cli

CASE = "rotherham-social-prescribing"  # its sources are web pages
TODAY = date(2026, 12, 7)


@pytest.fixture
def entry():  # type: ignore[no-untyped-def]
    return next(e for e in load_library(ROOT / "content") if e.case.id == CASE)


def _reviewed(entry, day: date | None, accessed: date | None = None):  # type: ignore[no-untyped-def]
    sources = entry.case.sources
    if accessed is not None:
        sources = [s.model_copy(update={"accessed": accessed}) if s.url else s for s in sources]
    return replace(entry, case=entry.case.model_copy(update={"reviewed": day, "sources": sources}))


def test_reviewed_within_24_months_is_fresh(entry) -> None:  # type: ignore[no-untyped-def]
    assert REVIEW_MONTHS == 24
    assert review_due(_reviewed(entry, date(2024, 12, 7)).case, TODAY) is None
    due = review_due(_reviewed(entry, date(2024, 12, 6)).case, TODAY)
    assert due == "last reviewed on 2024-12-06, more than 24 months ago"
    assert review_due(_reviewed(entry, None).case, TODAY) == (
        "it gives no date it was last reviewed"
    )


def test_sources_all_read_over_24_months_ago_make_it_due(entry) -> None:  # type: ignore[no-untyped-def]
    assert any(s.url for s in entry.case.sources)
    stale = _reviewed(entry, date(2026, 11, 1), accessed=date(2024, 1, 31)).case
    assert review_due(stale, TODAY) == (
        "its sources were last read on 2024-01-31, more than 24 months ago"
    )


def test_a_leap_day_and_month_ends_count_back_whole_months(entry) -> None:  # type: ignore[no-untyped-def]
    case = _reviewed(entry, date(2022, 2, 28)).case
    assert review_due(case, date(2024, 2, 29)) is None  # 24 months before is 2022-02-28
    assert review_due(case, date(2024, 3, 1)) is not None


def test_the_validator_warns_and_the_page_and_catalogue_say_so(
    entry, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    text = (ROOT / "content" / f"{CASE}.md").read_text(encoding="utf-8")
    old = re.sub(r"^reviewed: .*$", "reviewed: 2023-05-02", text, flags=re.M)
    (tmp_path / f"{CASE}.md").write_text(old, encoding="utf-8")
    report = validate_paths([tmp_path])
    due = [p for p in report.problems if p.code == "review-due"]
    assert len(due) == 1 and due[0].severity == "warning" and due[0].field == "reviewed"
    assert "2023-05-02" in due[0].message and due[0].hint
    assert not any(p.severity == "error" for p in report.problems)
    stale = report.entries[0]
    vocab = load_vocabularies()
    page = case_page(stale, None, {CASE: stale}, vocab).markdown
    assert "2023-05-02 (**due for review**)" in page
    assert "due for review" not in case_page(entry, None, {CASE: entry}, vocab).markdown
    assert "due for review" in catalogue_page([stale], vocab).markdown
    assert "due for review" not in catalogue_page([entry], vocab).markdown


def test_stats_lists_those_due_and_the_review_years(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = tmp_path / "content"
    content.mkdir()
    for name in (f"{CASE}.md", "dorset-blood-pressure.md"):
        shutil.copy(ROOT / "content" / name, content / name)
    path = content / "dorset-blood-pressure.md"
    path.write_text(
        re.sub(r"^reviewed: .*$", "reviewed: 2023-05-02", path.read_text("utf-8"), flags=re.M),
        encoding="utf-8",
    )
    report = coverage(load_library(content), TODAY)
    assert [d.id for d in report.due_for_review] == ["dorset-blood-pressure"]
    assert report.reviewed["2023"] == 1
    assert "dorset-blood-pressure: last reviewed on 2023-05-02" in render_text(report)
    monkeypatch.setenv("KB_CONTENT_DIR", str(content))
    data = json.loads(run_cli(["stats", "--format", "json"]).output)
    assert data["due_for_review"][0]["id"] == "dorset-blood-pressure"
    assert data["due_for_review"][0]["reviewed"] == "2023-05-02"


def test_the_shipped_library_is_fresh() -> None:
    report = coverage(load_library(ROOT / "content"), TODAY)
    assert report.due_for_review == []
    assert sum(report.reviewed.values()) == report.cases
