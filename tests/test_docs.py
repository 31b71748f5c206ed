"""Docs that cannot drift: every command has help and is named in the README."""

from __future__ import annotations

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
