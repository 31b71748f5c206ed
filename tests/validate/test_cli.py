"""The validate, new, schema and vocab commands: output formats, exit codes, and start-up cost."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kb.content import REQUIRED_SECTIONS
from tests.conftest import ROOT, run_cli

DATA = Path(__file__).parent / "data"
FIVE = DATA / "invalid" / "five-mistakes.md"
VALID = DATA / "valid" / "norfolk-falls-prevention.md"

# https://docs.github.com/actions/reference/workflow-commands: ::error file=..,line=..,col=..::msg
ANNOTATION = re.compile(
    r"^::(error|warning|notice) file=[^,:\n]+,line=\d+,col=\d+,title=[^:\n]*::[^\n]+$"
)


def test_five_mistakes_in_text_format() -> None:
    out = run_cli(["validate", str(FIVE)], expect=1).stdout
    errors = [line for line in out.splitlines() if ": error" in line]
    assert len(errors) == 5
    assert all(re.match(rf"^{re.escape(str(FIVE))}:\d+:\d+: error \[", line) for line in errors)
    assert out.count("    hint: ") == 5
    assert "did you mean 'region'?" in out
    assert "did you mean 'Primary prevention'?" in out


def test_five_mistakes_in_json_format() -> None:
    out = run_cli(["validate", "--format", "json", str(FIVE)], expect=1).stdout
    data = json.loads(out)
    assert data["valid"] is False and data["errors"] == 5
    fields = {p["field"] for p in data["problems"]}
    assert fields == {"regoin", "ics", "tiers[0]", "outcomes[0].status", "## Challenges"}
    for problem in data["problems"]:
        assert problem["line"] > 1 and problem["column"] >= 1 and problem["hint"]


def test_five_mistakes_in_github_format() -> None:
    out = run_cli(["validate", "--format", "github", str(FIVE)], expect=1).stdout
    lines = out.splitlines()
    assert len(lines) == 5
    for line in lines:
        assert ANNOTATION.match(line), line
    assert any("line=12,col=1" in line and "regoin" in line for line in lines)


def test_github_format_escapes_newlines_and_property_separators(tmp_path: Path) -> None:
    from kb.report import render
    from kb.validate import Problem, Report

    report = Report(1, [Problem("a,b:c.md", 3, 2, "f", "first\nsecond 100%", "h")])
    line = render(report, "github")
    assert (
        line == "::error file=a%2Cb%3Ac.md,line=3,col=2,title=kb validate%3A f"
        "::first\\nsecond 100%25. Hint: h"
    )  # a newline from a value is shown escaped, as in the other formats


def test_valid_file_exits_zero() -> None:
    assert "all valid" in run_cli(["validate", str(VALID)]).stdout


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    text = VALID.read_text().replace("three_cs: [capacity]\n", "")
    path = tmp_path / "norfolk-falls-prevention.md"
    path.write_text(text)
    assert "warning" in run_cli(["validate", str(path)], expect=0).stdout
    run_cli(["validate", "--strict", str(path)], expect=1)


def test_usage_errors_exit_two() -> None:
    run_cli(["validate", "--format", "xml"], expect=2)
    run_cli(["nonsense"], expect=2)


def test_missing_path_is_reported_not_raised(tmp_path: Path) -> None:
    out = run_cli(["validate", str(tmp_path / "nope.md")], expect=1).stdout
    assert "no such file or folder" in out


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for sub in ("a", "b"):
        (tmp_path / sub / VALID.name).write_text(VALID.read_text())
    out = run_cli(["validate", str(tmp_path)], expect=1).stdout
    assert out.count("is also used by") == 2


def test_default_path_is_the_content_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / VALID.name).write_text(VALID.read_text())
    monkeypatch.chdir(tmp_path)
    assert "1 file(s) checked" in run_cli(["validate"]).stdout


def test_new_scaffolds_a_file_that_fails_until_filled(tmp_path: Path) -> None:
    out = run_cli(
        [
            "new",
            "--title",
            "Warm homes for people with COPD",
            "--ics",
            "NHS Devon ICB",
            "--tier",
            "primary",
            "--organisation",
            "Devon County Council",
            "--content-dir",
            str(tmp_path),
            "--no-interactive",
        ]
    ).stdout
    path = tmp_path / "warm-homes-for-people-with-copd.md"
    assert path.exists() and str(path) in out
    text = path.read_text()
    assert 'ics: "Devon"' in text and 'region: "South West"' in text
    for heading in REQUIRED_SECTIONS:
        assert f"## {heading}" in text
    report = json.loads(run_cli(["validate", "--format", "json", str(path)], expect=1).stdout)
    codes = {p["code"] for p in report["problems"] if p["severity"] == "error"}
    # TODOs, blank lines to fill or delete, and the pre-filled values to check
    assert codes == {"placeholder", "blank", "untouched-default"}, report["problems"]


def test_new_refuses_to_overwrite(tmp_path: Path) -> None:
    args = ["new", "--title", "Same", "--content-dir", str(tmp_path), "--no-interactive"]
    run_cli(args)
    (tmp_path / "same.md").write_text("my own words")
    result = run_cli(args, expect=1)
    assert "already exists" in result.stderr
    assert (tmp_path / "same.md").read_text() == "my own words"


def test_new_rejects_unknown_ics_with_suggestion(tmp_path: Path) -> None:
    result = run_cli(
        [
            "new",
            "--title",
            "X",
            "--ics",
            "Norfok and Waveney",
            "--content-dir",
            str(tmp_path),
            "--no-interactive",
        ],
        expect=1,
    )
    assert "Did you mean 'Norfolk and Waveney'?" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_new_asks_for_missing_values_interactively(tmp_path: Path) -> None:
    answers = (
        "Community falls clinics\nA short summary.\nNorfolk and Waveney\nsecondary\nNHS Norfolk\n"
    )
    run_cli(["new", "--content-dir", str(tmp_path), "--interactive"], input=answers)
    text = (tmp_path / "community-falls-clinics.md").read_text()
    assert 'summary: "A short summary."' in text and "tiers: [secondary]" in text


def test_schema_lists_vocabularies_and_matches_the_shipped_file() -> None:
    out = run_cli(["schema"]).stdout
    schema = json.loads(out)
    assert schema["additionalProperties"] is False
    assert "North East and Yorkshire" in json.dumps(schema["properties"]["region"])
    shipped = json.loads((ROOT / "site" / "case-study.schema.json").read_text())
    assert shipped == schema, "run: kb schema -o site/case-study.schema.json"


def test_vocab_lists_values() -> None:
    out = run_cli(["vocab", "tiers"]).stdout
    assert "wider-determinants" in out and "Secondary prevention" in out
    run_cli(["vocab", "nonsense"], expect=2)


HEAVY = (
    "torch",
    "sentence_transformers",
    "faiss",
    "onnxruntime",
    "bm25s",
    "transformers",
    "mkdocs",
)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", str(VALID)], ["new", "--help"], ["schema"]],
    ids=["help", "validate", "new", "schema"],
)
def test_light_commands_do_not_import_heavy_libraries(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from kb.cli import main\n"
        f"try:\n    main({args!r})\n"
        "except SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "HEAVY=", out
