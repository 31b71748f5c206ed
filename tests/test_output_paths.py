"""Output files (`-o`): resolved, never written through a link, never over a user's file, atomic."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from kb.errors import OutputError
from kb.paths import check_output, write_output
from tests.conftest import run_cli


@pytest.fixture(autouse=True)
def _content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    content = tmp_path / "content"
    content.mkdir()
    monkeypatch.setenv("KB_CONTENT_DIR", str(content))
    monkeypatch.chdir(tmp_path)
    return content


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and "FileNotFoundError" not in text


@pytest.mark.parametrize("command", [["schema"], ["pack", "falls"]])
def test_a_missing_folder_gets_a_message(command: list[str], tmp_path: Path) -> None:
    result = run_cli([*command, "-o", "nodir/x.out"], expect=2)
    assert "the folder nodir does not exist" in result.stderr
    assert "mkdir -p nodir" in result.stderr
    no_traceback(result.output)
    assert not (tmp_path / "nodir").exists()


@pytest.mark.parametrize("command", [["schema"], ["pack", "falls"]])
@pytest.mark.parametrize("force", [False, True])
def test_a_dangling_link_is_not_written_through(
    command: list[str], force: bool, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "target.md"
    target.parent.mkdir()
    (tmp_path / "out.md").symlink_to(target)
    args = [*command, "-o", "out.md"] + (["--force"] if force else [])
    result = run_cli(args, expect=2)
    assert "out.md is a symbolic link" in result.stderr
    assert "never writes through a link" in result.stderr
    assert not target.exists()
    assert (tmp_path / "out.md").is_symlink()


@pytest.mark.parametrize("command", [["schema"], ["pack", "falls"]])
def test_a_live_link_is_not_written_through_even_with_force(
    command: list[str], tmp_path: Path
) -> None:
    target = tmp_path / "mine.md"
    target.write_text("my notes")
    (tmp_path / "out.md").symlink_to(target)
    result = run_cli([*command, "-o", "out.md", "--force"], expect=2)
    assert "is a symbolic link" in result.stderr
    assert target.read_text() == "my notes"


def test_schema_keeps_a_users_file_and_replaces_its_own(tmp_path: Path) -> None:
    mine = tmp_path / "mine.json"
    mine.write_text('{"my": "settings"}')
    result = run_cli(["schema", "-o", "mine.json"], expect=2)
    assert "mine.json exists" in result.stderr and "--force" in result.stderr
    assert mine.read_text() == '{"my": "settings"}'

    schema = tmp_path / "schema.json"
    run_cli(["schema", "-o", "schema.json"])
    first = json.loads(schema.read_text("utf-8"))
    schema.write_text(json.dumps({**first, "title": "older"}))
    run_cli(["schema", "-o", "schema.json"])  # an earlier schema file is regenerated
    assert json.loads(schema.read_text("utf-8")) == first

    run_cli(["schema", "-o", "mine.json", "--force"])
    assert json.loads(mine.read_text("utf-8")) == first


def test_nothing_is_written_into_the_content_folder(_content: Path) -> None:
    for command in (["schema"], ["pack", "falls", "--force"]):
        result = run_cli([*command, "-o", str(_content / "x.md")], expect=2)
        assert "inside the content folder" in result.stderr
    assert list(_content.iterdir()) == []


def test_a_path_through_a_linked_folder_is_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via").symlink_to(real, target_is_directory=True)
    assert check_output(Path("via/x.json")) == real.resolve() / "x.json"
    run_cli(["schema", "-o", "via/x.json"])
    assert json.loads((real / "x.json").read_text("utf-8"))["$id"]


def test_an_existing_folder_or_fifo_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="not a regular file"):
        write_output(fifo, "text", overwrite=True)
    with pytest.raises(OutputError, match="not a file name"):
        write_output(Path(".."), "text")


def test_writes_are_atomic_a_failure_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "pack.md"
    target.write_text("the old pack")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        write_output(target, "the new pack", overwrite=True)
    assert target.read_text() == "the old pack"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "pack.md"]


def test_a_file_that_appears_while_writing_is_left_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "new.md"
    real_mkstemp = tempfile.mkstemp

    def someone_writes_meanwhile(*args: Any, **kwargs: Any) -> tuple[int, str]:
        target.write_text("someone else's")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", someone_writes_meanwhile)
    with pytest.raises(OutputError, match="appeared while writing"):
        write_output(target, "mine")
    assert target.read_text() == "someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "new.md"]


def test_a_new_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o027)
    try:
        written = write_output(tmp_path / "new.md", "text")
    finally:
        os.umask(mask)
    assert written.read_text() == "text"
    assert written.stat().st_mode & 0o777 == 0o640
