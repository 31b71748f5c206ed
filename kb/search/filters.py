"""Filters on the controlled fields: parsed from what a user typed, matched against case studies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kb.errors import SearchError
from kb.index.layout import STORED_FACETS

if TYPE_CHECKING:

    from kb.format.model import CaseStudy
from kb.search.params import OUTCOME_STATUSES

__all__ = ["FACET_FIELDS", "Filters"]


# controlled front-matter fields a search can filter on, in display order: the facets the index
# stores for each case study (kb.format.vocab's FIELD_VOCABULARY order, without loading the
# vocabularies)
FACET_FIELDS: tuple[str, ...] = STORED_FACETS


FIELD_LABELS = {
    "region": "region",
    "ics": "ICS",
    "level": "level",
    "status": "status",
    "tiers": "tiers",
    "kaiser_level": "Kaiser level",
    "meps": "MEPS",
    "three_cs": "3Cs",
    "enablers": "enablers",
    "challenges": "challenges",
    "drivers": "drivers",
    "topics": "topics",
}


@dataclass(frozen=True)
class Filters:
    """Controlled-vocabulary filters: any value within a field, every field given.

    Outcome filters ask for at least one outcome with one of the kinds and one of the statuses.
    """

    region: tuple[str, ...] = ()
    ics: tuple[str, ...] = ()
    level: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    kaiser_level: tuple[str, ...] = ()
    meps: tuple[str, ...] = ()
    three_cs: tuple[str, ...] = ()
    enablers: tuple[str, ...] = ()
    challenges: tuple[str, ...] = ()
    drivers: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    evidence_min: int | None = None  # lowest Nesta evidence level accepted (1-5)
    outcome_kinds: tuple[str, ...] = ()  # outcome kinds (health, financial, ...)
    outcome_status: tuple[str, ...] = ()  # achieved, estimated, target

    @classmethod
    def parse(
        cls,
        values: Mapping[str, Iterable[str]] | None = None,
        evidence_min: int | None = None,
        *,
        outcome_kinds: Iterable[str] = (),
        outcome_status: Iterable[str] = (),
    ) -> Filters:
        """Resolve ids, labels or aliases to ids; SearchError names the bad value with a hint."""
        resolved: dict[str, tuple[str, ...]] = {}
        if values:
            from kb.format.vocab import load_vocabularies

            vocab = load_vocabularies()
            for name, given in values.items():
                if name not in FACET_FIELDS:
                    raise SearchError(f"unknown filter field '{name}'")
                resolved[name] = _resolve(vocab.for_field(name), given, name)
        kinds: tuple[str, ...] = ()
        outcome_kinds = tuple(outcome_kinds)
        if outcome_kinds:
            from kb.format.vocab import load_vocabularies

            kinds = _resolve(load_vocabularies().outcome_kinds, outcome_kinds, "outcome")
        statuses: list[str] = []
        for value in outcome_status:
            status = value.strip().lower()
            if status not in OUTCOME_STATUSES:
                raise SearchError(
                    f"filter outcome status: '{value}' is not an outcome status; "
                    f"hint: use {', '.join(OUTCOME_STATUSES)}"
                )
            if status not in statuses:
                statuses.append(status)
        if evidence_min is not None and not 1 <= evidence_min <= 5:
            raise SearchError(
                f"filter evidence: {evidence_min} is not a Nesta level; hint: use 1 to 5"
            )
        return cls(
            **resolved,
            evidence_min=evidence_min,
            outcome_kinds=kinds,
            outcome_status=tuple(statuses),
        )

    def active(self) -> dict[str, tuple[str, ...]]:
        """Controlled fields that filter, with their ids."""
        return {f: getattr(self, f) for f in FACET_FIELDS if getattr(self, f)}

    def is_empty(self) -> bool:
        return (
            not self.active()
            and self.evidence_min is None
            and not self.outcome_kinds
            and not self.outcome_status
        )

    def wants_outcome(self, kind: str, status: str) -> bool:
        """Whether an outcome of this kind and status meets the outcome filters."""
        return (not self.outcome_kinds or kind in self.outcome_kinds) and (
            not self.outcome_status or status in self.outcome_status
        )

    def matches(self, case: CaseStudy) -> bool:
        """Whether a case study passes every filter."""
        for name, wanted in self.active().items():
            have = set(_values(case, name))
            targets = set(_expand_ics(wanted)) if name == "ics" else set(wanted)
            if not have & targets:
                return False
        if (self.outcome_kinds or self.outcome_status) and not any(
            self.wants_outcome(o.kind, o.status) for o in case.outcomes
        ):
            return False
        return self.evidence_min is None or case.evidence.rank >= self.evidence_min


def _resolve(vocabulary: Any, given: Iterable[str], name: str) -> tuple[str, ...]:
    ids: list[str] = []
    for value in given:
        found = vocabulary.resolve(value)
        if found is None:
            from kb.format.suggest import nearest_term

            near = [vocabulary.suggest(value) or ""] + nearest_term(vocabulary, value)
            near = list(dict.fromkeys(n for n in near if n))[:3]
            hint = (
                "did you mean " + " or ".join(f"'{n}'" for n in near) + "?"
                if near
                else f"run `kb vocab {vocab_name(name)}` for the allowed values"
            )
            raise SearchError(
                f"filter {name}: '{value}' is not a known {vocabulary.name}; hint: {hint}"
            )
        if found not in ids:
            ids.append(found)
    return tuple(ids)


def vocab_name(field_name: str) -> str:
    from kb.format.vocab import FIELD_VOCABULARY

    return {"outcome": "outcome_kinds"}.get(field_name) or FIELD_VOCABULARY.get(
        field_name, field_name
    )


def _values(case: CaseStudy, name: str) -> tuple[str, ...]:
    value = getattr(case, name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _expand_ics(
    ids: Iterable[str], predecessors: Mapping[str, Sequence[str]] | None = None
) -> list[str]:
    """An ICS and the bodies it was formed from (a merged ICS covers its predecessors' cases)."""
    if predecessors is None:
        from kb.format.vocab import load_vocabularies

        vocabulary = load_vocabularies().ics
        table: dict[str, Sequence[str]] = {t.id: t.predecessors for t in vocabulary.terms}
    else:
        table = dict(predecessors)
    out: list[str] = []
    todo = list(ids)
    while todo:
        current = todo.pop()
        if current in out:
            continue
        out.append(current)
        todo.extend(table.get(current, ()))
    return out
