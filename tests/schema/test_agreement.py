"""The JSON Schema (for editors) and `kb validate` (for CI) accept the same files.

Both run over every shipped case study and over files made from one of them with a single change:
spellings the validator resolves must pass both, shapes or values it refuses must fail both.
Rules across fields (an ICS in its region, dates in order, a source that exists) are the
validator's alone and are not generated here.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker

from kb.check.validate import validate_paths
from kb.format.content import find_case_files, read_source
from kb.format.schema import case_study_schema
from tests.conftest import ROOT

CONTENT = ROOT / "content"
BASE = CONTENT / "norfolk-falls-prevention.md"


@pytest.fixture(scope="module")
def checker() -> Draft202012Validator:
    schema = case_study_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _json_ready(value: Any) -> Any:
    """Front-matter as an editor's YAML server sees it: dates are text."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _front_matter(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(read_source(path).front_matter)
    assert isinstance(data, dict)
    return data


def _schema_errors(checker: Draft202012Validator, data: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:120]}"
        for e in checker.iter_errors(_json_ready(data))
    ]


@pytest.mark.parametrize("path", find_case_files([CONTENT]), ids=lambda p: p.stem)
def test_every_shipped_file_passes_both(checker: Draft202012Validator, path: Path) -> None:
    assert not validate_paths([path]).errors
    assert _schema_errors(checker, _front_matter(path)) == []


Change = Callable[[dict[str, Any]], None]


def _set(path: tuple[str | int, ...], value: Any) -> Change:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _drop(path: tuple[str | int, ...]) -> Change:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return change


GOOD: dict[str, Change] = {
    "ics with ICB": _set(("ics",), "Norfolk and Waveney ICB"),
    "ics with NHS and board": _set(("ics",), "NHS Norfolk & Waveney Integrated Care Board"),
    "ics lower case, as a list": _set(("ics",), ["norfolk and waveney ics"]),
    "started as a year": _set(("started",), 2021),
    "started as year-month text": _set(("started",), "2021-04"),
    "started as a date": _set(("started",), dt.date(2021, 4, 1)),
    "region lower case": _set(("region",), "east of england"),
    "one tier as text": _set(("tiers",), "Secondary"),
    "status by alias": _set(("status",), "business as usual"),
    "evidence level as text": _set(("evidence", "level"), "2"),
    "evidence not assessed": _set(("evidence", "level"), "Not assessed"),
    "timeframe not stated": _set(("outcomes", 0, "timeframe"), "not stated"),
    "an undated source": _drop(("sources", 0, "year")),
    "a qualitative outcome": lambda d: d["outcomes"].append(
        {
            "metric": "confidence of staff",
            "direction": "increase",
            "status": "achieved",
            "kind": "experience",
            "timeframe": "not stated",
            "comparator": "not stated",
            "source": 1,
        }
    ),
    "a range value": _set(("outcomes", 0, "value"), {"low": 1, "high": 2}),
    "a part of a whole": _set(("outcomes", 0, "out_of"), 211),
    "a whole written with a decimal point": _set(("outcomes", 0, "out_of"), 211.0),
}

BAD: dict[str, Change] = {
    "unknown field": _set(("colour",), "blue"),
    "unknown field in an outcome": _set(("outcomes", 0, "colour"), "blue"),
    "misspelt ics": _set(("ics",), "Norfok and Waveney"),
    "ics with a made-up suffix": _set(("ics",), "Norfolk and Waveney ICBX"),
    "unknown region": _set(("region",), "Narnia"),
    "unknown tier": _set(("tiers",), ["tertiary", "quaternary"]),
    "two tiers in one string": _set(("tiers",), "primary, secondary"),
    "a tier twice": _set(("tiers",), ["primary", "primary"]),
    "no tiers": _set(("tiers",), []),
    "started month 13": _set(("started",), "2021-13"),
    "started in words": _set(("started",), "last year"),
    "started too early": _set(("started",), 1850),
    "blank status": _set(("status",), None),
    "blank started": _set(("started",), None),
    "blank place": _set(("place",), "  "),
    "outcome without timeframe": _drop(("outcomes", 0, "timeframe")),
    "outcome without comparator": _drop(("outcomes", 0, "comparator")),
    "outcome without source": _drop(("outcomes", 0, "source")),
    "outcome with a blank comparator": _set(("outcomes", 0, "comparator"), ""),
    "source number as text": _set(("outcomes", 0, "source"), "1"),
    "source zero": _set(("outcomes", 0, "source"), 0),
    "year as text": _set(("sources", 0, "year"), "2024"),
    "evidence level 6": _set(("evidence", "level"), 6),
    "evidence level in words": _set(("evidence", "level"), "strong"),
    "id not kebab-case": _set(("id",), "Norfolk_Falls"),
    "title too long": _set(("title",), "x" * 121),
    "no sources": _set(("sources",), []),
    "url not a web address": _set(("sources", 0, "url"), "ftp://example.org/report"),
    "value in words": _set(("outcomes", 0, "value"), "ten"),
    "status of an outcome unknown": _set(("outcomes", 0, "status"), "hoped"),
    "measure unknown": _set(("outcomes", 0, "measure"), "size"),
    "recurrent as text": _set(("funding",), {"recurrent": "yes"}),
    "organisations empty": _set(("organisations",), []),
    "summary missing": _drop(("summary",)),
    "out_of a fraction": _set(("outcomes", 0, "out_of"), 211.5),
    "out_of zero": _set(("outcomes", 0, "out_of"), 0),
    "out_of a range": _set(("outcomes", 0, "out_of"), {"low": 200, "high": 220}),
    "out_of in words": _set(("outcomes", 0, "out_of"), "211 residents"),
}


def _write_variant(tmp_path: Path, change: Change) -> tuple[Path, dict[str, Any]]:
    data = copy.deepcopy(_front_matter(BASE))
    change(data)
    body = read_source(BASE).body
    path = tmp_path / BASE.name
    path.write_text(
        "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n" + body,
        encoding="utf-8",
    )
    return path, data


@pytest.mark.parametrize("name", list(GOOD))
def test_generated_good_files_pass_both(
    checker: Draft202012Validator, tmp_path: Path, name: str
) -> None:
    path, data = _write_variant(tmp_path, GOOD[name])
    report = validate_paths([path])
    assert not report.errors, [f"{p.field}: {p.message}" for p in report.errors]
    assert _schema_errors(checker, data) == []


@pytest.mark.parametrize("name", list(BAD))
def test_generated_bad_files_fail_both(
    checker: Draft202012Validator, tmp_path: Path, name: str
) -> None:
    path, data = _write_variant(tmp_path, BAD[name])
    assert validate_paths([path]).errors, "the validator accepted it"
    assert _schema_errors(checker, data), "the schema accepted it"


def test_the_shipped_schema_file_is_current() -> None:
    shipped = json.loads((ROOT / "site" / "case-study.schema.json").read_text("utf-8"))
    assert shipped == case_study_schema(), "run: kb schema -o site/case-study.schema.json --force"
