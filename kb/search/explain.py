"""Why a case study matched: its best passage cut to a snippet, the facets it shares with the
query or filters, and the outcome sentences that answer a question about results."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.index.passages import clean_markdown
from kb.search.filters import FACET_FIELDS, Filters, _expand_ics
from kb.search.params import PASSAGE_CANDIDATES, PASSAGE_WORD_WEIGHT, SNIPPET_CHARS

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kb.index.layout import StoredCase, StoredOutcome
    from kb.index.load import SearchData
    from kb.search.reading import QueryReader

__all__ = ["Explainer", "snippet"]


class Explainer:
    """Explains hits in one library: passages, snippets, shared facets, result sentences."""

    def __init__(
        self,
        data: SearchData,
        cases: list[StoredCase],
        reader: QueryReader,
        predecessors: Mapping[str, list[str]],
    ) -> None:
        self.data = data
        self.cases = cases
        self.reader = reader
        self.predecessors = predecessors

    def passage_text(self, row: int) -> tuple[str, str]:
        """(section heading, raw text) of a vector row."""
        position = int(self.data.passage_case[row])
        section, start, end = (int(x) for x in self.data.passage_meta[row])
        heading, text = self.data.part_text(position, section)
        return heading, text[start:end]

    def best_passage(
        self, position: int, passage_scores: NDArray[np.float32], tokens: set[str]
    ) -> tuple[str, str]:
        """The passage that explains a hit: best dense score, nudged by shared query words.

        Only the case's three densest passages are read for words, which keeps this cheap.
        """
        starts = self.data.case_start
        start = int(starts[position])
        end = int(starts[position + 1]) if position + 1 < len(starts) else len(passage_scores)
        if end <= start:
            return "", ""
        rows = start + np.argsort(-passage_scores[start:end], kind="stable")[:PASSAGE_CANDIDATES]
        best: tuple[str, str] = ("", "")
        best_row = int(rows[0])
        best_value = -np.inf
        for row in rows.tolist():
            heading, text = self.passage_text(row)
            shared = len(self.reader.stem_set(text) & tokens)
            value = float(passage_scores[row]) + PASSAGE_WORD_WEIGHT * shared / max(1, len(tokens))
            if value > best_value:
                best, best_value, best_row = (heading, text), value, row
            if shared == len(tokens):
                break  # every query word: the next (no denser) passage cannot do better
        return best[0], self.snippet(best[1], tokens, *self.cut(best_row))

    def cut(self, row: int) -> tuple[bool, bool]:
        """Whether a passage starts after the start of its part, and ends before its end."""
        section, start, end = (int(x) for x in self.data.passage_meta[row])
        _, text = self.data.part_text(int(self.data.passage_case[row]), section)
        return start > 0, end < len(text)

    def snippet(
        self, text: str, tokens: set[str], before: bool = False, after: bool = False
    ) -> str:
        """The passage's snippet for these query words (see `snippet`)."""
        return snippet(text, tokens, self.reader.stem_set, before, after)

    def shared(
        self, case: Mapping[str, Any], wanted: Mapping[str, Iterable[str]]
    ) -> dict[str, tuple[str, ...]]:
        """Field -> ids the case study has among those wanted (ICS predecessors count)."""
        out: dict[str, tuple[str, ...]] = {}
        for name in FACET_FIELDS:
            if name not in wanted:
                continue
            values = wanted[name]
            targets = set(_expand_ics(values, self.predecessors)) if name == "ics" else set(values)
            common = tuple(v for v in case["facets"].get(name, ()) if v in targets)
            if common:
                out[name] = common
        return out

    def results(
        self,
        position: int,
        kinds: tuple[str, ...] | None,
        filters: Filters | None,
        no_effect: bool = False,
    ) -> tuple[str, ...]:
        """The outcomes that answer a results question or meet the outcome filters; for a
        question about what did not work, the results that did not change come first."""
        if kinds is None and filters is None and not no_effect:
            return ()
        out = []
        order = {"achieved": 0, "estimated": 1, "target": 2}

        def key(o: StoredOutcome) -> tuple[int, int, int]:
            unchanged = 0 if no_effect and o.direction == "no-change" else 1
            return (unchanged, order[o.status], -o.numeric)

        outcomes = sorted(self.cases[position]["outcomes"], key=key)
        for o in outcomes:
            if not o.sentence:
                continue
            if no_effect and kinds is None and filters is None and o.direction != "no-change":
                continue
            if filters is not None and not filters.wants_outcome(o.kind, o.status):
                continue
            if kinds and o.kind not in kinds:
                continue
            out.append(o.sentence)
        return tuple(out[:2])


def snippet(
    text: str,
    tokens: set[str],
    stem_set: Callable[[str], set[str]],
    before: bool = False,
    after: bool = False,
) -> str:
    """The passage's sentences that share most query words, about SNIPPET_CHARS long; '...'
    marks text left out before or after (`before`, `after`: the passage is part of a part)."""
    plain = clean_markdown(text)
    if len(plain) <= SNIPPET_CHARS:
        return ("... " if before else "") + plain + (" ..." if after else "")
    sentences = re.split(r"(?<=[.!?])\s+", plain)
    hits: list[int] = []
    for sentence in sentences:
        hits.append(len(stem_set(sentence) & tokens))
        if hits[-1] == len(tokens):
            break  # every query word: no later sentence comes first
    best = hits.index(max(hits)) if hits else 0
    first, last = best, best
    out = sentences[best]
    while len(out) < SNIPPET_CHARS and (first > 0 or last < len(sentences) - 1):
        if last < len(sentences) - 1:
            last += 1
        elif first > 0:
            first -= 1
        out = " ".join(sentences[first : last + 1])
    if len(out) > SNIPPET_CHARS:
        out = out[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " ..."
    elif after and last == len(sentences) - 1:
        out += " ..."
    return ("... " if first > 0 or before else "") + out
