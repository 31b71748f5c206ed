"""Checks for a pull request: only the case studies a branch changed, plus the rules across files.

Other files' warnings are left out; a changed file's id must still be unique in the whole library.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kb.check.problems import Problem, Report
from kb.check.validate import validate_paths
from kb.errors import FileError
from kb.format.content import find_case_files, parse_front_matter, read_source

__all__ = ["validate_changed"]


def _library_ids(content_dir: Path, skip: set[Path]) -> dict[str, Path]:
    """id -> file for every other case study (front-matter parsed, nothing else checked)."""
    ids: dict[str, Path] = {}
    for path in find_case_files([content_dir]):
        if path.resolve() in skip:
            continue
        try:
            source = read_source(path)
            located = parse_front_matter(source.front_matter, source.front_matter_line)
        except FileError:
            continue
        raw = located.data.get("id")
        if isinstance(raw, str):
            ids.setdefault(raw, path)
    return ids


def validate_changed(files: Sequence[Path], content_dir: Path) -> Report:
    """Validate `files` (the changed case studies) and check their ids against the library."""
    report = validate_paths(list(files))
    others = _library_ids(content_dir, {f.resolve() for f in files})
    for entry in list(report.entries):
        other = others.get(entry.id)
        if other is None:
            continue
        report.problems.append(
            Problem(
                str(entry.path),
                1,
                1,
                "id",
                f"the id '{entry.id}' is already used by {other}",
                "every case study needs its own id; rename this file and its id",
                code="duplicate-id",
            )
        )
        report.entries.remove(entry)
    report.problems.sort(key=lambda p: (p.path, p.line, p.column, p.field))
    return report
