"""Rendering validation problems as text, JSON or GitHub workflow annotations.

The JSON form (`kb validate --format json`, `kb duplicates --format json`) is one object:
`valid` (no error), `files_checked`, `errors` and `warnings` (counts), and `problems`, each with
`path`, `line`, `column`, `field`, `severity` ('error' or 'warning'), `code`, `message` and
`hint`. A command may add fields of its own (`kb duplicates`: see `kb.tools.duplicates`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from kb.check.problems import Problem, Report

__all__ = ["FORMATS", "escape_text", "render"]

# characters that move the cursor, start terminal escapes, break lines or reorder text
# (and lone surrogates, which a file name that is not UTF-8 decodes to)
_INVISIBLE = (
    "\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ud800-\udfff"
    "\ufeff\ufff9-\ufffb"
)
_UNSAFE = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
_UNSAFE_IN_JSON = re.compile(f"[{_INVISIBLE}]")  # json.dumps escapes the rest itself
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_text(text: str) -> str:
    """`text` with control, line-breaking and bidirectional characters shown as escapes.

    A value (or a file name) can then neither clear the screen, colour the output, start a line of
    its own (a fake 'all valid') nor reorder what is printed around it.
    """
    return _UNSAFE.sub(_escaped, text)


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _safe(p: Problem) -> Problem:
    """The problem with every text field escaped for printing."""
    return Problem(
        escape_text(p.path),
        p.line,
        p.column,
        escape_text(p.field),
        escape_text(p.message),
        escape_text(p.hint),
        p.severity,
        escape_text(p.code),
    )


def _text(report: Report, summary: str | None = None) -> str:
    lines: list[str] = []
    for p in map(_safe, report.problems):
        where = f" [{p.field}]" if p.field else ""
        lines.append(f"{p.location()}: {p.severity}{where}: {p.message}")
        if p.hint:
            lines.append(f"    hint: {p.hint}")
    if summary is not None:
        lines.append(escape_text(summary))
    elif report.problems:
        bad_files = len({p.path for p in report.errors})
        lines.append(
            f"{report.files_checked} file(s) checked: {len(report.errors)} error(s) in "
            f"{bad_files} file(s), {len(report.warnings)} warning(s)"
        )
    else:
        lines.append(f"{report.files_checked} file(s) checked: all valid")
    return "\n".join(lines)


def _json(report: Report, extra: Mapping[str, Any] | None = None) -> str:
    """JSON with the exact values; unsafe characters are written as \\u escapes, never raw."""
    text = json.dumps(
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
            **(extra or {}),
        },
        indent=2,
        ensure_ascii=False,
    )
    return _UNSAFE_IN_JSON.sub(_json_escaped, text)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(report: Report, command: str = "kb validate") -> str:
    lines = []
    for p in map(_safe, report.problems):
        title = f"{command}: {p.field}" if p.field else command
        message = p.message + (f". Hint: {p.hint}" if p.hint else "")
        lines.append(
            f"::{p.severity} file={_escape_property(p.path)},line={p.line},col={p.column},"
            f"title={_escape_property(title)}::{_escape_data(message)}"
        )
    return "\n".join(lines)


FORMATS: dict[str, Callable[[Report], str]] = {"text": _text, "json": _json, "github": _github}


def render(
    report: Report,
    fmt: str = "text",
    *,
    summary: str | None = None,
    extra: Mapping[str, Any] | None = None,
    command: str = "kb validate",
) -> str:
    """The report in one of FORMATS.

    `summary` replaces the last line of the text form (GitHub annotations have none); `extra`
    adds fields to the JSON object; `command` titles the GitHub annotations.
    """
    if fmt == "text" and summary is not None:
        return _text(report, summary)
    if fmt == "json" and extra:
        return _json(report, extra)
    if fmt == "github":
        return _github(report, command)
    return FORMATS[fmt](report)
