"""Query words the library does not have, read as the library word they are a slip for.

'hypertention' has no BM25 match, so a search for it found nothing about high blood pressure.
A query stem that is not in the BM25 vocabulary is replaced by the closest stem that is, when:

- the word is not a known English word: the query model's WordPiece vocabulary does not hold it
  whole ('resistance' is known, so an absent word is left absent, not read as 'registers');
- its stem has at least MIN_LENGTH letters and no digit;
- a library stem with the same first letter lies within the edit distance allowed for its
  length (MAX_DISTANCE): adjacent swaps count as one edit ('alchohol' -> 'alcohol').

Of several, the nearest wins, then the commonest (lowest idf), then the first in alphabetical
order. The site's search (site/assets/javascripts/kb-search/rank.js, `correct`) applies the same
rule to the same vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["MIN_LENGTH", "Speller", "edit_distance", "max_distance"]

MIN_LENGTH = 5  # shorter stems are too easily one edit from another word


def max_distance(stem: str) -> int:
    """The edits allowed for a stem of this length: 1, or 2 from 8 letters."""
    return 1 if len(stem) < 8 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (insert, delete, substitute, swap two neighbours), or
    limit + 1 as soon as it is sure to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, before[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


class Speller:
    """Corrections of query stems against one BM25 vocabulary (stem -> its row in `idf`)."""

    def __init__(
        self, vocab: Mapping[str, int], idf: Sequence[float] | Any, known: Callable[[str], bool]
    ) -> None:
        self._vocab = vocab
        self._idf = idf
        self._known = known
        # library stems by first letter and length, built on the first unknown stem
        self._by_start: dict[tuple[str, int], list[str]] | None = None

    def correct(self, word: str, stem: str) -> str | None:
        """The library stem that `stem` (of the query word `word`) is a slip for, or None."""
        if stem in self._vocab or len(stem) < MIN_LENGTH or any(c.isdigit() for c in stem):
            return None
        if self._known(word):
            return None
        if self._by_start is None:
            self._by_start = {}
            for term in self._vocab:
                if term:
                    self._by_start.setdefault((term[0], len(term)), []).append(term)
        limit = max_distance(stem)
        best: tuple[int, float, str] | None = None
        near = range(len(stem) - limit, len(stem) + limit + 1)
        for term in (t for n in near for t in self._by_start.get((stem[0], n), ())):
            distance = edit_distance(stem, term, limit)
            if distance <= limit:
                key = (distance, float(self._idf[self._vocab[term]]), term)
                if best is None or key < best:
                    best = key
        return None if best is None else best[2]

    def correct_all(self, words: Sequence[str], stems: Sequence[str]) -> dict[str, str]:
        """Query word -> the library stem it is read as, for each word corrected."""
        out: dict[str, str] = {}
        for word, stem in zip(words, stems, strict=True):
            fixed = self.correct(word, stem)
            if fixed is not None:
                out[word] = fixed
        return out
