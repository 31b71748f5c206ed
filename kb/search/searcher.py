"""Hybrid search over the index: BM25 and dense scores fused, filters first, reasons attached.

A query is embedded by the ONNX export of the model (no torch), scored against every passage
(exact inner product of unit vectors), and each case study takes the score of its best passage.
BM25 scores each case study over its words and the labels of its metadata. The two rankings are
fused (see `Fusion`); filters on any controlled field remove case studies before ranking. Each hit
carries the passage that matched best and the facets it shares with the filters and the query (or
with the source case study, for `similar`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from kb.errors import SearchError
from kb.index.layout import StoredCase, StoredOutcome
from kb.index.load import SearchData
from kb.search.explain import Explainer
from kb.search.reading import QueryReader

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kb.format.content import Entry
    from kb.index.embed import Embedder
from kb.search.filters import FACET_FIELDS, Filters, _expand_ics
from kb.search.intent import result_intent
from kb.search.params import (
    _SIMILAR_FACETS,
    DEFAULT_FUSION,
    DEFAULT_LIKENESS,
    Fusion,
    Mode,
)

__all__ = ["SearchHit", "Searcher", "Signals", "fuse", "query_embedder"]


@dataclass(frozen=True)
class SearchHit:
    """One case study in a result list, with why it matched."""

    case_id: str
    title: str
    score: float  # in [0, 1], higher is closer
    section: str  # heading of the best-matching passage ('Summary' for the profile)
    passage: str  # a snippet of that passage
    shared_facets: dict[str, tuple[str, ...]]  # field -> vocabulary ids shared with query/source
    results: tuple[str, ...] = ()  # outcomes that answer a question about results, as sentences
    weak: bool = False  # below the relevance floor: shown apart, as a weak match


class Signals(NamedTuple):
    """Per case study, what a query's fused score is made from (see `Searcher.signals`)."""

    dense: NDArray[np.float32]  # the best passage's cosine
    lexical: NDArray[np.float32]  # BM25
    coverage: NDArray[np.float64]  # the share of the query's words it holds (by idf)
    allowed: NDArray[np.bool_]  # whether the filters allow it


def query_embedder(index_dir_cache: Path, identity: str) -> Embedder:
    """The query embedder matching an index: the ONNX export, or the hashing stand-in."""
    from kb.index.embed import HashingEmbedder, OnnxEmbedder

    if identity.startswith("hashing-v1-"):
        _, _, dimension, max_tokens = identity.split("-")
        return HashingEmbedder(int(dimension), int(max_tokens))
    from kb.errors import SearchIndexError
    from kb.index.layout import INDEX_DIR

    onnx_dir = Path(index_dir_cache) / INDEX_DIR / "onnx"
    embedder = OnnxEmbedder(onnx_dir)
    if embedder.identity != identity:
        raise SearchIndexError(
            f"the ONNX query model ({embedder.identity}) is not the index model ({identity}); "
            "hint: run `kb index`"
        )
    return embedder


class Searcher:
    """Search and 'more like this' over a loaded index (it holds all a search shows)."""

    def __init__(
        self,
        data: SearchData,
        embedder: Embedder,
        fusion: Fusion = DEFAULT_FUSION,
    ) -> None:
        self.data = data
        self.embedder = embedder
        self.fusion = fusion
        self.likeness = DEFAULT_LIKENESS
        self.cases: list[StoredCase] = data.store["cases"]
        for case in self.cases:  # stored as lists: read by name from here on
            case["outcomes"] = [StoredOutcome(*o) for o in case["outcomes"]]
        self._position = {cid: i for i, cid in enumerate(data.case_ids)}
        self._predecessors: dict[str, list[str]] = data.store.get("ics_predecessors", {})
        self._labels: dict[str, dict[str, str]] = data.store.get("labels", {})
        # query words the library lacks are read as the library word they are a slip for, where
        # the query model can tell a slip from a real word it does not have
        known = getattr(embedder, "known_word", None)
        self.reader = QueryReader(data, self.cases, known if callable(known) else None)
        self.explainer = Explainer(data, self.cases, self.reader, self._predecessors)
        idf = self.reader.idf
        self._max_idf = float(idf.max()) if len(idf) else 1.0
        self._masks: dict[tuple[str, str], NDArray[np.bool_]] = {}
        self._centroids: NDArray[np.float32] | None = None
        self._profiles: NDArray[np.float32] | None = None
        self._facet_matrix: NDArray[np.float32] | None = None
        self._facet_column: dict[tuple[str, str], int] = {}
        self._outcomes: dict[tuple[str, ...], NDArray[np.float64]] = {}
        self._arrays: dict[str, NDArray[np.float64]] = {}

    @classmethod
    def open(
        cls,
        cache_dir: Path,
        entries: Sequence[Entry] | None = None,
        *,
        content_dir: Path | None = None,
        embedder: Embedder | None = None,
        fusion: Fusion | None = None,
    ) -> Searcher:
        """Load the index; SearchIndexError if it is missing, damaged or stale.

        Given `entries`, the index must hold exactly them. Given `content_dir` instead, the
        content is checked by file sizes and mtimes (hashes only where they differ) and read
        only when that cannot tell (see `kb.index.load.source_changes`).
        """
        from kb.errors import SearchIndexError
        from kb.index.load import load_index, open_index, source_changes

        if entries is not None:
            data = load_index(cache_dir, entries)
        else:
            data = open_index(cache_dir)
            if content_dir is not None:
                reason = source_changes(data, content_dir)
                if reason is not None and reason.startswith("unknown"):
                    from kb.check.library import load_library

                    data = load_index(cache_dir, load_library(content_dir))
                elif reason is not None:
                    raise SearchIndexError(
                        f"the search index cannot be used: {reason}; hint: run `kb index`"
                    )
        if embedder is None:
            embedder = query_embedder(cache_dir, data.identity)
        elif embedder.identity != data.identity:
            raise SearchIndexError(
                f"the index was built with {data.identity}, not {embedder.identity}; "
                "hint: run `kb index`"
            )
        return cls(data, embedder, fusion or DEFAULT_FUSION)

    # ---- scoring --------------------------------------------------------------------------

    def _bm25(self, tokens: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
        """BM25 score per case study, and its coverage of the query: the share of the query's
        idf weight it matches, each word counted as far as BM25 saturates it (its score over its
        idf), so that one passing mention in a long text counts for less than a word the text is
        about."""
        bm25 = self.data.bm25
        n = len(self.data.case_ids)
        scores = np.zeros(n, dtype=np.float32)
        matched = np.zeros(n, dtype=np.float64)
        unique = list(dict.fromkeys(tokens))
        vocab, idf = self.reader.vocab, self.reader.idf
        total = sum(float(idf[vocab[t]]) if t in vocab else self._max_idf for t in unique)
        ids = sorted({vocab[t] for t in unique if t in vocab})
        indptr, indices, values = bm25["indptr"], bm25["indices"], bm25["data"]
        for token_id in ids:
            start, end = int(indptr[token_id]), int(indptr[token_id + 1])
            docs = indices[start:end]
            scores[docs] += values[start:end]
            matched[docs] += values[start:end]
        return scores, matched / total if total > 0 else matched

    def _case_dense(self, passage_scores: NDArray[np.float32]) -> NDArray[np.float32]:
        starts = self.data.case_start
        best = np.maximum.reduceat(passage_scores, starts) if len(starts) else passage_scores[:0]
        if self.fusion.second <= 0 or not len(starts):
            return best.astype(np.float32)
        # second-best passage per case: the best of the others (the best again if it is tied,
        # or if the case has one passage)
        is_best = passage_scores >= best[self.data.passage_case]
        ties = np.add.reduceat(is_best.astype(np.int32), starts)
        second = np.maximum.reduceat(np.where(is_best, -np.inf, passage_scores), starts)
        second = np.where((ties > 1) | ~np.isfinite(second), best, second)
        return (best + self.fusion.second * second).astype(np.float32) / (1 + self.fusion.second)

    def _mask(self, name: str, wanted: Iterable[str]) -> NDArray[np.bool_]:
        out = np.zeros(len(self.cases), dtype=bool)
        for value in wanted:
            key = (name, value)
            if key not in self._masks:
                self._masks[key] = np.fromiter(
                    (value in c["facets"].get(name, ()) for c in self.cases),
                    dtype=bool,
                    count=len(self.cases),
                )
            out |= self._masks[key]
        return out

    def _allowed(self, filters: Filters | None) -> NDArray[np.bool_]:
        allowed = np.ones(len(self.cases), dtype=bool)
        if filters is None or filters.is_empty():
            return allowed
        for name, wanted in filters.active().items():
            targets = _expand_ics(wanted, self._predecessors) if name == "ics" else wanted
            allowed &= self._mask(name, targets)
        if filters.evidence_min is not None:
            allowed &= self._case_array("evidence") >= filters.evidence_min
        if filters.outcome_kinds or filters.outcome_status:
            allowed &= np.fromiter(
                (
                    any(filters.wants_outcome(o.kind, o.status) for o in c["outcomes"])
                    for c in self.cases
                ),
                dtype=bool,
                count=len(self.cases),
            )
        return allowed

    def _outcome_credit(self, kinds: tuple[str, ...]) -> NDArray[np.float64]:
        """Per case study, how well its outcomes answer a question about these kinds (0-1)."""
        if kinds not in self._outcomes:
            credit = self.fusion.outcome_credit()
            estimate = credit["noFigure"]
            values = np.zeros(len(self.cases))
            for row, case in enumerate(self.cases):
                best = 0.0
                for o in case["outcomes"]:
                    if kinds and o.kind not in kinds:
                        continue
                    value = credit[o.status] * (1.0 if o.numeric else estimate)
                    best = max(best, value)
                values[row] = best
            self._outcomes[kinds] = values
        return self._outcomes[kinds]

    def signals(self, query: str, *, filters: Filters | None = None) -> Signals:
        """What the fusion of a query starts from: each case study's dense and BM25 scores, the
        share of the query's words it holds, and whether the filters allow it."""
        vector = self.embedder.embed_query(self.reader.corrected(query))
        dense = self._case_dense((self.data.vectors @ vector).astype(np.float32))
        lexical, coverage = self._bm25(self.reader.query_tokens(query))
        return Signals(dense, lexical, coverage, self._allowed(filters))

    def scores(
        self, query: str, *, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        """Case scores (-1 = filtered out) and passage scores for a query."""
        case, passage_scores, _, _ = self._score(query, filters, mode)
        return case, passage_scores

    def _score(
        self, query: str, filters: Filters | None, mode: Mode
    ) -> tuple[NDArray[np.float64], NDArray[np.float32], NDArray[np.float32], NDArray[np.float64]]:
        if not query.strip():
            raise SearchError("the query is empty; hint: type a few words, e.g. 'falls at home'")
        allowed = self._allowed(filters)
        vector = self.embedder.embed_query(self.reader.corrected(query))
        passage_scores = (self.data.vectors @ vector).astype(np.float32)
        dense = self._case_dense(passage_scores)
        lexical, coverage = self._bm25(self.reader.query_tokens(query))
        if mode == "dense":
            case = np.where(allowed, (dense.astype(np.float64) + 1) / 2, -1.0)
        elif mode == "bm25":
            # an evaluation mode: keeps case studies without a word of the query at 0, where the
            # site's keyword fallback (before its model loads) leaves them out
            top = float(lexical[allowed].max()) if allowed.any() else 0.0
            case = np.where(allowed, lexical / top if top > 0 else 0.0, -1.0)
        else:
            case = fuse(self.fusion, dense, lexical, allowed, coverage)
            boost = self.boost(query)
            if boost is not None:
                # scaled back into [0, 1] rather than clipped, so that boosted hits do not tie
                case = np.where(allowed, case + boost, -1.0)
                top = float(case.max())
                if top > 1.0:
                    case = np.where(allowed, case / top, -1.0)
        return case, passage_scores, dense, coverage

    def boost(self, query: str) -> NDArray[np.float64] | None:
        """What the query's intent adds to each fused score: outcomes that answer a results
        question, topics the query names, strong evidence, results that did not change."""
        fusion = self.fusion
        boost = np.zeros(len(self.cases))
        intent = result_intent(query)
        if intent is not None and intent.outcomes and fusion.outcome_boost > 0:
            boost += fusion.outcome_boost * self._outcome_credit(intent.kinds)
        if intent is not None and intent.evidence and fusion.evidence_boost > 0:
            boost += fusion.evidence_boost * self._evidence_rank()
        if intent is not None and intent.no_effect and fusion.no_effect_boost > 0:
            boost += fusion.no_effect_boost * self._case_array("no-effect")
        named = self.reader.query_facets(query).get("topics", ())
        if named and fusion.topic_boost > 0:
            boost += fusion.topic_boost * self._mask_share("topics", named)
        return boost if boost.any() else None

    def _mask_share(self, name: str, wanted: Sequence[str]) -> NDArray[np.float64]:
        """Per case study, the share of `wanted` values of a facet it has."""
        share = np.zeros(len(self.cases))
        for value in wanted:
            share += self._mask(name, (value,))
        return share / max(1, len(wanted))

    def _evidence_rank(self) -> NDArray[np.float64]:
        """Per case study, where its evidence level stands in this library's range (0-1): the
        strongest evidence here is 1, the weakest assessed and 'not assessed' are 0."""
        levels = self._case_array("evidence")
        assessed = levels[levels > 0]
        low, high = (float(assessed.min()), float(assessed.max())) if len(assessed) else (0, 0)
        if high <= low:
            return np.zeros(len(levels))
        return np.clip((levels - low) / (high - low), 0.0, 1.0)

    def _case_array(self, name: Literal["evidence", "no-effect"]) -> NDArray[np.float64]:
        """Per case study (computed once): its Nesta evidence level ('evidence'), or 1 for a
        result (achieved) that did not change ('no-effect')."""
        if name not in self._arrays:
            if name == "evidence":
                values = (c["evidence"] for c in self.cases)
            else:
                values = (_has_no_effect(c) for c in self.cases)
            self._arrays[name] = np.fromiter(values, dtype=np.float64, count=len(self.cases))
        return self._arrays[name]

    # ---- public API -----------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        filters: Filters | None = None,
        limit: int = 10,
        mode: Mode = "hybrid",
    ) -> list[SearchHit]:
        """The case studies closest to a query, best first; weak matches (below the relevance
        floor) come after the others and say so."""
        case_scores, passage_scores, dense, coverage = self._score(query, filters, mode)
        tokens = set(self.reader.query_tokens(query))
        mentioned = self.reader.query_facets(query)
        wanted = filters.active() if filters else {}
        facets = _merge(wanted, mentioned)
        intent = result_intent(query)
        kinds = intent.kinds if intent and intent.outcomes else None
        no_effect = bool(intent and intent.no_effect)
        by_outcome = filters is not None and bool(filters.outcome_kinds or filters.outcome_status)
        outcome_filter = filters if by_outcome else None
        hits = []
        for position, weak in self._ranked(case_scores, dense, coverage, limit):
            hits.append(
                self._hit(
                    position,
                    case_scores,
                    facets,
                    passage_scores,
                    tokens,
                    weak=weak,
                    results=self.explainer.results(position, kinds, outcome_filter, no_effect),
                )
            )
        return hits

    def _ranked(
        self,
        scores: NDArray[np.float64],
        dense: NDArray[np.float32],
        coverage: NDArray[np.float64],
        limit: int,
    ) -> list[tuple[int, bool]]:
        """The first `limit` of one ranking of the whole library, with whether each is weak:
        strong matches by score, then weak ones (below the floor) by score. A longer list only
        adds to the end of a shorter one (`--limit 10` is the top 10 of `--limit 50`)."""
        candidates = np.flatnonzero(scores >= 0)
        if limit <= 0 or not len(candidates):
            return []
        fusion = self.fusion
        below = (dense < fusion.floor_dense) & (coverage < fusion.floor_coverage)
        best = _top(scores, 1)[0]
        weak = below & ~((not below[best]) & (scores >= fusion.floor_guard))
        key = scores[candidates] - 2.0 * weak[candidates]  # scores are in [0, 1]: weak after all
        if len(candidates) > limit:
            part = np.argpartition(-key, limit - 1)[:limit]
            candidates, key = candidates[part], key[part]
        order = np.lexsort((candidates, -key))
        return [(int(candidates[i]), bool(weak[candidates[i]])) for i in order]

    def _weak(
        self,
        top: Sequence[int],
        scores: NDArray[np.float64],
        dense: NDArray[np.float32],
        coverage: NDArray[np.float64],
    ) -> list[bool]:
        """Which of the ranked hits `top` are weak (see Fusion: the floor and its guard)."""
        fusion = self.fusion

        def below(position: int) -> bool:
            return bool(
                dense[position] < fusion.floor_dense and coverage[position] < fusion.floor_coverage
            )

        strong = bool(top) and not below(top[0])
        return [below(p) and not (strong and scores[p] >= fusion.floor_guard) for p in top]

    def good_matches(self, query: str, *, limit: int = 10) -> int:
        """How many of a query's `limit` best hits, with no filters, are above the floor."""
        scores, _, dense, coverage = self._score(query, None, "hybrid")
        top = _top(scores, limit)
        return sum(not weak for weak in self._weak(top, scores, dense, coverage))

    def _hit(
        self,
        position: int,
        scores: NDArray[np.float64] | NDArray[np.float32],
        facets: Mapping[str, Iterable[str]],
        passage_scores: NDArray[np.float32],
        tokens: set[str],
        *,
        weak: bool = False,
        results: tuple[str, ...] = (),
    ) -> SearchHit:
        """A result with why it matched: its best passage and the facets it shares."""
        case = self.cases[position]
        section, passage = self.explainer.best_passage(position, passage_scores, tokens)
        return SearchHit(
            case_id=case["id"],
            title=case["title"],
            score=round(min(max(float(scores[position]), 0.0), 1.0), 4),
            section=section,
            passage=passage,
            shared_facets=self.explainer.shared(case, facets),
            results=results,
            weak=weak,
        )

    def similar(
        self, case_id: str, *, filters: Filters | None = None, limit: int = 5
    ) -> list[SearchHit]:
        """The case studies most like one of the library's, best first (itself excluded)."""
        position = self._position.get(case_id)
        if position is None:
            from kb.format.suggest import nearest

            close = difflib.get_close_matches(case_id, list(self._position), n=1)
            close = list(dict.fromkeys(close + nearest(case_id, self._position)))[:3]
            hint = (
                "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
                if close
                else "ids are the file names in content/"
            )
            raise SearchError(f"no case study with id '{case_id}'; hint: {hint}")
        source = self.cases[position]
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
        tokens = self.reader.tokens(source["profile"])
        lexical = self._bm25(tokens)[0] if config.lexical else np.zeros_like(dense)
        allowed = self._allowed(filters)
        allowed[position] = False
        if config.lexical:
            fused = fuse(self.fusion, dense, lexical, allowed)
        else:
            fused = np.where(allowed, (dense.astype(np.float64) + 1) / 2, -1.0)
        overlap = self._facet_overlap(position, config.facets)
        weight = config.facet_weight
        final = np.where(allowed, (1 - weight) * fused + weight * overlap, -1.0)
        passage_scores = (self.data.vectors @ centroids[position]).astype(np.float32)
        facets = {f: tuple(source["facets"].get(f, ())) for f in FACET_FIELDS}
        token_set = set(tokens)
        return [
            self._hit(other, final, facets, passage_scores, token_set)
            for other in _top(final, limit)
        ]

    # ---- explanations ---------------------------------------------------------------------

    def corrections(self, query: str) -> dict[str, str]:
        """The query's words that no case study has, each with the library word it was read as
        (see `QueryReader.corrections`)."""
        return self.reader.corrections(query)

    def passage_text(self, row: int) -> tuple[str, str]:
        """(section heading, raw text) of a vector row."""
        return self.explainer.passage_text(row)

    def label(self, field_name: str, value: str) -> str:
        """The label of a vocabulary id, as stored in the index."""
        return self._labels.get(field_name, {}).get(value, value)

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
        self, position: int, facets: tuple[str, ...] = _SIMILAR_FACETS
    ) -> NDArray[np.float64]:
        """Jaccard overlap of the descriptive facets of each case study with the source's."""
        if self._facet_matrix is None:
            keys = sorted(
                {(f, v) for c in self.cases for f, vs in c["facets"].items() for v in vs}
            )
            column = {key: i for i, key in enumerate(keys)}
            matrix = np.zeros((len(self.cases), len(keys)), dtype=np.float32)
            for row, case in enumerate(self.cases):
                for f, vs in case["facets"].items():
                    for v in vs:
                        matrix[row, column[(f, v)]] = 1.0
            self._facet_matrix, self._facet_column = matrix, column
        column = self._facet_column
        keep = np.asarray([key[0] in facets for key in column], dtype=bool)
        matrix = self._facet_matrix[:, keep]
        column = {key: i for i, key in enumerate(k for k in column if k[0] in facets)}
        mine = np.zeros(matrix.shape[1], dtype=np.float32)
        for f in facets:
            for v in self.cases[position]["facets"].get(f, ()):
                if (f, v) in column:
                    mine[column[(f, v)]] = 1.0
        if not mine.any():
            return np.zeros(len(self.cases))
        common = matrix @ mine
        union = matrix.sum(axis=1) + mine.sum() - common
        return np.where(union > 0, common / np.maximum(union, 1), 0.0).astype(np.float64)


def _has_no_effect(case: StoredCase) -> bool:
    """Whether a case study has a result (achieved) that did not change."""
    return any(o.direction == "no-change" and o.status == "achieved" for o in case["outcomes"])


def fuse(
    fusion: Fusion,
    dense: NDArray[np.float32],
    lexical: NDArray[np.float32],
    allowed: NDArray[np.bool_],
    coverage: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Fused score in [0, 1] for allowed case studies; -1 for the others. The site's ranker
    (rank.js `fuse`) computes the same; tests/browser/test_semantic_search.py holds them to it."""
    out = np.full(len(dense), -1.0)
    idx = np.flatnonzero(allowed)
    if not len(idx):
        return out
    d, b = dense[idx].astype(np.float64), lexical[idx].astype(np.float64)
    if fusion.method == "rrf":
        rank_d = _ranks(d)
        rank_b = _ranks(b)
        credit = np.ones_like(b)
        if coverage is not None and fusion.coverage_power > 0:
            credit = np.clip(coverage[idx], 0.0, 1.0) ** fusion.coverage_power
        # documents with no BM25 match at all get no lexical credit
        lex = np.where(b > 0, fusion.lexical_weight * credit / (fusion.k + rank_b), 0.0)
        fused = fusion.dense_weight / (fusion.k + rank_d) + lex
        best = (fusion.dense_weight + fusion.lexical_weight) / (fusion.k + 1)
        out[idx] = fused / best
    else:
        lexical_part = _minmax(b)
        if coverage is not None and fusion.coverage_power > 0:
            lexical_part = lexical_part * np.clip(coverage[idx], 0.0, 1.0) ** (
                fusion.coverage_power
            )
        out[idx] = fusion.alpha * _minmax(d) + (1 - fusion.alpha) * lexical_part
    return out


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
