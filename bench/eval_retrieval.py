"""Retrieval quality on the shipped case studies: BM25 alone, dense alone, and fusions.

    python bench/eval_retrieval.py [--content content] [--all]

Builds (or updates) an index of content/ in a temporary cache with the packaged model, then prints
nDCG@10, recall@5 (grade 2) and MRR over tests/eval/queries.yml, for its tuning half and its test
half separately. `--all` also prints every fusion and likeness variant, on the tuning half only:
choose on the tuning half; the test half is read only to report.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.content import load_library  # noqa: E402
from kb.index import update_index  # noqa: E402
from kb.search import DEFAULT_FUSION, DEFAULT_LIKENESS, Fusion, Likeness, Searcher  # noqa: E402
from tests.eval.retrieval import (  # noqa: E402
    SPLITS,
    evaluate,
    evaluate_similar,
    load_queries,
    load_similar,
)

VARIANTS = {
    "rrf k=60 (baseline)": Fusion(),
    "rrf k=60 dense x2": Fusion(dense_weight=2.0),
    "rrf k=60 dense x1.5": Fusion(dense_weight=1.5),
    "rrf k=60 dense x3": Fusion(dense_weight=3.0),
    "rrf k=60 dense x2 +2nd 0.5": Fusion(dense_weight=2.0, second=0.5),
    "rrf k=60 bm25 x2": Fusion(lexical_weight=2.0),
    "rrf k=20": Fusion(k=20),
    "rrf k=10": Fusion(k=10),
    "rrf k=60 +2nd passage 0.5": Fusion(second=0.5),
    "convex a=0.3": Fusion(method="convex", alpha=0.3),
    "convex a=0.5": Fusion(method="convex", alpha=0.5),
    "convex a=0.6": Fusion(method="convex", alpha=0.6),
    "convex a=0.7": Fusion(method="convex", alpha=0.7),
    "convex a=0.5 +2nd 0.5": Fusion(method="convex", alpha=0.5, second=0.5),
}


LIKENESS = {
    "centroid + BM25 + facets 0.25": Likeness(dense="centroid"),
    "centroid only": Likeness(dense="centroid", lexical=False, facet_weight=0.0),
    "centroid + BM25": Likeness(dense="centroid", facet_weight=0.0),
    "centroid + BM25 + topics 0.25": Likeness(dense="centroid", facets=("topics",)),
    "profile + BM25 + facets 0.25 (default)": Likeness(dense="profile"),
    "profile + BM25 + facets 0.4": Likeness(dense="profile", facet_weight=0.4),
    "profile + facets 0.25 (no BM25)": Likeness(dense="profile", lexical=False),
    "maxsim + BM25 + facets 0.25": Likeness(dense="maxsim"),
    "maxsim + BM25 + topics 0.25": Likeness(dense="maxsim", facets=("topics",)),
    "maxsim + BM25 + facets 0.1": Likeness(dense="maxsim", facet_weight=0.1),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=ROOT / "content")
    parser.add_argument("--cache", type=Path, default=None, help="reuse this cache folder")
    parser.add_argument("--all", action="store_true", help="print every fusion variant")
    args = parser.parse_args(argv)
    entries = load_library(args.content)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="kb-eval-"))
    started = time.perf_counter()
    update_index(entries, cache)
    print(f"{len(entries)} case studies indexed in {time.perf_counter() - started:.1f} s")
    searcher = Searcher.open(cache, entries)
    halves = {split: load_queries(split=split) for split in SPLITS}
    for split, queries in halves.items():
        matched = sum(1 for q in queries if q.relevance)
        print(
            f"{split} half: {len(queries)} queries ({matched} scored, "
            f"{len(queries) - matched} with no match, left out of these metrics)"
        )
    metrics = (("ndcg@10", "nDCG@10"), ("recall@5", "R@5 (2)"), ("mrr", "MRR"))
    print(f"\n{'':<40} " + " | ".join(f"{s + ' half':^29}" for s in halves))
    print(f"{'ranking':<40} " + " | ".join(" ".join(f"{m:>9}" for _, m in metrics) for _ in halves))
    rows = [
        ("BM25 alone", "bm25", DEFAULT_FUSION),
        ("dense alone", "dense", DEFAULT_FUSION),
        (f"hybrid (default: {describe(DEFAULT_FUSION)})", "hybrid", DEFAULT_FUSION),
    ]
    for name, mode, fusion in rows:
        searcher.fusion = fusion
        cells = []
        for queries in halves.values():
            scores = evaluate(searcher, queries, mode)
            cells.append(" ".join(f"{scores[key]:>9.3f}" for key, _ in metrics))
        print(f"{name:<40} " + " | ".join(cells))
    if args.all:
        print("\nfusion variants, tuning half only")
        print(f"{'ranking':<40} " + " ".join(f"{m:>9}" for _, m in metrics))
        for name, fusion in VARIANTS.items():
            searcher.fusion = fusion
            scores = evaluate(searcher, halves["tune"], "hybrid")
            print(f"{name:<40} " + " ".join(f"{scores[key]:>9.3f}" for key, _ in metrics))
    judged = load_similar()
    print(f"\n'similar' over {len(judged)} judged case studies")
    print(f"{'likeness':<40} {'recall@3':>9} {'nDCG@5':>9}")
    searcher.fusion = DEFAULT_FUSION
    variants = LIKENESS if args.all else {"default": DEFAULT_LIKENESS}
    for name, likeness in variants.items():
        searcher.likeness = likeness
        scores = evaluate_similar(searcher, judged)
        print(f"{name:<40} {scores['recall@3']:>9.3f} {scores['ndcg@5']:>9.3f}")
    searcher.likeness = DEFAULT_LIKENESS
    return 0


def describe(fusion: Fusion) -> str:
    base = Fusion(method=fusion.method)
    changed = {k: v for k, v in vars(fusion).items() if getattr(base, k) != v}
    return fusion.method + (
        " " + ",".join(f"{k}={v}" for k, v in changed.items()) if changed else ""
    )


if __name__ == "__main__":
    sys.exit(main())
