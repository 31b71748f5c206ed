"""Retrieval quality on the shipped case studies: BM25 alone, dense alone, and fusions.

    python bench/eval_retrieval.py [--content content] [--all] [--passages] [--floor]

Builds (or updates) an index of content/ in a temporary cache with the packaged model, then prints
nDCG@10, recall@5 (grade 2) and MRR over tests/eval/queries.yml, for its tuning half and its test
half separately. `--all` also prints every fusion and likeness variant, on the tuning half only:
choose on the tuning half; the test half is read only to report. `--passages` builds an index
per passage scheme (kb.index.passages.PassageScheme) and prints each on the tuning half (the
ablation
behind kb.index.passages.SCHEME). `--floor` prints, on the tuning half, how the relevance floor
separates judged-relevant hits from the rest and what the no-match queries get.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import kb.index.passages
from kb.check.library import load_library
from kb.index.build import update_index
from kb.index.passages import PassageScheme
from kb.search.params import DEFAULT_FUSION, DEFAULT_LIKENESS, Fusion, Likeness
from kb.search.searcher import Searcher, _top
from tests.eval.retrieval import (  # noqa: E402
    SPLITS,
    evaluate,
    evaluate_similar,
    load_queries,
    load_similar,
)

D = DEFAULT_FUSION
CONVEX = Fusion(method="convex", alpha=0.5)
VARIANTS = {
    "rrf k=60 (baseline)": Fusion(),
    "rrf k=60 dense x2": Fusion(dense_weight=2.0),
    "rrf dense x2 +coverage": Fusion(dense_weight=2.0, coverage_power=1.0),
    "rrf dense x2 +coverage +outcomes 0.2": Fusion(
        dense_weight=2.0, coverage_power=1.0, outcome_boost=0.2
    ),
    "convex a=0.4": replace(CONVEX, alpha=0.4),
    "convex a=0.5": CONVEX,
    "convex a=0.6": replace(CONVEX, alpha=0.6),
    "convex a=0.5 +coverage": replace(CONVEX, coverage_power=1.0),
    "convex +2nd passage 0.5": replace(CONVEX, second=0.5),
    "convex +outcomes 0.1": replace(CONVEX, outcome_boost=0.1),
    "convex +outcomes 0.2": replace(CONVEX, outcome_boost=0.2),
    "convex +outcomes 0.3": replace(CONVEX, outcome_boost=0.3),
    "convex +outcomes 0.2, estimates 0.25": replace(
        CONVEX, outcome_boost=0.2, estimate_credit=0.25
    ),
    "convex +outcomes 0.2, estimates 0.75": replace(
        CONVEX, outcome_boost=0.2, estimate_credit=0.75
    ),
    "default, no topic boost": replace(D, topic_boost=0.0),
    "default, topic boost 0.1": replace(D, topic_boost=0.1),
    "default, topic boost 0.2": replace(D, topic_boost=0.2),
    "default, topic boost 0.3": replace(D, topic_boost=0.3),
    "default, no evidence boost": replace(D, evidence_boost=0.0),
    "default, evidence boost 0.1": replace(D, evidence_boost=0.1),
    "default, evidence boost 0.3": replace(D, evidence_boost=0.3),
    "default, no no-effect boost": replace(D, no_effect_boost=0.0),
    "default, no-effect boost 0.2": replace(D, no_effect_boost=0.2),
    "default, no-effect boost 0.4": replace(D, no_effect_boost=0.4),
    "default, no floor": replace(D, floor_dense=-1.0, floor_coverage=0.0),
    "default +2nd passage 0.25": replace(D, second=0.25),
    "default +2nd passage 0.5": replace(D, second=0.5),
    "default +2nd passage 1.0": replace(D, second=1.0),
    "default, a=0.4": replace(D, alpha=0.4),
    "default, a=0.6": replace(D, alpha=0.6),
    "default, outcomes 0.3": replace(D, outcome_boost=0.3),
    "default, floor 0.40 / 0.34, no guard": replace(
        D, floor_dense=0.40, floor_coverage=0.34, floor_guard=1.01
    ),
    "default, floor 0.40 / 0.34": replace(D, floor_dense=0.40, floor_coverage=0.34),
    "default, no floor guard": replace(D, floor_guard=1.01),
}

PASSAGE_SCHEMES = {
    "summary first, no results passage (old)": PassageScheme("summary-first", False, False),
    "summary first + results passage": PassageScheme("summary-first", True, False),
    "what first, no results passage": PassageScheme("what-first", False, False),
    "what first + results passage": PassageScheme("what-first", True, False),
    "what first + results + cohort in sections": PassageScheme("what-first", True, True),
    "what first + results, windows of 128 tokens": PassageScheme(window=128),
    "what first + results, windows of 64 tokens": PassageScheme(window=64),
}


LIKENESS = {
    "profile + BM25 + facets 0.25 (before)": Likeness(dense="profile"),
    "profile + BM25 + facets 0.4": Likeness(dense="profile", facet_weight=0.4),
    "profile + facets 0.25 (no BM25)": Likeness(dense="profile", lexical=False),
    "centroid only": Likeness(dense="centroid", lexical=False, facet_weight=0.0),
    "centroid + BM25": Likeness(dense="centroid", facet_weight=0.0),
    "centroid + BM25 + facets 0.25": Likeness(dense="centroid"),
    "centroid + BM25 + facets 0.4 (default)": Likeness(dense="centroid", facet_weight=0.4),
    "centroid + BM25 + facets 0.55": Likeness(dense="centroid", facet_weight=0.55),
    "centroid + BM25 + topics 0.4": Likeness(
        dense="centroid", facets=("topics",), facet_weight=0.4
    ),
    "maxsim + BM25 + facets 0.25": Likeness(dense="maxsim"),
    "maxsim + BM25 + facets 0.4": Likeness(dense="maxsim", facet_weight=0.4),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=ROOT / "content")
    parser.add_argument("--cache", type=Path, default=None, help="reuse this cache folder")
    parser.add_argument("--all", action="store_true", help="print every fusion variant")
    parser.add_argument("--passages", action="store_true", help="compare passage schemes")
    parser.add_argument("--floor", action="store_true", help="calibrate the relevance floor")
    args = parser.parse_args(argv)
    entries = load_library(args.content)
    if args.passages:
        return compare_passages(entries, args.cache)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="kb-eval-"))
    started = time.perf_counter()
    update_index(entries, cache)
    print(f"{len(entries)} case studies indexed in {time.perf_counter() - started:.1f} s")
    searcher = Searcher.open(cache, entries)
    halves = {split: load_queries(split=split) for split in SPLITS}
    library = {e.case.id for e in entries}
    unknown = sorted({c for qs in halves.values() for q in qs for c in q.relevance} - library)
    if unknown:
        more = " ..." if len(unknown) > 5 else ""
        print(f"warning: {len(unknown)} judged case studies are not in {args.content}, so no "
              f"ranking can reach them: {', '.join(unknown[:5])}{more}")
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
    if args.floor:
        calibrate_floor(searcher, halves["tune"])
    similar = {split: load_similar(split=split) for split in SPLITS}
    sizes = ", ".join(f"{len(judged)} {split}" for split, judged in similar.items())
    print(f"\n'similar' over judged source case studies ({sizes}); recall@3 / nDCG@5")
    print(f"{'likeness':<40} " + " | ".join(f"{s + ' half':^19}" for s in similar))
    searcher.fusion = DEFAULT_FUSION
    searcher.likeness = DEFAULT_LIKENESS
    cells = []
    for judged in similar.values():
        scores = evaluate_similar(searcher, judged)
        cells.append(f"{scores['recall@3']:>9.3f} {scores['ndcg@5']:>9.3f}")
    print(f"{'default':<40} " + " | ".join(cells))
    if args.all:
        print("\nlikeness variants, tuning half only")
        for name, likeness in LIKENESS.items():
            searcher.likeness = likeness
            scores = evaluate_similar(searcher, similar["tune"])
            print(f"{name:<40} {scores['recall@3']:>9.3f} {scores['ndcg@5']:>9.3f}")
    searcher.likeness = DEFAULT_LIKENESS
    return 0


def compare_passages(entries: list[Any], cache_root: Path | None) -> int:
    """One index per passage scheme; nDCG@10 and recall of each ranking on the tuning half."""
    root = cache_root or Path(tempfile.mkdtemp(prefix="kb-passages-"))
    tune = load_queries(split="tune")
    print(f"passage schemes, tuning half only ({len(tune)} queries); nDCG@10 / R@5 (2)")
    print(f"{'scheme':<44} {'dense':>13} {'hybrid':>13} {'passages':>9}")
    chosen = kb.index.passages.SCHEME
    try:
        for n, (name, scheme) in enumerate(PASSAGE_SCHEMES.items()):
            kb.index.passages.SCHEME = scheme
            cache = root / f"scheme-{n}"
            report = update_index(entries, cache)
            searcher = Searcher.open(cache, entries)
            cells = []
            for mode in ("dense", "hybrid"):
                scores = evaluate(searcher, tune, mode)
                cells.append(f"{scores['ndcg@10']:.3f} / {scores['recall@5']:.3f}")
            mark = " *" if scheme == chosen else ""
            print(f"{name + mark:<44} {cells[0]:>13} {cells[1]:>13} {report.passages:>9}")
    finally:
        kb.index.passages.SCHEME = chosen
    print("* the scheme in use (kb.index.passages.SCHEME)")
    return 0


def calibrate_floor(searcher: Searcher, queries: list[Any]) -> None:
    """How the floor splits the top 10 of each tuning query, for a grid of floors: a hit is
    below the floor when its dense score is below floor_dense and its coverage below
    floor_coverage; it is weak when below, unless the query's best hit is not and this hit's
    score reaches floor_guard (1.01: no guard)."""
    rows = []  # (dense, coverage, score, relevant grade, no-match query, query, first of query)
    for query in queries:
        scores, _, dense, coverage = searcher._score(query.text, None, "hybrid")
        for rank, position in enumerate(_top(scores, 10)):
            grade = query.relevance.get(searcher.data.case_ids[position], 0)
            rows.append((float(dense[position]), float(coverage[position]),
                         float(scores[position]), grade, not query.relevance, query.text,
                         rank == 0))
    print("\nrelevance floor on the tuning half (top 10 of each query)")
    print(f"{'floor_dense':>11} {'floor_cov':>9} {'guard':>5} {'grade2 kept':>11} "
          f"{'grade1 kept':>11} {'grade0 weak':>11} {'no-match all weak':>17}")
    nomatch = {r[5] for r in rows if r[4]}
    for floor_dense in (0.40, 0.45, 0.50):
        for floor_cov in (0.25, 0.3, 0.35, 0.5):
            for guard in (0.5, 0.6, 0.7, 1.01):
                below = [r[0] < floor_dense and r[1] < floor_cov for r in rows]
                strong = {r[5] for b, r in zip(below, rows, strict=True) if r[6] and not b}
                weak = [b and not (r[5] in strong and r[2] >= guard)
                        for b, r in zip(below, rows, strict=True)]
                kept2 = [not w for w, r in zip(weak, rows, strict=True) if r[3] == 2]
                kept1 = [not w for w, r in zip(weak, rows, strict=True) if r[3] == 1]
                weak0 = [w for w, r in zip(weak, rows, strict=True) if r[3] == 0 and not r[4]]
                empty = sum(
                    all(w for w, r in zip(weak, rows, strict=True) if r[5] == q) for q in nomatch
                )
                print(f"{floor_dense:>11.2f} {floor_cov:>9.2f} {guard:>5.2f} {_share(kept2):>11} "
                      f"{_share(kept1):>11} {_share(weak0):>11} "
                      f"{f'{empty}/{len(nomatch)}':>17}")


def _share(flags: list[bool]) -> str:
    return f"{sum(flags) / max(1, len(flags)):.2f}"


def describe(fusion: Fusion) -> str:
    base = Fusion(method=fusion.method)
    changed = {k: v for k, v in vars(fusion).items() if getattr(base, k) != v}
    return fusion.method + (
        " " + ",".join(f"{k}={v}" for k, v in changed.items()) if changed else ""
    )


if __name__ == "__main__":
    sys.exit(main())
