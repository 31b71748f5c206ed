"""Problem records: what is wrong, where (file, line, column, field), and how to fix it.

Checks collect these and never raise or print; `kb.check.report` renders them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from kb.format.content import (
    Entry,
)

__all__ = ["Problem", "Report"]


Severity = Literal["error", "warning"]


FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where, which field, what, and how to fix it."""

    path: str
    line: int
    column: int
    field: str
    message: str
    hint: str = ""
    severity: Severity = "error"
    code: str = "invalid"

    def location(self) -> str:
        """'path:line:column', as editors and terminals link it."""
        return f"{self.path}:{self.line}:{self.column}"


@dataclass
class Report:
    """The outcome of validating some files: problems, and the case studies that are valid."""

    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Problems that make a file invalid."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems worth fixing that do not block publication."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors


def format_field(path: Iterable[str | int]) -> str:
    """('outcomes', 0, 'value') -> 'outcomes[0].value'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
