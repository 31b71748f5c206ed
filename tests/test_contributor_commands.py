"""Contributor commands that must not lose work or leave people guessing: `kb new` asks again on a
bad answer and keeps the others; `kb validate --changed` checks only what a branch changed; commands
taking an id or an ICS suggest the nearest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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
    assert 'ics: "Norfolk and Waveney"' in text and "tiers: [secondary]" in text
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
    assert 'ics: ["North Central London", "South West London"]' in text
    assert 'region: "London"' in text and "tiers: [secondary, tertiary]" in text
    assert 'organisations: ["Camden Council", "Wandsworth Council"]' in text
    # values given as repeated options are all kept, and not asked for again
    where = ["--content-dir", str(tmp_path), "--interactive", "--summary", "S."]
    given = ["--ics", "Devon", "--ics", "Dorset", "--tier", "primary", "--organisation", "A"]
    run_cli(["new", "--title", "Two systems", *where, *given], input="\n")
    text = (tmp_path / "two-systems.md").read_text()
    assert 'ics: ["Devon", "Dorset"]' in text and 'region: "South West"' in text
    # a region that leaves out an ICS's region is set to match, with a note
    given = ["--ics", "Devon", "--ics", "Norfolk and Waveney", "--region", "South West"]
    result = run_cli(["new", "--title", "Far apart", *where, *given], input="primary\nA\n")
    assert "Note: Norfolk and Waveney is in East of England; the region is set to match." in (
        result.stderr
    )
    assert 'region: ["South West", "East of England"]' in (tmp_path / "far-apart.md").read_text()


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
