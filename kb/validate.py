"""Every check on case-study files, collected as Problem records (never raised, never printed).

`validate_paths` reads each file, checks its YAML, its fields against the model and vocabularies,
its body sections, unsafe HTML and likely personal data, then checks across files (unique ids).
Rendering
the problems as text, JSON or GitHub annotations is `kb.report`'s job.
"""

from __future__ import annotations

import difflib
import html
import re
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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
)
from kb.model import ICS_START, SCALE_UNITS, CaseStudy
from kb.vocab import load_vocabularies

__all__ = ["Problem", "Report", "validate_file", "validate_paths"]

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
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        report.problems.append(
            Problem(str(path), 1, 1, "", "no such file or folder", "check the path", code="path")
        )
    ids: dict[str, list[tuple[str, int, int]]] = {}
    for path in files:
        if not path.exists():
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
    sections = split_sections(source.body, source.body_line)
    problems += _check_sections(name, source, sections)
    problems += _check_unsafe(name, source, located)
    problems += _check_placeholders(name, source, located)

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
        body=source.body,
        sections=sections,
        content_hash=source.content_hash,
    )
    return problems, entry, id_at


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
    for field_name in ("meps", "three_cs"):
        if not getattr(case, field_name):
            add(
                (field_name,),
                f"no '{field_name}' tags: leaders filtering by them will not find it",
                "add at least one, with a line in 'rationale' saying why",
                "warning",
                code="tags",
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
    if case.started and case.started < ICS_START and case.ics and not case.place:
        add(
            ("place",),
            f"the work began in {case.started}, before ICSs existed (July 2022)",
            "name the ICS that covers the place now in 'ics', and the place itself in 'place'",
            "warning",
            code="place",
        )
    return problems


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
            close = difflib.get_close_matches(wanted.lower(), list(folded), n=1, cutoff=0.6)
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
        if not _COMMENT.sub("", section.text).strip():
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
    for section in sections:
        key = section.heading.strip().lower()
        if key not in required and not difflib.get_close_matches(
            key, list(required), n=1, cutoff=0.6
        ):
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
    return problems


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


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
    for offset, text in enumerate(source.body.split("\n")):
        if text.strip() == PLACEHOLDER:
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
    return problems


# ---------------------------------------------------------------------------------------------
# untrusted text: script and personal data

_DANGEROUS_TAG = re.compile(
    r"<\s*/?\s*(script|iframe|frame|frameset|object|embed|applet|base|meta|link|style|form|svg|math"
    r"|template|noscript)\b",
    re.IGNORECASE,
)
_EVENT_ATTR = re.compile(r"<[a-z][^>]*?[\s/\"']on[a-z]+\s*=", re.IGNORECASE | re.DOTALL)
_SCRIPT_URL = re.compile(
    r"(javascript|vbscript|livescript)\s*:|data\s*:\s*text/html", re.IGNORECASE
)
_ANY_TAG = re.compile(r"<\s*/?\s*([a-z][a-z0-9]*)(?=[\s/>])", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_ROLE_WORDS = {
    "info",
    "enquiries",
    "enquiry",
    "contact",
    "admin",
    "hello",
    "team",
    "office",
    "press",
    "media",
    "communications",
    "comms",
    "support",
    "help",
    "feedback",
    "general",
    "mail",
    "reception",
    "england",
    "engagement",
    "partnerships",
    "prevention",
    "publichealth",
    "public",
    "health",
    "nhs",
    "icb",
    "ics",
    "noreply",
    "no-reply",
    "webmaster",
    "service",
    "services",
    "programme",
}
_PHONE = re.compile(r"(?<![\w£$.,/])(\+44\s?(?:\(0\)\s?)?|\(?0)(\d[\d\s\-()]{8,13}\d)(?![\w%])")
_NHS_NUMBER = re.compile(r"(?<![\w£$.,/-])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![\w%.,]\d|\w)")


_WORTH_SCANNING = re.compile(r"[<@:&]|\d[\d\s()+-]{8}")


def nhs_number_valid(digits: str) -> bool:
    """True if ten digits pass the NHS number modulus-11 check."""
    if len(digits) != 10 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _personal_email(match: re.Match[str]) -> bool:
    """An address whose local part names no role (info@, team@ ...) is likely a person's."""
    return not set(re.split(r"[._+-]", match.group(1).lower())) & _ROLE_WORDS


def _uk_phone(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group(2))
    digits = "0" + (digits.lstrip("0") if match.group(1).startswith("+44") else digits)
    return len(digits) in (10, 11) and digits[1] in "1237"


def _not_dangerous(match: re.Match[str]) -> bool:
    return not _DANGEROUS_TAG.match(match.group(0) + " ")


@dataclass(frozen=True)
class _Rule:
    """A pattern in untrusted text, and what to say when it is found."""

    pattern: re.Pattern[str]
    message: str  # {text}: the match; {tag}: its first group, lower case
    hint: str
    severity: Severity
    code: str
    keep: Callable[[re.Match[str]], bool] = lambda match: True


_RULES: tuple[_Rule, ...] = (
    _Rule(
        _DANGEROUS_TAG,
        "raw HTML <{tag}> is not allowed: it could run script",
        "remove the tag; use Markdown for formatting and links",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _EVENT_ATTR,
        "an HTML event-handler attribute (on...=) is not allowed: it runs script",
        "remove the HTML; use Markdown",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _SCRIPT_URL,
        "a '{text}' link is not allowed: it runs script",
        "link only to https:// addresses",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _ANY_TAG,
        "raw HTML <{tag}> is removed when the site is published",
        "use Markdown instead of HTML",
        "warning",
        "raw-html",
        _not_dangerous,
    ),
    _Rule(
        _EMAIL,
        "'{text}' looks like an individual's e-mail address",
        "remove personal data; give a team or organisation address instead",
        "error",
        "personal-data",
        _personal_email,
    ),
    _Rule(
        _PHONE,
        "'{text}' looks like a UK phone number",
        "remove personal phone numbers; a public switchboard is fine",
        "warning",
        "personal-data",
        _uk_phone,
    ),
    _Rule(
        _NHS_NUMBER,
        "'{text}' looks like an NHS number (its check digit is valid)",
        "remove it: a case study must never identify a patient",
        "error",
        "personal-data",
        lambda match: nhs_number_valid("".join(match.groups())),
    ),
)


def _scan_text(text: str) -> list[tuple[int, str, str, Severity, str]]:
    """Findings in a piece of text: (offset, message, hint, severity, code)."""
    if not _WORTH_SCANNING.search(text):
        return []
    # entity-encoded tricks (&#106;avascript:) are decoded before the scan
    decoded = html.unescape(text) if "&" in text else text
    found: list[tuple[int, str, str, Severity, str]] = []
    for rule in _RULES:
        for match in rule.pattern.finditer(decoded):
            if rule.keep(match):
                tag = (match.group(1) or "") if rule.pattern.groups else ""
                message = rule.message.format(text=match.group(0).strip(), tag=tag.lower())
                found.append((match.start(), message, rule.hint, rule.severity, rule.code))
    return found


def _check_unsafe(name: str, source: SourceFile, located: Located) -> list[Problem]:
    problems: list[Problem] = []
    body = source.body
    for offset, message, hint, severity, code in _scan_text(body):
        line = source.body_line + body.count("\n", 0, offset)
        column = offset - (body.rfind("\n", 0, offset) + 1) + 1
        problems.append(Problem(name, line, column, "body", message, hint, severity, code))
    for path, value in iter_strings(located.data):
        for _offset, message, hint, severity, code in _scan_text(value):
            line, column = located.position(path)
            problems.append(
                Problem(name, line, column, format_field(path), message, hint, severity, code)
            )
    return problems
