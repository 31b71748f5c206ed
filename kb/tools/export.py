"""Every case study and every outcome as rows, for analysts who work in a spreadsheet.

One row per case study (record 'case-study') and one per outcome (record 'outcome'); an outcome row
repeats its case study's metadata, so filtering on 'record' gives a flat table of either. CSV is
written with a byte-order mark (Excel reads it as UTF-8), and text that a spreadsheet would run as
a formula (starting with =, +, - or @) gets a leading apostrophe: contributed text is untrusted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from kb.format.content import Entry
from kb.format.figures import format_also, format_outcome, format_source
from kb.format.model import Outcome, Range
from kb.format.vocab import load_vocabularies

__all__ = ["CASE_COLUMNS", "COLUMNS", "OUTCOME_COLUMNS", "export_rows", "render_export"]

CASE_COLUMNS: tuple[str, ...] = (
    "record",
    "case_id",
    "title",
    "summary",
    "organisations",
    "partners",
    "ics",
    "ics_labels",
    "region",
    "region_labels",
    "place",
    "level",
    "started",
    "ended",
    "status",
    "tiers",
    "kaiser_level",
    "meps",
    "three_cs",
    "enablers",
    "challenges",
    "drivers",
    "topics",
    "cohort",
    "funding_source",
    "funding_amount_gbp",
    "funding_recurrent",
    "evidence_level",
    "evidence_method",
    "evidence_evaluator",
    "outcomes_count",
    "outcomes_note",
    "sources",
    "reviewed",
)
OUTCOME_COLUMNS: tuple[str, ...] = (
    "outcome_number",
    "metric",
    "figure",
    "value",
    "value_low",
    "value_high",
    "out_of",
    "qualifier",
    "unit",
    "measure",
    "direction",
    "baseline",
    "comparison",
    "also",
    "outcome_status",
    "kind",
    "timeframe",
    "comparator",
    "scale",
    "denominator",
    "source_number",
    "source_title",
    "page",
    "note",
)
COLUMNS = CASE_COLUMNS + OUTCOME_COLUMNS
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _join(values: Sequence[Any]) -> str:
    return "; ".join(str(v) for v in values)


def _case_row(entry: Entry) -> dict[str, Any]:
    vocab = load_vocabularies()
    case = entry.case
    funding = case.funding
    return {
        "record": "case-study",
        "case_id": case.id,
        "title": case.title,
        "summary": case.summary,
        "organisations": _join(case.organisations),
        "partners": _join(case.partners),
        "ics": _join(case.ics),
        "ics_labels": _join([vocab.ics.label(i) for i in case.ics]),
        "region": _join(case.region),
        "region_labels": _join([vocab.regions.label(r) for r in case.region]),
        "place": case.place,
        "level": _join(case.level),
        "started": case.started,
        "ended": case.ended,
        "status": case.status,
        "tiers": _join(case.tiers),
        "kaiser_level": _join(case.kaiser_level),
        "meps": _join(case.meps),
        "three_cs": _join(case.three_cs),
        "enablers": _join(case.enablers),
        "challenges": _join(case.challenges),
        "drivers": _join(case.drivers),
        "topics": _join(case.topics),
        "cohort": case.cohort,
        "funding_source": funding.source if funding else None,
        "funding_amount_gbp": funding.amount_gbp if funding else None,
        "funding_recurrent": funding.recurrent if funding else None,
        "evidence_level": case.evidence.level,
        "evidence_method": _join(case.evidence.method),
        "evidence_evaluator": case.evidence.evaluator,
        "outcomes_count": len(case.outcomes),
        "outcomes_note": case.outcomes_note,
        "sources": _join([format_source(s.title, s.publisher, s.year) for s in case.sources]),
        "reviewed": case.reviewed.isoformat() if case.reviewed else None,
    }


def _outcome_row(entry: Entry, number: int, outcome: Outcome) -> dict[str, Any]:
    vocab = load_vocabularies()
    value = outcome.value
    sources = entry.case.sources
    source = sources[outcome.source - 1] if outcome.source <= len(sources) else None
    return {
        **_case_row(entry),
        "record": "outcome",
        "outcome_number": number,
        "metric": outcome.metric,
        "figure": format_outcome(outcome, vocab),
        "value": value if not isinstance(value, Range) else None,
        "value_low": value.low if isinstance(value, Range) else None,
        "value_high": value.high if isinstance(value, Range) else None,
        "out_of": outcome.out_of,
        "qualifier": outcome.qualifier,
        "unit": outcome.unit,
        "measure": outcome.measure,
        "direction": outcome.direction,
        "baseline": outcome.baseline,
        "comparison": outcome.comparison,
        "also": _join([format_also(a, vocab, outcome.direction) for a in outcome.also]),
        "outcome_status": outcome.status,
        "kind": outcome.kind,
        "timeframe": outcome.timeframe,
        "comparator": outcome.comparator,
        "scale": outcome.scale,
        "denominator": outcome.denominator,
        "source_number": outcome.source,
        "source_title": source.title if source else None,
        "page": outcome.page,
        "note": outcome.note,
    }


def export_rows(entries: Sequence[Entry]) -> list[dict[str, Any]]:
    """One row per case study, then one per outcome of it, case studies in id order."""
    rows: list[dict[str, Any]] = []
    for entry in sorted(entries, key=lambda e: e.case.id):
        rows.append({**dict.fromkeys(COLUMNS), **_case_row(entry)})
        for number, outcome in enumerate(entry.case.outcomes, 1):
            rows.append({**dict.fromkeys(COLUMNS), **_outcome_row(entry, number, outcome)})
    return rows


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render_export(entries: Sequence[Entry], fmt: str) -> str:
    """The rows as CSV (for Excel) or JSON ({'columns': [...], 'rows': [...]})."""
    rows = export_rows(entries)
    if fmt == "json":
        return json.dumps({"columns": list(COLUMNS), "rows": rows}, indent=2, ensure_ascii=False)
    if fmt != "csv":
        raise ValueError(fmt)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return "\ufeff" + buffer.getvalue()
