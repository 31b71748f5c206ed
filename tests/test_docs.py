"""Docs that cannot drift: every command has help and is named in the README; the guides say
what the validator does."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.cli import main
from tests.conftest import ROOT, run_cli

COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(name: str) -> None:
    out = run_cli([name, "--help"]).stdout
    assert main.commands[name].help, f"kb {name} has no docstring"
    assert f"Usage: main {name}" in out or f"Usage: kb {name}" in out
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`kb {name}" in readme, f"README.md does not mention `kb {name}`"


def test_readme_names_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make serve" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


GUIDES = ("CONTRIBUTING.md", "site/contributing.md")


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guides_say_which_fields_take_not_stated_as_the_format_does(guide: str) -> None:
    from kb.check.rules import NOT_STATED_FIELDS
    from kb.format.model import ContextFigure, Outcome

    text = " ".join((ROOT / guide).read_text(encoding="utf-8").split())
    for _, name in NOT_STATED_FIELDS:
        # required on an outcome, so 'not stated' is written when the sources are silent
        assert Outcome.model_fields[name].is_required()
        assert not ContextFigure.model_fields[name].is_required()
        assert f"`{name}`" in text, f"{guide} does not name `{name}`"
    assert "`not stated`" in text or "*not stated*" in text
    assert "delete its line" in text  # everything else is left out
    for old in ("rather than leaving it out", "Leave out what you do not know", "in text fields"):
        assert old not in text, f"{guide} still says '{old}'"


@pytest.mark.parametrize("guide", GUIDES)
def test_the_guides_say_html_comments_are_never_published(guide: str) -> None:
    text = " ".join((ROOT / guide).read_text(encoding="utf-8").split())
    assert "`<!-- ... -->`" in text and "never published" in text
    assert "Raw HTML is refused" not in text


def test_the_validator_hints_agree_with_the_guides(tmp_path: Path) -> None:
    from kb.check.validate import validate_paths

    text = (ROOT / "content" / "norfolk-falls-prevention.md").read_text(encoding="utf-8")
    text = text.replace("place: Norfolk\n", "place:\n", 1)
    text = text.replace("timeframe: first phase of the falls pilot", "timeframe:", 1)
    path = tmp_path / "norfolk-falls-prevention.md"
    path.write_text(text, encoding="utf-8")
    hints = {p.field: p.hint for p in validate_paths([path]).errors if p.code == "blank"}
    assert hints == {
        "place": "write the value, or delete the line if the sources do not say",
        "outcomes[0].timeframe": "write the value, or 'not stated' if the sources do not say "
        "(an outcome needs it)",
    }
