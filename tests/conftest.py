"""Shared fixtures: every cache and output path points at a temporary folder."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
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


def shared_once(
    factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """A folder that `build(folder)` fills once per test session, shared by every module and
    every xdist worker (the first to come builds it, under a lock; the others wait and reuse it).
    Tests must only read it."""
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the folder every worker's own temporary folder sits in
    folder = base / name
    done = base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                with contextlib.suppress(FileNotFoundError):
                    import shutil

                    shutil.rmtree(folder)
                build(folder)
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder


@pytest.fixture(scope="session")
def shipped_real_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped content indexed with the real model, once per test session: a cache folder
    that the tests searching the shipped library with the real model share (read only)."""

    def build(cache: Path) -> None:
        from kb.check.library import load_library
        from kb.index.build import update_index

        update_index(load_library(ROOT / "content"), cache)

    return shared_once(tmp_path_factory, "shipped-real-index", build)
