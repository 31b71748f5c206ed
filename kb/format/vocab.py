"""Controlled vocabularies, loaded from the YAML files in `kb/data/vocab/`.

A maintainer adds an ICS, a topic or an alias by editing those files; no Python changes. Each value
has a stable kebab-case id, a label, and aliases; lookups accept any of them, ignoring case,
punctuation, '&' versus 'and', and the NHS/ICS/ICB decorations people add to system names.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = [
    "FIELD_VOCABULARY",
    "NESTED_FIELD_VOCABULARY",
    "Term",
    "Vocabularies",
    "Vocabulary",
    "load_vocabularies",
    "field_vocabularies",
    "normalise",
    "vocabularies_named",
]

# front-matter field -> attribute of Vocabularies holding its values
FIELD_VOCABULARY: dict[str, str] = {
    "region": "regions",
    "ics": "ics",
    "level": "levels",
    "status": "statuses",
    "tiers": "tiers",
    "kaiser_level": "kaiser",
    "meps": "meps",
    "three_cs": "three_cs",
    "enablers": "enablers",
    "challenges": "challenges",
    "drivers": "drivers",
    "topics": "topics",
}
# fields inside a list or a mapping of the front-matter -> the same
NESTED_FIELD_VOCABULARY: dict[str, str] = {
    "outcomes.kind": "outcome_kinds",
    "outcomes.unit": "units",
    "outcomes.also.unit": "units",
    "context_figures.unit": "units",
    "evidence.level": "evidence_levels",
    "evidence.method": "evidence_methods",
}

_SYSTEM_NOISE = re.compile(
    r"^nhs\s+|\s+(integrated care (board|system|partnership)|ics|icb|icp)$", re.IGNORECASE
)


def normalise(text: str) -> str:
    """Fold a value for lookup: case, '&', punctuation and repeated spaces do not matter."""
    folded = text.strip().lower().replace("&", " and ").replace("’", "'")
    folded = re.sub(r"[^a-z0-9']+", " ", folded)
    return re.sub(r"\s+", " ", folded).strip()


@dataclass(frozen=True)
class Term:
    """One value of a vocabulary."""

    id: str
    label: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    region: str | None = None  # ICS only
    valid_from: date | None = None  # ICS only
    valid_to: date | None = None  # ICS only
    successors: tuple[str, ...] = ()  # ICS only
    predecessors: tuple[str, ...] = ()  # ICS only
    provisional: bool = False


@dataclass(frozen=True)
class Vocabulary:
    """The allowed values of one controlled field."""

    name: str
    terms: tuple[Term, ...]
    _lookup: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for term in self.terms:
            for spelling in (term.id, term.label, *term.aliases):
                self._lookup.setdefault(normalise(spelling), term.id)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id, in the order of the data file."""
        return tuple(t.id for t in self.terms)

    def get(self, term_id: str) -> Term:
        """The term with this id (KeyError if none)."""
        for term in self.terms:
            if term.id == term_id:
                return term
        raise KeyError(term_id)

    def label(self, term_id: str) -> str:
        """The human label of an id, or the id itself if unknown."""
        try:
            return self.get(term_id).label
        except KeyError:
            return term_id

    def resolve(self, value: str) -> str | None:
        """The id that `value` names (as id, label or alias), or None."""
        key = normalise(value)
        found = self._lookup.get(key)
        if found is None and self.name == "ICS":
            found = self._lookup.get(normalise(_SYSTEM_NOISE.sub("", value.strip())))
            if found is None:
                found = self._lookup.get(normalise(_SYSTEM_NOISE.sub("", key)))
        return found

    def suggest(self, value: str) -> str | None:
        """The closest label to a misspelt value, for a did-you-mean hint."""
        key = normalise(value)
        spellings = {normalise(s): s for t in self.terms for s in (t.label, t.id, *t.aliases)}
        # short spellings ('£', 'n', 'pp') match almost anything loosely: only close misspellings
        # of words of four letters or more count
        candidates = [s for s in spellings if len(s) >= 4]
        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.75)
        if not close:
            return None
        term_id = self._lookup[close[0]]
        label = self.label(term_id)
        spelling = spellings[close[0]]
        if normalise(label) == close[0] or normalise(term_id) == close[0]:
            return label
        return f"{spelling} ({label})"

    def split(self, value: str) -> list[str]:
        """The ids named by a string holding several values ('A and B and C, D'), else [].

        Separators may also sit inside a name ('Cheshire and Merseyside'), so every way of
        grouping the pieces is tried, fewest values first.
        """
        if len(value) > 300:  # no list of names is this long; keeps the work bounded
            return []
        pieces = re.split(r"(,|;|/|&|\band\b|\+)", value)
        words, seps = pieces[0::2], pieces[1::2]
        if len(words) < 2 or len(words) > 12:
            return []

        @functools.cache
        def best(start: int) -> tuple[str, ...] | None:
            """The fewest ids that the words from `start` on name, or None."""
            if start == len(words):
                return ()
            options = []
            for end in range(start + 1, len(words) + 1):
                text = "".join(
                    w + s
                    for w, s in zip(words[start:end], [*seps[start : end - 1], ""], strict=True)
                )
                found = self.resolve(text.strip())
                rest = best(end) if found else None
                if found and rest is not None:
                    options.append((found, *rest))
            return min(options, key=len) if options else None

        ids = best(0)
        return list(ids) if ids and len(ids) >= 2 else []

    def allowed_values(self) -> list[str]:
        """Every accepted spelling (ids, labels, aliases), for editor completion."""
        values: list[str] = []
        for term in self.terms:
            for spelling in (term.id, term.label, *term.aliases):
                if spelling not in values:
                    values.append(spelling)
        return values


@dataclass(frozen=True)
class Vocabularies:
    """All controlled vocabularies of the case-study format."""

    regions: Vocabulary
    ics: Vocabulary
    levels: Vocabulary
    statuses: Vocabulary
    tiers: Vocabulary
    kaiser: Vocabulary
    meps: Vocabulary
    three_cs: Vocabulary
    enablers: Vocabulary
    challenges: Vocabulary
    drivers: Vocabulary
    topics: Vocabulary
    evidence_levels: Vocabulary
    evidence_methods: Vocabulary
    units: Vocabulary
    outcome_kinds: Vocabulary

    def for_field(self, field_name: str) -> Vocabulary:
        """The vocabulary of a front-matter field such as 'tiers' or 'region'."""
        vocabulary: Vocabulary = getattr(self, FIELD_VOCABULARY[field_name])
        return vocabulary


def field_vocabularies() -> dict[str, tuple[str, ...]]:
    """Each front-matter key with a controlled vocabulary -> its vocabularies (Vocabularies fields).

    Top-level keys ('kaiser_level'); nested ones with their path ('evidence.method') and, where
    no other field has that key, alone ('method'); and a key holding controlled fields
    ('evidence': its level and method). A top-level key wins over a nested one ('level').
    """
    names: dict[str, tuple[str, ...]] = {
        k: (a,) for k, a in {**FIELD_VOCABULARY, **NESTED_FIELD_VOCABULARY}.items()
    }
    by_last: dict[str, list[str]] = {}
    for key, attr in NESTED_FIELD_VOCABULARY.items():
        by_last.setdefault(key.rsplit(".", 1)[1], []).append(attr)
        parent = key.split(".", 1)[0]
        if attr not in names.setdefault(parent, ()):
            names[parent] += (attr,)
    for last, attrs in by_last.items():
        if len(set(attrs)) == 1:
            names.setdefault(last, (attrs[0],))
    return names


def vocabularies_named(name: str) -> tuple[str, ...]:
    """The vocabularies (Vocabularies fields) that a name given to `kb vocab` lists; KeyError.

    A vocabulary's own name ('kaiser') or a front-matter key (see `field_vocabularies`); case,
    hyphens and spaces do not matter, and a name without its final 's' ('tier') is accepted.
    """
    key = re.sub(r"[\s-]+", "_", name.strip().lower())
    names = {a: (a,) for a in Vocabularies.__dataclass_fields__} | field_vocabularies()
    if key not in names and len(key) >= 4 and key + "s" in names:
        key += "s"
    return names[key]


def _term(raw: dict[str, Any]) -> Term:
    return Term(
        id=str(raw["id"]),
        label=str(raw.get("label", raw["id"])),
        description=str(raw.get("description", "")),
        aliases=tuple(str(a) for a in raw.get("aliases", ()) or ()),
        region=raw.get("region"),
        valid_from=raw.get("valid_from"),
        valid_to=raw.get("valid_to"),
        successors=tuple(raw.get("successors", ()) or ()),
        predecessors=tuple(raw.get("predecessors", ()) or ()),
        provisional=bool(raw.get("provisional", False)),
    )


def _load_file(stem: str) -> Vocabulary:
    text = resources.files("kb").joinpath("data", "vocab", f"{stem}.yml").read_text("utf-8")
    raw = yaml.safe_load(text)
    return Vocabulary(name=str(raw["name"]), terms=tuple(_term(t) for t in raw["terms"]))


def in_sentence(label: str) -> str:
    """A label as it reads inside a sentence: lower case, but an acronym stays as it is ('HIV
    and viral hepatitis', 'voluntary and community sector')."""
    return " ".join(
        word if sum(c.isupper() for c in word) > 1 else word.lower() for word in label.split(" ")
    )


@cache
def load_vocabularies() -> Vocabularies:
    """Load every vocabulary once per process."""
    return Vocabularies(
        regions=_load_file("regions"),
        ics=_load_file("ics"),
        levels=_load_file("levels"),
        statuses=_load_file("statuses"),
        tiers=_load_file("tiers"),
        kaiser=_load_file("kaiser"),
        meps=_load_file("meps"),
        three_cs=_load_file("three_cs"),
        enablers=_load_file("enablers"),
        challenges=_load_file("challenges"),
        drivers=_load_file("drivers"),
        topics=_load_file("topics"),
        evidence_levels=_load_file("evidence_levels"),
        evidence_methods=_load_file("evidence_methods"),
        units=_load_file("units"),
        outcome_kinds=_load_file("outcome_kinds"),
    )
