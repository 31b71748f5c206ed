"""Positive and negative example files: each invalid file names the problems it must produce."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.check.validate import validate_paths

DATA = Path(__file__).parent / "data"
VALID = sorted((DATA / "valid").glob("*.md"))
INVALID = sorted((DATA / "invalid").glob("*.md"))


def expectations(path: Path) -> list[tuple[str, str]]:
    """`# expect: CODE FIELD` lines: the problem code and the field it must name."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"# expect: (\S+) ?(.*)$", line)
        if match:
            found.append((match.group(1), match.group(2).strip()))
    return found


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_examples_have_no_errors(path: Path) -> None:
    report = validate_paths([path])
    assert report.errors == []
    assert [e.id for e in report.entries] == [path.stem]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_examples_report_the_named_problems(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} names no expected problem"
    report = validate_paths([path])
    assert report.entries == []
    got = {(p.code, p.field) for p in report.errors}
    for code, field in expected:
        assert any(c == code and (not field or f == field) for c, f in got), (
            f"{path.name}: expected {code} on {field!r}, got {sorted(got)}"
        )
    for problem in report.errors:
        assert problem.path == str(path)
        assert problem.line >= 1 and problem.column >= 1
        assert problem.message


def test_every_problem_carries_a_hint_for_the_invalid_examples() -> None:
    report = validate_paths([DATA / "invalid"])
    missing = [p for p in report.errors if not p.hint and p.code != "yaml"]
    assert missing == []
