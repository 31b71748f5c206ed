"""The retrieval evaluation set and its metrics (recall@k, nDCG@k with graded relevance).

The queries in queries.yml carry a `kind` (keyword, lay, jargon, ...) and a fixed `split`: `tune`
(for choosing anything about the ranking) or `test` (for reporting only, never for choosing).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

QUERIES_FILE = Path(__file__).with_name("queries.yml")
# The split in queries.yml is split_of(kinds, SPLIT_SEED); tests check that the file still matches.
SPLIT_SEED = 20250610
NO_MATCH = "nomatch"  # the kind of the queries with no relevant case study (all grades 0)

Split = Literal["tune", "test"]
SPLITS: tuple[Split, ...] = ("tune", "test")


@dataclass(frozen=True)
class Query:
    text: str
    relevance: dict[str, int]  # case id -> 2 (highly relevant) or 1 (partly); empty: no match
    kind: str = ""
    split: str = ""


def load_queries(path: Path = QUERIES_FILE, split: Split | None = None) -> list[Query]:
    """The judged queries, in file order; only one half of them if `split` is given."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; hint: use one of {', '.join(SPLITS)}")
    raw = yaml.safe_load(path.read_text("utf-8"))
    queries = [
        Query(
            str(item["q"]),
            {str(k): int(v) for k, v in (item.get("rel") or {}).items()},
            str(item.get("kind", "")),
            str(item.get("split", "")),
        )
        for item in raw["queries"]
    ]
    return queries if split is None else [q for q in queries if q.split == split]


def split_of(kinds: Sequence[str], seed: int = SPLIT_SEED) -> list[str]:
    """A tune/test label per query, stratified by kind.

    One random.Random(seed) shuffles, kind by kind in sorted order, the positions of that kind's
    queries (in file order); the first half of each shuffled list is `tune`, the rest `test`. A
    kind with an odd count gives its extra query to `tune` and `test` in turn (the first such kind
    in sorted order to `tune`), so the halves differ in size by at most one.
    """
    rng = random.Random(seed)
    labels = [""] * len(kinds)
    odd = 0
    for kind in sorted(set(kinds)):
        positions = [i for i, k in enumerate(kinds) if k == kind]
        rng.shuffle(positions)
        n_tune = len(positions) // 2
        if len(positions) % 2:
            n_tune += 1 - odd % 2
            odd += 1
        for rank, position in enumerate(positions):
            labels[position] = "tune" if rank < n_tune else "test"
    return labels


def recall_at(ranking: Sequence[str], relevance: dict[str, int], k: int, grade: int = 1) -> float:
    """Share of the case studies graded `grade` or higher that appear in the top k."""
    relevant = {c for c, g in relevance.items() if g >= grade}
    return len(relevant & set(ranking[:k])) / len(relevant) if relevant else 0.0


def ndcg_at(ranking: Sequence[str], relevance: dict[str, int], k: int) -> float:
    def dcg(grades: Sequence[int]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades))

    ideal = dcg(sorted(relevance.values(), reverse=True)[:k])
    return dcg([relevance.get(c, 0) for c in ranking[:k]]) / ideal if ideal else 0.0


def evaluate(searcher: Any, queries: Sequence[Query], mode: str = "hybrid") -> dict[str, float]:
    """Mean recall@5 (grade 2), nDCG@10 and MRR of a Searcher over the queries, in one mode.

    Queries with no relevant case study (the no-match kind) have no ranking to score and are left
    out of these means; they test a relevance floor instead.
    """
    recall = ndcg = mrr = 0.0
    scored = [q for q in queries if any(g > 0 for g in q.relevance.values())]
    for query in scored:
        ranking = [h.case_id for h in searcher.search(query.text, limit=10, mode=mode)]
        recall += recall_at(ranking, query.relevance, 5, grade=2)
        ndcg += ndcg_at(ranking, query.relevance, 10)
        first = next((i for i, c in enumerate(ranking) if query.relevance.get(c, 0) > 0), None)
        mrr += 0.0 if first is None else 1.0 / (first + 1)
    n = len(scored) or 1
    return {"recall@5": recall / n, "ndcg@10": ndcg / n, "mrr": mrr / n}


SIMILAR_FILE = Path(__file__).with_name("similar.yml")


def load_similar(
    path: Path = SIMILAR_FILE, split: Split | None = None
) -> dict[str, dict[str, int]]:
    """Source case id -> {comparable case id: 2 (close) or 1 (partial)}, in file order.

    With `split`, only the sources that the file's `splits` assigns to that half.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; hint: use one of {', '.join(SPLITS)}")
    raw = yaml.safe_load(path.read_text("utf-8"))
    judged = {
        str(k): {str(c): int(g) for c, g in (v or {}).items()} for k, v in raw["similar"].items()
    }
    if split is None:
        return judged
    halves = {str(k): str(v) for k, v in (raw.get("splits") or {}).items()}
    return {k: v for k, v in judged.items() if halves.get(k) == split}


def evaluate_similar(searcher: Any, judged: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean recall@3 and nDCG@5 of `similar` over the judged case studies."""
    recall = ndcg = 0.0
    for case_id, relevance in judged.items():
        ranking = [h.case_id for h in searcher.similar(case_id, limit=5)]
        recall += recall_at(ranking, relevance, 3)
        ndcg += ndcg_at(ranking, relevance, 5)
    n = len(judged)
    return {"recall@3": recall / n, "ndcg@5": ndcg / n}
