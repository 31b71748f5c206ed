"""Every check on case-study files, collected as Problem records (never raised, never printed).

`validate_paths` reads each file, checks its YAML, its fields against the model and vocabularies,
its body sections, unsafe HTML and likely personal data, then checks across files (unique ids).
Rendering
the problems as text, JSON or GitHub annotations is `kb.check.report`'s job."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from kb.check.model_errors import _model_problems
from kb.check.problems import Problem, Report
from kb.check.rules import _check_case, _check_ics, _check_placeholders, check_blanks_and_defaults
from kb.check.sections import _check_sections
from kb.check.untrusted import _check_unsafe
from kb.errors import FileError
from kb.format.content import (
    Entry,
    find_case_files,
    parse_front_matter,
    read_source,
    split_sections,
    strip_comments,
)
from kb.format.model import CaseStudy

__all__ = ["reading_problems", "validate_file", "validate_paths"]


def validate_paths(paths: Sequence[Path]) -> Report:
    """Validate every case-study file under `paths` (files or folders) and check across them."""
    report = Report()
    files = find_case_files(paths)
    missing = [p for p in paths if not (p.exists() or p.is_symlink())]
    for path in missing:
        report.problems.append(
            Problem(str(path), 1, 1, "", "no such file or folder", "check the path", code="path")
        )
    ids: dict[str, list[tuple[str, int, int]]] = {}
    for path in files:
        if not (path.exists() or path.is_symlink()):  # removed since it was listed
            continue
        report.files_checked += 1
        problems, entry, id_at = validate_file(path)
        report.problems.extend(problems)
        if entry is not None and not any(p.severity == "error" for p in problems):
            report.entries.append(entry)
        if id_at is not None:
            ids.setdefault(id_at[0], []).append((str(path), id_at[1], id_at[2]))
    for case_id, places in ids.items():
        if len(places) > 1:
            for place in places:
                others = ", ".join(p for p, _, _ in places if p != place[0])
                report.problems.append(
                    Problem(
                        place[0],
                        place[1],
                        place[2],
                        "id",
                        f"the id '{case_id}' is also used by {others}",
                        "every case study needs its own id; rename one file and its id",
                        code="duplicate-id",
                    )
                )
    duplicated = {i for i, places in ids.items() if len(places) > 1}
    report.entries = [e for e in report.entries if e.id not in duplicated]
    report.problems.sort(key=lambda p: (p.path, p.line, p.column, p.field))
    return report


def validate_file(path: Path) -> tuple[list[Problem], Entry | None, tuple[str, int, int] | None]:
    """Problems of one file, its Entry if valid, and (id, line, column) for cross-file checks."""
    name = str(path)
    try:
        source = read_source(path)
        located = parse_front_matter(source.front_matter, source.front_matter_line)
    except FileError as exc:
        return (
            [Problem(name, exc.line, exc.column, "", exc.message, exc.hint, code=exc.code)],
            None,
            None,
        )

    problems: list[Problem] = []
    # comments are notes for editors: never published, searched or compared (their text is
    # still checked below, as the file itself is public)
    body = strip_comments(source.body)
    sections = split_sections(body, source.body_line)
    problems += _check_sections(name, source, sections)
    problems += _check_unsafe(name, source, located)
    problems += _check_placeholders(name, source, located)
    problems += check_blanks_and_defaults(name, source, located)

    raw_id = located.data.get("id")
    id_at = None
    if isinstance(raw_id, str):
        line, column = located.position(("id",))
        id_at = (raw_id, line, column)
        if raw_id != path.stem:
            problems.append(
                Problem(
                    name,
                    line,
                    column,
                    "id",
                    f"the id '{raw_id}' differs from the file name '{path.stem}'",
                    f"rename the file to {raw_id}.md, or set id: {path.stem}",
                    code="id-filename",
                )
            )

    problems += _check_ics(name, located)
    try:
        case = CaseStudy.model_validate(located.data)
    except ValidationError as exc:
        problems += _model_problems(name, located, exc)
        return problems, None, id_at

    problems += _check_case(name, case, located)
    entry = Entry(
        path=path,
        case=case,
        body=body,
        sections=sections,
        content_hash=source.content_hash,
    )
    return problems, entry, id_at


def reading_problems(path: Path) -> list[Problem]:
    """What stops a file reading as a case study at all (so that it cannot be compared or shown).

    An unreadable file, YAML that does not parse, or front-matter the format refuses; not the
    checks a readable case study can still fail (a TODO left in, a section missing). Empty when
    the file reads.
    """
    name = str(path)
    try:
        source = read_source(path)
        located = parse_front_matter(source.front_matter, source.front_matter_line)
        CaseStudy.model_validate(located.data)
    except FileError as exc:
        return [Problem(name, exc.line, exc.column, "", exc.message, exc.hint, code=exc.code)]
    except ValidationError as exc:
        return _model_problems(name, located, exc)
    return []
