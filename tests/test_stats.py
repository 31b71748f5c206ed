"""`kb stats`: coverage counts that follow the library, thin values marked."""

from __future__ import annotations

import json

from kb.check.library import load_library
from kb.tools.stats import coverage
from tests.conftest import ROOT, run_cli

FIXTURES = ROOT / "tests" / "site" / "data" / "content"


def test_counts_follow_the_case_studies() -> None:
    entries = load_library(FIXTURES)
    report = coverage(entries)
    assert report.cases == len(entries)
    regions = {c.id: c.cases for c in report.facets["region"]}
    for region, cases in regions.items():
        assert cases == sum(1 for e in entries if region in e.case.region)
    falls = next(c for c in report.facets["topic"] if c.label == "Falls and frailty")
    assert falls.cases == sum(1 for e in entries if {"falls", "frailty"} & set(e.case.topics))
    assert report.with_achieved_figures == sum(
        1 for e in entries if any(o.status == "achieved" and o.numeric for o in e.case.outcomes)
    )
    # a small library is thin everywhere: every region is below its target of six
    assert {c.id for facet, c in report.thin if facet == "region"} == set(regions)


def test_json_and_text_forms(monkeypatch) -> None:
    monkeypatch.setenv("KB_CONTENT_DIR", str(FIXTURES))
    data = json.loads(run_cli(["stats", "--format", "json"]).stdout)
    assert data["cases"] == len(load_library(FIXTURES))
    assert {t["facet"] for t in data["thin"]} >= {"region"}
    text = run_cli(["stats"]).stdout
    assert "Region (target: at least 6 each)" in text and "<- thin" in text
