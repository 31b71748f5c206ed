"""How a query reads against one library: its BM25 words, its slips of spelling, the terms it names.

Function words are left out of a query's words unless it has nothing else; a word no case study
has is read as the library word it is a slip for (`kb.search.spelling`), where the query model
can tell a slip from a real word; the vocabulary's terms (topics, ICSs, regions) a query names
are found by their stemmed words. The site's ranker reads queries the same way (rank.js).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.index.passages import bm25_tokens, new_stemmer, words_of
from kb.search.params import QUERY_STOPWORDS
from kb.search.spelling import Speller, edit_distance

if TYPE_CHECKING:
    from kb.index.layout import StoredCase
    from kb.index.load import SearchData

__all__ = ["QueryReader"]

# how many of the case studies with a word's stem are read for its spelling
SPELLING_CASES = 5


class QueryReader:
    """Reads queries (and texts) into the library's BM25 words, and finds the terms they name."""

    def __init__(
        self,
        data: SearchData,
        cases: list[StoredCase],
        known_word: Callable[[str], bool] | None = None,
    ) -> None:
        self.data = data
        self.cases = cases
        self.stemmer = new_stemmer()
        bm25 = data.bm25
        self.stopwords = frozenset(str(w) for w in bm25["stopwords"])
        self.query_stopwords = self.stopwords | QUERY_STOPWORDS
        self.vocab = {str(t): i for i, t in enumerate(bm25["vocab"])}
        self.idf = np.asarray(bm25["idf"], dtype=np.float64)
        self.speller = Speller(self.vocab, self.idf, known_word) if known_word else None
        self._read: tuple[str | None, Any] = (None, None)

    def tokens(self, text: str) -> list[str]:
        return bm25_tokens(text, self.stemmer, self.stopwords)

    def query_tokens(self, text: str) -> list[str]:
        return self.reading(text)[0]

    def reading(self, text: str) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """A query's BM25 tokens, its words that the library lacks with the stem each is read as
        (kb.search.spelling), and those stems by the stem they replace. Function words are left out,
        unless the query has nothing else."""
        if self._read[0] == text:
            return self._read[1]
        everything = words_of(text)
        words = [w for w in everything if w not in self.query_stopwords]
        words = words or [w for w in everything if w not in self.stopwords]
        stems = list(self.stemmer.stemWords(words))
        fixed = self.speller.correct_all(words, stems) if self.speller is not None else {}
        by_stem = {s: fixed[w] for w, s in zip(words, stems, strict=True) if w in fixed}
        reading = ([by_stem.get(s, s) for s in stems], fixed, by_stem)
        self._read = (text, reading)
        return reading

    def corrections(self, query: str) -> dict[str, str]:
        """The query's words that no case study has, each with the library's word it was read
        as ('hypertention': 'hypertension'), spelled as the first case study with it spells it."""
        _, fixed, _ = self.reading(query)
        if not fixed:
            return {}
        out = {}
        for word, stem in fixed.items():
            out[word] = self.spelling_of(stem, word) or stem
        return out

    def corrected(self, query: str) -> str:
        """The query with each slip of spelling replaced by the library word it was read as, as
        the model embeds it: 'hypertention' is embedded as 'hypertension' too, so a corrected
        query ranks as its right spelling does (the site's ranker: rank.js `corrected`)."""
        for word, read in self.corrections(query).items():
            query = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", read, query, flags=re.IGNORECASE)
        return query

    def spelling_of(self, stem: str, typed: str | None = None) -> str | None:
        """A word of the library with this stem: of the words with it in the first
        SPELLING_CASES case studies that have it, the first closest to `typed` ('homelesness'
        reads 'homelessness', not 'homeless'), or the very first if `typed` is not given."""
        token = self.vocab.get(stem)
        if token is None:
            return None
        bm25 = self.data.bm25
        start, end = int(bm25["indptr"][token]), int(bm25["indptr"][token + 1])
        if start == end:
            return None
        positions = sorted({int(p) for p in bm25["indices"][start:end]})[:SPELLING_CASES]
        texts = [
            text
            for position in positions
            for text in (
                self.cases[position]["title"],
                *(self.data.part_text(position, int(k))[1] for k in self.cases[position]["parts"]),
            )
        ]
        found = [w for text in texts for w in words_of(text) if self.stemmer.stemWord(w) == stem]
        if not found or typed is None:
            return found[0] if found else None
        limit = len(typed) + max(len(w) for w in found)
        return min(found, key=lambda w: edit_distance(w, typed, limit))

    # distinct words of texts, stemmed once per searcher (see `stem_set`)
    _stems: dict[str, str] | None = None

    def stem_set(self, text: str) -> set[str]:
        """`set(self.tokens(text))`, with each distinct word stemmed once per searcher."""
        words = set(words_of(text))
        stems = self._stems
        if stems is None or len(stems) > 200_000:
            stems = self._stems = {}
        new = [w for w in words if w not in stems]
        if new:
            stems.update(zip(new, self.stemmer.stemWords(new), strict=True))
        words -= self.stopwords
        return {stems[w] for w in words}

    # the vocabulary terms a query may name, by their first word (see `query_facets`), and
    # the last query's facets (a search asks twice)
    _terms_by_word: dict[str, list[tuple[int, list[str]]]] | None = None

    _facets_of: tuple[str, dict[str, tuple[str, ...]]] = ("", {})

    def query_facets(self, query: str) -> dict[str, tuple[str, ...]]:
        """Vocabulary terms (topics, ICS, region) named in the query's words."""
        if self._facets_of[0] == query and query:
            return dict(self._facets_of[1])
        terms = self.data.store.get("query_terms", ())
        if self._terms_by_word is None:
            self._terms_by_word = {}
            for number, (_, _, stems) in enumerate(terms):
                self._terms_by_word.setdefault(stems[0], []).append((number, stems))
        fixed = self.reading(query)[2]
        words = [fixed.get(w, w) for w in self.tokens(query)]
        named = sorted(
            number
            for i, word in enumerate(words)
            for number, stems in self._terms_by_word.get(word, ())
            if words[i : i + len(stems)] == stems
        )
        found: dict[str, list[str]] = {}
        for number in named:  # in the vocabulary's order, as if each term were tried in turn
            name, term_id, _ = terms[number]
            ids = found.setdefault(name, [])
            if term_id not in ids:
                ids.append(term_id)
        self._facets_of = (query, {k: tuple(v) for k, v in found.items()})
        return dict(self._facets_of[1])

