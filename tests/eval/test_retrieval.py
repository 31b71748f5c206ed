"""The evaluation set is well formed and fairly split, and hybrid ranking holds a quality floor."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from kb.check.library import load_library

from .retrieval import (
    NO_MATCH,
    QUERIES_FILE,
    SIMILAR_FILE,
    SPLITS,
    Query,
    evaluate,
    load_queries,
    load_similar,
    ndcg_at,
    recall_at,
    split_of,
)

CONTENT = Path(__file__).resolve().parents[2] / "content"
# Hybrid nDCG@10 on the tuning half must stay above this. Set before the first run on the 125
# queries over 69 case studies, as a floor against regressions rather than a target: an
# independent 30-query set over 60 case studies gave hybrid 0.83, and this set has harder kinds
# (jargon, outcome questions with many relevant cases). The test half is not asserted on here,
# so that nothing is tuned to it.
TUNE_NDCG_FLOOR = 0.80  # measured 0.858 with the ranking chosen on this half


def test_metrics_on_known_rankings():
    rel = {"a": 2, "b": 1}
    assert recall_at(["a", "x", "b"], rel, 2) == 0.5
    assert recall_at(["b", "x", "a"], rel, 2, grade=2) == 0.0
    assert recall_at(["x", "a"], rel, 2, grade=2) == 1.0
    assert ndcg_at(["a", "b", "x"], rel, 10) == pytest.approx(1.0)
    assert 0 < ndcg_at(["x", "b", "a"], rel, 10) < ndcg_at(["b", "a"], rel, 10) < 1


class _Hit:
    def __init__(self, case_id: str) -> None:
        self.case_id = case_id


class _FixedSearcher:
    def __init__(self, ranking: list[str]) -> None:
        self.ranking = ranking

    def search(self, text: str, *, limit: int, mode: str) -> list[_Hit]:
        return [_Hit(c) for c in self.ranking[:limit]]


def test_evaluate_leaves_no_match_queries_out_and_counts_grade_2_recall():
    queries = [Query("q1", {"b": 2, "c": 1}), Query("none", {}, NO_MATCH)]
    scores = evaluate(_FixedSearcher(["c", "b"]), queries)
    assert scores["recall@5"] == 1.0  # only the grade-2 case counts
    assert scores["mrr"] == 1.0  # the first hit is relevant (grade 1)
    assert 0 < scores["ndcg@10"] < 1


def test_eval_set_is_well_formed():
    queries = load_queries()
    assert len(queries) >= 90
    assert len({q.text.lower() for q in queries}) == len(queries)
    ids = {p.stem for p in CONTENT.glob("*.md") if not p.name.startswith("_")}
    later = set(yaml.safe_load(QUERIES_FILE.read_text("utf-8"))["added_later"])
    assert later <= ids
    judged = set()
    for query in queries:
        assert query.kind and query.split in SPLITS, query.text
        assert set(query.relevance) <= ids, f"{query.text}: unknown ids"
        assert set(query.relevance.values()) <= {1, 2}, query.text
        if query.kind == NO_MATCH:
            # nothing matched when it was written: only a case study added later may
            assert set(query.relevance) <= later, query.text
        else:
            assert 2 in query.relevance.values(), query.text
        judged |= set(query.relevance)
    assert sum(q.kind == NO_MATCH and not q.relevance for q in queries) >= 3
    assert len(judged) >= 0.9 * len(ids)  # the set reaches across the library


def test_split_is_the_seeded_stratified_shuffle():
    queries = load_queries()
    assert [q.split for q in queries] == split_of([q.kind for q in queries])
    by_kind = Counter((q.kind, q.split) for q in queries)
    for kind in {q.kind for q in queries}:
        assert by_kind[kind, "tune"] and by_kind[kind, "test"], kind
        assert abs(by_kind[kind, "tune"] - by_kind[kind, "test"]) <= 1, kind
    tune, test = load_queries(split="tune"), load_queries(split="test")
    assert abs(len(tune) - len(test)) <= 1 and len(tune) + len(test) == len(queries)
    with pytest.raises(ValueError, match="unknown split"):
        load_queries(split="train")


@pytest.mark.model
def test_hybrid_holds_its_floor_on_the_tuning_half(shipped_real_index):
    from kb.search.searcher import Searcher

    entries = load_library(CONTENT)
    searcher = Searcher.open(shipped_real_index, entries)
    queries = load_queries(split="tune")
    scores = {mode: evaluate(searcher, queries, mode) for mode in ("bm25", "dense", "hybrid")}
    assert scores["hybrid"]["ndcg@10"] >= TUNE_NDCG_FLOOR, scores
    # fusing two rankings must not do worse than the weaker of them
    weaker = min(scores["bm25"]["ndcg@10"], scores["dense"]["ndcg@10"])
    assert scores["hybrid"]["ndcg@10"] >= weaker, scores


def test_similar_judgements_are_well_formed():
    judged = load_similar()
    ids = {p.stem for p in CONTENT.glob("*.md") if not p.name.startswith("_")}
    assert set(judged) <= ids and len(judged) >= 30
    for case_id, relevance in judged.items():
        assert relevance, f"{case_id}: no comparator judged useful"
        assert case_id not in relevance, f"{case_id}: judged against itself"
        assert set(relevance) <= ids, f"{case_id}: unknown ids {set(relevance) - ids}"
        assert set(relevance.values()) <= {1, 2}, case_id


def test_similar_sources_each_have_one_half():
    judged = load_similar()
    halves = yaml.safe_load(SIMILAR_FILE.read_text("utf-8"))["splits"]
    assert set(halves) == set(judged)
    assert set(halves.values()) <= set(SPLITS)
    tune, test = load_similar(split="tune"), load_similar(split="test")
    assert not set(tune) & set(test) and set(tune) | set(test) == set(judged)
    assert abs(len(tune) - len(test)) <= 1
    assert tune == {k: v for k, v in judged.items() if halves[k] == "tune"}
    with pytest.raises(ValueError, match="unknown split"):
        load_similar(split="train")
