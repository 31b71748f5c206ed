"""The validate, new, schema and vocab commands: output formats, exit codes, and start-up cost."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result

from kb.format.content import REQUIRED_SECTIONS
from kb.tools.scaffold import title_id
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
    from kb.check.problems import Problem, Report
    from kb.check.report import render

    report = Report(1, [Problem("a,b:c.md", 3, 2, "f", "first\nsecond 100%", "h")])
    line = render(report, "github")
    assert (
        line == "::error file=a%2Cb%3Ac.md,line=3,col=2,title=kb validate%3A f"
        "::first\\nsecond 100%25. Hint: h"
    )  # a newline from a value is shown escaped, as in the other formats


def test_valid_file_exits_zero() -> None:
    assert "all valid" in run_cli(["validate", str(VALID)]).stdout


def test_warnings_pass_unless_strict(tmp_path: Path) -> None:
    text = VALID.read_text().replace("three_cs: [capacity]\n", "").replace(
        "  three_cs: Data and analytical capacity were what unlocked the work.\n", ""
    )
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
    assert "ics: [devon]  # Devon: as named" in text
    assert "region: [south-west]  # South West" in text
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


def test_new_makes_a_long_title_s_id_from_its_main_words(tmp_path: Path) -> None:
    title = (
        "Cornwall: community health and wellbeing workers hosted by voluntary organisations in "
        "the most deprived neighbourhoods"
    )
    run_cli(["new", "--title", title, "--content-dir", str(tmp_path), "--no-interactive"])
    (path,) = tmp_path.iterdir()
    assert path.name == "cornwall-community-health-wellbeing.md"
    assert title_id("x-" + "b" * 90).id == "x"
    assert title_id("x" * 90).id == "x" * 40  # a single word longer than the limit is cut
    assert title_id("word " * 16).id == "-".join(["word"] * 16)  # 79 characters: kept whole
    assert title_id("abcd " * 20).id == "-".join(["abcd"] * 8)  # main words, under 40
    assert title_id("The people of Leeds and their warm homes " * 3).id.startswith("leeds-warm")


def _new(tmp_path: Path, *args: str, expect: int = 0) -> Result:
    where = ["--content-dir", str(tmp_path), "--no-interactive"]
    return run_cli(["new", "--title", "Shared work", *args, *where], expect=expect)


def test_new_keeps_every_repeated_ics_and_region(tmp_path: Path) -> None:
    _new(tmp_path, "--ics", "North Central London", "--ics", "NHS South West London ICB")
    text = (tmp_path / "shared-work.md").read_text()
    assert "ics: [north-central-london, south-west-london]" in text
    assert 'region: [london]  # London' in text  # both ICSs' region, once
    (tmp_path / "shared-work.md").unlink()
    tiers = ["--tier", "primary", "--tier", "Secondary prevention"]
    _new(tmp_path, "--ics", "Devon", "--ics", "Norfolk and Waveney", *tiers)
    text = (tmp_path / "shared-work.md").read_text()
    assert "ics: [devon, norfolk-and-waveney]  # Devon; Norfolk and Waveney: as named" in text
    assert "region: [south-west, east-of-england]  # South West; East of England" in text
    assert "tiers: [primary, secondary]" in text
    report = json.loads(run_cli(["validate", "--format", "json", str(tmp_path)], expect=1).stdout)
    codes = {p["code"] for p in report["problems"] if p["severity"] == "error"}
    assert codes == {"placeholder", "blank", "untouched-default"}, report["problems"]
    (tmp_path / "shared-work.md").unlink()
    regions = ["--region", "South West", "--region", "London"]
    _new(tmp_path, "--ics", "Devon", "--ics", "Dorset", *regions)
    assert "region: [south-west, london]" in (tmp_path / "shared-work.md").read_text()


def test_new_checks_each_repeated_value(tmp_path: Path) -> None:
    result = _new(tmp_path, "--ics", "North Central London", "--ics", "Sowth West Londn", expect=1)
    assert "--ics: 'Sowth West Londn' is not a known ICS. Did you mean 'South West London'" in (
        result.stderr
    )
    result = _new(tmp_path, "--region", "London", "--region", "Nort West", expect=1)
    assert "--region: 'Nort West' is not a known region. Did you mean 'North West'" in (
        result.stderr
    )
    two = ["--ics", "Devon", "--ics", "Norfolk and Waveney"]
    result = _new(tmp_path, *two, "--region", "South West", expect=1)
    assert (
        "--ics: 'Norfolk and Waveney' is in East of England, not in South West; hint: add "
        "--region 'East of England', or leave --region out"
    ) in result.stderr
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


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kind", "service-use"),
        ("outcomes.kind", "service-use"),
        ("unit", "percent"),
        ("method", "before-and-after"),
        ("evidence.method", "before-and-after"),
        ("evidence.level", "not-assessed"),
        ("status", "pilot"),
        ("kaiser_level", "rising-risk"),
        ("region", "south-west"),
        ("level", "neighbourhood"),  # the top-level key, not evidence.level
        ("tier", "secondary"),
        ("Kaiser-level", "rising-risk"),
    ],
)
def test_vocab_takes_the_front_matter_key_being_filled(key: str, value: str) -> None:
    assert re.search(rf"^{re.escape(value)} ", run_cli(["vocab", key]).stdout, re.MULTILINE)


def test_vocab_of_a_key_holding_several_controlled_fields_lists_each() -> None:
    out = run_cli(["vocab", "evidence"]).stdout
    assert "evidence_levels (evidence level):" in out
    assert "evidence_methods (evaluation method):" in out
    assert "not-assessed" in out and "before-and-after" in out


def test_vocab_names_vocabularies_and_keys_when_the_name_is_unknown() -> None:
    err = run_cli(["vocab", "evidance"], expect=2).stderr
    assert "unknown field 'evidance'; hint: did you mean 'evidence'?" in err
    assert "choose a vocabulary (regions, ics, levels, statuses" in err
    assert "or a front-matter key (region, ics, level, status, tiers, kaiser_level" in err
    assert "evidence.method" in err
    out = run_cli(["vocab"]).stdout
    assert out.startswith("Vocabularies: regions, ics")
    assert "Front-matter keys: region, ics, level, status" in out


def _marked_fields(node: object, defs: dict[str, object], path: str = "") -> dict[str, str]:
    """Field path -> vocabulary, from the `x-vocabulary` marks of the format's JSON schema."""
    found: dict[str, str] = {}
    if isinstance(node, dict):
        if "$ref" in node:
            return _marked_fields(defs[node["$ref"].rsplit("/", 1)[1]], defs, path)
        if "x-vocabulary" in node:
            found[path] = node["x-vocabulary"]
        for key, value in node.get("properties", {}).items():
            found |= _marked_fields(value, defs, f"{path}.{key}" if path else key)
        for part in [node.get("items"), *node.get("anyOf", [])]:
            found |= _marked_fields(part, defs, path)
    return found


def test_vocab_knows_every_controlled_field_of_the_format() -> None:
    from kb.format.model import CaseStudy
    from kb.format.vocab import FIELD_VOCABULARY, NESTED_FIELD_VOCABULARY

    schema = CaseStudy.model_json_schema()
    marked = _marked_fields(schema, schema["$defs"])
    known = {**FIELD_VOCABULARY, **NESTED_FIELD_VOCABULARY}
    # evidence.level is a number or 'not-assessed', checked by its own validator
    assert marked == {k: v for k, v in known.items() if k != "evidence.level"}


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
