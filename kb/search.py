"""Hybrid search over the index: BM25 and dense scores fused, filters first, reasons attached.

A query is embedded by the ONNX export of the model (no torch), scored against every passage
(exact inner product of unit vectors), and each case study takes the score of its best passage.
BM25 scores each case study over its words and the labels of its metadata. The two rankings are
fused (see `Fusion`); filters on any controlled field remove case studies before ranking. Each hit
carries the passage that matched best and the facets it shares with the filters and the query (or
with the source case study, for `similar`).
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kb.errors import SearchError
from kb.index import (
    PREAMBLE,
    PROFILE,
    IndexData,
    bm25_tokens,
    clean_markdown,
    load_index,
    new_stemmer,
    preamble_text,
)
from kb.index import profile_text as _profile_text
from kb.vocab import FIELD_VOCABULARY, load_vocabularies

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kb.content import Entry
    from kb.embed import Embedder
    from kb.model import CaseStudy

__all__ = [
    "FACET_FIELDS",
    "Filters",
    "Fusion",
    "Likeness",
    "SearchHit",
    "Searcher",
    "describe_hit",
    "find",
    "format_rows",
    "query_embedder",
]

# controlled front-matter fields a search can filter on, in display order
FACET_FIELDS: tuple[str, ...] = tuple(FIELD_VOCABULARY)
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
# fields whose labels are looked for in the words of a query
_QUERY_FACETS = ("topics", "ics", "region")
# fields compared by `similar` for its facet overlap
_SIMILAR_FACETS = ("topics", "tiers", "meps", "kaiser_level", "three_cs", "enablers", "challenges")
SNIPPET_CHARS = 280
Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class SearchHit:
    """One case study in a result list, with why it matched."""

    case_id: str
    title: str
    score: float  # in [0, 1], higher is closer
    section: str  # heading of the best-matching passage ('Summary' for the profile)
    passage: str  # a snippet of that passage
    shared_facets: dict[str, tuple[str, ...]]  # field -> vocabulary ids shared with query/source


@dataclass(frozen=True)
class Filters:
    """Controlled-vocabulary filters: any value within a field, every field given."""

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

    @classmethod
    def parse(
        cls, values: Mapping[str, Iterable[str]] | None = None, evidence_min: int | None = None
    ) -> Filters:
        """Resolve ids, labels or aliases to ids; SearchError names the bad value with a hint."""
        vocab = load_vocabularies()
        resolved: dict[str, tuple[str, ...]] = {}
        for name, given in (values or {}).items():
            if name not in FACET_FIELDS:
                raise SearchError(f"unknown filter field '{name}'")
            vocabulary = vocab.for_field(name)
            ids: list[str] = []
            for value in given:
                found = vocabulary.resolve(value)
                if found is None:
                    from kb.suggest import nearest_term

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
            resolved[name] = tuple(ids)
        if evidence_min is not None and not 1 <= evidence_min <= 5:
            raise SearchError(
                f"filter evidence: {evidence_min} is not a Nesta level; hint: use 1 to 5"
            )
        return cls(**resolved, evidence_min=evidence_min)

    def active(self) -> dict[str, tuple[str, ...]]:
        """Fields that filter, with their ids."""
        return {f: getattr(self, f) for f in FACET_FIELDS if getattr(self, f)}

    def is_empty(self) -> bool:
        return not self.active() and self.evidence_min is None

    def matches(self, case: CaseStudy) -> bool:
        """Whether a case study passes every filter."""
        for name, wanted in self.active().items():
            have = set(_values(case, name))
            targets = set(_expand_ics(wanted)) if name == "ics" else set(wanted)
            if not have & targets:
                return False
        return self.evidence_min is None or case.evidence.rank >= self.evidence_min


def vocab_name(field_name: str) -> str:
    return FIELD_VOCABULARY.get(field_name, field_name)


def _values(case: CaseStudy, name: str) -> tuple[str, ...]:
    value = getattr(case, name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _expand_ics(ids: Iterable[str]) -> list[str]:
    """An ICS and the bodies it was formed from (a merged ICS covers its predecessors' cases)."""
    vocabulary = load_vocabularies().ics
    out: list[str] = []
    todo = list(ids)
    while todo:
        current = todo.pop()
        if current in out:
            continue
        out.append(current)
        with contextlib.suppress(KeyError):
            todo.extend(vocabulary.get(current).predecessors)
    return out


@dataclass(frozen=True)
class Fusion:
    """How BM25 and dense rankings combine.

    rrf: sum of weight / (k + rank) (reciprocal rank fusion; k=60 with equal weights is the
    classic baseline). convex: alpha * dense + (1 - alpha) * BM25, each min-max scaled over the
    candidates. `second` adds that share of a case study's second-best passage score to its best.
    """

    method: Literal["rrf", "convex"] = "rrf"
    k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    alpha: float = 0.5
    second: float = 0.0


# Chosen on tests/eval (bench/eval_retrieval.py --all): dense ranks count twice in RRF k=60. It
# beat the equal-weight baseline, other k values and convex mixes on both halves of the queries.
DEFAULT_FUSION = Fusion(dense_weight=2.0)


@dataclass(frozen=True)
class Likeness:
    """How `similar` compares case studies.

    dense: centroid (mean of passage vectors), profile (title, summary, who and what) or maxsim
    (each source passage's best match, averaged). lexical: fuse BM25 over the source's profile.
    facets / facet_weight: the share of the score given to the overlap of controlled facets.
    """

    dense: Literal["centroid", "profile", "maxsim"] = "profile"
    lexical: bool = True
    facets: tuple[str, ...] = _SIMILAR_FACETS
    facet_weight: float = 0.25


# Chosen on tests/eval/similar.yml (bench/eval_retrieval.py --all): comparing profiles beat
# centroids and maxsim; BM25 and the facet overlap each add to the dense score.
DEFAULT_LIKENESS = Likeness()


def query_embedder(index_dir_cache: Path, identity: str) -> Embedder:
    """The query embedder matching an index: the ONNX export, or the hashing stand-in."""
    from kb.embed import HashingEmbedder, OnnxEmbedder

    if identity.startswith("hashing-v1-"):
        _, _, dimension, max_tokens = identity.split("-")
        return HashingEmbedder(int(dimension), int(max_tokens))
    from kb.errors import IndexError_
    from kb.index import INDEX_DIR

    onnx_dir = Path(index_dir_cache) / INDEX_DIR / "onnx"
    embedder = OnnxEmbedder(onnx_dir)
    if embedder.identity != identity:
        raise IndexError_(
            f"the ONNX query model ({embedder.identity}) is not the index model ({identity}); "
            "hint: run `kb index`"
        )
    return embedder


@dataclass
class _Facets:
    """Per field and id, which case studies carry it (built lazily)."""

    cases: Sequence[CaseStudy]
    masks: dict[tuple[str, str], NDArray[np.bool_]] = field(default_factory=dict)

    def mask(self, name: str, wanted: Iterable[str]) -> NDArray[np.bool_]:
        out = np.zeros(len(self.cases), dtype=bool)
        for value in wanted:
            key = (name, value)
            if key not in self.masks:
                self.masks[key] = np.fromiter(
                    (value in _values(c, name) for c in self.cases),
                    dtype=bool,
                    count=len(self.cases),
                )
            out |= self.masks[key]
        return out


class Searcher:
    """Search and 'more like this' over an index that matches the given entries."""

    def __init__(
        self,
        data: IndexData,
        entries: Sequence[Entry],
        embedder: Embedder,
        fusion: Fusion = DEFAULT_FUSION,
    ) -> None:
        by_id = {e.case.id: e for e in entries}
        self.data = data
        self.entries = [by_id[cid] for cid in data.case_ids]
        self.embedder = embedder
        self.fusion = fusion
        self.likeness = DEFAULT_LIKENESS
        self._position = {cid: i for i, cid in enumerate(data.case_ids)}
        self._facets = _Facets([e.case for e in self.entries])
        self._stemmer = new_stemmer()
        bm25 = data.bm25
        self._stopwords = frozenset(str(w) for w in bm25["stopwords"])
        self._vocab = {str(t): i for i, t in enumerate(bm25["vocab"])}
        doc_ids = [str(d) for d in bm25["doc_ids"]]
        self._bm25_to_case = np.asarray([self._position[d] for d in doc_ids], dtype=np.int64)
        self._centroids: NDArray[np.float32] | None = None
        self._profiles: NDArray[np.float32] | None = None
        self._label_terms: list[tuple[str, str, tuple[str, ...]]] | None = None
        self._facet_matrix: NDArray[np.float32] | None = None
        self._facet_column: dict[tuple[str, str], int] = {}

    @classmethod
    def open(
        cls,
        cache_dir: Path,
        entries: Sequence[Entry],
        *,
        embedder: Embedder | None = None,
        fusion: Fusion | None = None,
    ) -> Searcher:
        """Load the index for these entries; IndexError_ if it is missing or stale."""
        from kb.errors import IndexError_

        data = load_index(cache_dir, entries)
        if embedder is None:
            embedder = query_embedder(cache_dir, data.identity)
        elif embedder.identity != data.identity:
            raise IndexError_(
                f"the index was built with {data.identity}, not {embedder.identity}; "
                "hint: run `kb index`"
            )
        return cls(data, entries, embedder, fusion or DEFAULT_FUSION)

    # ---- scoring --------------------------------------------------------------------------

    def _tokens(self, text: str) -> list[str]:
        return bm25_tokens(text, self._stemmer, self._stopwords)

    def _bm25(self, tokens: Sequence[str]) -> NDArray[np.float32]:
        bm25 = self.data.bm25
        scores = np.zeros(len(self.data.case_ids), dtype=np.float32)
        ids = sorted({self._vocab[t] for t in tokens if t in self._vocab})
        if not ids:
            return scores
        indptr, indices, values = bm25["indptr"], bm25["indices"], bm25["data"]
        per_doc = np.zeros(len(self._bm25_to_case), dtype=np.float32)
        for token_id in ids:
            start, end = int(indptr[token_id]), int(indptr[token_id + 1])
            per_doc += np.bincount(
                indices[start:end], weights=values[start:end], minlength=len(per_doc)
            ).astype(np.float32)
        scores[self._bm25_to_case] = per_doc
        return scores

    def _case_dense(self, passage_scores: NDArray[np.float32]) -> NDArray[np.float32]:
        starts = self.data.case_start
        best = np.maximum.reduceat(passage_scores, starts) if len(starts) else passage_scores[:0]
        if self.fusion.second <= 0 or not len(starts):
            return best.astype(np.float32)
        # second-best passage per case: mask each case's best once, take the max again
        case_of = self.data.passage_case
        is_best = passage_scores >= best[case_of]
        first_best = np.zeros_like(is_best)
        order = np.flatnonzero(is_best)
        _, first = np.unique(case_of[order], return_index=True)
        first_best[order[first]] = True
        rest = np.where(first_best, -1.0, passage_scores).astype(np.float32)
        second = np.maximum.reduceat(rest, starts)
        second = np.where(second < -0.5, best, second)
        return (best + self.fusion.second * second).astype(np.float32) / (1 + self.fusion.second)

    def _fuse(
        self, dense: NDArray[np.float32], lexical: NDArray[np.float32], allowed: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        """Fused score in [0, 1] for allowed case studies; -1 for the others."""
        fusion = self.fusion
        out = np.full(len(dense), -1.0)
        idx = np.flatnonzero(allowed)
        if not len(idx):
            return out
        d, b = dense[idx].astype(np.float64), lexical[idx].astype(np.float64)
        if fusion.method == "rrf":
            rank_d = _ranks(d)
            rank_b = _ranks(b)
            # documents with no BM25 match at all get no lexical credit
            lex = np.where(b > 0, fusion.lexical_weight / (fusion.k + rank_b), 0.0)
            fused = fusion.dense_weight / (fusion.k + rank_d) + lex
            best = (fusion.dense_weight + fusion.lexical_weight) / (fusion.k + 1)
            out[idx] = fused / best
        else:
            out[idx] = fusion.alpha * _minmax(d) + (1 - fusion.alpha) * _minmax(b)
        return out

    def _allowed(self, filters: Filters | None) -> NDArray[np.bool_]:
        allowed = np.ones(len(self.entries), dtype=bool)
        if filters is None or filters.is_empty():
            return allowed
        for name, wanted in filters.active().items():
            targets = _expand_ics(wanted) if name == "ics" else wanted
            allowed &= self._facets.mask(name, targets)
        if filters.evidence_min is not None:
            levels = np.asarray([e.case.evidence.rank for e in self.entries])
            allowed &= levels >= filters.evidence_min
        return allowed

    def scores(
        self, query: str, *, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        """Case scores (-1 = filtered out) and passage scores for a query."""
        if not query.strip():
            raise SearchError("the query is empty; hint: type a few words, e.g. 'falls at home'")
        allowed = self._allowed(filters)
        vector = self.embedder.embed_query(query)
        passage_scores = (self.data.vectors @ vector).astype(np.float32)
        dense = self._case_dense(passage_scores)
        lexical = self._bm25(self._tokens(query))
        if mode == "dense":
            case = np.where(allowed, (dense.astype(np.float64) + 1) / 2, -1.0)
        elif mode == "bm25":
            top = float(lexical[allowed].max()) if allowed.any() else 0.0
            case = np.where(allowed, lexical / top if top > 0 else 0.0, -1.0)
        else:
            case = self._fuse(dense, lexical, allowed)
        return case, passage_scores

    # ---- public API -----------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        filters: Filters | None = None,
        limit: int = 10,
        mode: Mode = "hybrid",
    ) -> list[SearchHit]:
        """The case studies closest to a query, best first."""
        case_scores, passage_scores = self.scores(query, filters=filters, mode=mode)
        tokens = set(self._tokens(query))
        mentioned = self._query_facets(query)
        wanted = filters.active() if filters else {}
        facets = _merge(wanted, mentioned)
        return [
            self._hit(position, case_scores, facets, passage_scores, tokens)
            for position in _top(case_scores, limit)
        ]

    def _hit(
        self,
        position: int,
        scores: NDArray[np.float64] | NDArray[np.float32],
        facets: Mapping[str, Iterable[str]],
        passage_scores: NDArray[np.float32],
        tokens: set[str],
    ) -> SearchHit:
        """A result with why it matched: its best passage and the facets it shares."""
        case = self.entries[position].case
        section, passage = self._best_passage(position, passage_scores, tokens)
        return SearchHit(
            case_id=case.id,
            title=case.title,
            score=round(float(np.clip(scores[position], 0.0, 1.0)), 4),
            section=section,
            passage=passage,
            shared_facets=_shared(case, facets),
        )

    def similar(
        self, case_id: str, *, filters: Filters | None = None, limit: int = 5
    ) -> list[SearchHit]:
        """The case studies most like one of the library's, best first (itself excluded)."""
        position = self._position.get(case_id)
        if position is None:
            from kb.suggest import nearest

            close = difflib.get_close_matches(case_id, list(self._position), n=1)
            close = list(dict.fromkeys(close + nearest(case_id, self._position)))[:3]
            hint = (
                "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
                if close
                else "ids are the file names in content/"
            )
            raise SearchError(f"no case study with id '{case_id}'; hint: {hint}")
        source = self.entries[position]
        config = self.likeness
        centroids = self._case_centroids()
        if config.dense == "maxsim":
            dense = self._maxsim(position)
        elif config.dense == "profile":
            if self._profiles is None:
                self._profiles = np.ascontiguousarray(self.data.vectors[self.data.case_start])
            profiles = self._profiles
            dense = (profiles @ profiles[position]).astype(np.float32)
        else:
            dense = (centroids @ centroids[position]).astype(np.float32)
        query_text = _profile_text(source)
        tokens = self._tokens(query_text)
        lexical = self._bm25(tokens) if config.lexical else np.zeros_like(dense)
        allowed = self._allowed(filters)
        allowed[position] = False
        if config.lexical:
            fused = self._fuse(dense, lexical, allowed)
        else:
            fused = np.where(allowed, (dense.astype(np.float64) + 1) / 2, -1.0)
        overlap = self._facet_overlap(source.case, config.facets)
        weight = config.facet_weight
        final = np.where(allowed, (1 - weight) * fused + weight * overlap, -1.0)
        passage_scores = (self.data.vectors @ centroids[position]).astype(np.float32)
        facets = {f: _values(source.case, f) for f in FACET_FIELDS}
        token_set = set(tokens)
        return [
            self._hit(other, final, facets, passage_scores, token_set)
            for other in _top(final, limit)
        ]

    # ---- explanations ---------------------------------------------------------------------

    def passage_text(self, row: int) -> tuple[str, str]:
        """(section heading, raw text) of a vector row."""
        entry = self.entries[int(self.data.passage_case[row])]
        section, start, end = (int(x) for x in self.data.passage_meta[row])
        if section == PROFILE:
            return "Summary", _profile_text(entry)[start:end]
        if section == PREAMBLE:
            return "Introduction", preamble_text(entry)[start:end]
        part = entry.sections[section]
        return part.heading, part.text[start:end]

    def _best_passage(
        self, position: int, passage_scores: NDArray[np.float32], tokens: set[str]
    ) -> tuple[str, str]:
        """The passage that explains a hit: best dense score, nudged by shared query words.

        Only the case's three densest passages are read for words, which keeps this cheap.
        """
        start = int(self.data.case_start[position])
        end = (
            int(self.data.case_start[position + 1])
            if position + 1 < len(self.data.case_start)
            else len(passage_scores)
        )
        rows = start + np.argsort(-passage_scores[start:end], kind="stable")[:3]
        best_row, best_value = int(rows[0]), -np.inf
        for row in rows:
            _, text = self.passage_text(int(row))
            words = set(self._tokens(text))
            overlap = len(words & tokens) / max(1, len(tokens))
            value = float(passage_scores[row]) + 0.3 * overlap
            if value > best_value:
                best_row, best_value = int(row), value
        heading, text = self.passage_text(best_row)
        return heading, self._snippet(text, tokens)

    def _snippet(self, text: str, tokens: set[str]) -> str:
        plain = clean_markdown(text)
        if len(plain) <= SNIPPET_CHARS:
            return plain
        sentences = re.split(r"(?<=[.!?])\s+", plain)
        hits = [len(set(self._tokens(s)) & tokens) for s in sentences]
        best = int(np.argmax(hits)) if hits else 0
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
        return ("... " if first > 0 else "") + out

    def _query_facets(self, query: str) -> dict[str, tuple[str, ...]]:
        """Vocabulary terms (topics, ICS, region) named in the query's words."""
        if self._label_terms is None:
            vocab = load_vocabularies()
            terms = []
            for name in _QUERY_FACETS:
                for term in vocab.for_field(name).terms:
                    for spelling in {term.label, *term.aliases}:
                        stems = tuple(self._tokens(spelling))
                        if stems:
                            terms.append((name, term.id, stems))
            self._label_terms = terms
        words = self._tokens(query)
        found: dict[str, list[str]] = {}
        for name, term_id, stems in self._label_terms:
            n = len(stems)
            if any(tuple(words[i : i + n]) == stems for i in range(len(words) - n + 1)):
                ids = found.setdefault(name, [])
                if term_id not in ids:
                    ids.append(term_id)
        return {k: tuple(v) for k, v in found.items()}

    def _case_centroids(self) -> NDArray[np.float32]:
        if self._centroids is None:
            sums = np.add.reduceat(self.data.vectors, self.data.case_start, axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            self._centroids = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
        return self._centroids

    def _maxsim(self, position: int) -> NDArray[np.float32]:
        """Per case: the mean, over the source's passages, of their best match among its own."""
        start = int(self.data.case_start[position])
        end = (
            int(self.data.case_start[position + 1])
            if position + 1 < len(self.data.case_start)
            else len(self.data.vectors)
        )
        sims = self.data.vectors[start:end] @ self.data.vectors.T
        best = np.maximum.reduceat(sims, self.data.case_start, axis=1)
        return best.mean(axis=0).astype(np.float32)

    def _facet_overlap(
        self, source: CaseStudy, facets: tuple[str, ...] = _SIMILAR_FACETS
    ) -> NDArray[np.float64]:
        """Jaccard overlap of the descriptive facets of each case study with the source's."""
        if self._facet_matrix is None:
            keys = sorted(
                {(f, v) for e in self.entries for f in FACET_FIELDS for v in _values(e.case, f)}
            )
            column = {key: i for i, key in enumerate(keys)}
            matrix = np.zeros((len(self.entries), len(keys)), dtype=np.float32)
            for row, entry in enumerate(self.entries):
                for f in FACET_FIELDS:
                    for v in _values(entry.case, f):
                        matrix[row, column[(f, v)]] = 1.0
            self._facet_matrix, self._facet_column = matrix, column
        column = self._facet_column
        keep = np.asarray([key[0] in facets for key in column], dtype=bool)
        matrix = self._facet_matrix[:, keep]
        column = {key: i for i, key in enumerate(k for k in column if k[0] in facets)}
        mine = np.zeros(matrix.shape[1], dtype=np.float32)
        for f in facets:
            for v in _values(source, f):
                if (f, v) in column:
                    mine[column[(f, v)]] = 1.0
        if not mine.any():
            return np.zeros(len(self.entries))
        common = matrix @ mine
        union = matrix.sum(axis=1) + mine.sum() - common
        return np.where(union > 0, common / np.maximum(union, 1), 0.0).astype(np.float64)


def _ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based rank of each value, highest first (ties share the better rank)."""
    order = np.argsort(-values)
    ranks = np.empty(len(values))
    # ties: give equal values the best rank among them
    sorted_vals = values[order]
    same = np.concatenate([[False], sorted_vals[1:] == sorted_vals[:-1]])
    first = np.maximum.accumulate(np.where(~same, np.arange(len(values)), 0))
    ranks[order] = first + 1
    return ranks


def _minmax(values: NDArray[np.float64]) -> NDArray[np.float64]:
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.where(values > 0, 1.0, 0.0) if high > 0 else np.zeros_like(values)
    return (values - low) / (high - low)


def _top(scores: NDArray[np.float64], limit: int) -> list[int]:
    candidates = np.flatnonzero(scores >= 0)
    if limit <= 0 or not len(candidates):
        return []
    if len(candidates) > limit:
        part = np.argpartition(-scores[candidates], limit - 1)[:limit]
        candidates = candidates[part]
    return [int(i) for i in candidates[np.lexsort((candidates, -scores[candidates]))]]


def _merge(*maps: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for mapping in maps:
        for key, values in mapping.items():
            bucket = out.setdefault(key, [])
            bucket.extend(v for v in values if v not in bucket)
    return {k: tuple(v) for k, v in out.items()}


def _shared(case: CaseStudy, wanted: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Field -> ids the case study has among those wanted (ICS predecessors count)."""
    out: dict[str, tuple[str, ...]] = {}
    for name in FACET_FIELDS:
        if name not in wanted:
            continue
        targets = set(_expand_ics(wanted[name])) if name == "ics" else set(wanted[name])
        common = tuple(v for v in _values(case, name) if v in targets)
        if common:
            out[name] = common
    return out


def describe_hit(hit: SearchHit, case: CaseStudy) -> dict[str, Any]:
    """A hit as plain data for JSON output, with where it ran and labels beside ids."""
    vocab = load_vocabularies()
    return {
        "id": hit.case_id,
        "title": hit.title,
        "ics": list(case.ics),
        "ics_labels": [vocab.ics.label(i) for i in case.ics],
        "region": list(case.region),
        "region_labels": [vocab.regions.label(r) for r in case.region],
        "tiers": list(case.tiers),
        "tier_labels": [vocab.tiers.label(t) for t in case.tiers],
        "score": hit.score,
        "section": hit.section,
        "passage": hit.passage,
        "shared_facets": {
            name: [{"id": v, "label": vocab.for_field(name).label(v)} for v in values]
            for name, values in hit.shared_facets.items()
        },
    }


def find(
    content_dir: Path,
    cache_dir: Path,
    *,
    query: str | None = None,
    similar_to: str | None = None,
    filters: Filters | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Load the library and its index, run a search (or 'similar'), return rows for display."""
    from kb.content import load_library

    entries = load_library(content_dir)
    searcher = Searcher.open(cache_dir, entries)
    if similar_to is not None:
        hits = searcher.similar(similar_to, filters=filters, limit=limit)
    else:
        hits = searcher.search(query or "", filters=filters, limit=limit)
    by_id = {e.case.id: e for e in entries}
    return [describe_hit(hit, by_id[hit.case_id].case) for hit in hits]


def format_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """Results as text for people: title, where, tiers, score, and why each matched."""
    if not rows:
        return "No case studies match. Try other words or fewer filters."
    lines: list[str] = []
    for number, row in enumerate(rows, 1):
        where = " | ".join(
            part for part in (", ".join(row["ics_labels"]), ", ".join(row["region_labels"])) if part
        )
        lines.append(f"{number}. {row['title']}  [{row['id']}]")
        lines.append(
            f"   {where or 'national'} | tiers: {', '.join(row['tier_labels'])}"
            f" | score {row['score']:.2f}"
        )
        lines.append(f"   matched in {row['section']}: {row['passage']}")
        if row["shared_facets"]:
            shared = "; ".join(
                f"{FIELD_LABELS.get(name, name)}: " + ", ".join(v["label"] for v in values)
                for name, values in row["shared_facets"].items()
            )
            lines.append(f"   shares {shared}")
        lines.append("")
    return "\n".join(lines).rstrip()
