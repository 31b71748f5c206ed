"""A value or a file name cannot clear the screen, colour the output or forge a line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.check.report import FORMATS, escape_text, render
from kb.check.validate import validate_paths

VALID = Path(__file__).parent / "data" / "valid" / "norfolk-falls-prevention.md"
HOSTILE = "x\x1b[2J\x1b]0;title\x07\r\n9 file(s) checked: all valid\u202e\u2028\x9b31m\x7f"
RAW = ("\x1b", "\x07", "\r", "\u202e", "\u2028", "\x9b", "\x7f")


def hostile_report(tmp_path: Path):
    source = VALID.read_text(encoding="utf-8")
    # a bad value (unknown region), a bad key and a hostile file name
    text = source.replace("region: East of England", f"region: {json.dumps(HOSTILE)}", 1)
    text = text.replace("place: Norfolk", f"{json.dumps('k' + HOSTILE)}: 1", 1)
    name = "case\x1b[2J\nall valid\u202e.md"
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    report = validate_paths([path])
    assert report.errors
    return report


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_raw_control_or_bidi_character_is_printed(fmt: str, tmp_path: Path) -> None:
    out = render(hostile_report(tmp_path), fmt)
    for char in RAW:
        assert char not in out, (fmt, repr(char))
    assert not any(line.startswith("9 file(s) checked") for line in out.splitlines())
    if fmt == "text":
        assert out.splitlines()[-1].startswith("1 file(s) checked:")
        assert "\\x1b[2J" in out


def test_json_keeps_the_exact_values(tmp_path: Path) -> None:
    report = hostile_report(tmp_path)
    data = json.loads(render(report, "json"))
    assert [p["message"] for p in data["problems"]] == [p.message for p in report.problems]
    assert data["problems"][0]["path"] == report.problems[0].path


def test_github_annotations_stay_one_line_each(tmp_path: Path) -> None:
    report = hostile_report(tmp_path)
    lines = render(report, "github").splitlines()
    assert len(lines) == len(report.problems)
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)


def test_escape_text_shows_what_was_there() -> None:
    assert escape_text("a\nb\tc\x1bd\u202ee") == "a\\nb\\tc\\x1bd\\u202ee"
    assert escape_text("plain text, £ and é") == "plain text, £ and é"
