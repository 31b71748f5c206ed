"""Checks of one case study beyond its model: tags, ICSs, sources, dates, placeholders, blanks.

Each check takes the file's name and what was read, and returns problems; none raises."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from kb.check.problems import FieldPath, Problem, Severity, format_field
from kb.check.untrusted import _MAX_SAME
from kb.format.content import (
    Located,
    SourceFile,
    iter_strings,
)
from kb.format.markers import PLACEHOLDER
from kb.format.model import ICS_START, REASONED_FIELDS, SCALE_UNITS, CaseStudy
from kb.format.review import review_due
from kb.format.vocab import load_vocabularies

__all__ = ["NOT_STATED_FIELDS"]


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


@dataclass(frozen=True)
class CaseContext:
    """What a case rule reads: the file's name, the validated case and the front-matter as
    written (for positions, and for lines given blank, which are reported elsewhere)."""

    name: str
    case: CaseStudy
    located: Located

    def problem(
        self,
        path: FieldPath,
        message: str,
        hint: str,
        severity: Severity = "error",
        code: str = "invalid",
    ) -> Problem:
        """A problem at the field `path`, where it is written."""
        line, column = self.located.position(path)
        return Problem(self.name, line, column, format_field(path), message, hint, severity, code)


CaseRule = Callable[[CaseContext], Iterator[Problem]]


def _rule_missing_region(ctx: CaseContext) -> Iterator[Problem]:
    """missing: a region, unless an ICS is given or the work is national."""
    case = ctx.case
    if not case.region and not case.ics and "national" not in case.level:
        yield ctx.problem(
            ("region",),
            "'region' is required unless the work is national",
            "add region, or level: [national]",
            code="missing",
        )


def _rule_source_index(ctx: CaseContext) -> Iterator[Problem]:
    """source-index: every outcome and context figure names a source that exists."""
    case = ctx.case
    for kind, figures in (("outcomes", case.outcomes), ("context_figures", case.context_figures)):
        for index, figure in enumerate(figures):
            if figure.source > len(case.sources):
                listed = "; ".join(
                    f"{n}: '{_shortened(source.title)}'" for n, source in enumerate(case.sources, 1)
                )
                count = f"{len(case.sources)} source" + ("s" if len(case.sources) != 1 else "")
                yield ctx.problem(
                    (kind, index, "source"),
                    f"source {figure.source} does not exist: the file lists {count} ({listed})",
                    "give the number of the source this figure comes from, counting from 1 in "
                    "the order of 'sources'; or add its source to the end of 'sources' (title, "
                    "publisher, year, url, accessed) and give that number",
                    code="source-index",
                )


def _shortened(text: str, limit: int = 50) -> str:
    """`text` cut at a word to about `limit` characters, '...' marking the cut."""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "..."


def _rule_tags(ctx: CaseContext) -> Iterator[Problem]:
    """tags: MEPS and 3Cs tags, or a line in 'rationale' saying why none applies."""
    reasons = ctx.case.rationale
    for field_name in ("meps", "three_cs"):
        if not getattr(ctx.case, field_name) and not (reasons and getattr(reasons, field_name)):
            yield ctx.problem(
                (field_name,),
                f"no '{field_name}' tags: leaders filtering by them will not find it",
                "add at least one, with a line in 'rationale' saying why; if none applies, say "
                "why in 'rationale'",
                "warning",
                code="tags",
            )


def _rule_rationale(ctx: CaseContext) -> Iterator[Problem]:
    """rationale: a line for every tag field (a blank one is an error already)."""
    given = ctx.located.data.get("rationale")
    given = given if isinstance(given, dict) else {}
    missing = [f for f in REASONED_FIELDS if f not in given]
    if missing:
        yield ctx.problem(
            ("rationale",),
            f"no line in 'rationale' for {', '.join(missing)}: readers cannot see why the "
            "tags were chosen",
            "give each tag field one line in 'rationale' saying why these tags, or why none "
            "applies (e.g. drivers: \"none of the three drivers is shown in the sources\")",
            "warning",
            code="rationale",
        )


def _rule_numeric_outcomes(ctx: CaseContext) -> Iterator[Problem]:
    """outcomes: at least one outcome with a figure, or 'outcomes_note' saying there is none."""
    if not any(o.numeric for o in ctx.case.outcomes) and not ctx.case.outcomes_note:
        yield ctx.problem(
            ("outcomes",),
            "no numeric outcomes: readers cannot see how much changed",
            "add outcomes with their figures and status (achieved, estimated or target); if the "
            "sources give none, say so in 'outcomes_note'",
            "warning",
            code="outcomes",
        )


def _rule_scale(ctx: CaseContext) -> Iterator[Problem]:
    """scale: a score names the scale it is on."""
    for index, outcome in enumerate(ctx.case.outcomes):
        if outcome.unit in SCALE_UNITS and not outcome.scale:
            yield ctx.problem(
                ("outcomes", index, "unit"),
                f"a {outcome.unit} without its scale",
                "name the scale in 'scale' (e.g. scale: WEMWBS), so readers can compare it",
                "warning",
                code="scale",
            )


def _rule_source_dates(ctx: CaseContext) -> Iterator[Problem]:
    """source-date, else source-accessed, source by source: a source is dated or says when it
    was read, and a web source says when it was read (an undated one is told only the first)."""
    for index, source in enumerate(ctx.case.sources):
        if source.year is None and source.accessed is None:
            yield _undated_source(ctx, index)
        elif source.url and source.accessed is None and not _written(ctx.located, index):
            yield _unread_web_source(ctx, index)


def _undated_source(ctx: CaseContext, index: int) -> Problem:
    """source-date: source number `index` has neither a year nor the day it was read."""
    return ctx.problem(
        ("sources", index),
        "an undated source with no date it was read",
        "add accessed: YYYY-MM-DD (the day you read the page), or the year of publication",
        "warning",
        code="source-date",
    )


def _unread_web_source(ctx: CaseContext, index: int) -> Problem:
    """source-accessed: web source number `index` does not say the day it was read."""
    return ctx.problem(
        ("sources", index, "accessed"),
        "a web source with no date it was read",
        "add accessed: YYYY-MM-DD, the day you read the page: pages change or move, and "
        "the date lets a reader find the version you read (in a web archive, say)",
        "warning",
        code="source-accessed",
    )


def _rule_reviewed(ctx: CaseContext) -> Iterator[Problem]:
    """reviewed: the day the facts were last checked (a blank one is an error already)."""
    if ctx.case.reviewed is None and "reviewed" not in ctx.located.data:
        yield ctx.problem(
            ("reviewed",),
            "no 'reviewed' date: readers cannot tell when the facts were last checked",
            "add reviewed: YYYY-MM-DD (after 'sources'), the day you last checked the entry "
            "against its sources",
            "warning",
            code="reviewed",
        )


def _rule_review_due(ctx: CaseContext) -> Iterator[Problem]:
    """review-due: the facts were last checked, or the sources last read, over two years ago."""
    if ctx.case.reviewed is None:
        return  # said by _rule_reviewed
    reason = review_due(ctx.case)
    if reason is not None:
        yield ctx.problem(
            ("reviewed",),
            f"due for review: {reason}; the page says so to readers",
            "check the entry against its sources (read them again, update figures that changed, "
            "and each source's 'accessed'), then set reviewed: to today's date",
            "warning",
            code="review-due",
        )


def _rule_pre_ics_place(ctx: CaseContext) -> Iterator[Problem]:
    """place: work begun before ICSs existed names its place, unless it covers a whole system."""
    case = ctx.case
    wide = {"system", "region", "national"} & set(case.level or ())
    if case.started and case.started < ICS_START and case.ics and not case.place and not wide:
        yield ctx.problem(
            ("place",),
            f"the work began in {case.started}, before ICSs existed (July 2022)",
            "name the ICS that covers the place now in 'ics', and the place itself in 'place' "
            "(the town, borough or county); work across the whole ICS area needs no place: "
            "write level: [system]",
            "warning",
            code="place",
        )


# The checks of a validated case study, in the order their problems are reported.
CASE_RULES: tuple[CaseRule, ...] = (
    _rule_missing_region,
    _rule_source_index,
    _rule_tags,
    _rule_rationale,
    _rule_numeric_outcomes,
    _rule_scale,
    _rule_source_dates,
    _rule_reviewed,
    _rule_review_due,
    _rule_pre_ics_place,
)


def _check_case(name: str, case: CaseStudy, located: Located) -> list[Problem]:
    """The problems CASE_RULES find in a case study that passed its model, in rule order."""
    context = CaseContext(name, case, located)
    return [problem for rule in CASE_RULES for problem in rule(context)]


def _written(located: Located, source: int) -> bool:
    """Whether source number `source` has an 'accessed' line (a blank one is an error already)."""
    sources = located.data.get("sources")
    item = sources[source] if isinstance(sources, list) and source < len(sources) else None
    return isinstance(item, dict) and "accessed" in item


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
    from kb.format.markers import DEFAULT_MARK, PREFILLED

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
