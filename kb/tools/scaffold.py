"""`kb new`: a new case-study file with the required fields and sections, and guidance comments."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import ScaffoldError
from kb.format.content import REQUIRED_SECTIONS
from kb.format.markers import DEFAULT_MARK, PLACEHOLDER
from kb.format.model import REASONED_FIELDS
from kb.format.vocab import load_vocabularies

__all__ = [
    "ID_MAX",
    "NewCase",
    "TitleId",
    "check_answer",
    "match_regions",
    "render_new_case",
    "title_id",
    "write_new_case",
]

ID_MAX = 80  # the longest id (and file name without .md) the format accepts



_GUIDANCE = {
    "Context": "The place, the people and the problem: who is affected and why it matters here.",
    "What they did": "The intervention: who did what, for whom, with which partners and money.",
    "Outcomes": "What changed, with figures. Say whether each is achieved, estimated or a target.",
    "What made it work": "The enablers: leadership, data, partnerships, funding, culture.",
    "Challenges": "What got in the way, and how it was handled.",
    "Lessons for peers": "What another ICS should copy, avoid or ask before starting.",
}


@dataclass
class NewCase:
    """What a contributor told `kb new`."""

    title: str
    id: str = ""
    summary: str = ""
    ics: Sequence[str] = field(default_factory=list)  # one or several (a str: one)
    region: Sequence[str] = field(default_factory=list)  # one or several (a str: one)
    tiers: Sequence[str] = field(default_factory=list)
    organisations: Sequence[str] = field(default_factory=list)


def _kebab(text: str) -> str:
    """'Norfolk falls prevention!' -> 'norfolk-falls-prevention', however long."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("&", " and ")).strip("-")


# words left out of an id made from a long title's main words: they add length, not meaning
_FILLER = frozenset(
    ("a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the")
    + ("their", "to", "with", "who", "whose", "people")
)
_SHORT_ID_MAX = 40  # an id made from a long title's main words stops before this length


@dataclass(frozen=True)
class TitleId:
    """The id `kb new` makes from a title, and whether the title was too long for it."""

    id: str
    length: int  # the characters the whole title would make as an id

    @property
    def shortened(self) -> bool:
        """Whether the title was too long for an id, so the id is made from its main words."""
        return self.length > ID_MAX

    def note(self) -> str:
        """What happened to a shortened id, in a sentence ('' when the whole title fits)."""
        if not self.shortened:
            return ""
        return (
            f"the title makes an id of {self.length} characters and the limit is {ID_MAX}, so "
            f"the id is made from its main words: '{self.id}' (ids are read and linked to, so "
            "short is better)"
        )


def title_id(title: str) -> TitleId:
    """The id `kb new` makes from a title: the whole title as an id when it fits in ID_MAX
    characters; otherwise its first main words, at most _SHORT_ID_MAX characters."""
    full = _kebab(title)
    if len(full) <= ID_MAX:
        return TitleId(full, len(full))
    words = [w for w in full.split("-") if w not in _FILLER] or full.split("-")
    short = words[0][:_SHORT_ID_MAX]
    for word in words[1:]:
        if len(short) + 1 + len(word) > _SHORT_ID_MAX:
            break
        short += f"-{word}"
    return TitleId(short, len(full))


def _resolve(attr: str, value: str, flag: str) -> str:
    vocabulary = getattr(load_vocabularies(), attr)
    found = vocabulary.resolve(value)
    if found is None:
        from kb.format.suggest import nearest_term

        near = [vocabulary.suggest(value) or ""] + nearest_term(vocabulary, value)
        near = list(dict.fromkeys(n for n in near if n))[:3]
        names = " or ".join(f"'{n}'" for n in near)
        hint = f" Did you mean {names}?" if near else f" See `kb vocab {attr}`."
        raise ScaffoldError(f"{flag}: '{value}' is not a known {vocabulary.name}.{hint}")
    return str(found)


def _resolve_many(attr: str, values: Sequence[str] | str, flag: str) -> list[str]:
    """The ids the values name, in order and once each; each unknown value raises ScaffoldError.

    A value naming several terms in one string ('North Central London and South West London',
    'Devon, Dorset') counts as those terms, as a list written in one answer.
    """
    vocabulary = getattr(load_vocabularies(), attr)
    ids: list[str] = []
    for value in [values] if isinstance(values, str) else values:
        value = value.strip()
        if not value:
            continue
        several = [] if vocabulary.resolve(value) is not None else vocabulary.split(value)
        for found in several or [_resolve(attr, value, flag)]:
            if found not in ids:
                ids.append(found)
    return ids


def match_regions(ics: Sequence[str], regions: Sequence[str]) -> tuple[list[str], str]:
    """The regions (ids) to write for these ICSs (ids), and a note if the given ones were changed.

    No region given: the ICSs' own regions. Given regions that leave out an ICS's region are
    replaced by the ICSs' regions, and the note says why.
    """
    vocab = load_vocabularies()
    homes = list(dict.fromkeys(r for i in ics if (r := vocab.ics.get(i).region)))
    outside = [i for i in ics if vocab.ics.get(i).region not in regions]
    if not regions or not outside:
        return list(regions) or homes, ""
    where = ", ".join(
        f"{vocab.ics.label(i)} is in {vocab.regions.label(vocab.ics.get(i).region or '')}"
        for i in outside
    )
    return homes, f"{where}; the region is set to match."


def check_answer(kind: str, value: str, content_dir: Path | None = None) -> str:
    """One answer to `kb new` checked on its own, so a bad one can be asked again.

    kind: 'title', 'id', 'ics' or 'region' (several separated by ';', or named together as in
    'Devon and Dorset') or 'tiers' (comma-separated). Returns the value to use (canonical ids,
    several joined by commas); raises ScaffoldError saying what is wrong.
    """
    value = value.strip()
    if kind == "title":
        if not value:
            raise ScaffoldError("the title is required")
        if len(value) > 120:
            raise ScaffoldError(f"the title is {len(value)} characters; the limit is 120")
        return value
    if kind == "id":
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value) or len(value) > ID_MAX:
            raise ScaffoldError(
                f"'{value}' is not kebab-case; use lowercase words joined by hyphens"
            )
        if content_dir is not None and (content_dir / f"{value}.md").exists():
            existing = content_dir / f"{value}.md"
            raise ScaffoldError(f"{existing} already exists; choose another id")
        return value
    if not value:
        return ""
    if kind == "ics":
        return ",".join(_resolve_many("ics", value.split(";"), "ICS"))
    if kind == "region":
        return ",".join(_resolve_many("regions", value.split(";"), "region"))
    if kind == "tiers":
        return ",".join(_resolve_many("tiers", re.split(r"[,;]", value), "tier"))
    raise ValueError(kind)


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _named(labels: Sequence[str]) -> str:
    """The labels of the ids on a line, for its comment: 'Devon; Dorset: '."""
    return "; ".join(labels) + ": " if labels else ""


def _new_id(new: NewCase) -> str:
    """The id to write: the one given, or one made from the title; kebab-case or ScaffoldError."""
    case_id = new.id or title_id(new.title).id
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", case_id):
        raise ScaffoldError(
            f"--id: '{case_id}' is not kebab-case; use lowercase words joined by hyphens"
        )
    return case_id


def _new_regions(ics: Sequence[str], given: Sequence[str] | str) -> list[str]:
    """The regions (ids) to write: those given, which must hold every ICS (else ScaffoldError),
    or else the ICSs' own regions."""
    vocab = load_vocabularies()
    regions = _resolve_many("regions", given, "--region")
    for ics_id in ics if regions else ():
        home = vocab.ics.get(ics_id).region or ""
        if home not in regions:
            raise ScaffoldError(
                f"--ics: '{vocab.ics.label(ics_id)}' is in {vocab.regions.label(home)}, not in "
                + " or ".join(vocab.regions.label(r) for r in regions)
                + f"; hint: add --region '{vocab.regions.label(home)}', or leave --region out"
            )
    return regions or match_regions(ics, [])[0]


def _guide_lines() -> list[str]:
    """The comments that open the front-matter: how to fill it in."""
    return [
        "# yaml-language-server: $schema=../site/case-study.schema.json",
        "# Replace every TODO; `kb validate` lists what is left. Never guess: where the sources",
        "# say nothing, delete the field's line (but an outcome's timeframe and comparator take",
        "# 'not stated', and a section 'Not stated in the sources.'). Values of tag fields:",
        "# `kb vocab FIELD`. The <!-- guides --> in the text are never published.",
        f"# A line marked '{DEFAULT_MARK}' holds a pre-filled value: correct it, or delete the",
        "# comment to confirm it. Give each blank field a value, or delete its line. A line",
        "# '# key: example' shows a field to give where the sources say it: delete its '# '",
        "# and write your value.",
    ]


def _about_lines(new: NewCase, case_id: str) -> list[str]:
    """What the initiative is and who led it: id, title, summary, organisations, partners."""
    organisations = list(new.organisations) or [PLACEHOLDER]
    return [
        f"id: {case_id}  # equals the file name",
        f"title: {_q(new.title)}  # at most 120 characters",
        f"summary: {_q(new.summary or PLACEHOLDER)}  # one to three sentences, <= 600 characters",
        "organisations: [" + ", ".join(_q(o) for o in organisations) + "]  # who led it",
        "partners: []",
    ]


def _where_lines(ics: Sequence[str], regions: Sequence[str]) -> list[str]:
    """Where and when: ICSs, regions, place, level, start and status."""
    vocab = load_vocabularies()
    ics_labels = [vocab.ics.label(i) for i in ics]
    region_labels = [vocab.regions.label(r) for r in regions]
    return [
        f"ics: [{', '.join(ics)}]  # {_named(ics_labels)}as named when the work ran",
        f"region: [{', '.join(regions)}]  # {_named(region_labels)}NHS England region"
        if regions
        else f"region: {_q(PLACEHOLDER)}  # NHS England region",
        "place:  # town, borough or county, if narrower than the ICS",
        f"level: [place]  # {DEFAULT_MARK}: neighbourhood, place, system, region, national",
        "started:  # year or year-month, e.g. 2023 or 2023-04",
        "status:  # idea, pilot, scaling, established, ended",
    ]


def _tag_lines(tiers: Sequence[str]) -> list[str]:
    """The tag fields, the cohort and the interventions."""
    tier_ids = ", ".join(t.id for t in load_vocabularies().tiers.terms)
    return [
        f"tiers: [{', '.join(tiers) if tiers else PLACEHOLDER}]  # {tier_ids}",
        "kaiser_level: []  # specialist-care, high-demand, rising-risk, wider-population",
        "meps: []  # medical, environmental, public, social",
        "three_cs: []  # clarity, congruity, capacity: which barriers it overcame",
        "enablers: []",
        "challenges: []",
        "drivers: []",
        "topics: []",
        "cohort:  # who the initiative is for",
        "interventions: []",
    ]


def _outcome_lines() -> list[str]:
    """The outcomes, with a commented example."""
    return [
        "outcomes: []",
        "# outcomes:",
        "#   - metric: falls-related hospital admissions",
        "#     value: 25            # a number, or {low: 20, high: 30}",
        "#     unit: percent        # GBP, percent, people, count, days, ...",
        "#     measure: change      # change (size of a change) or level (a level reached)",
        "#     direction: decrease  # increase, decrease, no-change",
        "#     status: achieved     # achieved, estimated or target: never blur them",
        "#     kind: service-use    # health, service-use, financial, experience, process, ...",
        "#     timeframe: first year of the pilot   # or 'not stated'",
        "#     comparator: the year before          # or 'not stated'",
        "#     source: 1            # which entry of 'sources'",
        "#     page: 12",
    ]


def _context_lines() -> list[str]:
    """The context figures with a commented example, and funding as an example only."""
    return [
        "context_figures: []  # figures about the setting or scale, not results",
        "# context_figures:",
        "#   - metric: households each worker looks after",
        "#     value: 120",
        "#     qualifier: about     # about, nearly, at-least, more-than, up-to, less-than",
        "#     unit: households",
        "#     timeframe: in 2024   # optional here",
        "#     source: 1",
        "#     page: 3",
        "# funding:                 # only where the sources say how it was paid for",
        "#   source: the ICB's health inequalities fund",
        "#   amount_gbp: 250000     # digits only",
        "#   recurrent: false       # true if the money recurs each year",
        "#   note: two years of funding",
    ]


def _evidence_lines() -> list[str]:
    """The evidence, its sources and the review date."""
    return [
        "evidence:",
        f"  level: 1  # {DEFAULT_MARK}: Nesta 1 (a reason it should work) to 5 (works at "
        "scale elsewhere), or not-assessed",
        f"  method: not-stated  # {DEFAULT_MARK}: before-and-after, comparison-group, ...",
        "sources:",
        f"  - title: {_q(PLACEHOLDER)}",
        f"    publisher: {_q(PLACEHOLDER)}  # as the source names it; delete if it names none",
        f"    year: 2024  # {DEFAULT_MARK}: leave out for an undated page",
        "    # url: https://www.example.nhs.uk/our-work  # http:// if the page has no https",
        "    # section: \"'Our results'\"  # the chapter, section or pages you drew on",
        "    # accessed: YYYY-MM-DD  # the day you read the page: give it with every url",
        "# reviewed: YYYY-MM-DD  # the day you last checked every fact against the sources",
    ]


def _rationale_lines() -> list[str]:
    """A blank line in 'rationale' for each tag field, and examples for level and status."""
    return [
        "rationale:  # one line each: why these tags, or why none applies (editorial judgements)",
        *[f"  {name}:" for name in REASONED_FIELDS],
        "  # level: why this level of the system, where it is not plain",
        "  # status: why this status, where the sources leave it open (a pilot not said to end)",
    ]


def _section_lines() -> list[str]:
    """The required sections, each with its guide and a TODO."""
    lines: list[str] = []
    for heading in REQUIRED_SECTIONS:
        lines += [f"## {heading}", "", f"<!-- {_GUIDANCE[heading]} -->", PLACEHOLDER, ""]
    return lines


def render_new_case(new: NewCase) -> tuple[str, str]:
    """The file name and text of a new case study; raise ScaffoldError on unknown values."""
    case_id = _new_id(new)
    ics = _resolve_many("ics", new.ics, "--ics")
    regions = _new_regions(ics, new.region)
    tiers = _resolve_many("tiers", new.tiers, "--tier")
    lines = [
        "---",
        *_guide_lines(),
        *_about_lines(new, case_id),
        *_where_lines(ics, regions),
        *_tag_lines(tiers),
        *_outcome_lines(),
        *_context_lines(),
        *_evidence_lines(),
        *_rationale_lines(),
        "---",
        "",
        *_section_lines(),
    ]
    return f"{case_id}.md", "\n".join(lines)


def write_new_case(new: NewCase, content_dir: Path) -> Path:
    """Write a new case study into `content_dir`; never overwrite an existing file."""
    name, text = render_new_case(new)
    path = content_dir / name
    content_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ScaffoldError(
            f"{path} already exists; it was left untouched. Choose another --id or edit that file."
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
