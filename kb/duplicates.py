"""Near-duplicates: a case study telling the same initiative as one already in the library.

Two signals, both measured on the shipped library (bench/near_duplicates.py prints them):
- how alike the two accounts read (cosine of their embedded descriptions), and
- how many figures they share (the same value in the same unit).
Two programmes on the same topic in different places read alike but share no figures; the same
initiative written twice reads alike and repeats its figures, or reads almost the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kb.content import Entry
from kb.embed import Embedder
from kb.validate import Problem, Report

__all__ = [
    "FIGURES_SHARED",
    "check",
    "READS_ALIKE",
    "READS_THE_SAME",
    "NearDuplicate",
    "description",
    "near_duplicates",
]

# Thresholds, measured with bench/near_duplicates.py (all-MiniLM-L6-v2) on the 69 shipped case
# studies: the most alike distinct pair (two lung screening programmes) reads 0.849 alike, the 99th
# percentile of the 2,346 distinct pairs 0.652; no distinct pair at 0.75 or more shares a figure.
# Paraphrased copies of shipped case studies read 0.956 and 0.958 alike their originals.
READS_THE_SAME = 0.90  # flagged on reading alone
READS_ALIKE = 0.75  # flagged when the two also share figures
FIGURES_SHARED = 2

_PLACEHOLDERS = ("not stated in the sources", "the sources do not", "todo")
_SECTIONS = ("What they did", "Outcomes")


@dataclass(frozen=True)
class NearDuplicate:
    """A case study that reads like another, with why it was flagged."""

    case_id: str
    other_id: str
    similarity: float
    shared_figures: int

    @property
    def reason(self) -> str:
        figures = f", {self.shared_figures} figures in common" if self.shared_figures else ""
        return f"reads {self.similarity:.0%} alike{figures}"


def description(entry: Entry) -> str:
    """What the case study says was done and found, without placeholder sentences."""
    case = entry.case
    parts = [case.title, case.summary, *case.interventions]
    for section in entry.sections:
        if section.heading in _SECTIONS:
            parts += [
                line
                for line in section.text.splitlines()
                if line.strip() and not any(p in line.lower() for p in _PLACEHOLDERS)
            ]
    return "\n".join(parts)


def _figures(entry: Entry) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for figure in [*entry.case.outcomes, *entry.case.context_figures]:
        if figure.value is None or figure.unit is None:
            continue
        found.add((repr(figure.value), figure.unit))
    return found


def near_duplicates(
    candidates: Sequence[Entry], library: Sequence[Entry], embedder: Embedder
) -> list[NearDuplicate]:
    """Each candidate's closest other case study in `library`, where it looks like the same work."""
    if not candidates:
        return []
    others = [e for e in library if e.id not in {c.id for c in candidates}]
    pool = [*candidates, *others]
    # a candidate is compared with every other case study, candidates included
    vectors = embedder.embed_documents([description(e) for e in pool])
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    figures = [_figures(e) for e in pool]
    found: list[NearDuplicate] = []
    for index, candidate in enumerate(candidates):
        similarity = vectors @ vectors[index]
        similarity[index] = -1.0
        best: NearDuplicate | None = None
        for other in np.argsort(-similarity)[:5]:
            shared = len(figures[index] & figures[int(other)])
            score = float(similarity[other])
            flagged = score >= READS_THE_SAME or (
                score >= READS_ALIKE and shared >= FIGURES_SHARED
            )
            if flagged and (best is None or score > best.similarity):
                best = NearDuplicate(candidate.id, pool[int(other)].id, score, shared)
        if best is not None:
            found.append(best)
    return found


def check(candidates: Sequence[Entry], library: Sequence[Entry], embedder: Embedder) -> Report:
    """A report with a warning for each candidate that looks like another case study."""
    report = Report(files_checked=len(candidates))
    by_id = {e.id: e for e in [*library, *candidates]}
    for found in near_duplicates(candidates, library, embedder):
        other = by_id[found.other_id]
        report.problems.append(
            Problem(
                str(by_id[found.case_id].path),
                1,
                1,
                "id",
                f"this looks like the same initiative as '{found.other_id}' ({found.reason})",
                f"if it is, improve {other.path.name} instead; if not, say in the summary what "
                "sets this one apart (place, people, approach)",
                "warning",
                "near-duplicate",
            )
        )
    return report
