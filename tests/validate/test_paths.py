"""Reading content safely: only regular files inside the folder, bounded reads, links reported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kb.check.validate import validate_paths
from kb.errors import FileError
from kb.format.content import MAX_FILE_BYTES, find_case_files, read_source
from tests.conftest import ROOT, run_cli

VALID = min((ROOT / "content").glob("*.md"))  # a shipped case study, kept valid
SECRET = "ssh-rsa AAAA-secret-outside-the-folder"
KB = Path(sys.executable).parent / "kb"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A content folder holding one valid case study."""
    content = tmp_path / "content"
    content.mkdir()
    shutil.copy(VALID, content / VALID.name)
    return content


def problems(path: Path) -> list[dict[str, object]]:
    """The problems `kb validate --format json` reports for `path` (which must be invalid)."""
    out = run_cli(["validate", "--format", "json", str(path)], expect=1).stdout
    found: list[dict[str, object]] = json.loads(out)["problems"]
    return found


def messages_for(path: Path, name: str) -> list[str]:
    return [str(p["message"]) for p in problems(path) if str(p["path"]).endswith(name)]


def test_a_link_to_a_file_outside_the_folder_is_refused_not_read(
    folder: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text(VALID.read_text("utf-8") + f"\n{SECRET}\n")
    (folder / "leak.md").symlink_to(outside)
    out = run_cli(["validate", str(folder)], expect=1).stdout
    assert "leak.md:1:1: error" in out
    assert "symbolic link to a file" in out and "regular files in the content folder" in out
    assert SECRET not in out
    assert [e.path.name for e in validate_paths([folder]).entries] == [VALID.name]


def test_a_link_is_refused_even_when_named_on_the_command_line(
    folder: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.md"
    shutil.copy(VALID, outside)
    (folder / "leak.md").symlink_to(outside)
    assert messages_for(folder / "leak.md", "leak.md")[0].startswith("this is a symbolic link")


def test_a_link_to_dev_zero_is_refused_without_reading_it(folder: Path) -> None:
    (folder / "zero.md").symlink_to("/dev/zero")
    [message] = messages_for(folder, "zero.md")
    assert "symbolic link to a device (/dev/zero)" in message


def test_a_device_named_directly_is_refused() -> None:
    with pytest.raises(FileError, match="a device, not a regular file"):
        read_source(Path("/dev/zero"))


def test_a_fifo_named_x_md_is_reported_and_never_opened(folder: Path) -> None:
    fifo = folder / "x.md"
    os.mkfifo(fifo)
    # a subprocess, so that a hang fails the test instead of stopping the suite
    for target in (folder, fifo):
        result = subprocess.run(
            [str(KB), "validate", "--format", "json", str(target)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1, result.stderr
        found = json.loads(result.stdout)["problems"]
        assert [p["message"] for p in found if p["path"].endswith("x.md")] == [
            "this is a named pipe (FIFO), not a regular file"
        ]


@pytest.mark.parametrize("kind", ["dangling", "looping"])
def test_a_folder_holding_only_a_broken_link_is_not_all_valid(tmp_path: Path, kind: str) -> None:
    content = tmp_path / "content"
    content.mkdir()
    link = content / "case.md"
    link.symlink_to("missing.md" if kind == "dangling" else "case.md")
    result = run_cli(["validate", str(content)], expect=1)
    assert "all valid" not in result.stdout
    assert "1 file(s) checked: 1 error(s)" in result.stdout
    assert "case.md:1:1: error: this is a symbolic link to" in result.stdout
    detail = "which does not exist" if kind == "dangling" else "cannot be followed"
    assert detail in result.stdout


def test_a_linked_folder_is_reported_not_skipped(folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(VALID, elsewhere / "other.md")
    (folder / "more").symlink_to(elsewhere, target_is_directory=True)
    [message] = messages_for(folder, "more")
    assert message.startswith("this is a symbolic link to a folder")
    assert not any(p.name == "other.md" for p in find_case_files([folder]))


def test_a_content_folder_that_is_itself_a_link_is_followed(folder: Path, tmp_path: Path) -> None:
    """The folder the user names may be a link; links inside it are what is refused."""
    link = tmp_path / "linked-content"
    link.symlink_to(folder, target_is_directory=True)
    out = run_cli(["validate", str(link)]).stdout
    assert "1 file(s) checked" in out


def test_hidden_and_underscore_names_are_still_skipped(folder: Path) -> None:
    (folder / "_draft.md").write_text("not front-matter")
    (folder / ".hidden.md").symlink_to("/dev/zero")
    assert find_case_files([folder]) == [folder / VALID.name]


def test_a_file_over_the_cap_is_refused_before_reading(folder: Path) -> None:
    big = folder / "big.md"
    big.write_bytes(b"---\n" + b"a" * (MAX_FILE_BYTES + 10))
    with pytest.raises(FileError, match="the limit is 256 KB"):
        read_source(big)


def test_a_file_that_grows_after_its_size_was_checked_is_read_only_to_the_cap(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size from lstat is not trusted: at most cap + 1 bytes are read, then refused."""
    big = folder / "big.md"
    big.write_bytes(b"---\n" + b"a" * (4 * MAX_FILE_BYTES))
    real_lstat = os.lstat
    small = os.stat_result(tuple(real_lstat(VALID))[:10])

    def lying_lstat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        return small if Path(str(path)) == big else real_lstat(path, *args, **kwargs)  # type: ignore

    sizes: list[int] = []
    real_fdopen = os.fdopen

    class Spy:
        """The open file, recording how much each read asks for."""

        def __init__(self, fd: int, *args: object, **kwargs: object) -> None:
            self.handle = real_fdopen(fd, *args, **kwargs)  # type: ignore

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def fileno(self) -> int:
            return self.handle.fileno()

        def read(self, size: int = -1) -> bytes:
            sizes.append(size)
            return bytes(self.handle.read(size))

    monkeypatch.setattr(os, "lstat", lying_lstat)
    monkeypatch.setattr(os, "fdopen", Spy)
    with pytest.raises(FileError, match="more than 256 KB"):
        read_source(big)
    assert sizes == [MAX_FILE_BYTES + 1]


def test_an_unreadable_file_is_reported(folder: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    locked = folder / "locked.md"
    shutil.copy(VALID, locked)
    locked.chmod(0)
    try:
        [message] = messages_for(folder, "locked.md")
    finally:
        locked.chmod(0o644)
    assert message.startswith("cannot read the file")


def test_a_missing_path_is_reported_once(tmp_path: Path) -> None:
    found = problems(tmp_path / "nothing-here.md")
    assert [p["message"] for p in found] == ["no such file or folder"]


def test_a_regular_case_study_still_reads(folder: Path) -> None:
    source = read_source(folder / VALID.name)
    assert source.text.startswith("---\n")
    assert run_cli(["validate", str(folder)]).exit_code == 0
