"""Every check on case-study files, collected as Problem records (never raised, never printed).

`validate_paths` reads each file, checks its YAML, its fields against the model and vocabularies,
its body sections, unsafe HTML and likely personal data, then checks across files (unique ids).
Rendering
the problems as text, JSON or GitHub annotations is `kb.report`'s job.
"""

from __future__ import annotations

import bisect
import difflib
import html
import re
import typing
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from kb.content import (
    PLACEHOLDER,
    REQUIRED_SECTIONS,
    Entry,
    FileError,
    Located,
    SourceFile,
    find_case_files,
    iter_strings,
    parse_front_matter,
    read_source,
    split_sections,
    strip_comments,
)
from kb.model import ICS_START, REASONED_FIELDS, SCALE_UNITS, CaseStudy
from kb.site import is_remote_url
from kb.vocab import load_vocabularies

__all__ = [
    "NOT_STATED_FIELDS",
    "Problem",
    "Report",
    "reading_problems",
    "validate_file",
    "validate_paths",
]

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


# ---------------------------------------------------------------------------------------------
# one file


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


# ---------------------------------------------------------------------------------------------
# pydantic errors -> problems

_UNION_TAGS = {"int", "float", "str", "bool", "number", "range", "list", "dict", "none"}


def _clean_loc(loc: tuple[Any, ...], data: Any) -> FieldPath:
    """Drop the union-member names pydantic adds (such as 'float' or 'range') from a location.

    A part is kept when it exists in the data at that point (a real key or list index), or when it
    names a field that is missing; it is dropped when it is a type name pydantic made up.
    """
    out: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        elif isinstance(part, str) and (
            part in _UNION_TAGS or not re.fullmatch(r"[a-z_][a-z0-9_]*", part)
        ):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _model_at(path: FieldPath) -> type[BaseModel] | None:
    """The model class whose fields live at `path` (CaseStudy at the top)."""
    model: type[BaseModel] | None = CaseStudy
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        model = _unwrap_model(info.annotation) if info else None
    return model


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_problems(name: str, located: Located, exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[FieldPath, str]] = set()
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"], located.data)
        ctx = error.get("ctx") or {}
        if "field" in ctx:
            loc = (*loc, ctx["field"])
        kind = error["type"]
        hint = str(ctx.get("hint", ""))
        message = error["msg"]
        if kind == "extra_forbidden" and loc:
            key = str(loc[-1])
            model = _model_at(loc[:-1])
            known = list(model.model_fields) if model else []
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            message = f"unknown field '{key}'"
            hint = f"did you mean '{close[0]}'?" if close else "allowed: " + ", ".join(known)
        elif kind == "missing" and loc:
            model = _model_at(loc[:-1])
            info = model.model_fields.get(str(loc[-1])) if model else None
            message = f"'{loc[-1]}' is required"
            hint = (info.description or "") if info else ""
            hint = hint or "add it; see `kb new` for a template"
        elif kind in (
            "string_type",
            "list_type",
            "dict_type",
            "model_type",
            "model_attributes_type",
        ):
            wanted = {
                "string_type": "text",
                "list_type": "a list",
                "dict_type": "a set of fields",
                "model_type": "a set of fields",
                "model_attributes_type": "a set of fields",
            }[kind]
            message = f"should be {wanted}, not {_describe(error['input'])}"
            if kind == "list_type":
                hint = hint or "write [a, b] or one item per line starting with '- '"
            elif kind == "string_type":
                hint = hint or "put the value in quotes"
        elif kind == "string_type" and error.get("input") is None:
            model = _model_at(loc[:-1])
            info = model.model_fields.get(str(loc[-1])) if model and loc else None
            message = f"'{format_field(loc)}' is empty"
            described = (info.description or "") if info else ""
            hint = f"give a value: {described}" if described else "give a value, or remove the line"
        elif kind == "string_too_long" and isinstance(error.get("input"), str):
            limit = ctx.get("max_length")
            length = len(error["input"])
            message = f"'{format_field(loc)}' is {length} characters long; the limit is {limit}"
            hint = f"cut {length - int(limit or length)} characters; detail belongs in the body"
        elif kind == "string_pattern_mismatch" and loc == ("id",):
            message = f"the id {_describe(error['input'])} is not kebab-case"
            hint = "use lowercase words and digits joined by hyphens, e.g. norfolk-falls-prevention"
        elif kind in ("too_short",) and isinstance(error.get("input"), list):
            message = f"'{format_field(loc)}' needs at least one value"
            hint = hint or "add at least one value"
        elif kind not in ("vocabulary", "number", "duplicate", "url", "year_month"):
            message = f"{message[0].lower()}{message[1:]}"
            if not isinstance(error.get("input"), dict | list):
                message += f" (got {_describe(error.get('input'))})"
        if not hint:
            model = _model_at(loc[:-1])
            info = model.model_fields.get(str(loc[-1])) if model and loc else None
            hint = (info.description or "") if info else ""
            hint = f"{loc[-1]}: {hint}" if hint else "`kb schema` describes every field"
        seen_key = (loc, message)
        if seen_key in seen:
            continue
        seen.add(seen_key)
        where = located.key_position if kind == "extra_forbidden" else located.position
        line, column = where(loc)
        problems.append(Problem(name, line, column, format_field(loc), message, hint, code=kind))
    return problems


# ---------------------------------------------------------------------------------------------
# checks on the raw data (they run even when other fields are invalid)


def _raw_list(value: Any) -> list[tuple[int | None, Any]]:
    if isinstance(value, list):
        return list(enumerate(value))
    return [] if value is None else [(None, value)]


def _check_ics(name: str, located: Located) -> list[Problem]:
    """The ICS belongs to the stated region, and existed when the initiative started."""
    vocab = load_vocabularies()
    problems: list[Problem] = []
    regions = [
        vocab.regions.resolve(r)
        for _, r in _raw_list(located.data.get("region"))
        if isinstance(r, str)
    ]
    known_regions = [r for r in regions if r]
    started = located.data.get("started")
    started_year = str(started)[:4] if started is not None else ""
    for index, raw in _raw_list(located.data.get("ics")):
        if not isinstance(raw, str) or (ics_id := vocab.ics.resolve(raw)) is None:
            continue
        term = vocab.ics.get(ics_id)
        path: FieldPath = ("ics",) if index is None else ("ics", index)
        line, column = located.position(path)
        home = vocab.regions.label(term.region or "")
        if not regions:
            problems.append(
                Problem(
                    name,
                    line,
                    column,
                    "region",
                    "'region' is required when 'ics' is given",
                    f"add region: {home}",
                    code="missing",
                )
            )
        elif known_regions and term.region not in known_regions:
            stated = ", ".join(vocab.regions.label(r) for r in known_regions)
            problems.append(
                Problem(
                    name,
                    line,
                    column,
                    format_field(path),
                    f"the ICS '{term.label}' is in {home}, not in {stated}",
                    f"set region: {home}, or check the ICS",
                    code="ics-region",
                )
            )
        if started_year.isdigit() and term.valid_to and started_year > str(term.valid_to.year):
            successors = ", ".join(vocab.ics.label(s) for s in term.successors) or "its successor"
            problems.append(
                Problem(
                    name,
                    line,
                    column,
                    format_field(path),
                    f"'{term.label}' ended on {term.valid_to}, before this initiative started",
                    f"name the ICS of the time: {successors}",
                    "warning",
                    "ics-dates",
                )
            )
    return problems


# ---------------------------------------------------------------------------------------------
# checks on a valid model


def _check_case(name: str, case: CaseStudy, located: Located) -> list[Problem]:
    problems: list[Problem] = []

    def add(
        path: FieldPath,
        message: str,
        hint: str,
        severity: Severity = "error",
        code: str = "invalid",
    ) -> None:
        line, column = located.position(path)
        problems.append(
            Problem(name, line, column, format_field(path), message, hint, severity, code)
        )

    if not case.region and not case.ics and "national" not in case.level:
        add(
            ("region",),
            "'region' is required unless the work is national",
            "add region, or level: [national]",
            code="missing",
        )
    for kind, figures in (("outcomes", case.outcomes), ("context_figures", case.context_figures)):
        for index, figure in enumerate(figures):
            if figure.source > len(case.sources):
                add(
                    (kind, index, "source"),
                    f"source {figure.source} does not exist: there are {len(case.sources)} sources",
                    "number the sources from 1, in the order of the 'sources' list",
                    code="source-index",
                )
    reasons = case.rationale
    for field_name in ("meps", "three_cs"):
        if not getattr(case, field_name) and not (reasons and getattr(reasons, field_name)):
            add(
                (field_name,),
                f"no '{field_name}' tags: leaders filtering by them will not find it",
                "add at least one, with a line in 'rationale' saying why; if none applies, say "
                "why in 'rationale'",
                "warning",
                code="tags",
            )
    given = located.data.get("rationale")
    given = given if isinstance(given, dict) else {}
    missing = [f for f in REASONED_FIELDS if f not in given]  # a blank one is an error already
    if missing:
        add(
            ("rationale",),
            f"no line in 'rationale' for {', '.join(missing)}: readers cannot see why the "
            "tags were chosen",
            "give each tag field one line in 'rationale' saying why these tags, or why none "
            "applies (e.g. drivers: \"none of the three drivers is shown in the sources\")",
            "warning",
            code="rationale",
        )
    if not any(o.numeric for o in case.outcomes) and not case.outcomes_note:
        add(
            ("outcomes",),
            "no numeric outcomes: readers cannot see how much changed",
            "add outcomes with their figures and status (achieved, estimated or target); if the "
            "sources give none, say so in 'outcomes_note'",
            "warning",
            code="outcomes",
        )
    for index, outcome in enumerate(case.outcomes):
        if outcome.unit in SCALE_UNITS and not outcome.scale:
            add(
                ("outcomes", index, "unit"),
                f"a {outcome.unit} without its scale",
                "name the scale in 'scale' (e.g. scale: WEMWBS), so readers can compare it",
                "warning",
                code="scale",
            )
    for index, source in enumerate(case.sources):
        if source.year is None and source.accessed is None:
            add(
                ("sources", index),
                "an undated source with no date it was read",
                "add accessed: YYYY-MM-DD (the day you read the page), or the year of publication",
                "warning",
                code="source-date",
            )
        elif source.url and source.accessed is None and not _written(located, index):
            add(
                ("sources", index, "accessed"),
                "a web source with no date it was read",
                "add accessed: YYYY-MM-DD, the day you read the page: pages change or move, and "
                "the date lets a reader find the version you read (in a web archive, say)",
                "warning",
                code="source-accessed",
            )
    if case.reviewed is None and "reviewed" not in located.data:  # a blank one is an error
        add(
            ("reviewed",),
            "no 'reviewed' date: readers cannot tell when the facts were last checked",
            "add reviewed: YYYY-MM-DD (after 'sources'), the day you last checked the entry "
            "against its sources",
            "warning",
            code="reviewed",
        )
    wide = {"system", "region", "national"} & set(case.level or ())
    if case.started and case.started < ICS_START and case.ics and not case.place and not wide:
        add(
            ("place",),
            f"the work began in {case.started}, before ICSs existed (July 2022)",
            "name the ICS that covers the place now in 'ics', and the place itself in 'place' "
            "(the town, borough or county); work across the whole ICS area needs no place: "
            "write level: [system]",
            "warning",
            code="place",
        )
    return problems


def _written(located: Located, source: int) -> bool:
    """Whether source number `source` has an 'accessed' line (a blank one is an error already)."""
    sources = located.data.get("sources")
    item = sources[source] if isinstance(sources, list) and source < len(sources) else None
    return isinstance(item, dict) and "accessed" in item


# ---------------------------------------------------------------------------------------------
# body sections


def _check_sections(name: str, source: SourceFile, sections: Sequence[Any]) -> list[Problem]:
    problems: list[Problem] = []
    headings = [s.heading for s in sections]
    folded = {h.strip().lower(): s for h, s in zip(headings, sections, strict=True)}
    end_line = source.body_line + source.body.count("\n")
    last_found = -1
    for wanted in REQUIRED_SECTIONS:
        section = folded.get(wanted.lower())
        if section is None:
            # a ratio of 0.6 needs the shorter at least 3/7 of the longer: skip the rest cheaply
            size = len(wanted)
            near = [h for h in folded if 3 * len(h) >= size and len(h) <= 3 * size]
            close = difflib.get_close_matches(wanted.lower(), near, n=1, cutoff=0.6)
            if close and close[0] not in [w.lower() for w in REQUIRED_SECTIONS]:
                bad = folded[close[0]]
                problems.append(
                    Problem(
                        name,
                        bad.line,
                        1,
                        f"## {wanted}",
                        f"the section '## {bad.heading}' should be '## {wanted}'",
                        f"rename the heading to '## {wanted}'",
                        code="section",
                    )
                )
            else:
                problems.append(
                    Problem(
                        name,
                        end_line,
                        1,
                        f"## {wanted}",
                        f"the section '## {wanted}' is missing",
                        "sections, in order: "
                        + "; ".join(REQUIRED_SECTIONS)
                        + ". Write 'Not stated in the sources.' when nothing is known",
                        code="section",
                    )
                )
            continue
        position = headings.index(section.heading)
        if position < last_found:
            problems.append(
                Problem(
                    name,
                    section.line,
                    1,
                    f"## {wanted}",
                    f"the section '## {wanted}' is out of order",
                    "sections, in order: " + "; ".join(REQUIRED_SECTIONS),
                    code="section",
                )
            )
        last_found = max(last_found, position)
        if not _without_comments(section.text).strip():
            problems.append(
                Problem(
                    name,
                    section.line,
                    1,
                    f"## {wanted}",
                    f"the section '## {wanted}' is empty",
                    "write what the sources say, or 'Not stated in the sources.'",
                    code="section",
                )
            )
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
                Problem(
                    name,
                    section.line,
                    1,
                    f"## {section.heading}",
                    f"unexpected section '## {section.heading}'",
                    "use ### for a sub-heading inside a required section",
                    "warning",
                    code="section",
                )
            )
    if more:
        last = problems[-1]
        message = f"... and {more} more sections not among the required ones"
        problems.append(replace(last, field="body", message=message))
    return problems


def _without_comments(text: str) -> str:
    """`text` without HTML comments; an unclosed one runs to the end (linear, unlike a regex)."""
    parts: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) >= 0:
        parts.append(text[pos:start])
        end = text.find("-->", start + 4)
        if end < 0:
            return "".join(parts)
        pos = end + 3
    parts.append(text[pos:])
    return "".join(parts)


def _check_placeholders(name: str, source: SourceFile, located: Located) -> list[Problem]:
    """The scaffold's TODO markers must all be replaced before a case study is valid."""
    problems: list[Problem] = []
    for path, value in iter_strings(located.data):
        if value.strip() == PLACEHOLDER:
            line, column = located.position(path)
            problems.append(
                Problem(
                    name,
                    line,
                    column,
                    format_field(path),
                    f"'{format_field(path)}' still holds the placeholder TODO",
                    "replace it with the real value",
                    code="placeholder",
                )
            )
    lines = [i for i, text in enumerate(source.body.split("\n")) if text.strip() == PLACEHOLDER]
    for offset in lines[:_MAX_SAME]:
        problems.append(
            Problem(
                name,
                source.body_line + offset,
                1,
                "body",
                "a TODO placeholder is still in the text",
                "replace it with what the sources say, or 'Not stated in the sources.'",
                code="placeholder",
            )
        )
    if len(lines) > _MAX_SAME:
        more = f"... and {len(lines) - _MAX_SAME} more TODO placeholders in the text"
        problems.append(replace(problems[-1], message=more))
    return problems


def _walk(data: Any, path: FieldPath = ()) -> Iterable[tuple[FieldPath, Any]]:
    """Every leaf value of nested front-matter (empty lists and mappings count as leaves)."""
    if isinstance(data, dict) and data:
        for key, value in data.items():
            yield from _walk(value, (*path, key))
    elif isinstance(data, list) and data:
        for index, value in enumerate(data):
            yield from _walk(value, (*path, index))
    else:
        yield path, data


def check_blanks_and_defaults(name: str, source: SourceFile, located: Located) -> list[Problem]:
    """Fields written with no value ('status:'), and values `kb new` pre-filled left unchecked.

    A blank is never a way to say 'unknown': the contributor gives the value, writes 'not stated'
    in the fields an outcome cannot do without (NOT_STATED_FIELDS), or deletes the line. A
    pre-filled line still carries the scaffold's marker comment and its value; deleting the
    comment confirms the value.
    """
    from kb.scaffold import DEFAULT_MARK, PREFILLED

    problems: list[Problem] = []
    for path, value in _walk(located.data):
        if not path or not (value is None or (isinstance(value, str) and not value.strip())):
            continue
        line, column = located.position(path)
        where = format_field(path)
        hint = (
            "write the value, or 'not stated' if the sources do not say (an outcome needs it)"
            if (path[0], path[-1]) in NOT_STATED_FIELDS
            else "write the value, or delete the line if the sources do not say"
        )
        problems.append(
            Problem(name, line, column, where, f"'{where}' is blank", hint, code="blank")
        )
    lines = source.text.split("\n")
    for path, default in PREFILLED.items():
        node: Any = located.data
        for part in path:
            inside = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
            node = node[part] if inside or in_list else _MISSING
        if node is _MISSING or node != default:
            continue
        line, column = located.position(path)
        if 0 < line <= len(lines) and DEFAULT_MARK in lines[line - 1]:
            where = format_field(path)
            problems.append(
                Problem(
                    name,
                    line,
                    column,
                    where,
                    f"'{where}' still holds the value `kb new` pre-filled ({default!r})",
                    f"correct it from the sources; if it is right, delete the '{DEFAULT_MARK}' "
                    "comment on that line",
                    code="untouched-default",
                )
            )
    return problems


_MISSING = object()
# The fields the format requires even where the sources are silent: there, 'not stated' is
# written. Any other field the sources say nothing about is left out (its line deleted).
NOT_STATED_FIELDS: tuple[tuple[str, str], ...] = (
    ("outcomes", "timeframe"),
    ("outcomes", "comparator"),
)


# ---------------------------------------------------------------------------------------------
# untrusted text: script, remote images and personal data
#
# Text is checked as a browser or a reader would take it: character references decoded (twice-
# encoded ones too), the characters a browser drops from a URL removed, and for personal data the
# text NFKC-normalised with invisible characters removed. Every pattern runs in time linear in the
# text: quantifiers are possessive or bounded, a tag is searched only up to the next '<' or '>',
# and digits are found once, then combined in Python.


class _View(typing.NamedTuple):
    """A transformed copy of some text, and for each of its characters the source offset."""

    text: str
    origin: list[int] | None  # None: the same offsets as the source

    def source(self, offset: int) -> int:
        """The source offset of the view's character at `offset`."""
        if self.origin is None:
            return offset
        if not self.origin:
            return 0
        return self.origin[min(offset, len(self.origin) - 1)]


def _edit(view: _View, edits: Iterable[tuple[int, int, str]]) -> _View:
    """`view` with the ordered, non-overlapping (start, end, replacement) edits applied."""
    text, old = view.text, view.origin
    parts: list[str] = []
    index: list[int] = []
    pos = 0
    for start, end, replacement in edits:
        if text[start:end] == replacement:
            continue
        parts.append(text[pos:start])
        index.extend(old[pos:start] if old is not None else range(pos, start))
        parts.append(replacement)
        if len(replacement) == end - start:  # character for character
            index.extend(old[start:end] if old is not None else range(start, end))
        else:
            index.extend([view.source(start)] * len(replacement))
        pos = end
    if not parts:
        return view
    parts.append(text[pos:])
    index.extend(old[pos:] if old is not None else range(pos, len(text)))
    return _View("".join(parts), index)


_CHARREF = re.compile(r"&(?:#[0-9]++;?|#[xX][0-9a-fA-F]++;?|[^\t\n\f <&#;]{1,32};?)")
_URL_DROPPED = re.compile(
    "[\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff]++"
)
_NON_ASCII = re.compile(r"[\x00-\x7f]?[^\x00-\x7f]++")
_PERCENT = re.compile("%[0-7][0-9A-Fa-f]")  # a URL-encoded ASCII character: '%20', '%40'


def _unescape_ref(ref: str) -> str:
    """One character reference decoded as a browser would (out-of-range numbers: U+FFFD)."""
    if ref.startswith("&#"):
        digits = ref[2:].rstrip(";")
        hexadecimal = digits[:1] in ("x", "X")
        digits = (digits[1:] if hexadecimal else digits).lstrip("0") or "0"
        if len(digits) > 8:
            return "\ufffd"
        return html.unescape(f"&#{'x' if hexadecimal else ''}{digits};")
    return html.unescape(ref)


def _html_view(text: str) -> _View:
    """Text with character references decoded, up to three times (for '&amp;#106;')."""
    view = _View(text, None)
    for _ in range(3):
        if "&" not in view.text:
            break
        refs = _CHARREF.finditer(view.text)
        decoded = _edit(view, ((m.start(), m.end(), _unescape_ref(m.group())) for m in refs))
        if decoded.text == view.text:
            break
        view = decoded
    return view


def _url_view(view: _View) -> _View:
    """Without tabs, line breaks, control and invisible characters: 'java<TAB>script:'."""
    return _edit(view, ((m.start(), m.end(), "") for m in _URL_DROPPED.finditer(view.text)))


def _nfkc(run: str) -> str:
    normal = unicodedata.normalize("NFKC", run)
    if normal.isascii():  # no invisible (Cf) character to remove
        return normal
    return "".join(c for c in normal if unicodedata.category(c) != "Cf")


def _plain_view(view: _View) -> _View:
    """As a reader sees it: URL-encoding ('%20', '%40') decoded, NFKC-normalised, invisible
    characters removed."""
    if "%" in view.text:
        escapes = _PERCENT.finditer(view.text)
        view = _edit(view, ((m.start(), m.end(), chr(int(m.group()[1:], 16))) for m in escapes))
    if not view.text.isascii():
        runs = _NON_ASCII.finditer(view.text)
        view = _edit(view, ((m.start(), m.end(), _nfkc(m.group())) for m in runs))
    return view


_DANGEROUS_TAG = re.compile(
    r"<\s*+/?\s*+(script|iframe|frame|frameset|object|embed|applet|base|meta|link|style|form|svg"
    r"|math|template|noscript)\b",
    re.IGNORECASE,
)
# a tag runs to its '>' or to the next tag's '<' (a browser reads 'x<1' as an attribute name)
_EVENT_ATTR = re.compile(r"<[a-z](?:[^<>]|<(?![a-z/!?]))*?[\s/\"'`]on[a-z]++\s*+=", re.IGNORECASE)
_ATTR_LIST = re.compile(r"\{:?[^{}\n]*?(?<![\w-])on[a-z]++\s*+=", re.IGNORECASE)
# a quote that ends an attribute value, then an event handler: '" autofocus onfocus="...'
_BREAKOUT = re.compile(r"[\"'`][^\"'`<>\n]*?(?<=[\s/\"'`])on[a-z]++\s*+=", re.IGNORECASE)
_SCRIPT_URL = re.compile(r"(?:java|vb|live)script\s*+:|data\s*+:\s*+text/html", re.IGNORECASE)
_ANY_TAG = re.compile(r"<\s*+/?\s*+([a-z][a-z0-9]*+)(?=[\s/>])", re.IGNORECASE)
_REMOTE_SRC = re.compile(r"(?<![\w-])src\s*+=\s*+[\"']?\s*+([^\"'<>{} \f]++)", re.IGNORECASE)
_MD_IMAGE = re.compile(r"!\[([^\[\]]*+)\](?:\(\s*+<?([^\s)>]++)|\[([^\[\]]*+)\])?")
_MD_REFERENCE = re.compile(r"^ {0,3}\[([^\[\]]++)\]:[ \t]*+\n?[ \t]*+<?([^\s>]++)", re.MULTILINE)
_EMAIL = re.compile(r"(?<![\w.%+'-])([\w.%+'-]++)@([\w-]++(?:\.[\w-]++)++)")
_SEPARATOR = r"[\s.\-/\\()_\u2010-\u2015\u2212]"
_NUMBER = re.compile(rf"\+?\d(?:{_SEPARATOR}{{0,3}}\d)*+")
_DIGITS = re.compile(r"\d++")
_URL_PATH = re.compile(r"(?:https?://|(?<![\w.])www\.)([^\s?#<>\"')\]]++)", re.IGNORECASE)
_PUBLIC_LINE = re.compile(r"\b(?:help ?line|switchboard|freephone)\b", re.IGNORECASE)

_ROLE_WORDS = frozenset(
    {
        "info", "enquiries", "enquiry", "contact", "contactus", "us", "admin", "hello", "team",
        "office", "press", "media", "communications", "comms", "support", "help", "helpdesk",
        "feedback", "general", "mail", "reception", "england", "engagement", "partnerships",
        "partnership", "prevention", "publichealth", "public", "health", "nhs", "icb", "ics", "ccg",
        "noreply", "no", "reply", "webmaster", "service", "services", "programme", "programmes",
        "project", "projects", "data", "digital", "events", "bookings", "booking", "referrals",
        "referral", "hr", "jobs", "careers", "recruitment", "safeguarding", "accessibility", "foi",
        "pals", "complaints", "patient", "patients", "experience", "queries", "query", "research",
        "evaluation", "innovation", "improvement", "population", "wellbeing", "network", "alliance",
        "board", "council", "uk", "gov", "org", "business", "finance", "commissioning",
        "transformation", "care", "integrated", "system", "systems", "inclusion", "equality", "hub",
        "desk", "unit",
    }
)  # fmt: skip
# addresses anyone can open: an address there is an individual's, whatever its local part says
_FREE_MAIL_NAMES = frozenset(
    {
        "gmail", "googlemail", "hotmail", "outlook", "yahoo", "ymail", "icloud", "aol",
        "protonmail", "btinternet", "gmx", "yandex", "tutanota", "virginmedia", "talktalk",
    }
)  # fmt: skip
_FREE_MAIL_DOMAINS = frozenset(
    {
        "live.com", "live.co.uk", "msn.com", "me.com", "mac.com", "mail.com", "sky.com", "pm.me",
        "proton.me", "fastmail.com", "hey.com", "zoho.com",
    }
)  # fmt: skip


def nhs_number_valid(digits: str) -> bool:
    """True if ten digits pass the NHS number modulus-11 check."""
    if len(digits) != 10 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _uk_phone(digits: str, international: bool) -> bool:
    """True for a UK number starting 01, 02, 03 or 07, written nationally or as +44 / 0044."""
    if digits.startswith("0044"):
        rest = digits[4:]
    elif digits.startswith("44") and (international or len(digits) in (12, 13)):
        rest = digits[2:]
    else:
        return len(digits) == 11 and digits[0] == "0" and digits[1] in "1237"
    rest = rest[1:] if rest.startswith("0") else rest  # +44 (0)20 ...
    return len(rest) == 10 and rest[0] in "1237"


def _role_word(token: str) -> bool:
    """'team', or role words run together ('contactus', 'publichealthteam')."""
    if token in _ROLE_WORDS or token.isdigit():
        return True
    if len(token) > 40:
        return False
    ends = {0}
    for end in range(1, len(token) + 1):
        if any(token[start:end] in _ROLE_WORDS for start in ends if start < end):
            ends.add(end)
    return len(token) in ends


def _personal_email(match: re.Match[str]) -> bool:
    """An address at a free-mail domain, or with a local part not all role words, is a person's."""
    domain = match.group(2).lower()
    labels = domain.split(".")
    if _FREE_MAIL_NAMES & set(labels) or domain in _FREE_MAIL_DOMAINS:
        return True
    tokens = [t for t in re.split(r"[._%+'-]+", match.group(1).lower()) if t]
    return not tokens or not all(_role_word(t) for t in tokens)


def _not_dangerous(match: re.Match[str]) -> bool:
    return match.group(1).lower() != "img" and not _DANGEROUS_TAG.match(match.group(0) + " ")


def _remote_src(match: re.Match[str]) -> bool:
    return is_remote_url(match.group(1))


def _remote_inline_image(match: re.Match[str]) -> bool:
    return match.group(2) is not None and is_remote_url(match.group(2))


Finding = tuple[int, int, str, str, Severity, str]  # source start, end, message, hint, ...
_ViewName = Literal["html", "url", "plain"]


@dataclass(frozen=True)
class _Rule:
    """A pattern in untrusted text, the view of the text it looks at, and what to say."""

    pattern: re.Pattern[str]
    view: _ViewName
    message: str  # {text}: the text found; {tag}: the first group, lower case
    hint: str
    severity: Severity
    code: str
    keep: Callable[[re.Match[str]], bool] = lambda match: True
    body_only: bool = False  # images are rendered only from the Markdown body


_SCRIPT_HINT = (
    "remove it; link only to https:// addresses. Character references (&#106;), tabs and line "
    "breaks do not hide it: browsers read them as the plain word"
)
_IMAGE_MESSAGE = (
    "the image '{text}' comes from another server: it is dropped when the site is published "
    "(it would let that server see who reads the page)"
)
_IMAGE_HINT = "remove the image, or link to the page that shows it: [chart](https://...)"

_RULES: tuple[_Rule, ...] = (
    _Rule(
        _DANGEROUS_TAG,
        "html",
        "raw HTML <{tag}> is not allowed: it could run script",
        "remove the tag; use Markdown for formatting and links",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _EVENT_ATTR,
        "html",
        "an HTML event-handler attribute (on...=) is not allowed: it runs script",
        "remove the HTML; use Markdown",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _ATTR_LIST,
        "html",
        "an attribute list '{text}' sets an event handler (on...=): it could run script",
        "remove the {: ...} attribute list; use Markdown",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _BREAKOUT,
        "html",
        "'{text}' looks like an attempt to add an event handler to an HTML attribute",
        "remove the quote and the on...= text",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _SCRIPT_URL,
        "url",
        "a '{text}' link is not allowed: it runs script",
        _SCRIPT_HINT,
        "error",
        "unsafe-html",
    ),
    _Rule(
        _ANY_TAG,
        "html",
        "raw HTML <{tag}> is removed when the site is published",
        "use Markdown instead of HTML",
        "warning",
        "raw-html",
        _not_dangerous,
    ),
    _Rule(
        _REMOTE_SRC,
        "html",
        _IMAGE_MESSAGE,
        _IMAGE_HINT,
        "warning",
        "remote-image",
        _remote_src,
        body_only=True,
    ),
    _Rule(
        _MD_IMAGE,
        "html",
        _IMAGE_MESSAGE,
        _IMAGE_HINT,
        "warning",
        "remote-image",
        _remote_inline_image,
        body_only=True,
    ),
    _Rule(
        _EMAIL,
        "plain",
        "'{text}' looks like an individual's e-mail address",
        "remove personal data; give a team or organisation address (such as enquiries@...) at "
        "the organisation's own domain",
        "error",
        "personal-data",
        _personal_email,
    ),
)
_PHONE_MESSAGE = "'{text}' looks like a UK phone number; a person's number must not be published"
_PHONE_HINT = (
    "remove it; a public service line may stay when the same line (or field) says it is a "
    "helpline, switchboard or freephone number"
)
_NHS_MESSAGE = "'{text}' looks like an NHS number (its check digit is valid)"
_NHS_HINT = "remove it: a case study must never identify a patient"


def _shown(text: str, start: int, end: int) -> str:
    shown = text[start:end].strip()
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _context(text: str, offset: int, whole: bool) -> str:
    """The line holding `offset` (or all of a front-matter value), as a reader sees it."""
    if whole:
        return text
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return text[start : end if end >= 0 else len(text)]


def _public_line(context: str) -> bool:
    """True if the text around a phone number marks it as a public service line."""
    return bool(_PUBLIC_LINE.search(_plain_view(_View(context, None)).text))


def _number_windows(groups: list[str], international: bool) -> Iterator[tuple[int, int, str]]:
    """(first, last, kind) of the runs of digit groups that form an NHS or a UK phone number.

    A run must start and end at a group's edge; each group is looked at a bounded number of times.
    """
    digits = "".join(groups)
    edges = [0]
    for group in groups:
        edges.append(edges[-1] + len(group))
    group_ending_at = {edge: index - 1 for index, edge in enumerate(edges)}
    first = 0
    while first < len(groups):
        begin = edges[first]
        found: tuple[int, str] | None = None
        last = group_ending_at.get(begin + 10)
        if last is not None and nhs_number_valid(digits[begin : begin + 10]):
            found = (last, "nhs")
        elif digits[begin] in "04":  # a phone number starts 0, 44 or 0044
            for length in (11, 12, 13, 14):
                last = group_ending_at.get(begin + length)
                number = digits[begin : begin + length]
                if last is not None and _uk_phone(number, international and first == 0):
                    found = (last, "phone")
                    break
        if found:
            yield first, found[0], found[1]
            first = found[0] + 1
        else:
            first += 1


def _url_paths(text: str) -> list[tuple[int, int]]:
    """Spans of the paths of web addresses in a text (a query string is not part of one)."""
    if "://" not in text and "www." not in text:
        return []
    return [m.span(1) for m in _URL_PATH.finditer(text)]


def _scan_numbers(text: str, view: _View, whole: bool) -> Iterator[Finding]:
    """NHS numbers and UK phone numbers, however their digits are spaced or split; in the path of
    a web address, only ten digits in one run (split digits there are a journal's ISSN and
    volume, '2072-6643/14', or a page's date)."""
    paths = _url_paths(view.text)
    starts = [start for start, _ in paths]
    for chain in _NUMBER.finditer(view.text):
        found = chain.group()
        if len(found) < 10:
            continue
        at = bisect.bisect_right(starts, chain.start()) - 1
        in_path = at >= 0 and chain.end() <= paths[at][1]
        spans = [m.span() for m in _DIGITS.finditer(found)]
        groups = [found[s:e] for s, e in spans]
        for first, last, kind in _number_windows(groups, found.startswith("+")):
            if in_path and last > first:
                continue  # digits split by '-' or '/' in a web address: an ISSN and a volume
            begin = view.source(chain.start() + (spans[first][0] if first else 0))
            end = view.source(chain.start() + spans[last][1] - 1) + 1
            shown = _shown(text, begin, end)
            if kind == "nhs":
                message = _NHS_MESSAGE.format(text=shown)
                yield begin, end, message, _NHS_HINT, "error", "personal-data"
            elif not _public_line(_context(text, begin, whole)):
                message = _PHONE_MESSAGE.format(text=shown)
                yield begin, end, message, _PHONE_HINT, "error", "personal-data"


_MAX_SAME = 20  # findings of one kind reported per text; the rest are counted


def _capped(findings: Iterable[Finding]) -> list[Finding]:
    """At most _MAX_SAME findings, then one that says how many more there are."""
    kept: list[Finding] = []
    more = 0
    for finding in findings:
        if len(kept) < _MAX_SAME:
            kept.append(finding)
        else:
            more += 1
    if more:
        start, end, _message, hint, severity, code = kept[-1]
        kept.append((start, end, f"... and {more} more like the one above", hint, severity, code))
    return kept


def _rule_findings(
    rule: _Rule, view: _View, text: str, handlers: list[tuple[int, int]]
) -> Iterator[Finding]:
    starts = [s for s, _ in handlers]
    for match in rule.pattern.finditer(view.text):
        if not rule.keep(match):
            continue
        if rule.pattern is _BREAKOUT:
            at = bisect.bisect_right(starts, match.start()) - 1
            if at >= 0 and match.start() < handlers[at][1]:
                continue  # part of an event handler already reported
        if rule.pattern in (_EVENT_ATTR, _ATTR_LIST):
            handlers.append(match.span())
        start, end = view.source(match.start()), view.source(match.end() - 1) + 1
        tag = (match.group(1) or "") if rule.pattern.groups else ""
        message = rule.message.format(text=_shown(text, start, end), tag=tag.lower())
        yield start, end, message, rule.hint, rule.severity, rule.code


def _scan_text(text: str, *, body: bool = True) -> list[Finding]:
    """Findings in a piece of untrusted text: (start, end, message, hint, severity, code)."""
    html_view = _html_view(text)
    views = {"html": html_view, "url": _url_view(html_view), "plain": _plain_view(html_view)}
    found: list[Finding] = []
    handlers: list[tuple[int, int]] = []  # spans of event handlers, in the html view
    for rule in _RULES:
        if rule.body_only and not body:
            continue
        if rule.pattern is _BREAKOUT:
            handlers.sort()
        found += _capped(_rule_findings(rule, views[rule.view], text, handlers))
    if body:
        found += _capped(_scan_reference_images(text, html_view))
    found += _capped(_scan_numbers(text, views["plain"], whole=not body))
    return found


def _scan_reference_images(text: str, view: _View) -> list[Finding]:
    """Images written as '![alt][name]' whose '[name]: URL' line names another server."""
    if "]:" not in view.text:
        return []
    remote = {
        " ".join(m.group(1).split()).casefold()
        for m in _MD_REFERENCE.finditer(view.text)
        if is_remote_url(m.group(2))
    }
    found: list[Finding] = []
    for match in _MD_IMAGE.finditer(view.text):
        if match.group(2) is not None:
            continue
        label = match.group(3) or match.group(1)
        if " ".join(label.split()).casefold() in remote:
            start, end = view.source(match.start()), view.source(match.end() - 1) + 1
            message = _IMAGE_MESSAGE.format(text=_shown(text, start, end))
            found.append((start, end, message, _IMAGE_HINT, "warning", "remote-image"))
    return found


def _front_matter_values(data: Any, path: FieldPath = ()) -> Iterable[tuple[FieldPath, Any]]:
    """Every text and number of nested front-matter (a number may be an NHS number too)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _front_matter_values(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _front_matter_values(value, (*path, index))
    elif isinstance(data, str | int | float) and not isinstance(data, bool):
        yield path, data


def _check_unsafe(name: str, source: SourceFile, located: Located) -> list[Problem]:
    problems: list[Problem] = []
    body = source.body
    for offset, _end, message, hint, severity, code in _scan_text(body):
        line = source.body_line + body.count("\n", 0, offset)
        column = offset - (body.rfind("\n", 0, offset) + 1) + 1
        problems.append(Problem(name, line, column, "body", message, hint, severity, code))
    for path, value in _front_matter_values(located.data):
        if isinstance(value, str):
            findings = _scan_text(value, body=False)
        else:
            number = str(value)
            findings = list(_scan_numbers(number, _View(number, None), whole=True))
        for _offset, _end, message, hint, severity, code in findings:
            line, column = located.position(path)
            problems.append(
                Problem(name, line, column, format_field(path), message, hint, severity, code)
            )
    return problems
