"""`kb export`: one row per case study and one per outcome, in CSV for Excel and in JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from kb.check.library import load_library
from kb.tools.export import COLUMNS, export_rows, render_export
from tests.conftest import ROOT, run_cli


def test_rows_equal_the_case_studies_and_outcomes() -> None:
    entries = load_library(ROOT / "content")
    rows = export_rows(entries)
    cases = [r for r in rows if r["record"] == "case-study"]
    outcomes = [r for r in rows if r["record"] == "outcome"]
    assert sorted(r["case_id"] for r in cases) == sorted(e.case.id for e in entries)
    assert len(outcomes) == sum(len(e.case.outcomes) for e in entries)
    by_id = {e.case.id: e.case for e in entries}
    for row in outcomes:
        outcome = by_id[row["case_id"]].outcomes[row["outcome_number"] - 1]
        assert row["metric"] == outcome.metric
        assert row["outcome_status"] == outcome.status
        assert row["timeframe"] == outcome.timeframe


def test_csv_reads_back_with_every_row_and_column() -> None:
    text = run_cli(["export", "--format", "csv"]).stdout
    assert text.startswith("\ufeff")  # Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    entries = load_library(ROOT / "content")
    assert len(rows) == len(entries) + sum(len(e.case.outcomes) for e in entries)
    assert list(rows[0]) == list(COLUMNS)


def test_json_has_the_same_rows() -> None:
    data = json.loads(run_cli(["export", "--format", "json"]).stdout)
    assert data["columns"] == list(COLUMNS)
    assert data["rows"] == json.loads(json.dumps(export_rows(load_library(ROOT / "content"))))


def test_formulas_in_contributed_text_are_defused(tmp_path: Path) -> None:
    entries = load_library(ROOT / "content")
    from dataclasses import replace

    bad = replace(entries[0], case=entries[0].case.model_copy(update={"title": "=HYPERLINK(1)"}))
    text = render_export([bad], "csv")
    assert ",'=HYPERLINK(1)," in text


def test_output_file_is_never_overwritten_without_force(tmp_path: Path) -> None:
    target = tmp_path / "cases.csv"
    target.write_text("mine")
    result = run_cli(["export", "-o", str(target)], expect=2)
    assert "exists" in result.stderr and target.read_text() == "mine"
    run_cli(["export", "-o", str(target), "--force"])
    assert target.read_text(encoding="utf-8-sig").startswith("record,case_id")


def test_a_part_of_a_whole_exports_its_whole() -> None:
    assert COLUMNS.index("out_of") == COLUMNS.index("value_high") + 1
    rows = export_rows(load_library(ROOT / "content"))
    leeds = next(
        r for r in rows if r["case_id"] == "leeds-lung-health-check" and r["outcome_number"] == 1
    )
    assert (leeds["value"], leeds["out_of"], leeds["unit"]) == (22815, 44943, "people")
    assert leeds["figure"] == "22,815 of 44,943 people (50.8%)"
    assert leeds["also"] == "50.8%"
    text = render_export(load_library(ROOT / "content"), "csv")
    csv_rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    csv_leeds = next(
        r for r in csv_rows
        if r["case_id"] == "leeds-lung-health-check" and r["outcome_number"] == "1"
    )  # fmt: skip
    assert (csv_leeds["value"], csv_leeds["out_of"]) == ("22815", "44943")
    assert {r["out_of"] for r in csv_rows if r["record"] == "case-study"} == {""}
    data = json.loads(render_export(load_library(ROOT / "content"), "json"))
    json_leeds = next(
        r for r in data["rows"]
        if r["case_id"] == "leeds-lung-health-check" and r["outcome_number"] == 1
    )  # fmt: skip
    assert json_leeds["out_of"] == 44943
