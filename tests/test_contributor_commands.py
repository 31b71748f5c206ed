"""Contributor commands that must not lose work or leave people guessing: `kb new` asks again on a
bad answer and keeps the others; `kb validate --changed` checks only what a branch changed; commands
taking an id or an ICS suggest the nearest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kb.format.model import REASONED_FIELDS
from tests.conftest import ROOT, run_cli


def test_new_asks_again_on_a_bad_answer_and_keeps_the_others(tmp_path: Path) -> None:
    answers = "\n".join(
        [
            "Community falls clinics",
            "A short summary.",
            "Norfok and Waveney",  # a typo: asked again
            "Norfolk and Waveney",
            "secundary",  # a typo: asked again
            "secondary",
            "NHS Norfolk",
            "",
        ]
    )
    result = run_cli(["new", "--content-dir", str(tmp_path), "--interactive"], input=answers)
    said = result.stdout + result.stderr
    assert "Did you mean 'Norfolk and Waveney'?" in said
    assert "Did you mean 'Secondary prevention'?" in said
    text = (tmp_path / "community-falls-clinics.md").read_text()
    assert 'summary: "A short summary."' in text
    assert "ics: [norfolk-and-waveney]" in text and "tiers: [secondary]" in text
    assert "NHS Norfolk" in text


def test_new_asks_for_several_ics_and_keeps_repeated_options(tmp_path: Path) -> None:
    answers = "\n".join(
        [
            "Shared falls work",
            "A short summary.",
            "North Central London; Sowth West London",  # one typo: the question is asked again
            "North Central London; South West London",  # the region is not asked: theirs
            "secondary, tertiary",
            "Camden Council; Wandsworth Council",
            "",
        ]
    )
    result = run_cli(["new", "--content-dir", str(tmp_path), "--interactive"], input=answers)
    assert "Did you mean 'South West London'" in result.stdout + result.stderr
    text = (tmp_path / "shared-falls-work.md").read_text()
    assert "ics: [north-central-london, south-west-london]" in text
    assert 'region: [london]' in text and "tiers: [secondary, tertiary]" in text
    assert 'organisations: ["Camden Council", "Wandsworth Council"]' in text
    # values given as repeated options are all kept, and not asked for again
    where = ["--content-dir", str(tmp_path), "--interactive", "--summary", "S."]
    given = ["--ics", "Devon", "--ics", "Dorset", "--tier", "primary", "--organisation", "A"]
    run_cli(["new", "--title", "Two systems", *where, *given], input="\n")
    text = (tmp_path / "two-systems.md").read_text()
    assert 'ics: [devon, dorset]  # Devon; Dorset: as named' in text
    assert 'region: [south-west]' in text
    # a region that leaves out an ICS's region is set to match, with a note
    given = ["--ics", "Devon", "--ics", "Norfolk and Waveney", "--region", "South West"]
    result = run_cli(["new", "--title", "Far apart", *where, *given], input="primary\nA\n")
    assert "Note: Norfolk and Waveney is in East of England; the region is set to match." in (
        result.stderr
    )
    assert "region: [south-west, east-of-england]" in (tmp_path / "far-apart.md").read_text()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    content = tmp_path / "content"
    content.mkdir()
    for name in ("dorset-blood-pressure.md", "norfolk-falls-prevention.md"):
        shutil.copy(ROOT / "content" / name, content / name)
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "-c", "user.email=a@b.c", "-c", "user.name=t", "add", ".")
    _git(tmp_path, "-c", "user.email=a@b.c", "-c", "user.name=t", "commit", "-qm", "base")
    _git(tmp_path, "checkout", "-q", "-b", "new-case")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KB_CONTENT_DIR", str(content))
    return tmp_path


def test_validate_changed_checks_only_what_the_branch_changed(repo: Path) -> None:
    content = repo / "content"
    # an old file with a problem that is not this branch's doing
    old = content / "norfolk-falls-prevention.md"
    _git(repo, "rm", "-q", "--cached", str(old))
    assert run_cli(["validate", "--changed", "--base", "main"], expect=0)
    new = content / "dorset-copy.md"
    text = (content / "dorset-blood-pressure.md").read_text().replace(
        "id: dorset-blood-pressure", "id: dorset-copy"
    )
    new.write_text(text.replace("tiers: [secondary]", "tiers: [secundary]"))
    result = run_cli(["validate", "--changed", "--base", "main", "--format", "json"], expect=1)
    assert "dorset-copy.md" in result.stdout
    assert "dorset-blood-pressure.md" not in result.stdout
    new.write_text(text)
    run_cli(["validate", "--changed", "--base", "main"], expect=0)


def test_an_unknown_participant_gets_the_nearest_ics() -> None:
    result = run_cli(["pack", "falls", "--participant", "Norfolk"], expect=None)
    assert result.exit_code != 0
    assert "Norfolk and Waveney" in (result.stderr + result.stdout)


LONG_TITLE = (
    "Sheffield health coaches delivering annual physical health checks for people with severe "
    "mental illness in primary care"
)
CUT_ID = "sheffield-health-coaches-delivering"


def test_new_says_when_it_shortens_the_id_made_from_the_title(tmp_path: Path) -> None:
    where = ["--content-dir", str(tmp_path), "--no-interactive"]
    result = run_cli(["new", "--title", LONG_TITLE, *where])
    assert (tmp_path / f"{CUT_ID}.md").exists()
    note = " ".join(result.stderr.split())
    assert "Note: the title makes an id of 119 characters and the limit is 80" in note
    assert f"made from its main words: '{CUT_ID}'" in note
    assert "run kb new again with --id" in note
    assert "Note:" not in result.stdout  # stdout keeps only what was created
    # an id given, or a title that fits, is taken without a note
    given = run_cli(["new", "--title", LONG_TITLE, "--id", "sheffield-smi-checks", *where])
    assert "Note:" not in given.stderr and (tmp_path / "sheffield-smi-checks.md").exists()
    assert "Note:" not in run_cli(["new", "--title", "Short title", *where]).stderr


def test_new_asks_for_the_id_when_the_title_is_too_long_for_one(tmp_path: Path) -> None:
    answers = "\n".join(
        [LONG_TITLE, "sheffield-smi-health-checks", "S.", "South Yorkshire", "secondary", "X", ""]
    )
    result = run_cli(["new", "--content-dir", str(tmp_path), "--interactive"], input=answers)
    assert "made from its main words" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["sheffield-smi-health-checks.md"]


def test_the_id_made_from_a_title_is_information_not_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kb.tools.scaffold import ID_MAX, title_id

    made = title_id(LONG_TITLE)
    assert (made.id, made.shortened, made.length) == (CUT_ID, True, 119)
    assert "for" not in made.id.split("-") and len(made.id) <= 40
    assert CUT_ID in made.note() and str(ID_MAX) in made.note()
    short = title_id("Norfolk falls prevention")
    assert (short.id, short.shortened, short.note()) == ("norfolk-falls-prevention", False, "")
    assert capsys.readouterr() == ("", "")


def _fill(text: str) -> str:
    """What a contributor does with `kb new`'s file: fill every TODO, confirm or delete each
    pre-filled and blank line, and take up the commented fields by deleting their '# '."""
    out = []
    block = False  # inside a commented example that is taken up (context figures, funding)
    for line in text.split("\n"):
        key = line.split("#")[0].strip()
        if key in ("place:", "started:", "status:", "cohort:", "context_figures: []"):
            continue  # not in the sources; the commented example replaces the empty list
        line = line.split("  # kb-new-default")[0]
        if line.startswith(("# context_figures:", "# funding:")):
            block = True
        elif not line.startswith("#   "):
            block = False
        if block or line.startswith(("    # ", "# reviewed:")):
            line = line.replace("# ", "", 1)
        line = line.replace("YYYY-MM-DD", "2026-11-23")
        if line.startswith("rationale:"):
            line = "rationale:"
        if line.startswith("  ") and line.strip().rstrip(":") in REASONED_FIELDS:
            line = f"{line.rstrip()} Editorial, as the sources describe it."
        out.append(line.replace('"TODO"', '"Sheffield ICB"'))
    return "\n".join(out).replace("\nTODO\n", "\nNot stated in the sources.\n")


def test_new_shows_the_fields_case_studies_use_and_they_validate_once_filled(
    tmp_path: Path,
) -> None:
    from kb.check.validate import validate_paths

    where = ["--content-dir", str(tmp_path), "--no-interactive", "--tier", "secondary"]
    run_cli(["new", "--title", "Health checks", "--ics", "South Yorkshire", *where])
    path = tmp_path / "health-checks.md"
    text = path.read_text()
    for key in ("# context_figures:", "# funding:", "# reviewed: YYYY-MM-DD"):
        assert f"\n{key}" in text, key
    for key in ("url: https://", "section:", "accessed: YYYY-MM-DD"):
        assert f"\n    # {key}" in text, key  # indented as a key of the source
    before = {(p.code, p.field) for p in validate_paths([path]).errors}
    assert not any("url" in f or "accessed" in f or "reviewed" in f for _, f in before)
    path.write_text(_fill(text))
    report = validate_paths([path])
    assert report.errors == [], [f"{p.line} {p.field}: {p.message}" for p in report.errors]
    assert {p.code for p in report.warnings} <= {"tags", "outcomes"}, report.warnings
    case = report.entries[0].case
    assert case.reviewed is not None and case.funding is not None and case.context_figures
    (source,) = case.sources
    assert source.url and source.section and source.accessed
