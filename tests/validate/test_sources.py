"""A case study's sources and dates as real ones are: an old page only on http://, a page that
names no publisher, a web page read on a given day, and the day the entry was last checked. The
documented rules are the validator's: what a real source may lack is a warning with a hint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kb.check.problems import Problem, Report
from kb.check.validate import validate_paths
from kb.format.model import Source
from kb.format.schema import case_study_schema
from tests.conftest import run_cli
from tests.validate.cases import BODY, base, check

WEB_PAGE = {
    "title": "Our programme",
    "publisher": "Example ICB",
    "year": 2016,
    "url": "https://example.org/programme",
    "section": "'Results'",
    "accessed": "2026-11-23",
}


def case(*sources: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = base(
        outcomes_note="The sources report activity only.",
        sources=list(sources) or [dict(WEB_PAGE)],
        reviewed="2026-11-23",
    )
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def found(report: Report, code: str) -> list[Problem]:
    return [p for p in report.problems if p.code == code]


def test_a_complete_web_source_gives_no_problem(tmp_path: Path) -> None:
    report = check(tmp_path, case())
    assert report.problems == [], [p.message for p in report.problems]


@pytest.mark.parametrize(
    "url",
    [
        "http://www.cornwall.gov.uk/council-news/over-a-thousand-homes-helped/",
        "http://clahrc-yh.nihr.ac.uk/our-themes/projects/the-better-start-bradford",
    ],
)
def test_an_old_page_served_only_over_http_is_accepted(tmp_path: Path, url: str) -> None:
    report = check(tmp_path, case({**WEB_PAGE, "url": url}))
    assert report.problems == [], [p.message for p in report.problems]
    assert report.entries[0].case.sources[0].url == url


def test_a_web_address_that_is_not_one_says_what_to_write(tmp_path: Path) -> None:
    report = check(tmp_path, case({**WEB_PAGE, "url": "www.example.org/programme"}))
    (problem,) = report.errors
    assert problem.field == "sources[0].url" and problem.line > 1
    assert "https://" in problem.hint and "http://" in problem.hint


def test_the_schema_and_the_docs_agree_on_http(tmp_path: Path) -> None:
    import re

    url = case_study_schema()["$defs"]["Source"]["properties"]["url"]
    assert re.match(url["pattern"], "http://www.example.gov.uk/page")
    assert re.match(url["pattern"], "https://www.example.gov.uk/page")
    assert not re.match(url["pattern"], "ftp://example.org/file")
    assert "http://" in url["description"]


def test_a_web_source_without_the_day_it_was_read_gets_a_warning(tmp_path: Path) -> None:
    source = {k: v for k, v in WEB_PAGE.items() if k != "accessed"}
    report = check(tmp_path, case(source))
    assert report.errors == []
    (warning,) = report.warnings
    assert (warning.code, warning.field, warning.severity) == (
        "source-accessed",
        "sources[0].accessed",
        "warning",
    )
    lines = (tmp_path / "example-case.md").read_text().split("\n")
    assert lines[warning.line - 1].strip() == "- title: Our programme"  # the source it means
    assert "accessed: YYYY-MM-DD" in warning.hint


def test_an_undated_web_source_without_the_day_it_was_read_gets_one_warning(
    tmp_path: Path,
) -> None:
    source = {k: v for k, v in WEB_PAGE.items() if k not in ("accessed", "year")}
    report = check(tmp_path, case(source))
    assert [p.code for p in report.warnings] == ["source-date"]


def test_a_source_with_no_url_needs_no_day_it_was_read(tmp_path: Path) -> None:
    printed = {"title": "Annual report 2023", "publisher": "Example Council", "year": 2023}
    assert check(tmp_path, case(printed)).problems == []


def test_a_blank_accessed_or_reviewed_is_one_error_not_an_error_and_a_warning(
    tmp_path: Path,
) -> None:
    path = tmp_path / "example-case.md"
    front = yaml.safe_dump(case(), sort_keys=False)
    front = front.replace("accessed: '2026-11-23'", "accessed:").replace(
        "reviewed: '2026-11-23'", "reviewed:"
    )
    path.write_text(f"---\n{front}---\n\n{BODY}", encoding="utf-8")
    report = validate_paths([path])
    assert sorted((p.code, p.field) for p in report.problems) == [
        ("blank", "reviewed"),
        ("blank", "sources[0].accessed"),
    ]


def test_a_case_study_never_reviewed_gets_a_warning(tmp_path: Path) -> None:
    report = check(tmp_path, case(reviewed=None))
    assert report.errors == []
    (warning,) = report.warnings
    assert (warning.code, warning.field) == ("reviewed", "reviewed")
    assert "reviewed: YYYY-MM-DD" in warning.hint


@pytest.mark.parametrize("written", [None, "not stated", "Not stated.", "NOT STATED"])
def test_a_source_may_name_no_publisher(tmp_path: Path, written: str | None) -> None:
    source = {**WEB_PAGE, "publisher": written}
    report = check(tmp_path, case({k: v for k, v in source.items() if v is not None}))
    assert report.problems == [], [p.message for p in report.problems]
    assert report.entries[0].case.sources[0].publisher is None


def test_a_publisher_is_kept_as_written() -> None:
    source = Source.model_validate({"title": "T", "publisher": "Not Stated Ltd"})
    assert source.publisher == "Not Stated Ltd"
    schema = case_study_schema()["$defs"]["Source"]
    assert schema["required"] == ["title"]


def test_the_cli_reports_the_warnings_with_file_line_and_hint(tmp_path: Path) -> None:
    source = {k: v for k, v in WEB_PAGE.items() if k != "accessed"}
    data = case(source, reviewed=None)
    check(tmp_path, data)
    path = tmp_path / "example-case.md"
    out = run_cli(["validate", "--format", "json", str(path)]).stdout  # warnings: exit 0
    problems = json.loads(out)["problems"]
    assert {(p["code"], p["severity"]) for p in problems} == {
        ("source-accessed", "warning"),
        ("reviewed", "warning"),
    }
    assert all(p["line"] >= 1 and p["hint"] for p in problems)


def test_a_tag_field_without_a_reason_gets_a_warning(tmp_path: Path) -> None:
    reasons = dict(base()["rationale"])
    del reasons["drivers"], reasons["challenges"]
    (problem,) = found(check(tmp_path, case(rationale=reasons)), "rationale")
    assert problem.severity == "warning" and problem.field == "rationale"
    assert "challenges, drivers" in problem.message and "why none applies" in problem.hint


def test_no_three_cs_tags_with_a_reason_why_is_not_warned(tmp_path: Path) -> None:
    assert found(check(tmp_path, case(three_cs=[])), "tags") == []  # the rationale says why
    reasons = {k: v for k, v in base()["rationale"].items() if k != "three_cs"}
    (problem,) = found(check(tmp_path, case(three_cs=[], rationale=reasons)), "tags")
    assert problem.field == "three_cs" and "say why in 'rationale'" in problem.hint
