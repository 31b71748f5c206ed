"""Near-duplicates: a case study telling the same initiative as one already in the library.

Two signals, both measured on the shipped library (bench/near_duplicates.py prints them):
- how alike the two accounts read (cosine of their embedded descriptions), and
- how many figures they share (the same value in the same unit).
Two programmes on the same topic in different places read alike but share no figures; the same
initiative written twice reads alike and repeats its figures, or reads almost the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.check.problems import Problem, Report
from kb.check.validate import reading_problems, validate_file, validate_paths
from kb.errors import ContentError
from kb.format.content import Entry
from kb.format.figures import counted
from kb.index.embed import Embedder

__all__ = [
    "FIGURES_SHARED",
    "DuplicateCheck",
    "check",
    "check_files",
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
    return check_entries(candidates, library, embedder)[0]


def check_entries(
    candidates: Sequence[Entry], library: Sequence[Entry], embedder: Embedder
) -> tuple[Report, list[NearDuplicate]]:
    """A report with a warning for each candidate that looks like another, and the look-alikes."""
    report = Report(files_checked=len(candidates))
    by_id = {e.id: e for e in [*library, *candidates]}
    found_all = near_duplicates(candidates, library, embedder)
    for found in found_all:
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
    return report, found_all


@dataclass
class DuplicateCheck:
    """What `kb duplicates` did: the case studies compared, with what, and what looked alike.

    `report` holds a warning for each look-alike, an error for each given file that is invalid
    (compared all the same when it reads as a case study) and a warning for each other file of
    the library left out of the comparison because it is invalid.
    """

    report: Report
    found: list[NearDuplicate] = field(default_factory=list)
    compared: list[Entry] = field(default_factory=list)  # the case studies checked
    compared_with: int = 0  # how many other case studies each was compared with
    left_out: list[str] = field(default_factory=list)  # other files, invalid: not compared with
    not_compared: list[str] = field(default_factory=list)  # given files that do not read
    whole_library: bool = False  # no file given: every case study against the others
    paths: dict[str, str] = field(default_factory=dict)  # id -> file, of every case compared

    def summary(self) -> str:
        """A plain sentence or two: what was compared with how many, and what looked alike."""
        others = counted(self.compared_with, "other case study", "other case studies")
        checked = len(self.compared)
        if not checked:
            text = "No case study was compared."
        elif self.whole_library and not self.found:
            text = (
                f"No two of the {checked} case studies in the library look like the same "
                "initiative."
            )
        elif not self.found:
            name = f"{self.compared[0].path}" if checked == 1 else f"any of the {checked} checked"
            each = "it was" if checked == 1 else "each was"
            text = (
                f"No case study in the library looks like the same initiative as {name}: "
                f"{each} compared with {others}."
            )
        elif checked == 1:
            text = (
                f"{self.compared[0].path} looks like the same initiative as another case study "
                f"(it was compared with {others}): see the warning above."
            )
        else:
            text = (
                f"{len(self.found)} of the {checked} case studies checked "
                f"look{'s' if len(self.found) == 1 else ''} like the same initiative as another "
                f"(each was compared with {others}): see the warnings above."
            )
        if self.not_compared:
            text += (
                f" {counted(len(self.not_compared), 'given file was', 'given files were')} not "
                "compared: see the errors above."
            )
        if self.left_out:
            text += (
                f" {counted(len(self.left_out), 'other file was', 'other files were')} left out "
                "because invalid: run `kb validate` to see why."
            )
        return text

    def to_json(self) -> dict[str, Any]:
        """The fields `kb duplicates --format json` adds to the report's."""
        return {
            "compared": [str(e.path) for e in self.compared],
            "compared_with": self.compared_with,
            "near_duplicates": [
                {
                    "path": self.paths.get(d.case_id, ""),
                    "id": d.case_id,
                    "other_path": self.paths.get(d.other_id, ""),
                    "other_id": d.other_id,
                    "similarity": round(d.similarity, 3),
                    "shared_figures": d.shared_figures,
                }
                for d in self.found
            ],
            "not_compared": list(self.not_compared),
            "left_out": list(self.left_out),
        }


def _invalid(path: str, errors: Sequence[Problem], message: str, hint: str, **kw: Any) -> Problem:
    """One problem standing for a file's errors, at the first of them."""
    first = errors[0]
    count = counted(len(errors), "error", "errors")
    return Problem(
        path,
        first.line,
        first.column,
        first.field,
        f"{message} ({count}; first: {first.message})",
        hint,
        **kw,
    )


def _by_path(problems: Sequence[Problem]) -> dict[str, list[Problem]]:
    grouped: dict[str, list[Problem]] = {}
    for problem in problems:
        grouped.setdefault(problem.path, []).append(problem)
    return grouped


def check_files(
    paths: Sequence[Path] | None, content_dir: Path, embedder: Embedder
) -> DuplicateCheck:
    """Compare the case studies at `paths` (None: every one) with the library in `content_dir`.

    The library is every case study there that reads and validates; the others are left out,
    each with a warning. A given file that is invalid is an error, yet still compared if it
    reads as a case study (a placeholder left in the text does not stop that).
    """
    if not content_dir.is_dir():
        from kb.check.report import escape_text

        raise ContentError(f"no content folder at {escape_text(str(content_dir))}")
    library = validate_paths([content_dir])
    report = Report()
    check = DuplicateCheck(report, whole_library=paths is None)
    given: set[Path] = set()
    if paths is None:
        candidates = list(library.entries)
        report.files_checked = library.files_checked
    else:
        candidates, given = _read_given(paths, check)
    _leave_out_invalid(library, given, check)
    _compare_candidates(candidates, library, embedder, check)
    return check


def _read_given(paths: Sequence[Path], check: DuplicateCheck) -> tuple[list[Entry], set[Path]]:
    """The case studies at `paths` to compare (an invalid one too, if it reads) and the resolved
    paths of the files given; report each invalid file."""
    report = check.report
    targets = validate_paths(paths)
    report.files_checked = targets.files_checked
    candidates = list(targets.entries)
    given = {Path(e.path).resolve() for e in targets.entries}
    for name, errors in _by_path(targets.errors).items():
        path = Path(name)
        if not path.is_file():  # no such file: the problem says so as it is
            report.problems.extend(errors)
            continue
        given.add(path.resolve())
        report.problems.append(_admit_invalid(name, errors, candidates, check))
    return candidates, given


def _admit_invalid(
    name: str, errors: Sequence[Problem], candidates: list[Entry], check: DuplicateCheck
) -> Problem:
    """Add an invalid given file to `candidates` if it reads as a case study with an id not
    taken, or else list it as not compared; return the error that says which."""
    path = Path(name)
    entry = validate_file(path)[1]
    command = f"kb validate {name}"
    if entry is not None and entry.id not in {c.id for c in candidates}:
        candidates.append(entry)
        return _invalid(
            name,
            errors,
            "this case study is not valid yet; it was compared as it stands",
            f"run `{command}` for every problem",
        )
    check.not_compared.append(name)
    blocking = reading_problems(path)
    why = (
        ("this stops" if len(blocking) == 1 else "these stop") + " it reading as a case study"
        if blocking
        else "another file given has the same id"
    )
    return _invalid(
        name,
        blocking or errors,
        f"this case study cannot be compared: {why}",
        f"fix {'it' if len(blocking) == 1 else 'them'} (`{command}` lists every "
        "problem), then run kb duplicates again",
    )


def _leave_out_invalid(library: Report, given: set[Path], check: DuplicateCheck) -> None:
    """Warn of each invalid file of the library, other than those given, left out of the
    comparison."""
    for name, errors in _by_path(library.errors).items():
        if Path(name).resolve() in given:
            continue
        check.left_out.append(name)
        check.report.problems.append(
            _invalid(
                name,
                errors,
                "left out of the comparison: this case study is invalid",
                f"run `kb validate {name}`; once it is valid, kb duplicates compares with it too",
                severity="warning",
                code="left-out",
            )
        )


def _compare_candidates(
    candidates: list[Entry], library: Report, embedder: Embedder, check: DuplicateCheck
) -> None:
    """Compare the candidates with the library; record what was compared and what looked
    alike, and sort the report's problems."""
    report = check.report
    ids = {c.id for c in candidates}
    pool = len(candidates) + sum(1 for e in library.entries if e.id not in ids)
    check.compared = candidates
    check.paths = {e.id: str(e.path) for e in [*library.entries, *candidates]}
    check.compared_with = max(pool - 1, 0)
    found = check_entries(candidates, library.entries, embedder)
    check.found = found[1]
    report.problems.extend(found[0].problems)
    report.problems.sort(key=lambda p: (p.path, p.line, p.column, p.field))
