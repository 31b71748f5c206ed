"""Did-you-mean: the nearest known ids or names to something a user typed.

Close misspellings ('Norfok') and partial names ('Norfolk' for 'Norfolk and Waveney', 'norfolk'
for 'norfolk-falls-prevention') both find their match.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from kb.format.vocab import Vocabulary, normalise

__all__ = ["nearest", "nearest_term"]


def nearest(value: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` candidates closest to `value`: misspellings first, then names that contain it."""
    options = list(dict.fromkeys(candidates))
    key = normalise(value.replace("-", " "))
    if not key:
        return []
    folded = {c: normalise(c.replace("-", " ")) for c in options}
    by_fold: dict[str, str] = {}
    for candidate, fold in folded.items():
        by_fold.setdefault(fold, candidate)
    close = difflib.get_close_matches(key, list(by_fold), n=n, cutoff=0.75)
    found = [by_fold[c] for c in close]
    words = key.split()
    for candidate, fold in folded.items():
        parts = fold.split()
        contains = all(any(p.startswith(w) for p in parts) for w in words)
        if contains and candidate not in found and len(key) >= 3:
            found.append(candidate)
    return found[:n]


def nearest_term(vocabulary: Vocabulary, value: str, n: int = 3) -> list[str]:
    """Labels of the terms of `vocabulary` nearest to `value` (by label, id or alias)."""
    spellings = {s: t.label for t in vocabulary.terms for s in (t.label, t.id, *t.aliases)}
    labels = [spellings[s] for s in nearest(value, spellings, n=n * 3)]
    return list(dict.fromkeys(labels))[:n]
