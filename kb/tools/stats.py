"""Coverage of the library: how many case studies each region, tier, MEPS category and leaders'
topic has, against the minimum the library aims for, so anyone can see where it is thin."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from kb.format.content import Entry
from kb.format.review import REVIEW_MONTHS, review_due
from kb.format.vocab import load_vocabularies

__all__ = ["LEADER_TOPICS", "TARGETS", "Count", "Coverage", "Due", "coverage", "render_text"]

# The least coverage the library aims for, per facet value.
TARGETS = {"region": 6, "tier": 12, "meps": 8, "topic": 2}

# The themes ICS leaders ask about most, each as the topic ids that count towards it.
LEADER_TOPICS: dict[str, tuple[str, ...]] = {
    "Falls and frailty": ("falls", "frailty"),
    "Blood pressure and cardiovascular disease": (
        "hypertension",
        "cardiovascular-disease",
        "stroke",
    ),
    "Smoking": ("smoking",),
    "Obesity and diet": ("healthy-weight",),
    "Diabetes": ("diabetes",),
    "Mental health and suicide": ("mental-health", "suicide-prevention"),
    "Housing and cold homes": ("housing", "cold-homes", "homelessness"),
    "Child poverty and early years": ("child-poverty", "early-years"),
    "Work and health": ("employment",),
    "Social prescribing": ("social-prescribing",),
    "Community health workers": ("community-health-workers",),
    "Frequent users of urgent care": ("high-intensity-use",),
    "Earlier cancer diagnosis": ("cancer",),
    "Alcohol and drugs": ("alcohol", "drugs"),
    "Air quality": ("air-quality",),
    "Vaccination": ("vaccination",),
    "Oral health": ("oral-health",),
    "Health inequalities funds": ("funding-and-investment",),
}


@dataclass(frozen=True)
class Count:
    """How many case studies one facet value has, against its target."""

    id: str
    label: str
    cases: int
    target: int

    @property
    def thin(self) -> bool:
        return self.cases < self.target


@dataclass(frozen=True)
class Due:
    """A case study due for review, and why."""

    id: str
    reviewed: str | None
    reason: str


@dataclass(frozen=True)
class Coverage:
    """The library's coverage, facet by facet."""

    cases: int
    with_achieved_figures: int
    evidence: dict[str, int]
    facets: dict[str, list[Count]] = field(default_factory=dict)
    due_for_review: list[Due] = field(default_factory=list)
    reviewed: dict[str, int] = field(default_factory=dict)  # case studies by year last reviewed

    @property
    def thin(self) -> list[tuple[str, Count]]:
        """Every facet value below its target."""
        return [(facet, c) for facet, counts in self.facets.items() for c in counts if c.thin]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["thin"] = [{"facet": facet, **asdict(c)} for facet, c in self.thin]
        return data


def _count(entries: Sequence[Entry], ids: Sequence[str], field_name: str) -> list[int]:
    return [sum(1 for e in entries if i in getattr(e.case, field_name)) for i in ids]


def coverage(entries: Sequence[Entry], today: date | None = None) -> Coverage:
    """Count the case studies per region, tier, MEPS category and leaders' topic, and list
    those due for review (see `kb.format.review`)."""
    vocab = load_vocabularies()
    facets: dict[str, list[Count]] = {}
    for facet, field_name, vocabulary in (
        ("region", "region", vocab.regions),
        ("tier", "tiers", vocab.tiers),
        ("meps", "meps", vocab.meps),
    ):
        counts = _count(entries, vocabulary.ids, field_name)
        facets[facet] = [
            Count(i, vocabulary.label(i), n, TARGETS[facet])
            for i, n in zip(vocabulary.ids, counts, strict=True)
        ]
    facets["topic"] = [
        Count(
            ",".join(ids),
            label,
            sum(1 for e in entries if set(ids) & set(e.case.topics)),
            TARGETS["topic"],
        )
        for label, ids in LEADER_TOPICS.items()
    ]
    achieved = sum(
        1 for e in entries if any(o.numeric and o.status == "achieved" for o in e.case.outcomes)
    )
    evidence: dict[str, int] = {}
    for term in vocab.evidence_levels.terms:
        evidence[term.label] = sum(1 for e in entries if str(e.case.evidence.level) == term.id)
    due = [
        Due(e.case.id, e.case.reviewed.isoformat() if e.case.reviewed else None, reason)
        for e in sorted(entries, key=lambda e: e.case.id)
        if (reason := review_due(e.case, today)) is not None
    ]
    years = Counter(str(e.case.reviewed.year) if e.case.reviewed else "not stated" for e in entries)
    return Coverage(len(entries), achieved, evidence, facets, due, dict(sorted(years.items())))


def render_text(report: Coverage) -> str:
    """The coverage as plain text tables, thin values marked."""
    lines = [
        f"{report.cases} case studies; {report.with_achieved_figures} with achieved numeric "
        "outcomes.",
        "",
    ]
    names = {"region": "Region", "tier": "Prevention tier", "meps": "MEPS", "topic": "Topic"}
    for facet, counts in report.facets.items():
        width = max(len(c.label) for c in counts)
        lines.append(f"{names[facet]} (target: at least {TARGETS[facet]} each)")
        for c in counts:
            mark = "  <- thin" if c.thin else ""
            lines.append(f"  {c.label:<{width}}  {c.cases:>4}{mark}")
        lines.append("")
    lines.append("Evidence level")
    width = max(len(label) for label in report.evidence)
    lines += [f"  {label:<{width}}  {n:>4}" for label, n in report.evidence.items()]
    lines += ["", f"Last reviewed (due after {REVIEW_MONTHS} months)"]
    lines += [f"  {year:<{width}}  {n:>4}" for year, n in report.reviewed.items()]
    if report.due_for_review:
        lines += ["", f"Due for review: {len(report.due_for_review)}"]
        lines += [f"  {d.id}: {d.reason}" for d in report.due_for_review]
    else:
        lines += ["", "None is due for review."]
    thin = report.thin
    lines += ["", f"{len(thin)} value(s) below target." if thin else "Every target is met."]
    return "\n".join(lines)
