"""Search results for people and programs: JSON rows, text lines, the note on corrected spelling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    pass
from kb.search.filters import FIELD_LABELS, Filters
from kb.search.searcher import Searcher, SearchHit

__all__ = ["correction_note", "describe_hit", "find", "format_rows"]


def describe_hit(hit: SearchHit, searcher: Searcher) -> dict[str, Any]:
    """A hit as plain data for JSON output, with where it ran and labels beside ids."""
    case = searcher.cases[searcher._position[hit.case_id]]
    labels = case["labels"]
    facets = case["facets"]
    return {
        "id": hit.case_id,
        "title": hit.title,
        "ics": list(facets.get("ics", ())),
        "ics_labels": list(labels["ics"]),
        "region": list(facets.get("region", ())),
        "region_labels": list(labels["region"]),
        "tiers": list(facets.get("tiers", ())),
        "tier_labels": list(labels["tiers"]),
        "score": hit.score,
        "weak": hit.weak,
        "section": hit.section,
        "passage": hit.passage,
        "results": list(hit.results),
        "shared_facets": {
            name: [{"id": v, "label": searcher.label(name, v)} for v in values]
            for name, values in hit.shared_facets.items()
        },
    }


@dataclass(frozen=True)
class Found:
    """Rows for display, and, when filters left no good match, how many good matches the same
    query has without them (0 otherwise)."""

    rows: list[dict[str, Any]]
    elsewhere: int = 0
    corrected: dict[str, str] = field(default_factory=dict)  # a query word -> the word read


def find(
    content_dir: Path,
    cache_dir: Path,
    *,
    query: str | None = None,
    similar_to: str | None = None,
    filters: Filters | None = None,
    limit: int = 10,
) -> Found:
    """Open the index (reading the content only if it changed), run a search (or 'similar'),
    return rows for display."""
    searcher = Searcher.open(cache_dir, content_dir=content_dir)
    if similar_to is not None:
        hits = searcher.similar(similar_to, filters=filters, limit=limit)
        return Found([describe_hit(hit, searcher) for hit in hits])
    hits = searcher.search(query or "", filters=filters, limit=limit)
    elsewhere = 0
    if filters is not None and not filters.is_empty() and all(h.weak for h in hits):
        elsewhere = searcher.good_matches(query or "", limit=limit)
    rows = [describe_hit(hit, searcher) for hit in hits]
    return Found(rows, elsewhere, searcher.corrections(query or ""))


def correction_note(corrected: Mapping[str, str]) -> str:
    """'Read 'hypertention' as 'hypertension': no case study has 'hypertention'.'"""
    pairs = [f"'{typed}' as '{read}'" for typed, read in corrected.items()]
    typed = " or ".join(f"'{t}'" for t in corrected)
    return f"Read {', '.join(pairs)}: no case study has {typed}."


def _row_lines(number: int, row: Mapping[str, Any]) -> list[str]:
    where = " | ".join(
        part for part in (", ".join(row["ics_labels"]), ", ".join(row["region_labels"])) if part
    )
    lines = [f"{number}. {row['title']}  [{row['id']}]"]
    lines.append(
        f"   {where or 'national'} | tiers: {', '.join(row['tier_labels'])}"
        f" | score {row['score']:.2f}"
    )
    for result in row.get("results", ()):
        lines.append(f"   result: {result}")
    if row["passage"]:
        lines.append(f"   matched in {row['section']}: {row['passage']}")
    if row["shared_facets"]:
        shared = "; ".join(
            f"{FIELD_LABELS.get(name, name)}: " + ", ".join(v["label"] for v in values)
            for name, values in row["shared_facets"].items()
        )
        lines.append(f"   shares {shared}")
    lines.append("")
    return lines


def format_rows(
    rows: Sequence[Mapping[str, Any]],
    query: str | None = None,
    elsewhere: int = 0,
    corrected: Mapping[str, str] | None = None,
) -> str:
    """Results as text for people: title, where, tiers, score, and why each matched.

    Weak matches (below the relevance floor) are listed apart; when every match is weak, the
    text says so and suggests what to try, or, when the filters left out `elsewhere` good
    matches, says that. Query words read as another word (`corrected`) are named first.
    """
    lines: list[str] = [correction_note(corrected), ""] if corrected else []
    if not rows:
        return "\n".join([*lines, "No case studies match. Try other words or fewer filters."])
    strong = [r for r in rows if not r.get("weak")]
    weak = [r for r in rows if r.get("weak")]
    if not strong and elsewhere:
        lines += [
            "No good match" + (f" for '{query}'" if query else "") + " within your filters: "
            f"{elsewhere} case {'study' if elsewhere == 1 else 'studies'} outside them "
            f"{'is' if elsewhere == 1 else 'are'}; run the search again with fewer filters "
            "to see them. The closest within your filters follow.",
            "",
        ]
    elif not strong:
        lines += [
            "No good match" + (f" for '{query}'" if query else "") + ": nothing in the library "
            "is clearly about it. Try other words (what was done, for whom), a filter such as "
            "--topic or --region (`kb vocab topics` lists topics), or `kb stats` for what the "
            "library covers.",
            "",
        ]
    for number, row in enumerate(strong, 1):
        lines += _row_lines(number, row)
    if weak:
        lines += ["Weak matches (below the relevance floor):", ""]
        for number, row in enumerate(weak, len(strong) + 1):
            lines += _row_lines(number, row)
    return "\n".join(lines).rstrip()
