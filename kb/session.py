"""Peer-review packs for facilitators: comparable case studies on a theme, outcomes side by side,
and discussion prompts, as one Markdown document.

A pack leaves out the case studies of the systems taking part (they know their own work) and lists
them apart, so the session looks outward. It reads the library through `kb.search` and formats
figures as the site does; it never reads files or prints. The text comes from validated case
studies (the validator refuses unsafe HTML), so it is quoted as written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import yaml

from kb.content import Entry
from kb.errors import SearchError
from kb.figures import format_outcome, format_source
from kb.search import Filters, Searcher, SearchHit
from kb.vocab import load_vocabularies

__all__ = ["PackRequest", "make_pack"]

_STATUS = {"achieved": "Achieved", "estimated": "Estimate", "target": "Target"}


@dataclass(frozen=True)
class PackRequest:
    """What a facilitator asks for."""

    theme: str
    participants: tuple[str, ...] = ()  # ICS ids of the systems taking part
    limit: int = 5
    filters: Filters | None = None
    today: date | None = None  # the date printed on the pack (default: today)


@cache
def _prompts() -> dict[str, Any]:
    text = resources.files("kb").joinpath("data", "prompts.yml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _comparables(
    searcher: Searcher, request: PackRequest, by_id: dict[str, Entry]
) -> tuple[list[SearchHit], list[SearchHit]]:
    """Hits from elsewhere (up to the limit) and hits from the participating systems."""
    participants = set(request.participants)
    hits = searcher.search(request.theme, filters=request.filters, limit=len(by_id))
    own = [h for h in hits if participants & set(by_id[h.case_id].case.ics)]
    elsewhere = [h for h in hits if h not in own][: request.limit]
    return elsewhere, own


def _prompt_lines(entries: Sequence[Entry]) -> list[str]:
    prompts = _prompts()
    three_cs = Counter(c for e in entries for c in e.case.three_cs)
    challenges = Counter(c for e in entries for c in e.case.challenges)
    chosen = [prompts["three_cs"][c] for c, _ in three_cs.most_common() if c in prompts["three_cs"]]
    chosen += [
        prompts["challenges"][c] for c, _ in challenges.most_common(3) if c in prompts["challenges"]
    ]
    if any(o.status != "achieved" for e in entries for o in e.case.outcomes):
        chosen.append(prompts["estimates"])
    chosen += prompts["general"]
    return [f"{n}. {' '.join(str(p).split())}" for n, p in enumerate(chosen, 1)]


def make_pack(searcher: Searcher, entries: Sequence[Entry], request: PackRequest) -> str:
    """The pack as Markdown; SearchError if the theme is empty or nothing matches."""
    if not request.theme.strip():
        raise SearchError("the theme is empty; hint: say what the session is about, in words")
    vocab = load_vocabularies()
    by_id = {e.case.id: e for e in entries}
    elsewhere, own = _comparables(searcher, request, by_id)
    if not elsewhere:
        raise SearchError(
            "no case study from outside the participating systems matches; "
            "hint: widen the theme or drop a filter"
        )
    chosen = [by_id[h.case_id] for h in elsewhere]
    names = ", ".join(vocab.ics.label(i) for i in request.participants) or "not named"
    day = request.today or date.today()
    lines = [
        f"# Peer-review pack: {_cell(request.theme)}",
        "",
        f"Prepared {day.isoformat()} for: {names}. "
        f"{len(chosen)} comparable case studies from elsewhere, closest to the theme first.",
        "",
        "## At a glance",
        "",
        "| Case study | System (region) | Prevention tiers | Evidence | Status |",
        "|---|---|---|---|---|",
    ]
    for entry in chosen:
        case = entry.case
        system = ", ".join(vocab.ics.label(i) for i in case.ics) or "national"
        region = ", ".join(vocab.regions.label(r) for r in case.region) or "England"
        tiers = ", ".join(vocab.tiers.label(t) for t in case.tiers)
        status = vocab.statuses.label(case.status) if case.status else "not stated"
        lines.append(
            f"| {_cell(case.title)} | {_cell(system)} ({_cell(region)}) | {_cell(tiers)} | "
            f"{_cell(vocab.evidence_levels.label(str(case.evidence.level)))} | {_cell(status)} |"
        )
    lines += [
        "",
        "## Outcomes side by side",
        "",
        "Estimates and targets are marked as such: they are not results.",
        "",
        "| Case study | Outcome | Figure | Achieved, estimate or target | Timeframe | Versus |",
        "|---|---|---|---|---|---|",
    ]
    for entry in chosen:
        for outcome in entry.case.outcomes:
            figure = format_outcome(outcome, vocab, status=False)
            lines.append(
                f"| {_cell(entry.case.title)} | {_cell(outcome.metric)} | {_cell(figure)} | "
                f"{_STATUS[outcome.status]} | {_cell(outcome.timeframe)} | "
                f"{_cell(outcome.comparator)} |"
            )
        if not entry.case.outcomes:
            lines.append(f"| {_cell(entry.case.title)} | no figures reported | | | | |")
    lines += ["", "## The case studies", ""]
    for hit, entry in zip(elsewhere, chosen, strict=True):
        lessons = next((s.text for s in entry.sections if s.heading == "Lessons for peers"), "")
        sources = "; ".join(
            format_source(s.title, s.publisher, s.year) for s in entry.case.sources
        )
        lines += [
            f"### {entry.case.title}",
            "",
            entry.case.summary,
            "",
            f"*Why it is here:* its '{hit.section}' matched: {_cell(hit.passage)}",
            "",
            "*Lessons for peers:*",
            "",
            lessons or "Not stated in the sources.",
            "",
            f"*Sources:* {sources}. Case study id: `{entry.case.id}`.",
            "",
        ]
    lines += ["## Discussion prompts", "", *_prompt_lines(chosen), ""]
    if own:
        lines += ["## From the participating systems", ""]
        lines += [f"- {by_id[h.case_id].case.title} (`{h.case_id}`)" for h in own]
        lines.append("")
    return "\n".join(lines)
