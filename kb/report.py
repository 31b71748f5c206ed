"""Rendering validation problems as text, JSON or GitHub workflow annotations."""

from __future__ import annotations

import json
from collections.abc import Callable

from kb.validate import Report

__all__ = ["FORMATS", "render"]


def _text(report: Report) -> str:
    lines: list[str] = []
    for p in report.problems:
        where = f" [{p.field}]" if p.field else ""
        lines.append(f"{p.location()}: {p.severity}{where}: {p.message}")
        if p.hint:
            lines.append(f"    hint: {p.hint}")
    bad_files = len({p.path for p in report.errors})
    summary = (
        f"{report.files_checked} file(s) checked: {len(report.errors)} error(s) in "
        f"{bad_files} file(s), {len(report.warnings)} warning(s)"
    )
    lines.append(
        summary if report.problems else f"{report.files_checked} file(s) checked: all valid"
    )
    return "\n".join(lines)


def _json(report: Report) -> str:
    return json.dumps(
        {
            "valid": report.ok,
            "files_checked": report.files_checked,
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "problems": [
                {
                    "path": p.path,
                    "line": p.line,
                    "column": p.column,
                    "field": p.field,
                    "severity": p.severity,
                    "code": p.code,
                    "message": p.message,
                    "hint": p.hint,
                }
                for p in report.problems
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(report: Report) -> str:
    lines = []
    for p in report.problems:
        title = f"kb validate: {p.field}" if p.field else "kb validate"
        message = p.message + (f". Hint: {p.hint}" if p.hint else "")
        lines.append(
            f"::{p.severity} file={_escape_property(p.path)},line={p.line},col={p.column},"
            f"title={_escape_property(title)}::{_escape_data(message)}"
        )
    return "\n".join(lines)


FORMATS: dict[str, Callable[[Report], str]] = {"text": _text, "json": _json, "github": _github}


def render(report: Report, fmt: str = "text") -> str:
    """The report in one of FORMATS."""
    return FORMATS[fmt](report)
