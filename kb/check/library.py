"""Reading a validated library: every case study under a content folder, checked by
kb.check.validate.

This sits beside validation rather than in `kb.format.content` (which only reads and splits files),
so
that `kb.format.content` and `kb.check.validate` do not import each other. Searches do not call it
when the
index shows the content unchanged (see `kb.index.load.source_changes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import ContentError

if TYPE_CHECKING:
    from kb.format.content import Entry

__all__ = ["load_library"]


def load_library(content_dir: Path) -> list[Entry]:
    """Every case study under `content_dir`, validated; raise ContentError if any is invalid."""
    from kb.check.report import escape_text
    from kb.check.validate import validate_paths

    if not content_dir.is_dir():
        raise ContentError(f"no content folder at {escape_text(str(content_dir))}")
    report = validate_paths([content_dir])
    if report.errors:
        first = report.errors[0]
        raise ContentError(
            f"{len(report.errors)} error(s) in the content; first: "
            f"{escape_text(first.location())}: {escape_text(first.message)} "
            "(run `kb validate` for all)"
        )
    return list(report.entries)
