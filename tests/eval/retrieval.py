"""The retrieval evaluation set and its metrics (recall@k, nDCG@k with graded relevance)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

QUERIES_FILE = Path(__file__).with_name("queries.yml")


@dataclass(frozen=True)
class Query:
    text: str
    relevance: dict[str, int]  # case id -> 2 (highly relevant) or 1 (partly)


def load_queries(path: Path = QUERIES_FILE) -> list[Query]:
    raw = yaml.safe_load(path.read_text("utf-8"))
    return [
        Query(str(item["q"]), {str(k): int(v) for k, v in item["rel"].items()})
        for item in raw["queries"]
    ]


def recall_at(ranking: Sequence[str], relevance: dict[str, int], k: int) -> float:
    relevant = {c for c, g in relevance.items() if g > 0}
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def ndcg_at(ranking: Sequence[str], relevance: dict[str, int], k: int) -> float:
    def dcg(grades: Sequence[int]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades))

    ideal = dcg(sorted(relevance.values(), reverse=True)[:k])
    return dcg([relevance.get(c, 0) for c in ranking[:k]]) / ideal if ideal else 0.0


def evaluate(searcher: Any, queries: Sequence[Query], mode: str = "hybrid") -> dict[str, float]:
    """Mean recall@5, nDCG@10 and MRR of a Searcher over the queries, in one ranking mode."""
    recall = ndcg = mrr = 0.0
    for query in queries:
        ranking = [h.case_id for h in searcher.search(query.text, limit=10, mode=mode)]
        recall += recall_at(ranking, query.relevance, 5)
        ndcg += ndcg_at(ranking, query.relevance, 10)
        first = next((i for i, c in enumerate(ranking) if query.relevance.get(c, 0) > 0), None)
        mrr += 0.0 if first is None else 1.0 / (first + 1)
    n = len(queries)
    return {"recall@5": recall / n, "ndcg@10": ndcg / n, "mrr": mrr / n}


SIMILAR_FILE = Path(__file__).with_name("similar.yml")


def load_similar(path: Path = SIMILAR_FILE) -> dict[str, dict[str, int]]:
    """Case id -> {comparable case id: 2 (close) or 1 (partial)}."""
    raw = yaml.safe_load(path.read_text("utf-8"))
    return {str(k): {str(c): int(g) for c, g in v.items()} for k, v in raw["similar"].items()}


def evaluate_similar(searcher: Any, judged: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean recall@3 and nDCG@5 of `similar` over the judged case studies."""
    recall = ndcg = 0.0
    for case_id, relevance in judged.items():
        ranking = [h.case_id for h in searcher.similar(case_id, limit=5)]
        recall += recall_at(ranking, relevance, 3)
        ndcg += ndcg_at(ranking, relevance, 5)
    n = len(judged)
    return {"recall@3": recall / n, "ndcg@5": ndcg / n}
