"""Checks of a case study's body: the required sections, present, named, in order and filled."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from kb.check.problems import Problem, Severity
from kb.check.rules import _without_comments
from kb.check.untrusted import _MAX_SAME
from kb.format.content import (
    REQUIRED_SECTIONS,
    SourceFile,
)


def _section_problem(
    name: str, line: int, heading: str, message: str, hint: str, severity: Severity = "error"
) -> Problem:
    """A problem with the section '## heading', at column 1 of `line`."""
    return Problem(name, line, 1, f"## {heading}", message, hint, severity, code="section")


def _absent(name: str, wanted: str, folded: dict[str, Any], end_line: int) -> Problem:
    """A required section not found: misnamed (a heading close to it), or missing."""
    # a ratio of 0.6 needs the shorter at least 3/7 of the longer: skip the rest cheaply
    size = len(wanted)
    near = [h for h in folded if 3 * len(h) >= size and len(h) <= 3 * size]
    close = difflib.get_close_matches(wanted.lower(), near, n=1, cutoff=0.6)
    if close and close[0] not in [w.lower() for w in REQUIRED_SECTIONS]:
        bad = folded[close[0]]
        return _section_problem(
            name,
            bad.line,
            wanted,
            f"the section '## {bad.heading}' should be '## {wanted}'",
            f"rename the heading to '## {wanted}'",
        )
    return _section_problem(
        name,
        end_line,
        wanted,
        f"the section '## {wanted}' is missing",
        "sections, in order: "
        + "; ".join(REQUIRED_SECTIONS)
        + ". Write 'Not stated in the sources.' when nothing is known",
    )


def _out_of_order(name: str, wanted: str, section: Any) -> Problem:
    """A required section found after one that should follow it."""
    return _section_problem(
        name,
        section.line,
        wanted,
        f"the section '## {wanted}' is out of order",
        "sections, in order: " + "; ".join(REQUIRED_SECTIONS),
    )


def _empty(name: str, wanted: str, section: Any) -> Problem | None:
    """A required section with no text (HTML comments do not count), or None."""
    if _without_comments(section.text).strip():
        return None
    return _section_problem(
        name,
        section.line,
        wanted,
        f"the section '## {wanted}' is empty",
        "write what the sources say, or 'Not stated in the sources.'",
    )


def _required(name: str, source: SourceFile, sections: Sequence[Any]) -> list[Problem]:
    """Each required section in turn: missing or misnamed, else out of order and/or empty."""
    problems: list[Problem] = []
    headings = [s.heading for s in sections]
    folded = {h.strip().lower(): s for h, s in zip(headings, sections, strict=True)}
    end_line = source.body_line + source.body.count("\n")
    last_found = -1
    for wanted in REQUIRED_SECTIONS:
        section = folded.get(wanted.lower())
        if section is None:
            problems.append(_absent(name, wanted, folded, end_line))
            continue
        position = headings.index(section.heading)
        if position < last_found:
            problems.append(_out_of_order(name, wanted, section))
        last_found = max(last_found, position)
        if (empty := _empty(name, wanted, section)) is not None:
            problems.append(empty)
    return problems


def _unexpected(name: str, sections: Sequence[Any]) -> list[Problem]:
    """Sections not among the required ones nor close to one: _MAX_SAME told, the rest counted."""
    problems: list[Problem] = []
    required = {w.lower() for w in REQUIRED_SECTIONS}
    reported, more = 0, 0
    for section in sections:
        key = section.heading.strip().lower()
        if key in required:
            continue
        if reported == _MAX_SAME:  # a hostile file may hold thousands: count the rest
            more += 1
            continue
        if not difflib.get_close_matches(key, list(required), n=1, cutoff=0.6):
            reported += 1
            problems.append(
                _section_problem(
                    name,
                    section.line,
                    section.heading,
                    f"unexpected section '## {section.heading}'",
                    "use ### for a sub-heading inside a required section",
                    "warning",
                )
            )
    if more:
        last = problems[-1]
        message = f"... and {more} more sections not among the required ones"
        problems.append(replace(last, field="body", message=message))
    return problems


def _check_sections(name: str, source: SourceFile, sections: Sequence[Any]) -> list[Problem]:
    """The body's sections: the required ones present, named, in order and filled; no others."""
    return _required(name, source, sections) + _unexpected(name, sections)
