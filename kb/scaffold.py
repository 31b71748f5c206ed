"""`kb new`: a new case-study file with the required fields and sections, and guidance comments."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kb.content import PLACEHOLDER, REQUIRED_SECTIONS
from kb.errors import ScaffoldError
from kb.vocab import load_vocabularies

__all__ = [
    "DEFAULT_MARK",
    "PREFILLED",
    "PLACEHOLDER",
    "NewCase",
    "check_answer",
    "render_new_case",
    "slugify",
    "write_new_case",
]

# `kb new` pre-fills a few values a contributor must check; each such line carries this comment
# until the contributor confirms the value by deleting it (kb validate flags it meanwhile).
DEFAULT_MARK = "kb-new-default"
PREFILLED: dict[tuple[str | int, ...], object] = {
    ("level",): ["place"],
    ("evidence", "level"): 1,
    ("evidence", "method"): "not-stated",
    ("sources", 0, "year"): 2024,
}


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
    ics: str = ""
    region: str = ""
    tiers: Sequence[str] = field(default_factory=list)
    organisations: Sequence[str] = field(default_factory=list)


def slugify(text: str) -> str:
    """'Norfolk falls prevention!' -> 'norfolk-falls-prevention'."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower().replace("&", " and ")).strip("-")
    return slug[:80].rstrip("-")


def _resolve(attr: str, value: str, flag: str) -> str:
    vocabulary = getattr(load_vocabularies(), attr)
    found = vocabulary.resolve(value)
    if found is None:
        from kb.suggest import nearest_term

        near = [vocabulary.suggest(value) or ""] + nearest_term(vocabulary, value)
        near = list(dict.fromkeys(n for n in near if n))[:3]
        names = " or ".join(f"'{n}'" for n in near)
        hint = f" Did you mean {names}?" if near else f" See `kb vocab {attr}`."
        raise ScaffoldError(f"{flag}: '{value}' is not a known {vocabulary.name}.{hint}")
    return str(found)


def check_answer(kind: str, value: str, content_dir: Path | None = None) -> str:
    """One answer to `kb new` checked on its own, so a bad one can be asked again.

    kind: 'title', 'id', 'ics', 'region' or 'tiers' (comma-separated). Returns the value to use
    (canonical ids; tiers joined by commas); raises ScaffoldError saying what is wrong.
    """
    value = value.strip()
    if kind == "title":
        if not value:
            raise ScaffoldError("the title is required")
        if len(value) > 120:
            raise ScaffoldError(f"the title is {len(value)} characters; the limit is 120")
        return value
    if kind == "id":
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value) or len(value) > 80:
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
        return _resolve("ics", value, "ICS")
    if kind == "region":
        return _resolve("regions", value, "region")
    if kind == "tiers":
        return ",".join(_resolve("tiers", t.strip(), "tier") for t in value.split(",") if t.strip())
    raise ValueError(kind)


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def render_new_case(new: NewCase) -> tuple[str, str]:
    """The file name and text of a new case study; raise ScaffoldError on unknown values."""
    vocab = load_vocabularies()
    case_id = new.id or slugify(new.title)
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", case_id):
        raise ScaffoldError(
            f"--id: '{case_id}' is not kebab-case; use lowercase words joined by hyphens"
        )
    ics = _resolve("ics", new.ics, "--ics") if new.ics else ""
    region = _resolve("regions", new.region, "--region") if new.region else ""
    if ics and not region:
        region = vocab.ics.get(ics).region or ""
    if ics and region and vocab.ics.get(ics).region != region:
        raise ScaffoldError(
            f"--ics: '{vocab.ics.label(ics)}' is in "
            f"{vocab.regions.label(vocab.ics.get(ics).region or '')}, not in "
            f"{vocab.regions.label(region)}"
        )
    tiers = [_resolve("tiers", t, "--tier") for t in new.tiers]
    organisations = list(new.organisations) or [PLACEHOLDER]
    tier_ids = ", ".join(t.id for t in vocab.tiers.terms)
    lines = [
        "---",
        "# yaml-language-server: $schema=../site/case-study.schema.json",
        "# Replace every TODO; `kb validate` lists what is left. Leave out what the sources do",
        "# not say: 'not stated' beats a guess. Values of tag fields: `kb vocab FIELD`.",
        f"# A line marked '{DEFAULT_MARK}' holds a pre-filled value: correct it, or delete the",
        "# comment to confirm it. Give each blank field a value, or delete its line.",
        f"id: {case_id}  # equals the file name",
        f"title: {_q(new.title)}  # at most 120 characters",
        f"summary: {_q(new.summary or PLACEHOLDER)}  # one to three sentences, <= 600 characters",
        "organisations: [" + ", ".join(_q(o) for o in organisations) + "]  # who led it",
        "partners: []",
        f"ics: {_q(vocab.ics.label(ics)) if ics else '[]'}  # as named when the work ran",
        f"region: {_q(vocab.regions.label(region)) if region else _q(PLACEHOLDER)}",
        "place:  # town, borough or county, if narrower than the ICS",
        f"level: [place]  # {DEFAULT_MARK}: neighbourhood, place, system, region, national",
        "started:  # year or year-month, e.g. 2023 or 2023-04",
        "status:  # idea, pilot, scaling, established, ended",
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
        "outcomes: []",
        "# outcomes:",
        "#   - metric: falls-related hospital admissions",
        "#     value: 25            # a number, or {low: 20, high: 30}",
        "#     unit: percent        # GBP, percent, people, count, days, ...",
        "#     measure: change      # change (size of a change) or level (a level reached)",
        "#     direction: decrease  # increase, decrease, no-change",
        "#     status: achieved     # achieved, estimated or target: never blur them",
        "#     kind: service-use    # health, service-use, financial, experience, process, ...",
        "#     timeframe: first year of the pilot",
        "#     comparator: the year before",
        "#     source: 1            # which entry of 'sources'",
        "#     page: 12",
        "evidence:",
        f"  level: 1  # {DEFAULT_MARK}: Nesta 1 (a reason it should work) to 5 (works at "
        "scale elsewhere), or not-assessed",
        f"  method: not-stated  # {DEFAULT_MARK}: before-and-after, comparison-group, ...",
        "sources:",
        f"  - title: {_q(PLACEHOLDER)}",
        f"    publisher: {_q(PLACEHOLDER)}",
        f"    year: 2024  # {DEFAULT_MARK}: leave out for an undated page, and give "
        "accessed: YYYY-MM-DD",
        "rationale:",
        "  tiers:  # one line: why these tiers (tags are editorial judgements)",
        "---",
        "",
    ]
    for heading in REQUIRED_SECTIONS:
        lines += [f"## {heading}", "", f"<!-- {_GUIDANCE[heading]} -->", PLACEHOLDER, ""]
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
