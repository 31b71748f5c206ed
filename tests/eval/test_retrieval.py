"""The evaluation set is well formed, and on it hybrid ranking beats BM25 and dense alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.content import load_library

from .retrieval import evaluate, load_queries, load_similar, ndcg_at, recall_at

CONTENT = Path(__file__).resolve().parents[2] / "content"


def test_metrics_on_known_rankings():
    rel = {"a": 2, "b": 1}
    assert recall_at(["a", "x", "b"], rel, 2) == 0.5
    assert ndcg_at(["a", "b", "x"], rel, 10) == pytest.approx(1.0)
    assert 0 < ndcg_at(["x", "b", "a"], rel, 10) < ndcg_at(["b", "a"], rel, 10) < 1


def test_eval_set_is_well_formed():
    queries = load_queries()
    assert len(queries) >= 30
    assert len({q.text.lower() for q in queries}) == len(queries)
    ids = {p.stem for p in CONTENT.glob("*.md") if not p.name.startswith("_")}
    for query in queries:
        assert query.relevance and set(query.relevance.values()) <= {1, 2}
        assert 2 in query.relevance.values(), query.text
        assert set(query.relevance) <= ids, f"{query.text}: unknown ids"


@pytest.mark.model
def test_hybrid_beats_bm25_and_dense(tmp_path):
    from kb.index import update_index
    from kb.search import Searcher

    entries = load_library(CONTENT)
    update_index(entries, tmp_path / "cache")
    searcher = Searcher.open(tmp_path / "cache", entries)
    queries = load_queries()
    scores = {mode: evaluate(searcher, queries, mode) for mode in ("bm25", "dense", "hybrid")}
    for metric in ("ndcg@10", "recall@5"):
        assert scores["hybrid"][metric] > scores["bm25"][metric], scores
        assert scores["hybrid"][metric] > scores["dense"][metric], scores


def test_similar_judgements_are_well_formed():
    judged = load_similar()
    ids = {p.stem for p in CONTENT.glob("*.md") if not p.name.startswith("_")}
    assert set(judged) <= ids and len(judged) >= 10
    for case_id, relevance in judged.items():
        assert case_id not in relevance
        assert set(relevance) <= ids and set(relevance.values()) <= {1, 2}
