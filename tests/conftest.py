"""Shared fixtures: every cache and output path points at a temporary folder."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
# the sites tests build link to a repository (mkdocs.yml ships a placeholder, which links nowhere)
os.environ.setdefault("KB_REPO_URL", "https://github.com/example/prevention-case-studies")


@pytest.fixture(autouse=True)
def _isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KB_SITE_DIR", str(tmp_path / "site-out"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


def run_cli(args: Sequence[str], expect: int | None = 0, input: str | None = None) -> Result:
    """Run `kb ARGS` in-process; on an unexpected exit code, show stdout and stderr."""
    from kb.cli import main

    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    if expect is not None:
        assert result.exit_code == expect, (
            f"kb {' '.join(args)} exited {result.exit_code}, expected {expect}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result
